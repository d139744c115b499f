"""The bad-audio matrix across the three entry points (`asr transcribe`, `asr prepare`, the
training data loader), bad manifests and text, and `asr validate`.

Every case file is built here. A valid case must decode to the reference signal (loader), be
kept with the right duration (prepare) and be transcribed (CLI, exit 0); an invalid one must
give a one-line error naming the file and the problem (CLI: exit 1, the other files still
transcribed), be dropped and counted (prepare), or be skipped with a warning (loader).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from asr.cli import main
from asr.data.dataset import AudioDataset, collate
from asr.data.manifest import build_manifest, read_listing, read_manifest, write_manifest
from asr.data.validate import validate_manifest
from asr.features import FeatureConfig
from asr.model import ModelDims
from asr.text import CharVocab

SR = 16000
SECONDS = 0.5


def reference(rate: int = SR, seconds: float = SECONDS) -> np.ndarray:
    """(N,) float64: 440 Hz + 1 kHz tones, quantised to 16 bits so lossless formats agree."""
    t = np.arange(int(round(rate * seconds))) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1000 * t)
    return np.round(x * 32767) / 32767


def _write(path: Path, data, rate: int = SR, **kw) -> Path:
    sf.write(path, data, rate, **kw)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated(path: Path, fmt: str) -> Path:
    _write(path, reference(seconds=1.0), format=fmt, subtype="PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _nonfinite(path: Path, value: float) -> Path:
    x = reference().astype(np.float32)
    x[1000] = value
    return _write(path, x, subtype="FLOAT")


def _silent_hour(path: Path) -> Path:
    """A one-hour 16 kHz 16-bit WAV of silence, written sparse (no 115 MB of disk writes)."""
    frames = 3600 * SR
    header = b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, SR, 2 * SR, 2, 16)
    header += b"data" + struct.pack("<I", 2 * frames)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + 2 * frames)
    return path


# name -> (builder, expected): expected is "ok" for valid audio, else words of the error.
CASES = {
    "mono16k.wav": (lambda p: _write(p, reference(), subtype="PCM_16"), "ok"),
    "stereo.wav": (lambda p: _write(p, np.stack([reference()] * 2, 1), subtype="PCM_16"), "ok"),
    "6ch.wav": (lambda p: _write(p, np.stack([reference()] * 6, 1), subtype="PCM_16"), "ok"),
    "8k.wav": (lambda p: _write(p, reference(8000), 8000, subtype="PCM_16"), "ok"),
    "22k.flac": (lambda p: _write(p, reference(22050), 22050, subtype="PCM_16"), "ok"),
    "44k.wav": (lambda p: _write(p, reference(44100), 44100, subtype="PCM_16"), "ok"),
    "48k.ogg": (lambda p: _write(p, reference(48000), 48000, format="OGG"), "ok"),
    "u8.wav": (lambda p: _write(p, reference(), subtype="PCM_U8"), "ok"),
    "s8.flac": (lambda p: _write(p, reference(), subtype="PCM_S8"), "ok"),
    "int24.wav": (lambda p: _write(p, reference(), subtype="PCM_24"), "ok"),
    "int32.wav": (lambda p: _write(p, reference(), subtype="PCM_32"), "ok"),
    "float32.wav": (lambda p: _write(p, reference(), subtype="FLOAT"), "ok"),
    "float64.wav": (lambda p: _write(p, reference(), subtype="DOUBLE"), "ok"),
    "silence.wav": (lambda p: _write(p, np.zeros(SR), subtype="PCM_16"), "ok"),
    "shorter-than-a-frame.wav": (lambda p: _write(p, reference()[:100], subtype="PCM_16"), "ok"),
    "long-60s.flac": (lambda p: _write(p, np.tile(reference(), 120), subtype="PCM_16"), "ok"),
    "empty.wav": (lambda p: _bytes(p, b""), "empty file"),
    "zero-length.wav": (lambda p: _write(p, np.zeros(0), subtype="PCM_16"), "zero-length"),
    "truncated-wav.wav": (lambda p: _truncated(p, "WAV"), "truncated"),
    "truncated-flac.flac": (lambda p: _truncated(p, "FLAC"), "truncated"),
    "text.wav": (lambda p: _bytes(p, b"not audio\n" * 50), "not an audio file"),
    "unknown.m4a": (
        lambda p: _bytes(p, b"\x00\x00\x00\x20ftypM4A " + bytes(range(256)) * 8),
        "unrecognised format",
    ),
    "nan.wav": (lambda p: _nonfinite(p, np.nan), "non-finite"),
    "inf.wav": (lambda p: _nonfinite(p, np.inf), "non-finite"),
    "missing.wav": (lambda p: p, "file not found"),
    "directory.wav": (lambda p: p.mkdir() or p, "is a directory"),
}
VALID = [n for n, (_, e) in CASES.items() if e == "ok"]
# Header-only reading (asr prepare) cannot see bad samples or a cut inside FLAC frames: those
# files are caught by `asr validate` and skipped by the training loader.
NOT_IN_HEADER = {"nan.wav", "inf.wav", "truncated-flac.flac"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix")
    return {name: build(root / name) for name, (build, _) in CASES.items()}


def expected_wave(name: str) -> np.ndarray:
    if name == "silence.wav":
        return np.zeros(SR)
    if name == "shorter-than-a-frame.wav":
        return reference()[:100]
    if name == "long-60s.flac":
        return np.tile(reference(), 120)
    return reference()


# ---------------------------------------------------------------- the training loader


@pytest.mark.parametrize("name", list(CASES))
def test_loader_matrix(files, name, caplog):
    path = files[name]
    record = {"id": name, "audio": str(path), "duration": 1.0, "text": "A B", "speaker": "s"}
    good = {**record, "id": "good", "audio": str(files["mono16k.wav"])}
    ds = AudioDataset([record, good], CharVocab())
    expected = CASES[name][1]
    with caplog.at_level(logging.WARNING):
        item = ds[0]
    if expected == "ok":
        wave, tokens, _ = item
        ref = expected_wave(name)
        assert wave.dtype == np.float32 and abs(len(wave) - len(ref)) <= 1
        n = min(len(wave), len(ref))
        resampled = not name.startswith(("mono", "stereo", "6ch", "u8", "s8", "int", "float"))
        lossy = name.startswith(("u8", "s8")) or name.endswith(".ogg")
        tol = 0.05 if lossy else (0.01 if resampled else 1e-4)
        edge = 64 if resampled else 0  # resampler warm-up at both ends
        np.testing.assert_allclose(wave[edge : n - edge], ref[edge : n - edge], atol=tol)
        assert tokens == CharVocab().encode("A B")
    else:
        assert item is None
        msg = caplog.records[-1].getMessage()
        assert str(path) in msg and expected in msg and "\n" not in msg
    batch = collate([ds[0], ds[1]])  # the rest of the batch goes on
    assert "good" in batch["ids"]


def test_loader_one_hour_file(tmp_path):
    path = _silent_hour(tmp_path / "hour.wav")
    wave = AudioDataset(
        [{"id": "h", "audio": str(path), "duration": 3600.0, "text": "A", "speaker": "s"}],
        CharVocab(),
    )[0][0]
    assert wave.shape == (3600 * SR,) and not wave.any()


# ---------------------------------------------------------------- asr prepare


@pytest.fixture(scope="module")
def prepared(files, tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    hour = _silent_hour(root / "one-hour.wav")
    wordy = root / "short-with-long-text.wav"
    wordy.write_bytes(files["shorter-than-a-frame.wav"].read_bytes())
    listing = root / "list.tsv"
    lines = [f"{p}\ta" for p in [*files.values(), hour]] + [f"{wordy}\tno room for this"]
    listing.write_text("\n".join(lines) + "\n")
    out = root / "m.jsonl"
    assert main(["prepare", str(listing), str(out)]) == 0
    # the same as `asr prepare` without --config: the default model's output frames
    frames = lambda s: ModelDims().output_length(FeatureConfig().num_frames(int(s * SR)))  # noqa: E731
    report = build_manifest(read_listing(listing), root / "again.jsonl", frames)
    return {r["id"]: r for r in read_manifest(out)}, report


@pytest.mark.parametrize("name", list(CASES))
def test_prepare_matrix(files, prepared, name):
    records, report = prepared
    uid = Path(name).stem
    expected = CASES[name][1]
    if expected == "ok" or name in NOT_IN_HEADER:
        assert uid in records
        if expected == "ok":
            duration = len(expected_wave(name)) / SR
            assert records[uid]["duration"] == pytest.approx(duration, rel=1e-3, abs=1e-4)
    else:
        assert uid not in records
        assert report.dropped["bad audio"] == len(CASES) - len(VALID) - len(NOT_IN_HEADER)
        bad = [m for m in report.examples["bad audio"] if str(files[name]) in m]
        if bad:  # the report keeps three examples; every message names its file and problem
            assert expected in bad[0] and "\n" not in bad[0]


def test_prepare_one_hour_file_and_ctc_infeasible_transcript(prepared):
    records, report = prepared
    assert records["one-hour"]["duration"] == 3600.0  # read from the header, not decoded
    # 100 samples give the model one output frame: room for "A", not for a sentence
    assert records["shorter-than-a-frame"]["text"] == "A"
    assert "short-with-long-text" not in records
    assert report.dropped["transcript too long for its audio"] == 1


# ---------------------------------------------------------------- asr transcribe


def transcribe(files: list[Path], ckpt: Path, capsys, caplog) -> tuple[int, list[dict], str]:
    """(exit code, JSON results, error lines) of `asr transcribe FILES --json`: the command's
    own stderr lines and its log records (the log handler also writes to stderr, but the one
    `main` installed may hold an earlier test's captured stream)."""
    caplog.clear()
    rc = main(["transcribe", *map(str, files), "--checkpoint", str(ckpt), "--json"])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("asr transcribe:")]
    lines += [r.getMessage() for r in caplog.records]
    return rc, json.loads(out) if out.strip() else [], "\n".join(lines)


