#!/usr/bin/env bash
# The RNN study: simple RNN vs GRU vs LSTM at an equal parameter budget, and the claims made about
# them (vanishing gradients, stacking, bidirectionality, clipping, dropout, learning rate, batch
# size, sequence length), measured with ordinary `asr train` runs on espeak-ng speech.
#
#   bash recipes/rnn-study/run.sh [--profile quick|full] [--jobs N] [--threads N] [--stage N]
#                                 [--stop-stage N] [--dir DIR] [key=value ...]
#
# Stages: 0 set-up, 1 plan the runs (<dir>/exp/plan.json), 2 synthesize the corpus, 3 prepare
#         manifests, 4 train every run not done yet (--jobs side by side, --threads each),
#         5 measure (test WER, temporal reach, dLoss/dh_t, speed), 6 report
#         (<dir>/exp/report/report.html, .md, .json).
# --profile: quick (default; 1,200 sentences, 8 epochs, 1.26 M parameters, 24 runs: at most an hour
#            on a 2-core CPU) or full (3,200 sentences, 12 epochs, the 4.2 M-parameter mini model,
#            every cell at every depth, 3 seeds: for bigger machines).
# --dir: where corpus/, data/ and exp/ go (default: recipes/rnn-study).
# Finished runs are kept: running again trains only what is missing and redraws the report.
# Extra key=value arguments override conf/rnn-study.yaml for every run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/rnn-study; profile=quick; jobs=2; threads=1
options[--profile]=profile; options[--jobs]=jobs; options[--threads]=threads
parse_options "$@"
corpus=$dir/corpus; data=$dir/data; exp=$dir/exp
paths=(data.train_manifest="$data/train.jsonl" data.val_manifest="$data/dev.jsonl")

if run_stage 0; then say 0 "set-up"; bash scripts/setup.sh; fi
if run_stage 1; then
  say 1 "plan the $profile profile's runs"
  asr study plan --config conf/rnn-study.yaml --profile "$profile" --exp-dir "$exp" \
    "${paths[@]}" "${overrides[@]}"
fi
if run_stage 2; then
  read -r n_train n_dev n_test < <(asr study corpus "$exp")
  say 2 "synthesize $n_train train + $n_dev dev sentences, $n_test test sentences (unseen voices)"
  asr synth "$corpus" --train "$n_train" --dev "$n_dev" --test "$n_test"
fi
if run_stage 3; then
  say 3 "prepare manifests"
  for s in train dev test; do
    asr prepare "$corpus/$s" "$data/$s.jsonl" --config conf/rnn-study.yaml "${overrides[@]}"
  done
fi
if run_stage 4; then say 4 "train"; asr study train "$exp" --jobs "$jobs" --threads "$threads"; fi
if run_stage 5; then say 5 "measure"; asr study measure "$exp" --test "$data/test.jsonl"; fi
if run_stage 6; then say 6 "report"; asr study report "$exp"; fi
