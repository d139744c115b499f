"""Training throughput: this toolkit against a DeepSpeech2-style pipeline, on the same utterances.

    python scripts/bench_train.py --corpus recipes/mini/corpus/train --utterances 1000 \
        --config conf/mini.yaml [key=value ...] [--threads 2] [--baseline-steps 20]

Takes the first ``--utterances`` utterances (by id) of a LibriSpeech-layout corpus and trains on
them, each side in its own process:

- ours: ``asr train`` (`asr.train.fit`) with the config and overrides given, one epoch over the
  utterances, validation off; timed by a callback from the end of the warm-up steps to the end
  of the epoch;
- the baseline: ``../shared/bench/ds2_baseline/baseline.py`` (a deepspeech.pytorch-style
  pipeline: per-item linear spectrograms in workers, fixed-size unbucketed batches, packed
  BiLSTM) on a LibriSpeech-layout copy (symbolic links) of the same utterances.

Prints per side: audio seconds of real audio trained on per wall second, the data-wait share
(time between one step's end and the next step's start: the loader, plus Lightning's loop for
ours), the padding share, peak resident memory and parameters; then ours / baseline. With
``--ceiling``, also the model-only ceiling: the same encoder's forward, CTC loss, backward,
clipping and AdamW step, replaying ours' timed batch shapes on random features already on the
device (no data loading, no feature extraction, no Lightning), at the config's precision; ours
/ ceiling is the end-to-end efficiency. The figures of a run are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO.parent / "shared" / "bench" / "ds2_baseline" / "baseline.py"


# runs baseline.py in a process that then reports its own peak memory on stderr
_WRAP = (
    "import json, resource, runpy, sys; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__'); "
    "print(json.dumps({'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),"
    " file=sys.stderr)"
)


def _peak_mib() -> float:
    """Peak resident memory of this process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def select(corpus: Path, n: int, out: Path) -> tuple[Path, Path]:
    """The first `n` utterances (by id) of `corpus`: a manifest, and a LibriSpeech-layout copy
    made of symbolic links (for the baseline). Returns (manifest, copy)."""
    from asr.data.librispeech import iter_librispeech
    from asr.data.manifest import build_manifest

    items = sorted(iter_librispeech(corpus))[:n]
    copy = out / "corpus"
    transcripts: dict[Path, list[str]] = {}
    for uid, audio, text, _ in items:
        speaker, chapter, _ = uid.split("-")
        folder = copy / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        (folder / audio.name).symlink_to(audio.resolve())
        transcripts.setdefault(folder / f"{speaker}-{chapter}.trans.txt", []).append(
            f"{uid} {text}\n"
        )
    for path, lines in transcripts.items():
        path.write_text("".join(lines))
    manifest = out / "train.jsonl"
    build_manifest(items, manifest)
    return manifest, copy


def run_ours(args: argparse.Namespace) -> dict:
    """One epoch of `asr.train.fit` over the manifest, timed by a callback (in this process)."""
    import torch
    from lightning.pytorch.callbacks import Callback

    from asr.config import load_config
    from asr.train import fit

    torch.set_num_threads(args.threads)

    class Clock(Callback):
        def __init__(self) -> None:
            self.steps, self.audio, self.real, self.padded, self.wait = 0, 0.0, 0, 0, 0.0
            self.start = self.end = None
            self.shapes: list[tuple[list[int], list[int]]] = []  # (samples, targets) per step

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            now = time.perf_counter()
            if self.end is not None and self.steps >= args.warmup:
                self.wait += now - self.end
            if self.steps == args.warmup:
                self.start = now

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.end = time.perf_counter()
            if self.steps >= args.warmup:
                lengths = batch["wave_lengths"]
                self.shapes.append((lengths.tolist(), batch["target_lengths"].tolist()))
                self.audio += lengths.sum().item() / module.model.feature_config.sample_rate
                self.real += lengths.sum().item()
                self.padded += lengths.numel() * batch["wave"].shape[1]
            self.steps += 1

    overrides = [
        *args.overrides,
        f"data.train_manifest={args.manifest}",
        f"data.val_manifest={args.manifest}",
        f"exp_dir={args.out / 'exp'}",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "checkpoint.every_n_steps=null",
    ]
    if args.device == "cuda":
        overrides.append("trainer.accelerator=gpu")
    clock = Clock()
    cfg = load_config(args.config, overrides)
    trainer = fit(cfg, callbacks=[clock])
    wall = clock.end - clock.start
    module = trainer.lightning_module
    ceiling = {}
    if args.ceiling:
        rate = run_ceiling(module.model, clock.shapes, str(trainer.precision), args.device,
                           cfg.trainer.get("gradient_clip_val"))
        ceiling = {"ceiling_audio_seconds_per_second": round(rate, 3),
                   "efficiency": round(clock.audio / wall / rate, 4)}
    return {
        "pipeline": "asr",
        "config": str(args.config),
        "overrides": args.overrides,
        "params": sum(p.numel() for p in module.model.parameters()),
        "steps": clock.steps - args.warmup,
        "audio_seconds": round(clock.audio, 2),
        "wall_seconds": round(wall, 3),
        "audio_seconds_per_second": round(clock.audio / wall, 3),
        "data_wait_fraction": round(clock.wait / wall, 4),
        "padding_fraction": round(1 - clock.real / max(clock.padded, 1), 4),
        "peak_rss_mib": round(_peak_mib()),
        "threads": torch.get_num_threads(),
        "precision": str(trainer.precision),
        **ceiling,
    }


