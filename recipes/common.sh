# Helpers shared by the recipes' run.sh (sourced after option parsing, from the repository root).
#   needs: $root (repository root), $stage and $stop_stage (for run_stage)
venv="${ASR_VENV:-$root/.venv}"
asr() { "$venv/bin/asr" "$@"; }
# true when stage $1 lies in [--stage, --stop-stage]
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
say() { echo "[$(date +%T)] stage $1: $2"; }
# the checkpoint with the best dev WER in experiment dir $1 (else its last.ckpt)
best_checkpoint() {
  local best
  best=$(ls "$1"/checkpoints/best-*.ckpt 2>/dev/null | head -n1 || true)
  echo "${best:-$1/checkpoints/last.ckpt}"
}
# the audio file of the first utterance of manifest $1
first_audio() {
  head -n1 "$1" | "$venv/bin/python" -c "import json, sys; print(json.load(sys.stdin)['audio'])"
}
# 3-gram LM from text file $4 (sentences of file $5 left out), alpha/beta tuned on $data/dev.jsonl,
# beam search on $data/test.jsonl with its report, compared with the greedy report of
# $exp/eval_test. Args: checkpoint, data dir, experiment dir, LM text, held-out text.
lm_beam_search() {
  local ckpt=$1 data=$2 exp=$3 lm=$3/lm/3gram.arpa
  asr lm build --text "$4" --exclude "$5" --order 3 --out "$lm"
  asr tune-lm --checkpoint "$ckpt" --manifest "$data/dev.jsonl" --lm "$lm"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "$exp/eval_test_lm" \
    --lm "$lm" --report "$exp/eval_test_lm/report" --train-log "$exp"
  asr compare "$exp/eval_test/report" "$exp/eval_test_lm/report" --out "$exp/compare_greedy_lm"
}
