"""Fixtures the tests build themselves: small LibriSpeech-layout corpora of generated audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
WORDS = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL"]


def make_librispeech(
    root: Path,
    speakers: int = 2,
    chapters: int = 1,
    utts: int = 3,
    seed: int = 0,
    sample_rate: int = 16000,
) -> Path:
    """Write `<root>/<speaker>/<chapter>/<spk>-<chap>-<utt>.flac` + trans.txt with
    tone-and-noise audio of 1-2.5 s and 1-3 word transcripts. Returns root."""
    rng = np.random.default_rng(seed)
    for s in range(1, speakers + 1):
        spk = 100 + s
        for c in range(1, chapters + 1):
            chap = 10 + c
            d = root / str(spk) / str(chap)
            d.mkdir(parents=True, exist_ok=True)
            lines = []
            for u in range(utts):
                uid = f"{spk}-{chap}-{u:04d}"
                n = int(sample_rate * rng.uniform(1.0, 2.5))
                t = np.arange(n) / sample_rate
                wave = 0.3 * np.sin(
                    2 * np.pi * rng.uniform(150, 800) * t
                ) + 0.05 * rng.standard_normal(n)
                sf.write(d / f"{uid}.flac", wave.astype(np.float32), sample_rate)
                text = " ".join(rng.choice(WORDS, size=rng.integers(1, 4)))
                lines.append(f"{uid} {text}")
            (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def tiny_config(tmp: Path, train: Path, val: Path) -> Path:
    """A config for seconds-long CPU training runs (the schema's defaults + these keys)."""
    cfg = {
        "exp_dir": str(tmp / "exp"),
        "data": {
            "train_manifest": str(train),
            "val_manifest": str(val),
            "max_batch_seconds": 6,
            "num_workers": 0,
        },
        "model": {"hidden": 16, "layers": 2},
        "features": {"n_mels": 40},
        "optim": {"warmup_steps": 2},
        "trainer": {
            "accelerator": "cpu",
            "max_epochs": 1,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        },
    }
    path = tmp / "tiny.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_librispeech(tmp_path / "corpus" / "train-tiny")


def tiny_run(tmp: Path) -> tuple[Path, Path]:
    """Train/val manifests of generated audio and a tiny config for them: (config, val)."""
    from asr.data.librispeech import prepare_librispeech

    train, val = tmp / "train.jsonl", tmp / "val.jsonl"
    prepare_librispeech(make_librispeech(tmp / "c" / "train", utts=4), train)
    prepare_librispeech(make_librispeech(tmp / "c" / "dev", utts=3, seed=1), val)
    return tiny_config(tmp, train, val), val


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, validation manifest) of a tiny model trained once for the session."""
    from asr.config import load_config
    from asr.train import fit

    tmp = tmp_path_factory.mktemp("trained")
    cfg, val = tiny_run(tmp)
    fit(load_config(cfg))
    return tmp / "exp" / "checkpoints" / "last.ckpt", val


def assert_resumes_exactly(cfg: Path, overrides: list[str], tmp_path: Path) -> int:
    """Train `cfg` with `overrides` for its epochs in one go, and again stopped in the middle of
    the second epoch and resumed from the step checkpoint: the final weights must agree within
    1e-6. Returns the training batches per epoch."""
    from lightning.pytorch.callbacks import Callback

    from asr.checkpoint import read_checkpoint
    from asr.config import load_config
    from asr.train import fit

    class Stop(Callback):
        """Raise at the start of step `at` (the step checkpoint of the one before is written)."""

        def __init__(self, at: int) -> None:
            self.at = at

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == self.at:
                raise RuntimeError("stopped")

    whole = fit(load_config(cfg, [*overrides, f"exp_dir={tmp_path / 'whole'}"]))
    per_epoch = whole.num_training_batches
    stop_at = per_epoch + per_epoch // 2  # in the middle of the second epoch
    stopped = tmp_path / "stopped"
    with pytest.raises(RuntimeError, match="stopped"):
        fit(load_config(cfg, [*overrides, f"exp_dir={stopped}"]), callbacks=[Stop(stop_at)])
    last = stopped / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["global_step"] == stop_at
    resumed = fit(load_config(cfg, [*overrides, f"exp_dir={stopped}", f"resume={last}"]))
    assert resumed.global_step == whole.global_step
    a = read_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(last)["state_dict"]
    assert max((a[k].double() - b[k].double()).abs().max().item() for k in a) <= 1e-6
    return per_epoch
