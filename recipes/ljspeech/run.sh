#!/usr/bin/env bash
# LJ Speech: one real speaker -> prepare (held-out dev/test slices) -> optional synthetic speech of
# other LJSpeech sentences (espeak-ng) -> train on real (+ synthetic) -> evaluate on held-out clips.
#
#   bash recipes/ljspeech/run.sh [--stage N] [--stop-stage N] [--dir DIR] [--data-dir DIR]
#                                [--sentences FILE] [key=value ...]
#
# Stages: 0 set-up, 1 download LJSpeech-1.1 (2.6 GB; skipped with --data-dir), 2 prepare manifests
# (in id order: 80 % train, 10 % dev, last 10 % test; heldout.txt lists the dev+test sentences),
# 3 synthesize N_SYNTH sentences not held out with espeak-ng, 4 train, 5 evaluate on test (and dev),
# 6 transcribe one test file, 7 3-gram LM from the sentences not held out, alpha/beta tuned on dev,
# beam search on test (report, and `asr compare` against greedy decoding).
# --dir: where downloads/, data/, synth/ and exp/ go (default: recipes/ljspeech).
# --data-dir: an LJSpeech copy (the folder holding metadata.csv and wavs/) instead of downloading.
# --sentences: id|text sentences to synthesize (default: DATA_DIR/metadata.csv); held-out ones are
#   always left out.
# Extra key=value arguments override conf/ljspeech.yaml (e.g. trainer.max_epochs=20).
# N_SYNTH: synthetic utterances (default 1000; 0 = real speech only). REAL_REPEAT: how many times
# the real training clips appear in the mixed training manifest (default 3). LIMIT=N: only the
# first N clips (smoke tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/ljspeech; data_dir=""; sentences=""
options[--data-dir]=data_dir; options[--sentences]=sentences
parse_options "$@"
config=conf/ljspeech.yaml; data=$dir/data; exp=$dir/exp
n_synth=${N_SYNTH:-1000}; real_repeat=${REAL_REPEAT:-3}
data_dir=${data_dir:-$dir/downloads/LJSpeech-1.1}
sentences=${sentences:-$data_dir/metadata.csv}
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")

if run_stage 0; then say 0 "set-up"; bash scripts/setup.sh; fi
if run_stage 1; then
  if [ -f "$data_dir/metadata.csv" ]; then
    say 1 "using $data_dir"
  else
    say 1 "download LJSpeech-1.1"
    asr download ljspeech "$dir/downloads"
  fi
fi
if run_stage 2; then
  say 2 "prepare manifests and held-out sentences"
  asr prepare-corpus ljspeech "$data_dir" "$data" "${limit[@]}" --sentences "$sentences" \
    --config "$config" "${overrides[@]}"
fi
if run_stage 3; then
  if [ "$n_synth" -gt 0 ]; then
    say 3 "synthesize $n_synth sentences (held-out sentences excluded)"
    asr synth "$dir/synth" --train "$n_synth" --dev 0 --test 0 --text "$data/train_sentences.txt"
    asr prepare "$dir/synth/train" "$data/synth.jsonl" --config "$config" "${overrides[@]}"
  else
    say 3 "no synthetic speech (N_SYNTH=0)"
    rm -f "$data/synth.jsonl"
  fi
fi
if run_stage 4; then
  say 4 "train (real clips x $real_repeat$([ "$n_synth" -gt 0 ] && echo " + $n_synth synthetic"))"
  synth=(); [ "$n_synth" -gt 0 ] && synth=("$data/synth.jsonl")
  "$venv/bin/python" recipes/ljspeech/mix.py "$data/train.jsonl" "${synth[@]}" \
    --repeat "$real_repeat" --out "$data/train_mixed.jsonl"
  asr train --config "$config" data.train_manifest="$data/train_mixed.jsonl" \
    data.val_manifest="$data/dev.jsonl" exp_dir="$exp" "${overrides[@]}"
fi
# the checkpoint with the best dev WER; the test clips are never looked at during training
ckpt=$(best_checkpoint "$exp")
if run_stage 5; then
  for s in dev test; do
    say 5 "evaluate on held-out $s clips"
    asr evaluate --checkpoint "$ckpt" --manifest "$data/$s.jsonl" --out-dir "$exp/eval_$s" \
      --report "$exp/eval_$s/report" --train-log "$exp"
  done
fi
if run_stage 6; then transcribe_first 6 "$data/test.jsonl" "$ckpt"; fi
if run_stage 7; then
  say 7 "3-gram LM from the training sentences, tune alpha/beta on dev, beam search on test"
  lm_beam_search "$ckpt" "$data" "$exp" "$data/train_sentences.txt" "$data/heldout.txt"
fi
print_results "$ckpt" "$exp/eval_test"
