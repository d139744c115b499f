#!/usr/bin/env bash
# The GPU benchmark, in one run of a few minutes on a machine with one CUDA GPU and no network.
#   bash scripts/bench_gpu.sh [--out DIR] [--utterances N] [--wheels DIR] [--shared DIR]
#                             [--device cuda] [--tiny]
#   bash scripts/bench_gpu.sh --fetch-wheels DIR
# On a noise corpus in the LibriSpeech layout (../shared/bench/noise_corpus.py: no speech needed,
# LibriSpeech-like durations and transcripts; throughput only):
#   1. training throughput of the LibriSpeech config (conf/librispeech_100.yaml: 2 conv +
#      5 x 768 BiGRU, bf16) against the DeepSpeech2-style baseline's `ds2` model
#      (../shared/bench/ds2_baseline), with the model-only ceiling (scripts/bench_train.py --ceiling);
#   2. the same for the mini config (conf/mini.yaml) against the baseline's `small` model;
#   3. a round trip on the device: asr train (a few steps), asr evaluate, asr transcribe;
# then DIR/summary.md: audio seconds per second, ours / baseline, ours / ceiling, and the time
# one epoch of train-clean-100 (100.6 h) would take at that rate. DIR/*.json hold every figure.
#   --wheels DIR  install these wheels first (pip --no-index --no-deps, into OUT/site): for a
#                 machine with only PyTorch, Lightning and the common scientific packages
#   --fetch-wheels DIR  (on a machine with network) download those wheels into DIR for the GPU
#                 machine's Python (WHEELS_PYTHON, default 3.12; x86-64 manylinux), then exit
#   --shared DIR  the folder that holds bench/ (default: ../shared beside the repository)
#   --tiny        tiny models, corpus and step counts: the CPU test of this script (tests/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/exp/bench_gpu" utterances=1200 wheels="" shared="$root/../shared" device=cuda tiny=0
fetch_wheels=""
# what asr needs beyond PyTorch, Lightning and the common scientific packages (numpy, scipy,
# scikit-learn, numba, matplotlib, tensorboard, tqdm, pyyaml, requests): the versions tested here
WHEELS="librosa==0.11.0 audioread==3.1.0 decorator==5.3.1 pooch==1.9.0 platformdirs==4.14.9
soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 jiwer==4.0.0 rapidfuzz==3.14.6
omegaconf==2.4.0"
die() { echo "bench_gpu.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --out|--utterances|--wheels|--shared|--device|--fetch-wheels)
      [ $# -ge 2 ] || die "$1 needs a value"
      name=${1#--}; declare "${name//-/_}=$2"; shift 2 ;;
    --tiny) tiny=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -z "$wheels" ] && [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"
  else py=python3; fi
fi
if [ -n "$fetch_wheels" ]; then
  # shellcheck disable=SC2086  # WHEELS is a list
  "$py" -m pip download -q --no-deps --only-binary=:all: --implementation cp \
    --python-version "${WHEELS_PYTHON:-3.12}" --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$fetch_wheels" $WHEELS
  echo "wheels in $fetch_wheels ($(du -sh "$fetch_wheels" | cut -f1)); on the GPU machine:"
  echo "  bash scripts/bench_gpu.sh --wheels $fetch_wheels"
  exit 0
fi
[[ $utterances =~ ^[0-9]+$ ]] && [ "$utterances" -ge 8 ] || die "--utterances: need 8 or more"
for f in bench/noise_corpus.py bench/ds2_baseline/baseline.py; do
  [ -f "$shared/$f" ] || die "$shared/$f not found (--shared: the folder that holds bench/)"
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ -n "$wheels" ]; then
  compgen -G "$wheels/*.whl" >/dev/null || die "--wheels $wheels: no .whl files there"
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$out/site" "$wheels"/*.whl
  export PYTHONPATH="$out/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
missing=$("$py" - <<'EOF'
import importlib.util as u
names = ["torch", "lightning", "librosa", "soundfile", "soxr", "jiwer", "omegaconf", "numpy",
         "tensorboard", "matplotlib", "tqdm"]
print(" ".join(n for n in names if u.find_spec(n) is None))
EOF
)
[ -z "$missing" ] || die "missing Python packages: $missing (install them, or pass --wheels DIR)"
if [ "$device" = cuda ]; then
  "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" \
    || die "no CUDA device visible to torch (--device cpu to run on the CPU)"
fi
asr() { "$py" -m asr.cli "$@"; }
t0=$SECONDS
step() { echo "[bench_gpu $((SECONDS - t0)) s] $*"; }

# sizes: the real run, or --tiny (the CPU test)
if [ "$tiny" = 1 ]; then
  [ "$utterances" = 1200 ] && utterances=8
  small=(model.hidden=16 model.layers=1 data.num_workers=0 data.cmvn_utterances=4)
  large_over=("${small[@]}" data.max_batch_seconds=30 model.conv_channels=4)
  mini_over=("${small[@]}" data.max_batch_seconds=30)
  base=(--baseline-steps 1 --baseline-batch-size 2)
  large_base=(--baseline-model small "${base[@]}")
  mini_base=("${base[@]}")
  rt_steps=2
else
  large_over=() mini_over=()
  large_base=(--baseline-model ds2 --baseline-steps 30 --baseline-batch-size 32)
  mini_base=(--baseline-model small --baseline-steps 30 --baseline-batch-size 32)
  rt_steps=50
fi
accel=(); [ "$device" = cuda ] && accel=(trainer.accelerator=gpu) || accel=(trainer.accelerator=cpu)

step "noise corpus: $utterances utterances"
NP="$(nproc)" "$py" "$shared/bench/noise_corpus.py" "$out/corpus" "$utterances" | tail -n 1
bench() {  # bench NAME CONFIG [bench_train options and overrides...]
  local name=$1 config=$2; shift 2
  step "training throughput: $name ($config)"
  "$py" "$root/scripts/bench_train.py" --corpus "$out/corpus" --utterances "$utterances" \
    --config "$root/$config" --device "$device" --threads "$(nproc)" --ceiling \
    --baseline "$shared/bench/ds2_baseline/baseline.py" --json "$out/$name.json" "$@" \
    "${accel[@]}"
}
bench librispeech conf/librispeech_100.yaml "${large_base[@]}" "${large_over[@]}"
bench mini conf/mini.yaml "${mini_base[@]}" "${mini_over[@]}" trainer.precision=auto

step "round trip: asr train, asr evaluate, asr transcribe --device $device"
rt="$out/roundtrip"
rm -rf "$rt" && mkdir -p "$rt"
asr prepare "$out/corpus" "$rt/all.jsonl" >/dev/null
n_dev=$(( utterances / 8 ))
head -n "$n_dev" "$rt/all.jsonl" > "$rt/dev.jsonl"
tail -n +"$(( n_dev + 1 ))" "$rt/all.jsonl" > "$rt/train.jsonl"
asr train --config "$root/conf/mini.yaml" "data.train_manifest=$rt/train.jsonl" \
  "data.val_manifest=$rt/dev.jsonl" "exp_dir=$rt/exp" trainer.max_epochs=1 \
  "trainer.max_steps=$rt_steps" trainer.enable_progress_bar=false trainer.precision=auto \
  "${accel[@]}" "${mini_over[@]}" > "$rt/train.log" 2>&1 \
  || { tail -n 20 "$rt/train.log" >&2; die "asr train failed ($rt/train.log)"; }
ckpt="$rt/exp/checkpoints/last.ckpt"
[ -f "$ckpt" ] || die "asr train wrote no $ckpt"
asr evaluate --checkpoint "$ckpt" --manifest "$rt/dev.jsonl" --out-dir "$rt/eval" \
  --device "$device" > "$rt/evaluate.log" 2>&1 \
  || { tail -n 20 "$rt/evaluate.log" >&2; die "asr evaluate failed"; }
wav=$("$py" -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['audio'])" \
  "$rt/dev.jsonl")
asr transcribe "$wav" --checkpoint "$ckpt" --device "$device" > "$rt/transcript.txt" \
  2> "$rt/transcribe.log" || { tail -n 20 "$rt/transcribe.log" >&2; die "asr transcribe failed"; }

step "summary"
"$py" - "$out" "$device" <<'EOF'
import json, sys, platform
from pathlib import Path
import torch
out, device = Path(sys.argv[1]), sys.argv[2]
name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "CPU"
lines = [f"# bench_gpu.sh on {name} (torch {torch.__version__})", "",
         "| config | params | precision | audio-s/s | baseline | baseline audio-s/s | ours / "
         "baseline | model-only ceiling | ours / ceiling | one epoch of train-clean-100 |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for config in ("librispeech", "mini"):
    r = json.loads((out / f"{config}.json").read_text())
    o, b = r["ours"], r["baseline"]
    epoch = 100.6 * 3600 / o["audio_seconds_per_second"]
    lines.append(
        f"| {config} | {o['params'] / 1e6:.2f} M | {o['precision']} | "
        f"{o['audio_seconds_per_second']:.1f} | {b['model']} ({b['params'] / 1e6:.1f} M, fp32) | "
        f"{b['audio_seconds_per_second']:.1f} | {r['ratio']:.2f}x | "
        f"{o['ceiling_audio_seconds_per_second']:.1f} | {100 * o['efficiency']:.1f} % | "
        f"{epoch / 60:.1f} min |")
ev = json.loads((out / "roundtrip" / "eval" / "wer.json").read_text())
lines += ["", f"Round trip on {device}: asr train, asr evaluate ({ev['utterances']} utterances, "
          f"RTF {ev['decode_seconds'] / ev['audio_seconds']:.4f}) and asr transcribe ran."]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
step "done: $out/summary.md"
