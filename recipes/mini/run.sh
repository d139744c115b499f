#!/usr/bin/env bash
# Mini recipe: synthesize speech with espeak-ng -> prepare -> train -> evaluate -> transcribe.
# Runs on a 2-core CPU in 11-32 minutes from a fresh clone (set-up included; recipes/mini/README.md).
#
#   bash recipes/mini/run.sh [--stage N] [--stop-stage N] [--dir DIR] [--n-train N] [--n-dev N]
#                            [--n-test N] [key=value ...]
#
# Stages: 0 set-up, 1 synthesize, 2 prepare manifests, 3 train, 4 evaluate + report, 5 transcribe,
#         6 3-gram LM from the training transcripts, alpha/beta tuned on dev, beam search on test
#         (report, and `asr compare` against greedy decoding).
# --dir: where corpus/, data/ and exp/ go (default: recipes/mini).
# --n-train, --n-dev, --n-test: corpus size in sentences (default 3200, 100, 200).
# Extra key=value arguments override conf/mini.yaml for training (e.g. model.rnn_type=gru).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/mini; n_train=3200; n_dev=100; n_test=200
options[--n-train]=n_train; options[--n-dev]=n_dev; options[--n-test]=n_test
parse_options "$@"
corpus=$dir/corpus; data=$dir/data; exp=$dir/exp

if run_stage 0; then  # without the tests' extras, and espeak-ng only: a shorter set-up
  say 0 "set-up"
  ASR_EXTRAS="${ASR_EXTRAS-}" ASR_ENGINES="${ASR_ENGINES-espeak-ng}" bash scripts/setup.sh
fi
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
if run_stage 5; then transcribe_first 5 "$data/test.jsonl" "$ckpt"; fi
if run_stage 6; then
  say 6 "3-gram LM from the training transcripts, tune alpha/beta on dev, beam search on test"
  lm_beam_search "$ckpt" "$data" "$exp" "$data/train.jsonl" "$data/test.jsonl"
fi
print_results "$ckpt" "$exp/eval_test"
if [ -f "$exp/eval_test_lm/wer.json" ]; then
  echo "beam search + 3-gram LM: $exp/eval_test_lm/report/report.html"
  echo "greedy vs beam + LM: $exp/compare_greedy_lm/compare.html"
fi