@pytest.mark.parametrize("name", list(CASES))
def test_transcribe_matrix(files, trained, name, capsys, caplog):
    ckpt, _ = trained
    path, good = files[name], files["mono16k.wav"]
    rc, results, err = transcribe([path, good], ckpt, capsys, caplog)
    if CASES[name][1] == "ok":
        assert rc == 0 and str(path) not in err
        assert [r["audio"] for r in results] == [str(path), str(good)]
        assert all(isinstance(r["text"], str) for r in results)
    else:
        assert rc == 1
        errors = [line for line in err.splitlines() if str(path) in line]
        # a directory is searched for audio files: this one holds none
        expected = "no audio files in this directory" if path.is_dir() else CASES[name][1]
        assert len(errors) == 1 and expected in errors[0]
        assert [r["audio"] for r in results] == [str(good)]  # the other file is transcribed


def test_transcribe_lossless_formats_agree(files, trained, capsys, caplog):
    """The same 16-bit signal in any channel layout or sample format gives the same text."""
    ckpt, _ = trained
    names = ["mono16k.wav", "stereo.wav", "6ch.wav", "int24.wav", "int32.wav", "float32.wav"]
    rc, results, _ = transcribe([files[n] for n in names], ckpt, capsys, caplog)
    assert rc == 0 and len(results) == len(names)
    assert len({r["text"] for r in results}) == 1


