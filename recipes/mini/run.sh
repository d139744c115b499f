#!/usr/bin/env bash
# Mini recipe: synthesize speech with espeak-ng -> prepare -> train -> evaluate -> transcribe.
# Runs on a 2-core CPU in about 20 minutes from a fresh clone (set-up included).
#
#   bash recipes/mini/run.sh [--stage N] [--stop-stage N] [--dir DIR] [key=value ...]
#
# Stages: 0 set-up, 1 synthesize, 2 prepare manifests, 3 train, 4 evaluate + report, 5 transcribe,
#         6 3-gram LM from the training transcripts, alpha/beta tuned on dev, beam search on test
#         (report, and `asr compare` against greedy decoding).
# --dir: where corpus/, data/ and exp/ go (default: recipes/mini).
# Extra key=value arguments override conf/mini.yaml for training (e.g. model.rnn_type=gru).
# N_TRAIN, N_DEV, N_TEST: corpus size in sentences (default 3200, 100, 200).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
stage=0; stop_stage=100; dir=recipes/mini; overrides=()
n_train=${N_TRAIN:-3200}; n_dev=${N_DEV:-100}; n_test=${N_TEST:-200}
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
corpus=$dir/corpus; data=$dir/data; exp=$dir/exp
source recipes/common.sh

if run_stage 0; then say 0 "set-up"; bash scripts/setup.sh; fi
if run_stage 1; then
  say 1 "synthesize $n_train train + $n_dev dev sentences (training voices), $n_test test sentences (unseen voices)"
  asr synth "$corpus" --train "$n_train" --dev "$n_dev" --test "$n_test"
fi
if run_stage 2; then
  say 2 "prepare manifests"
  for s in train dev test; do
    asr prepare "$corpus/$s" "$data/$s.jsonl" --config conf/mini.yaml "${overrides[@]}"
  done
fi
if run_stage 3; then
  say 3 "train"
  asr train --config conf/mini.yaml data.train_manifest="$data/train.jsonl" \
    data.val_manifest="$data/dev.jsonl" exp_dir="$exp" "${overrides[@]}"
fi
# the checkpoint with the best dev WER (training voices); the test voices are never looked at
ckpt=$(best_checkpoint "$exp")
if run_stage 4; then
  say 4 "evaluate on unseen voices"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "$exp/eval_test" \
    --report "$exp/eval_test/report" --train-log "$exp"
fi
if run_stage 5; then
  wav=$(first_audio "$data/test.jsonl")
  say 5 "transcribe $wav"
  asr transcribe "$wav" --checkpoint "$ckpt"
fi
if run_stage 6; then
  say 6 "3-gram LM from the training transcripts, tune alpha/beta on dev, beam search on test"
  lm_beam_search "$ckpt" "$data" "$exp" "$data/train.jsonl" "$data/test.jsonl"
fi
echo "checkpoint: $ckpt"
echo "WER summary: $exp/eval_test/wer.json"
echo "hypotheses: $exp/eval_test/hyps.jsonl"
echo "report: $exp/eval_test/report/report.html (also report.md, report.json)"
if [ -f "$exp/eval_test_lm/wer.json" ]; then
  echo "beam search + 3-gram LM: $exp/eval_test_lm/report/report.html"
  echo "greedy vs beam + LM: $exp/compare_greedy_lm/compare.html"
fi
