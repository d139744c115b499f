# Helpers shared by the recipes' run.sh, sourced first thing. A recipe then sets its defaults, maps
# its own options to variables, and parses its arguments (every knob of a recipe is an option,
# named in its header comment, which --help prints; none is read from the environment):
#   source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
#   dir=recipes/digits; data_dir=""
#   options[--data-dir]=data_dir
#   parse_options "$@"
# the recipe's run.sh (for --help); the repository root, which becomes the working directory
script="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$(basename "${BASH_SOURCE[1]}")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${ASR_VENV:-$root/.venv}"
asr() { "$venv/bin/asr" "$@"; }

stage=0; stop_stage=100; overrides=()
# option -> the variable its value goes to; recipes add their own
declare -A options=([--stage]=stage [--stop-stage]=stop_stage [--dir]=dir)
# the options above (each takes a value), -h|--help (the script's header comment, which names
# every option), key=value arguments (collected in $overrides); anything else is an error: one
# line on stderr, exit 2
parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      *=*) overrides+=("$1"); shift ;;
      *)
        if [ -z "$1" ] || [ -z "${options[$1]+set}" ]; then
          echo "unknown argument: $1 (see --help)" >&2; exit 2
        elif [ $# -lt 2 ]; then
          echo "$1 needs a value (see --help)" >&2; exit 2
        fi
        printf -v "${options[$1]}" '%s' "$2"; shift 2 ;;
    esac
  done
}
# the script's header comment: the lines starting with # after the shebang
usage() { awk 'NR == 1 { next } /^#/ { print; next } { exit }' "$script"; }

# true when stage $1 lies in [--stage, --stop-stage]
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
say() { echo "[$(date +%T)] stage $1: $2"; }
# the checkpoint with the best dev WER in experiment dir $1, else its last.ckpt: the file names
# are defined once, in asr.checkpoint (BEST_CHECKPOINT, best_checkpoint)
best_checkpoint() {
  "$venv/bin/python" -c 'import sys; from asr.checkpoint import best_checkpoint
print(best_checkpoint(sys.argv[1]))' "$1"
}
# --pretrained mini_librispeech: the Mini LibriSpeech recipe's model (its best checkpoint), in
# $pretrained; one line and exit 2 when that recipe has not been run
mini_librispeech_model() {
  pretrained=$(best_checkpoint recipes/mini_librispeech/exp)
  [ -f "$pretrained" ] || { echo "--pretrained mini_librispeech: no model in" \
    "recipes/mini_librispeech/exp: run bash recipes/mini_librispeech/run.sh first, or pass" \
    "--pretrained $1 (or a checkpoint)" >&2; exit 2; }
}
# stage $1: the checkpoint to evaluate, in $ckpt: with $3 > 1 the mean of the last $3 epochs of
# experiment dir $2 (written at stage $1), else its best dev-WER checkpoint (the test set is
# never looked at)
pick_checkpoint() {
  if [ "$3" -gt 1 ]; then
    ckpt=$2/checkpoints/averaged.ckpt
    if run_stage "$1"; then
      say "$1" "average the last $3 epochs"
      asr average "$2"/checkpoints/epoch*.ckpt --last "$3" --out "$ckpt"
    fi
  else
    ckpt=$(best_checkpoint "$2")
  fi
}
# the audio file of the first utterance of manifest $1
first_audio() {
  head -n1 "$1" | "$venv/bin/python" -c "import json, sys; print(json.load(sys.stdin)['audio'])"
}
# stage $1: transcribe the first utterance of manifest $2 with checkpoint $3
transcribe_first() {
  local wav
  wav=$(first_audio "$2")
  say "$1" "transcribe $wav"
  asr transcribe "$wav" --checkpoint "$3"
}
# where the results are: checkpoint $1, and the test evaluation (`asr evaluate --out-dir`) $2
print_results() {
  echo "checkpoint: $1"
  echo "WER summary: $2/wer.json"
  echo "hypotheses: $2/hyps.jsonl"
  echo "report: $2/report/report.html (also report.md, report.json)"
}
# asr lm tune's grid for an LM of a large vocabulary: word bonuses above 0 make it insert short
# words (measured, recipes/mini_librispeech/README.md), and each point decodes the whole dev set
large_lm_grid=(--alphas 1,1.5,2,2.5,3 --betas=-2,-1,0)
# beams kept when the test set is decoded with the LM (asr evaluate --beam-size; the --beam of the
# recipes with a large LM, which set 500); asr lm tune keeps 50: each grid point decodes all of dev
beam=50
# The LM of a large text corpus: in $lm_ext, "bin" when KenLM's lmplz is there (installed by
# scripts/setup.sh with ASR_KENLM=1), else "arpa"; in $lm_build, the asr lm build options that
# go with it: --binary --prune $1 (e.g. "0 1"), or none (the Python estimator, unpruned)
kenlm_options() {
  local prune
  if [ -x "$venv/bin/lmplz" ] || command -v lmplz >/dev/null; then
    read -r -a prune <<< "$1"; lm_ext=bin; lm_build=(--binary --prune "${prune[@]}")
  else
    lm_ext=arpa; lm_build=()
  fi
}
# The LM, alpha/beta tuned on $data/dev.jsonl, beam search on $data/test.jsonl with its report,
# compared with the greedy report of $exp/eval_test. Args: checkpoint, data dir, experiment dir,
# LM text, held-out text (its sentences are left out of the LM), and optionally a large text
# corpus: without it a 3-gram of the LM text; with it a 4-gram of both, pruned (singleton 3- and
# 4-grams) and binarised where KenLM is there, tuned on the grid of a large vocabulary.
lm_beam_search() {
  local ckpt=$1 data=$2 exp=$3 lm grid=()
  mkdir -p "$exp/lm"
  if [ -n "${6:-}" ]; then
    kenlm_options "0 1"; lm=$exp/lm/4gram.$lm_ext; grid=("${large_lm_grid[@]}")
    asr lm build --text "$6" "$4" --exclude "$5" --order 4 --out "$exp/lm/4gram.arpa" \
      --dev-text "$data/dev.jsonl" "${lm_build[@]}" | tee "$exp/lm/build.json"
  else
    lm=$exp/lm/3gram.arpa
    asr lm build --text "$4" --exclude "$5" --order 3 --out "$lm"
  fi
  asr lm tune --checkpoint "$ckpt" --manifest "$data/dev.jsonl" --lm "$lm" "${grid[@]}"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "$exp/eval_test_lm" \
    --lm "$lm" --beam-size "$beam" --report "$exp/eval_test_lm/report" --train-log "$exp"
  asr compare "$exp/eval_test/report" "$exp/eval_test_lm/report" --out "$exp/compare_greedy_lm"
}
