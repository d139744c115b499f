#!/usr/bin/env bash
# LibriSpeech: download official subsets (OpenSLR, SHA-256 verified, resumable) -> prepare ->
# train -> evaluate on dev-clean, dev-other, test-clean, test-other -> transcribe.
#
#   bash recipes/librispeech/run.sh [--stage N] [--stop-stage N] [--dir DIR] [--data-dir DIR]
#        [--config CFG] [--train "SUBSET ..."] [--eval-subsets "SUBSET ..."] [--base-url URL]
#        [--checksums FILE] [--device DEVICE] [key=value ...]
#
# Stages: 0 set-up, 1 download + extract (skipped for subsets already in --data-dir), 2 prepare
# manifests, 3 train, 4 evaluate (greedy decoding) on every evaluation subset, 5 transcribe.
# --dir: where downloads/, data/ and exp/ go (default: recipes/librispeech).
# --data-dir: a LibriSpeech/ folder holding the subsets instead of DIR/downloads/LibriSpeech.
# --config: conf/librispeech_100.yaml (default: DeepSpeech2-like, one GPU, bf16) or
#   conf/librispeech_cpu.yaml (small CPU model).
# --train: training subsets (default train-clean-100; several are concatenated).
# --eval-subsets: evaluation subsets (default "dev-clean dev-other test-clean test-other"; the
#   first is also the validation set for checkpoint selection).
# --base-url: a mirror (default https://www.openslr.org/resources/12).
# --checksums: a sha256sum-style file (`<sha256>  <subset>.tar.gz`) replacing the published values.
# --device: where stage 4 evaluates (default cpu; e.g. cuda). Training follows the config
#   (trainer.accelerator, trainer.devices).
# Extra key=value arguments override the config (e.g. trainer.devices=4 trainer.strategy=ddp).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"  # shared helpers; cd to the repository root
dir=recipes/librispeech; data_dir=""; config=conf/librispeech_100.yaml
train_subsets="train-clean-100"; eval_subsets="dev-clean dev-other test-clean test-other"
base_url=""; checksums=""; device=cpu
options[--data-dir]=data_dir; options[--config]=config; options[--train]=train_subsets
options[--eval-subsets]=eval_subsets; options[--base-url]=base_url; options[--checksums]=checksums
options[--device]=device
parse_options "$@"
read -r -a train_sets <<< "$train_subsets"
read -r -a eval_sets <<< "$eval_subsets"
data=$dir/data; exp=$dir/exp
data_dir=${data_dir:-$dir/downloads/LibriSpeech}
download_args=()
[ -n "$base_url" ] && download_args+=(--base-url "$base_url")
[ -n "$checksums" ] && download_args+=(--checksums "$checksums")

if run_stage 0; then say 0 "set-up"; bash scripts/setup.sh; fi
if run_stage 1; then
  missing=()
  for s in "${train_sets[@]}" "${eval_sets[@]}"; do
    [ -d "$data_dir/$s" ] || missing+=("$s")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say 1 "using $data_dir"
  else
    say 1 "download ${missing[*]}"
    asr download librispeech "$(dirname "$data_dir")" --subsets "${missing[@]}" "${download_args[@]}"
  fi
fi
if run_stage 2; then
  say 2 "prepare manifests"
  asr prepare-corpus librispeech "$data_dir" "$data" --subsets "${train_sets[@]}" "${eval_sets[@]}" \
    --config "$config" "${overrides[@]}"
  for s in "${train_sets[@]}"; do cat "$data/$s.jsonl"; done > "$data/train.jsonl"
fi
if run_stage 3; then
  say 3 "train on ${train_sets[*]} (validation: ${eval_sets[0]})"
  asr train --config "$config" data.train_manifest="$data/train.jsonl" \
    data.val_manifest="$data/${eval_sets[0]}.jsonl" exp_dir="$exp" "${overrides[@]}"
fi
ckpt=$(best_checkpoint "$exp")
if run_stage 4; then
  for s in "${eval_sets[@]}"; do
    say 4 "evaluate on $s"
    asr evaluate --checkpoint "$ckpt" --manifest "$data/$s.jsonl" --out-dir "$exp/eval_$s" \
      --device "$device" --report "$exp/eval_$s/report" --train-log "$exp"
  done
fi
if run_stage 5; then transcribe_first 5 "$data/${eval_sets[-1]}.jsonl" "$ckpt"; fi
echo "checkpoint: $ckpt"
for s in "${eval_sets[@]}"; do echo "WER report ($s): $exp/eval_$s/report/report.html"; done
