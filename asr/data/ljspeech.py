"""LJ Speech 1.1: one speaker reading non-fiction, 13,100 clips (~24 h), 22.05 kHz WAV.

Layout: ``<data_dir>/metadata.csv`` (``id|raw text|normalized text``) and
``<data_dir>/wavs/<id>.wav``.
`prepare_ljspeech` splits the clips deterministically (in id order: training first, then a dev
slice, then a test slice at the end, so held-out sentences come from different passages of the
book) and writes manifests plus ``heldout.txt`` (the dev and test sentences, ``id|text``) so a
language model or a synthetic corpus can leave them out (`write_training_sentences`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from asr.data.download import download_file, install_archive
from asr.data.manifest import ManifestError, PrepareReport, build_manifest
from asr.text import normalize_text

log = logging.getLogger(__name__)

URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
# SHA-256 copied from torchaudio (torchaudio/datasets/ljspeech.py, `_RELEASE_CONFIGS`).
SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"
SPEAKER = "LJ"


def download_ljspeech(target_dir: str | Path, url: str = URL, sha256: str | None = SHA256) -> Path:
    """Download and extract LJ Speech 1.1 to ``<target_dir>/LJSpeech-1.1``; return that directory.

    Resumable and idempotent (see `asr.data.download`)."""
    target_dir = Path(target_dir)
    archive = download_file(url, target_dir / url.rsplit("/", 1)[-1], sha256)
    return install_archive(archive, "LJSpeech-1.1", target_dir / "LJSpeech-1.1", check=_check)


def _check(data_dir: Path) -> None:
    if not (data_dir / "metadata.csv").is_file():
        raise ManifestError(f"{data_dir}: no metadata.csv in the archive")


def read_metadata(data_dir: str | Path) -> list[tuple[str, str]]:
    """(id, text) for each line of ``metadata.csv``: the normalized text (third field), or the
    raw text when it is missing. Malformed lines are logged and skipped."""
    path = Path(data_dir) / "metadata.csv"
    if not path.is_file():
        raise ManifestError(f"{path}: not found (expected the LJSpeech layout: metadata.csv, wavs)")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("|")
        if len(fields) < 2 or not fields[0] or not fields[-1].strip():
            if line.strip():
                log.warning("%s:%d: skipped (expected id|raw text|normalized text)", path, lineno)
            continue
        rows.append((fields[0], (fields[2] if len(fields) > 2 and fields[2] else fields[1])))
    if not rows:
        raise ManifestError(f"{path}: no usable line")
    return rows


def split_ids(ids: list[str], dev_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    """Deterministic split in id order: train, then dev, then test (each held-out slice >= 1)."""
    ids = sorted(ids)
    n_test = max(1, round(len(ids) * test_fraction))
    n_dev = max(1, round(len(ids) * dev_fraction))
    if n_test + n_dev >= len(ids):
        raise ManifestError(f"{len(ids)} clips are too few for a train/dev/test split")
    cut = len(ids) - n_test - n_dev
    return {"train": ids[:cut], "dev": ids[cut : cut + n_dev], "test": ids[cut + n_dev :]}


def prepare_ljspeech(
    data_dir: str | Path,
    out_dir: str | Path,
    output_frames: Callable[[float], int] | None = None,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    limit: int | None = None,
) -> dict[str, PrepareReport]:
    """Write ``<out_dir>/{train,dev,test}.jsonl`` and ``<out_dir>/heldout.txt``.

    `limit` keeps only the first `limit` clips (in id order) before splitting (smoke tests).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    rows = sorted(read_metadata(data_dir))[:limit]
    text = dict(rows)
    splits = split_ids(list(text), dev_fraction, test_fraction)
    reports = {}
    for name, ids in splits.items():
        entries = [(i, data_dir / "wavs" / f"{i}.wav", text[i], SPEAKER) for i in ids]
        reports[name] = build_manifest(entries, out_dir / f"{name}.jsonl", output_frames)
    heldout = [f"{i}|{text[i]}\n" for i in splits["dev"] + splits["test"]]
    (out_dir / "heldout.txt").write_text("".join(heldout), encoding="utf-8")
    return reports


def write_training_sentences(
    sentences: str | Path, heldout: str | Path, out_path: str | Path
) -> int:
    """Copy ``id|text`` lines of `sentences` (e.g. LJSpeech's metadata.csv or a sentence list)
    to `out_path`, leaving out every held-out id and every held-out sentence (compared after
    normalisation). Returns the number of lines written."""
    held = [line.split("|") for line in Path(heldout).read_text(encoding="utf-8").splitlines()]
    held_ids = {f[0] for f in held if f and f[0]}
    held_texts = {normalize_text(f[-1])[0] for f in held if len(f) > 1}
    kept = []
    for line in Path(sentences).read_text(encoding="utf-8").splitlines():
        fields = line.split("|")
        if len(fields) < 2 or fields[0] in held_ids:
            continue
        if normalize_text(fields[-1])[0] in held_texts:
            continue
        kept.append(f"{fields[0]}|{fields[-1]}\n")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text("".join(kept), encoding="utf-8")
    return len(kept)
