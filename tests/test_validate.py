"""Bad manifests and transcripts: counted and skipped (training, `asr validate`), never a crash."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import tiny_run

from asr.cli import main
from asr.config import load_config
from asr.data.manifest import (
    ManifestError,
    PrepareReport,
    check_records,
    read_manifest,
    write_manifest,
)
from asr.data.validate import validate_manifest
from asr.train import fit


def rec(uid: str, audio: Path, text: str = "HELLO", duration: float | None = None) -> dict:
    if duration is None:
        duration = sf.info(audio).duration if audio.exists() else 1.0
    return {"id": uid, "audio": str(audio), "duration": duration, "text": text, "speaker": "s"}


@pytest.fixture
def audio(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {}
    for name, seconds in [("a", 1.0), ("b", 1.5), ("short", 0.05), ("long", 4.0)]:
        files[name] = tmp_path / f"{name}.wav"
        sf.write(files[name], 0.1 * rng.standard_normal(int(16000 * seconds)), 16000)
    nan = 0.1 * rng.standard_normal(16000).astype(np.float32)
    nan[5] = np.nan
    files["nan"] = tmp_path / "nan.wav"
    sf.write(files["nan"], nan, 16000, subtype="FLOAT")
    return files


def bad_manifest(tmp_path: Path, audio: dict[str, Path]) -> Path:
    """Two good records, then one of each problem (lines and records)."""
    good = [rec("a", audio["a"]), rec("b", audio["b"], "IT'S FINE")]
    records = [
        rec("a", audio["b"]),  # duplicate id
        rec("empty", audio["a"], "  "),
        rec("lower", audio["a"], "hello"),  # outside the upper-case vocabulary
        rec("accent", audio["a"], "CAFÉ"),
        rec("ctc", audio["short"], "A SENTENCE FAR TOO LONG FOR FIVE HUNDREDTHS"),
        rec("missing", audio["a"].with_name("gone.wav"), duration=1.0),
        rec("nan", audio["nan"]),
        rec("wrong-duration", audio["a"], duration=3.0),
        rec("toolong", audio["long"]),
    ]
    path = tmp_path / "bad.jsonl"
    write_manifest(good + records, path)
    with path.open("a") as f:
        f.write("{not json\n")
        f.write("[1, 2]\n")
        f.write(json.dumps({"id": "x", "audio": "y"}) + "\n")
        f.write(json.dumps({**rec("d", audio["a"]), "duration": "long"}) + "\n")
    return path


def test_read_manifest_counts_and_skips_bad_lines(tmp_path, audio):
    path = bad_manifest(tmp_path, audio)
    with pytest.raises(ManifestError, match=r"bad.jsonl:12: not JSON"):
        read_manifest(path)  # strict by default
    report = PrepareReport()
    records = read_manifest(path, report)
    assert len(records) == 11
    assert dict(report.dropped) == {
        "line not JSON": 1,
        "line not a JSON object": 1,
        "missing fields": 1,
        "bad duration": 1,
    }
    assert report.examples["missing fields"] == [
        "bad.jsonl:14: missing field(s) duration, text, speaker"
    ]


def test_check_records_drops_what_training_cannot_use(tmp_path, audio):
    records = read_manifest(bad_manifest(tmp_path, audio), PrepareReport())
    report = PrepareReport()
    frames = lambda seconds: int(seconds * 100) // 3  # noqa: E731 - 10 ms hop, stacking 3
    kept = check_records(records, output_frames=frames, max_duration=3.0, report=report)
    assert {r["id"] for r in kept} == {"a", "b", "missing", "nan", "wrong-duration"}
    assert dict(report.dropped) == {
        "duplicate id": 1,
        "empty transcript": 1,
        "characters outside the vocabulary": 2,
        "transcript too long for its audio": 1,
        "audio too long": 1,
    }
    assert "'É'" in " ".join(report.examples["characters outside the vocabulary"])
    assert report.kept == 5


def test_training_on_a_bad_manifest_skips_and_reports(tmp_path, audio, caplog):
    cfg, val = tiny_run(tmp_path)
    bad = bad_manifest(tmp_path, audio)
    train = read_manifest(tmp_path / "train.jsonl")
    with bad.open("a") as f:  # the bad lines and records come with a usable corpus
        for r in train:
            f.write(json.dumps(r) + "\n")
    with caplog.at_level(logging.WARNING):
        trainer = fit(load_config(cfg, [f"data.train_manifest={bad}", "data.max_duration=3"]))
    assert trainer.global_step > 0 and trainer.state.finished
    text = caplog.text
    for reason in ["line not JSON", "duplicate id", "characters outside the vocabulary"]:
        assert reason in text
    assert "skipping utterance missing" in text and "gone.wav: file not found" in text
    assert "skipping utterance nan" in text and "non-finite" in text


def test_validate_reports_every_problem(tmp_path, audio, capsys):
    path = bad_manifest(tmp_path, audio)
    report, total = validate_manifest(path, max_duration=3.0, output_frames=lambda s: 100 * s / 3)
    assert total == 15 and report.kept == 2
    assert dict(report.dropped) == {
        "line not JSON": 1,
        "line not a JSON object": 1,
        "missing fields": 1,
        "bad duration": 1,
        "duplicate id": 1,
        "empty transcript": 1,
        "characters outside the vocabulary": 2,
        "transcript too long for its audio": 1,
        "audio too long": 1,
        "bad audio": 2,  # the missing file and the NaN samples
        "duration mismatch": 1,
    }
    # header-only: faster, but NaN samples go unnoticed
    quick, _ = validate_manifest(path, max_duration=3.0, decode=False)
    assert quick.dropped["bad audio"] == 1 and quick.kept == 4  # + the NaN file and "ctc"

    clean = tmp_path / "clean.jsonl"
    rc = main(["validate", str(path), "--write-clean", str(clean)])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.startswith(f"{path}: 3 of 15 records usable")  # no max_duration without config
    assert "duration mismatch: 1, e.g. wrong-duration: manifest says 3.000 s" in out
    assert [r["id"] for r in read_manifest(clean)] == ["a", "b", "toolong"]
    assert main(["validate", str(clean)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out


def test_validate_uses_the_training_config(tmp_path, audio, capsys):
    cfg, _ = tiny_run(tmp_path)
    path = tmp_path / "m.jsonl"
    write_manifest([rec("a", audio["a"]), rec("long", audio["long"])], path)
    assert main(["validate", str(path), "--config", str(cfg)]) == 0
    assert main(["validate", str(path), "--config", str(cfg), "data.max_duration=2"]) == 1
    assert "audio too long: 1, e.g. long: 4.0 s > 2 s" in capsys.readouterr().out
