"""LJSpeech and FSDD: layout readers, deterministic splits, held-out sentences, archive installs.
The corpora are built by the tests (generated audio in each corpus' layout)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.data.download import is_complete
from asr.data.fsdd import download_fsdd, parse_name, prepare_fsdd
from asr.data.ljspeech import download_ljspeech, prepare_ljspeech, write_training_sentences
from asr.data.manifest import ManifestError, read_manifest

SENTENCES = [
    "Printing, in the only sense with which we are at present concerned,",
    "in being comparatively modern.",
    "the earliest book printed with movable types,",
    "And it is worth mention in passing that, as an example of fine typography,",
    "the Gutenberg Bible (1455) is a wonderful piece of work.",
]


def _tone(path: Path, seconds: float, rate: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * rng.uniform(150, 600) * t) + 0.02 * rng.standard_normal(len(t))
    sf.write(path, wave.astype(np.float32), rate)


def make_fsdd(
    root: Path, speakers=("george", "lucas"), digits=range(10), indices=range(12)
) -> Path:
    """``<root>/recordings/{digit}_{speaker}_{index}.wav``, 8 kHz, 0.4-0.7 s. Returns root."""
    rec = root / "recordings"
    rec.mkdir(parents=True)
    for i, (d, s, n) in enumerate((d, s, n) for d in digits for s in speakers for n in indices):
        _tone(rec / f"{d}_{s}_{n}.wav", 0.4 + 0.3 * (i % 4) / 4, 8000, i)
    return root


def make_ljspeech(root: Path, n: int = 20) -> Path:
    """``<root>/metadata.csv`` + ``wavs/LJ001-00NN.wav`` (22.05 kHz, 4-5 s, long enough for
    CTC to fit every transcript). Returns root."""
    (root / "wavs").mkdir(parents=True)
    lines = []
    for i in range(1, n + 1):
        uid = f"LJ001-{i:04d}"
        text = SENTENCES[i % len(SENTENCES)] + f" number {i}"
        lines.append(f"{uid}|{text} (raw)|{text}")
        _tone(root / "wavs" / f"{uid}.wav", 4.0 + (i % 3) / 3, 22050, i)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_fsdd_conventional_split(tmp_path, caplog):
    data = make_fsdd(tmp_path / "fsdd", digits=range(4))
    _tone(data / "recordings" / "notes.wav", 0.5, 8000, 0)  # not digit_speaker_index
    reports = prepare_fsdd(data, tmp_path / "m")
    assert "skipped 1 file(s)" in caplog.text and "notes.wav" in caplog.text
    splits = {s: read_manifest(tmp_path / "m" / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert {s: len(r) for s, r in splits.items()} == {"train": 16, "dev": 40, "test": 40}
    assert {s: r.kept for s, r in reports.items()} == {"train": 16, "dev": 40, "test": 40}
    for name, indices in [("test", range(0, 5)), ("dev", range(5, 10)), ("train", (10, 11))]:
        assert {parse_name(Path(r["audio"]))[2] for r in splits[name]} == set(indices)
    three = next(r for r in splits["test"] if r["id"] == "3_lucas_3")
    assert three["text"] == "THREE" and three["speaker"] == "lucas"
    limited = prepare_fsdd(data, tmp_path / "l", limit=12)
    assert limited["test"].kept == 12
    first = [r["id"] for r in read_manifest(tmp_path / "l" / "test.jsonl")]
    assert first[:5] == ["0_george_0", "1_george_0", "2_george_0", "3_george_0", "0_lucas_0"]


def test_fsdd_leave_one_speaker_out(tmp_path):
    data = make_fsdd(tmp_path / "fsdd", speakers=("george", "lucas", "theo"), digits=range(3))
    prepare_fsdd(data, tmp_path / "m", test_speaker="lucas")
    splits = {s: read_manifest(tmp_path / "m" / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert {r["speaker"] for r in splits["test"]} == {"lucas"}
    assert len(splits["test"]) == 3 * 12  # every recording of lucas, whatever its index
    for name, indices in [("dev", range(5, 10)), ("train", (0, 1, 2, 3, 4, 10, 11))]:
        assert {r["speaker"] for r in splits[name]} == {"george", "theo"}
        assert {parse_name(Path(r["audio"]))[2] for r in splits[name]} == set(indices)
    with pytest.raises(ManifestError, match="no recordings of speaker 'bob'.*george, lucas, theo"):
        prepare_fsdd(data, tmp_path / "x", test_speaker="bob")


def test_fsdd_errors(tmp_path):
    with pytest.raises(ManifestError, match="no .wav files"):
        prepare_fsdd(tmp_path, tmp_path / "m")
    data = make_fsdd(tmp_path / "only-test", speakers=("george",), digits=(1,), indices=range(3))
    with pytest.raises(ManifestError, match="no recordings for the train split"):
        prepare_fsdd(data, tmp_path / "m")


def test_ljspeech_split_heldout_and_training_sentences(tmp_path, caplog):
    data = make_ljspeech(tmp_path / "LJSpeech-1.1")
    with open(data / "metadata.csv", "a", encoding="utf-8") as f:
        f.write("broken line without fields\n")
    (data / "wavs" / "LJ001-0005.wav").unlink()  # a clip listed but missing
    reports = prepare_ljspeech(data, tmp_path / "m")
    assert "metadata.csv:21: skipped" in caplog.text
    assert reports["train"].dropped["bad audio"] == 1
    ids = {s: [r["id"] for r in read_manifest(tmp_path / "m" / f"{s}.jsonl")] for s in reports}
    assert ids["dev"] == ["LJ001-0017", "LJ001-0018"] and ids["test"] == [
        "LJ001-0019",
        "LJ001-0020",
    ]
    assert len(ids["train"]) == 15 and "LJ001-0005" not in ids["train"]
    test = read_manifest(tmp_path / "m" / "test.jsonl")[0]
    # the normalized column (not the raw one), then the toolkit's normaliser
    gutenberg = "THE GUTENBERG BIBLE ONE THOUSAND FOUR HUNDRED FIFTY FIVE IS A WONDERFUL PIECE"
    assert test["text"] == gutenberg + " OF WORK NUMBER NINETEEN"
    assert test["speaker"] == "LJ"
    heldout = (tmp_path / "m" / "heldout.txt").read_text().splitlines()
    assert [h.split("|")[0] for h in heldout] == ids["dev"] + ids["test"]

    sentences = tmp_path / "sentences.tsv"
    sentences.write_text(
        # LJ009-0001: a held-out sentence under another id
        "LJ001-0003|kept sentence.\n"
        "LJ001-0019|held out by id.\n"
        "LJ009-0001|The Gutenberg Bible (1455) is a wonderful piece of work number 19\n"
        "LJ009-0002|another kept one\n"
    )
    out = tmp_path / "train_sentences.txt"
    assert write_training_sentences(sentences, tmp_path / "m" / "heldout.txt", out) == 2
    assert out.read_text() == "LJ001-0003|kept sentence.\nLJ009-0002|another kept one\n"


def test_ljspeech_limit_and_too_few(tmp_path):
    data = make_ljspeech(tmp_path / "lj", n=12)
    reports = prepare_ljspeech(data, tmp_path / "m", limit=10)
    assert {s: r.kept for s, r in reports.items()} == {"train": 8, "dev": 1, "test": 1}
    with pytest.raises(ManifestError, match="too few"):
        prepare_ljspeech(data, tmp_path / "m2", limit=2)


def test_download_ljspeech_and_fsdd_from_file_urls(tmp_path, capsys):
    lj = make_ljspeech(tmp_path / "src" / "LJSpeech-1.1", n=3)
    archive = tmp_path / "mirror" / "LJSpeech-1.1.tar.bz2"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(lj, arcname="LJSpeech-1.1")
    out = download_ljspeech(tmp_path / "dl", archive.as_uri(), sha256=None)
    assert out == tmp_path / "dl" / "LJSpeech-1.1" and is_complete(out)
    assert (out / "metadata.csv").read_text() == (lj / "metadata.csv").read_text()

    fsdd = make_fsdd(tmp_path / "src" / "fsdd", speakers=("theo",), digits=(0,), indices=range(2))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("free-spoken-digit-dataset-master/README.md", "FSDD\n")
        for wav in (fsdd / "recordings").iterdir():
            z.write(wav, f"free-spoken-digit-dataset-master/recordings/{wav.name}")
    zipped = tmp_path / "mirror" / "master.zip"
    zipped.write_bytes(buf.getvalue())
    out = download_fsdd(tmp_path / "dl", zipped.as_uri())
    assert out == tmp_path / "dl" / "fsdd" and is_complete(out)
    # the same through the command line, then a wrong pinned checksum
    assert main(["download", "fsdd", str(tmp_path / "cli"), "--url", zipped.as_uri()]) == 0
    assert f"fsdd: {tmp_path / 'cli' / 'fsdd'}" in capsys.readouterr().out
    bad = ["download", "ljspeech", str(tmp_path / "x"), "--url", archive.as_uri()]
    assert main([*bad, "--sha256", "0" * 64]) == 2
    assert "checksum mismatch (expected sha256 0000" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "recordings").iterdir()) == [
        "0_theo_0.wav",
        "0_theo_1.wav",
    ]
