#!/usr/bin/env bash
# Spoken digits: FSDD (Free Spoken Digit Dataset) -> prepare -> train -> evaluate -> transcribe.
# Trains in minutes on a 2-core CPU.
#
#   bash recipes/digits/run.sh [--stage N] [--stop-stage N] [--dir DIR] [--data-dir DIR]
#        [--jobs N] [--synth N] [--engines LIST] [--pretrained CKPT|mini_librispeech|none]
#        [--limit N] [key=value ...]
#
# Stages: 0 set-up, 1 download FSDD (skipped with --data-dir), 2 prepare manifests (index 0-4 of
# every speaker and digit is test, 5-9 dev, the rest train), 3 train, 4 evaluate (WER, CER and
# digit accuracy on test; greedy, then beam search restricted to the ten digit words), 5 transcribe
# one test file, 6 leave-one-speaker-out: for each of the five speakers, train on the other four
# (index 5-9 of theirs is dev) and test on all 500 recordings of the fifth, greedy and with the
# lexicon; then the per-fold accuracies, their mean and the worst fold (exp/loso/loso.json).
# --dir: where downloads/, data/ and exp/ go (default: recipes/digits).
# --data-dir: an FSDD copy (the folder holding recordings/) instead of downloading.
# --jobs N: folds trained side by side in stage 6, one thread each (default 2).
# --synth N: stage 6 adds N synthetic digits (asr synth) to every fold's training set (default 0:
#            real speech only).
# --engines LIST: their synthesizers (default espeak-ng,flite,festival: 140 voices, a third of
#            the digits each).
# --pretrained: stage 6 fine-tunes every fold (conf/digits_finetune.yaml) from mini_librispeech
#            (the default: the best checkpoint of recipes/mini_librispeech/exp, which
#            bash recipes/mini_librispeech/run.sh trains; mean 76.16 % with the lexicon against
#            70.84 % from the LJ Speech synthetic pretraining and 64.92 % from scratch, README.md),
#            any other checkpoint (its model's size is kept), or none (every fold from scratch).
# --limit N: at most N recordings per split (smoke tests).
# Extra key=value arguments override conf/digits.yaml (e.g. model.hidden=64).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/digits; data_dir=""; jobs=2; synth=0; engines=espeak-ng,flite,festival
pretrained=mini_librispeech
limit=""
options[--data-dir]=data_dir; options[--jobs]=jobs; options[--synth]=synth
options[--engines]=engines; options[--pretrained]=pretrained; options[--limit]=limit
parse_options "$@"
config=conf/digits.yaml; data=$dir/data; exp=$dir/exp
data_dir=${data_dir:-$dir/downloads/fsdd}
limit_args=(); [ -n "$limit" ] && limit_args=(--limit "$limit")

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
  asr prepare-corpus fsdd "$data_dir" "$data" "${limit_args[@]}" --config "$config" \
    "${overrides[@]}"
fi
if run_stage 3; then
  say 3 "train"
  asr train --config "$config" data.train_manifest="$data/train.jsonl" \
    data.val_manifest="$data/dev.jsonl" exp_dir="$exp" "${overrides[@]}"
fi
ckpt=$(best_checkpoint "$exp")
# the ten words the lexicon-constrained beam search may output: $data/digits.words
digit_words() {
  mkdir -p "$data"
  echo ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE | tr ' ' '\n' > "$data/digits.words"
}
eval_dir=$exp/eval_test
if run_stage 4; then
  say 4 "evaluate on test (index 0-4)"
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "$eval_dir" \
    --report "$eval_dir/report" --train-log "$exp"
  "$venv/bin/python" recipes/digits/accuracy.py "$eval_dir/hyps.jsonl"
  say 4 "evaluate on test, beam search over the ten digit words (a lexicon, no LM)"
  digit_words
  asr evaluate --checkpoint "$ckpt" --manifest "$data/test.jsonl" --out-dir "${eval_dir}_lexicon" \
    --decoder beam --lexicon "$data/digits.words" --report "${eval_dir}_lexicon/report"
  "$venv/bin/python" recipes/digits/accuracy.py "${eval_dir}_lexicon/hyps.jsonl"
fi
if run_stage 5; then transcribe_first 5 "$data/test.jsonl" "$ckpt"; fi
# one leave-one-speaker-out fold: train without speaker $1, evaluate on all of their recordings
fold() {
  local d=$data/loso/$1 e=$exp/loso/$1 c
  asr prepare-corpus fsdd "$data_dir" "$d" --test-speaker "$1" "${limit_args[@]}" \
    --config "$config" "${overrides[@]}"
  cat "$d/train.jsonl" "${synthetic[@]}" > "$d/train_mix.jsonl"
  asr train --config "$fold_config" data.train_manifest="$d/train_mix.jsonl" \
    data.val_manifest="$d/dev.jsonl" exp_dir="$e" "${init[@]}" "${overrides[@]}"
  c=$(best_checkpoint "$e")
  asr evaluate --checkpoint "$c" --manifest "$d/test.jsonl" --out-dir "$e/eval_test"
  "$venv/bin/python" recipes/digits/accuracy.py "$e/eval_test/hyps.jsonl"
  asr evaluate --checkpoint "$c" --manifest "$d/test.jsonl" --out-dir "$e/eval_test_lexicon" \
    --decoder beam --lexicon "$data/digits.words"
  "$venv/bin/python" recipes/digits/accuracy.py "$e/eval_test_lexicon/hyps.jsonl"
}
if run_stage 6; then
  [ "$pretrained" = mini_librispeech ] && mini_librispeech_model none
  say 6 "leave one speaker out: 5 folds, $jobs at a time (logs: $exp/loso/<speaker>.log)"
  mkdir -p "$exp/loso"
  digit_words
  synthetic=(); fold_config=$config; init=()
  if [ "$pretrained" != none ]; then
    say 6 "every fold fine-tunes from $pretrained"
    fold_config=conf/digits_finetune.yaml; init=(init_from="$pretrained")
  fi
  if [ "$synth" -gt 0 ]; then
    say 6 "synthesize $synth digits ($engines voices) for every fold's training set"
    asr synth "$dir/synth" --text "$data/digits.words" --train "$synth" --dev 0 --test 0 \
      --engines "$engines" --pause-share 0
    asr prepare "$dir/synth/train" "$data/synth_digits.jsonl" --config "$config" "${overrides[@]}"
    synthetic=("$data/synth_digits.jsonl")
  fi
  pids=()
  for spk in $(ls "$data_dir/recordings" | cut -d_ -f2 | sort -u); do
    if [ -f "$exp/loso/$spk/eval_test_lexicon/accuracy.json" ]; then continue; fi  # done before
    OMP_NUM_THREADS=1 fold "$spk" > "$exp/loso/$spk.log" 2>&1 &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  "$venv/bin/python" recipes/digits/loso.py "$exp/loso"
fi
echo "checkpoint: $ckpt"
echo "WER summary: $eval_dir/wer.json"
echo "report: $eval_dir/report/report.html (also report.md, report.json)"
echo "hypotheses: $eval_dir/hyps.jsonl"
echo "digit-lexicon beam search: ${eval_dir}_lexicon/report/report.html"