# ---------------------------------------------------------------- unreadable files


def _as_nobody(fn, *args) -> str:
    """Run fn(*args) in a forked child with uid/gid 65534 (root reads any file); return what it
    printed or the error message."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, never return into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = repr(fn(*args))
        except BaseException as err:  # noqa: BLE001 - report anything to the parent
            result = f"{type(err).__name__}: {err}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        result = f.read()
    os.waitpid(pid, 0)
    return result


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_unreadable_file_in_every_entry_point(trained, capsys):
    ckpt, _ = trained
    root = Path(tempfile.mkdtemp(prefix="asr-perm-"))  # world-traversable, unlike tmp_path
    try:
        root.chmod(0o777)
        locked = _write(root / "locked.wav", reference(), subtype="PCM_16")
        locked.chmod(0)
        good = _write(root / "good.wav", reference(), subtype="PCM_16")
        good.chmod(0o644)
        model = root / "model.ckpt"  # the checkpoint must stay readable to the unprivileged user
        shutil.copy(ckpt, model)
        model.chmod(0o644)
        if os.geteuid() != 0:
            pytest.skip("needs root to switch to an unprivileged user")

        def loader():
            rec = {"id": "x", "audio": str(locked), "duration": 1.0, "text": "A", "speaker": "s"}
            return AudioDataset([rec], CharVocab())[0]

        def prepare():
            listing = root / "list.tsv"
            listing.write_text(f"{locked}\tA\n{good}\tB\n")
            report = build_manifest(read_listing(listing), root / "m.jsonl")
            return report.dropped["bad audio"], report.examples["bad audio"]

        def transcribe():
            import sys

            sys.stderr = sys.stdout = open(root / "cli.txt", "w")  # noqa: SIM115
            rc = main(["transcribe", str(locked), "--checkpoint", str(model)])
            sys.stdout.flush()
            return rc, (root / "cli.txt").read_text()

        assert _as_nobody(loader) == "None"
        assert "permission denied" in _as_nobody(load_audio, locked)
        assert "(1, [" in (p := _as_nobody(prepare)) and "permission denied" in p
        out = _as_nobody(transcribe)
        assert out.startswith("(1, ") and f"{locked}: permission denied" in out
    finally:
        for p in root.iterdir():
            p.chmod(0o644)
            p.unlink()
        root.rmdir()


def test_validate_one_hour_file(tmp_path):
    hour = _silent_hour(tmp_path / "hour.wav")
    manifest = tmp_path / "m.jsonl"
    record = {"id": "h", "audio": str(hour), "duration": 3600.0, "text": "A", "speaker": "s"}
    write_manifest([record], manifest)
    for decode in (False, True):  # header only, then a full decode of the hour
        report, total = validate_manifest(manifest, decode=decode)
        assert total == 1 and report.kept == 1 and not report.dropped
    report, _ = validate_manifest(manifest, max_duration=60, decode=False)
    assert report.dropped["audio too long"] == 1
