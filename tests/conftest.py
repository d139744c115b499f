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