def run_ceiling(model, shapes: list[tuple[list[int], list[int]]], precision: str,
                device: str, clip: float | None) -> float:
    """Audio seconds per second of the model-only training step on `shapes` ((samples per
    utterance, target lengths) per step, as ours trained on): random log-mel features (B, T, F)
    and targets already on the device, the encoder's forward at `precision` (bf16 autocast for
    ``bf16-mixed``), CTC loss, backward, gradient clipping at `clip` (the config's
    ``trainer.gradient_clip_val``; none when None) and an AdamW step. The first
    step is a warm-up; each step waits for the device, so no work is left out of the clock."""
    import torch

    dev = torch.device(device)  # Lightning moves the model back to the CPU after fit
    encoder, feats_cfg = model.encoder.to(dev).train(), model.feature_config
    opt = torch.optim.AdamW(encoder.parameters(), lr=1e-4)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    vocab = model.dims.vocab_size
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled="bf16" in precision)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def step(samples: list[int], targets: list[int]) -> None:
        frames = torch.tensor([feats_cfg.num_frames(n) for n in samples])
        feats = torch.randn(len(samples), int(frames.max()), feats_cfg.n_mels, generator=gen)
        labels = torch.randint(1, vocab, (sum(targets),), generator=gen)
        feats, labels, frames = feats.to(dev), labels.to(dev), frames.to(dev)
        with autocast:
            log_probs, out_lengths = encoder(feats, frames)
        loss = ctc(log_probs.float().transpose(0, 1), labels, out_lengths,
                   torch.tensor(targets, device=dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), clip)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    step(*shapes[0])  # warm-up (kernel selection, allocator)
    start = time.perf_counter()
    for samples, targets in shapes:
        step(samples, targets)
    wall = time.perf_counter() - start
    audio = sum(sum(samples) for samples, _ in shapes) / feats_cfg.sample_rate
    return audio / wall


def run_baseline(args: argparse.Namespace, copy: Path) -> dict:
    cmd = [sys.executable, "-c", _WRAP, str(args.baseline), "--data", str(copy), "--model",
           args.baseline_model,
           "--steps", str(args.baseline_steps), "--batch-size", str(args.baseline_batch_size),
           "--threads", str(args.threads), "--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"baseline failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = json.loads(proc.stderr.strip().splitlines()[-1])["peak_rss_mib"]
    return {**result, "peak_rss_mib": round(peak)}


def _row(name: str, r: dict) -> str:
    return (f"{name:<10} {r['audio_seconds_per_second']:>9.1f} {r['audio_seconds']:>9.0f} "
            f"{r['wall_seconds']:>8.1f} {100 * r['data_wait_fraction']:>6.1f} % "
            f"{100 * r['padding_fraction']:>6.1f} % {r['peak_rss_mib']:>7} "
            f"{r['params'] / 1e6:>7.2f}M")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="LibriSpeech-layout subset")
    ap.add_argument("--utterances", type=int, default=1000)
    ap.add_argument("--config", type=Path, default=REPO / "conf" / "mini.yaml")
    ap.add_argument("overrides", nargs="*", help="config overrides key=value (ours)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps at the start (ours)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--baseline", type=Path, default=BASELINE, help="the baseline's baseline.py")
    ap.add_argument("--baseline-model", default="small", help="baseline.py --model")
    ap.add_argument("--baseline-steps", type=int, default=20)
    ap.add_argument("--baseline-batch-size", type=int, default=8)
    ap.add_argument("--no-baseline", action="store_true", help="time ours only")
    ap.add_argument("--ceiling", action="store_true",
                    help="also time the model-only ceiling (ours' batch shapes, random features "
                         "on the device) and print ours / ceiling")
    ap.add_argument("--json", type=Path, help="also write both results here")
    ap.add_argument("--_ours", type=Path, help=argparse.SUPPRESS)  # worker: out dir
    args = ap.parse_args()

    if args._ours:  # the worker process: train, print one JSON line
        args.out, args.manifest = args._ours, args._ours / "train.jsonl"
        print(json.dumps(run_ours(args)))
        return

    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        out = Path(tmp)
        manifest, copy = select(args.corpus, args.utterances, out)
        cmd = [sys.executable, __file__, "--_ours", str(out), "--corpus", str(args.corpus),
               "--config", str(args.config), "--threads", str(args.threads), "--warmup",
               str(args.warmup), "--device", args.device, *args.overrides,
               *(["--ceiling"] if args.ceiling else [])]
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode:
            raise SystemExit(f"asr training failed:\n{proc.stderr[-3000:]}")
        ours = json.loads(proc.stdout.strip().splitlines()[-1])
        results = {"corpus": str(args.corpus), "utterances": args.utterances, "ours": ours}
        print(f"{'':<10} {'audio-s/s':>9} {'audio s':>9} {'wall s':>8} {'wait':>8} "
              f"{'padding':>8} {'RSS MiB':>7} {'params':>8}")
        print(_row("asr", ours), flush=True)
        if args.ceiling:
            print(f"model-only ceiling {ours['ceiling_audio_seconds_per_second']:.1f} audio-s/s: "
                  f"efficiency {100 * ours['efficiency']:.1f} %", flush=True)
        if not args.no_baseline:
            base = results["baseline"] = run_baseline(args, copy)
            print(_row("ds2-style", base))
            ratio = ours["audio_seconds_per_second"] / base["audio_seconds_per_second"]
            results["ratio"] = round(ratio, 2)
            print(f"ours / baseline: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
