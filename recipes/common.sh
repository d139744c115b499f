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
