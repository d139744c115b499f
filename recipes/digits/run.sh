#!/usr/bin/env bash
# Spoken digits: FSDD (Free Spoken Digit Dataset) -> prepare -> train -> evaluate -> transcribe.
# Trains in minutes on a 2-core CPU.
#
#   bash recipes/digits/run.sh [--stage N] [--stop-stage N] [--dir DIR] [--data-dir DIR] [key=value ...]
#
# Stages: 0 set-up, 1 download FSDD (skipped with --data-dir), 2 prepare manifests (index 0-4 of
# every speaker and digit is test, 5-9 dev, the rest train), 3 train, 4 evaluate (WER, CER and
# digit accuracy on test; greedy, then beam search restricted to the ten digit words), 5 transcribe
# one test file.
# --dir: where downloads/, data/ and exp/ go (default: recipes/digits).
# --data-dir: an FSDD copy (the folder holding recordings/) instead of downloading.
# Extra key=value arguments override conf/digits.yaml (e.g. model.hidden=64).
# LIMIT=N: at most N recordings per split (smoke tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/digits; data_dir=""
options[--data-dir]=data_dir
parse_options "$@"
config=conf/digits.yaml; data=$dir/data; exp=$dir/exp
data_dir=${data_dir:-$dir/downloads/fsdd}
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")

if run_stage 0; then say 0 "set-up"; bash scripts/setup.sh; fi
if run_stage 1; then
  if [ -d "$data_dir/recordings" ]; then
    say 1 "using $data_dir"
  else
    say 1 "download FSDD"
    asr download fsdd "$dir/downloads"
  fi
fi
if run_stage 2; then
  say 2 "prepare manifests"
  asr prepare-corpus fsdd "$data_dir" "$data" "${limit[@]}" --config "$config" "${overrides[@]}"
fi
if run_stage 3; then
  say 3 "train"
  asr train --config "$config" data.train_manifest="$data/train.jsonl" \
    data.val_manifest="$data/dev.jsonl" exp_dir="$exp" "${overrides[@]}"
fi
ckpt=$(best_checkpoint "$exp")
eval_dir=$exp/eval_test
if run_stage 4; then
  say 4 "evaluate on test (index 0-4)"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "$eval_dir" \
    --report "$eval_dir/report" --train-log "$exp"
  "$venv/bin/python" recipes/digits/accuracy.py "$eval_dir/hyps.jsonl"
  say 4 "evaluate on test, beam search over the ten digit words (a lexicon, no LM)"
  echo ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE | tr ' ' '\n' > "$data/digits.words"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "${eval_dir}_lexicon" \
    --decoder beam --lexicon "$data/digits.words" --report "${eval_dir}_lexicon/report"
  "$venv/bin/python" recipes/digits/accuracy.py "${eval_dir}_lexicon/hyps.jsonl"
fi
if run_stage 5; then transcribe_first 5 "$data/test.jsonl" "$ckpt"; fi
echo "checkpoint: $ckpt"
echo "WER summary: $eval_dir/wer.json"
echo "report: $eval_dir/report/report.html (also report.md, report.json)"
echo "hypotheses: $eval_dir/hyps.jsonl"
echo "digit-lexicon beam search: ${eval_dir}_lexicon/report/report.html"
