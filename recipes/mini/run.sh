#!/usr/bin/env bash
# Mini recipe: synthesize speech with espeak-ng -> prepare -> train -> evaluate -> transcribe.
# Runs on a 2-core CPU in about 15 minutes from a fresh clone (set-up included).
#
#   bash recipes/mini/run.sh [--stage N] [--stop-stage N] [key=value ...]
#
# Stages: 0 set-up, 1 synthesize, 2 prepare manifests, 3 train, 4 evaluate, 5 transcribe.
# Extra key=value arguments override conf/mini.yaml for training (e.g. model.rnn_type=gru).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
stage=0; stop_stage=100; overrides=()
n_train=${N_TRAIN:-3200}; n_dev=${N_DEV:-100}; n_test=${N_TEST:-200}
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
dir=recipes/mini
corpus=$dir/corpus; data=$dir/data; exp=$dir/exp
asr() { "$root/.venv/bin/asr" "$@"; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
stamp() { echo "[$(date +%T)] stage $1: $2"; }

if run_stage 0; then stamp 0 "set-up"; bash scripts/setup.sh; fi
if run_stage 1; then
  stamp 1 "synthesize $n_train train / $n_dev dev sentences (training voices) and $n_test test sentences (unseen voices)"
  asr synth "$corpus" --train "$n_train" --dev "$n_dev" --test "$n_test"
fi
if run_stage 2; then
  stamp 2 "prepare manifests"
  for s in train dev test; do asr prepare "$corpus/$s" "$data/$s.jsonl" --config conf/mini.yaml; done
fi
if run_stage 3; then
  stamp 3 "train"
  asr train --config conf/mini.yaml "${overrides[@]}"
fi
ckpt=$(ls "$exp"/checkpoints/best-*.ckpt 2>/dev/null | head -n1 || true); ckpt=${ckpt:-$exp/checkpoints/last.ckpt}
if run_stage 4; then
  stamp 4 "evaluate on unseen voices"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "$exp/eval_test"
fi
if run_stage 5; then
  wav=$(head -n1 "$data/test.jsonl" | "$root/.venv/bin/python" -c "import json,sys; r=json.load(sys.stdin); print(r['audio']); print('reference:', r['text'], file=sys.stderr)")
  stamp 5 "transcribe $wav"
  asr transcribe "$wav" --checkpoint "$ckpt"
fi
echo "checkpoint: $ckpt"
echo "WER summary: $exp/eval_test/wer.json"
echo "hypotheses: $exp/eval_test/hyps.jsonl"
