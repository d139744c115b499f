#!/usr/bin/env bash
# LJ Speech: one real speaker, little real speech. Start from the Mini LibriSpeech recipe's model
# (real read speech of 17 readers; or pretrain on multi-engine synthetic speech of LJSpeech-text
# sentences, held-out sentences excluded) -> fine-tune on the real training clips -> average the
# last epochs -> evaluate on held-out clips -> 3-gram LM + beam search.
#
#   bash recipes/ljspeech/run.sh [--stage N] [--stop-stage N] [--dir DIR] [--data-dir DIR]
#        [--sentences FILE] [--pretrained CKPT|mini_librispeech|synthetic] [--synth N] [--engines LIST] [--real-repeat N]
#        [--ft-synth N] [--average N] [--lm-text FILE] [--beam N] [--limit N] [key=value ...]
#
# Stages: 0 set-up, 1 download LJSpeech-1.1 (2.6 GB; skipped with --data-dir), 2 prepare manifests
# (in id order: 80 % train, 10 % dev, last 10 % test; heldout.txt lists the dev+test sentences),
# 3 synthesize --synth sentences not held out (asr synth --engines), 4 pretrain on them
# (conf/ljspeech_pretrain.yaml; validated on the real dev clips; 3 and 4 with --pretrained
# synthetic only), 5 fine-tune on the real training clips from the pretrained model
# (conf/ljspeech.yaml: init_from), 6 average the
# fine-tuning's last --average epochs (asr average; --average > 1 only), 7 evaluate on test (and
# dev), 8 transcribe one test file, 9 3-gram LM from the sentences not held out (with --lm-text: a
# pruned 4-gram of that text and them), alpha/beta tuned on dev, beam search on test (report, and
# `asr compare` against greedy decoding).
# --dir: where downloads/, data/, synth/, exp_pretrain/ and exp/ go (default: recipes/ljspeech).
# --data-dir: an LJSpeech copy (the folder holding metadata.csv and wavs/) instead of downloading.
# --sentences: id|text sentences to synthesize (default: DATA_DIR/metadata.csv); held-out ones are
#   always left out.
# --pretrained: the model fine-tuned: mini_librispeech (the default: the best checkpoint of
#   recipes/mini_librispeech/exp, which bash recipes/mini_librispeech/run.sh trains; test 24.56 %
#   with the LM against 38.76 % from the synthetic pretraining, both with 50 beams, README.md),
#   synthetic (stages 3-4 train it), or any other checkpoint (its model's size is kept).
# --synth N: synthetic sentences (default 8000). --engines: synthesizers (default espeak-ng,flite).
# --real-repeat N: copies of each real clip per fine-tuning epoch (default 3). --ft-synth N:
#   synthetic sentences (the first of data/synth.jsonl) kept in the fine-tuning (default 0).
# --average N: epochs averaged (default 1: the best checkpoint by dev WER; averaging 3 measured no
#   better, README.md).
# --lm-text FILE: a large book-text corpus, one sentence a line (.gz read too), for stage 9's LM: a
#   4-gram of it and the training sentences (held-out sentences left out), pruned and binarised
#   with KenLM (stage 0 builds it); test 16.86 % with the LM against 21.89 % for the 3-gram of the
#   LJSpeech sentences alone (500 beams; README.md). Its text must not hold LJ Speech's books.
# --beam N: beams kept in stage 9's beam search on test (default 500; alpha/beta are tuned with
#   50): test 16.86 % with the --lm-text 4-gram against 22.19 % with 50 (README.md).
# --limit N: only the first N clips (smoke tests).
# Extra key=value arguments override conf/ljspeech.yaml (the fine-tuning; e.g. trainer.max_epochs=20).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/ljspeech; data_dir=""; sentences=""; pretrained=mini_librispeech; n_synth=8000
engines=espeak-ng,flite; real_repeat=3; ft_synth=0; average=1; lm_text=""; limit=""; beam=500
options[--data-dir]=data_dir; options[--sentences]=sentences; options[--pretrained]=pretrained
options[--synth]=n_synth; options[--engines]=engines; options[--real-repeat]=real_repeat
options[--ft-synth]=ft_synth; options[--average]=average; options[--lm-text]=lm_text
options[--limit]=limit; options[--beam]=beam
parse_options "$@"
config=conf/ljspeech.yaml; data=$dir/data; exp=$dir/exp; exp_pre=$dir/exp_pretrain
data_dir=${data_dir:-$dir/downloads/LJSpeech-1.1}
sentences=${sentences:-$data_dir/metadata.csv}
limit_args=(); [ -n "$limit" ] && limit_args=(--limit "$limit")

if run_stage 0; then
  say 0 "set-up"
  if [ -n "$lm_text" ]; then ASR_KENLM=1 bash scripts/setup.sh; else bash scripts/setup.sh; fi
fi
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
  asr prepare-corpus ljspeech "$data_dir" "$data" "${limit_args[@]}" --sentences "$sentences" \
    --config "$config" "${overrides[@]}"
fi
[ "$pretrained" = mini_librispeech ] && run_stage 5 && mini_librispeech_model synthetic
if [ "$pretrained" = synthetic ] && run_stage 3; then
  say 3 "synthesize $n_synth sentences with $engines (held-out sentences excluded)"
  asr synth "$dir/synth" --train "$n_synth" --dev 0 --test 0 --engines "$engines" \
    --text "$data/train_sentences.txt"
  asr prepare "$dir/synth/train" "$data/synth.jsonl" --config "$config" "${overrides[@]}"
fi
if [ "$pretrained" = synthetic ] && run_stage 4; then
  say 4 "pretrain on the synthetic speech"
  asr train --config conf/ljspeech_pretrain.yaml data.train_manifest="$data/synth.jsonl" \
    data.val_manifest="$data/dev.jsonl" exp_dir="$exp_pre" "${overrides[@]}"
fi
[ "$pretrained" = synthetic ] && pretrained=$(best_checkpoint "$exp_pre")
if run_stage 5; then
  say 5 "fine-tune on the real clips (x $real_repeat) + $ft_synth synthetic from $pretrained"
  kept=()
  if [ "$ft_synth" -gt 0 ]; then
    head -n "$ft_synth" "$data/synth.jsonl" > "$data/synth_kept.jsonl"; kept=("$data/synth_kept.jsonl")
  fi
  "$venv/bin/python" recipes/ljspeech/mix.py "$data/train.jsonl" "${kept[@]}" \
    --repeat "$real_repeat" --out "$data/train_finetune.jsonl"
  asr train --config "$config" init_from="$pretrained" \
    data.train_manifest="$data/train_finetune.jsonl" data.val_manifest="$data/dev.jsonl" \
    exp_dir="$exp" "${overrides[@]}"
fi
pick_checkpoint 6 "$exp" "$average"
if run_stage 7; then
  for s in dev test; do
    say 7 "evaluate on held-out $s clips"
    asr evaluate --checkpoint "$ckpt" --manifest "$data/$s.jsonl" --out-dir "$exp/eval_$s" \
      --report "$exp/eval_$s/report" --train-log "$exp"
  done
fi
if run_stage 8; then transcribe_first 8 "$data/test.jsonl" "$ckpt"; fi
if run_stage 9; then
  what="3-gram LM of"; [ -n "$lm_text" ] && what="4-gram LM of $lm_text and"
  say 9 "$what the training sentences, tune alpha/beta on dev, beam search on test"
  lm_beam_search "$ckpt" "$data" "$exp" "$data/train_sentences.txt" "$data/heldout.txt" "$lm_text"
fi
print_results "$ckpt" "$exp/eval_test"
