"""Free Spoken Digit Dataset (FSDD): isolated English digits, 8 kHz WAV, ``recordings/`` holds
``{digit}_{speaker}_{index}.wav`` (50 recordings of each digit by each speaker).

The conventional split is by index: 0-4 of every speaker and digit is test, the rest train.
`prepare_fsdd` also takes a dev slice for validation out of train (index 5-9 by default). With
`test_speaker` it makes a leave-one-speaker-out fold instead: every recording of that speaker
is test, and train and dev (index 5-9) come from the other speakers only, so the model is
scored on a voice it never heard. The transcript is the digit's word (``7`` -> ``SEVEN``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from pathlib import Path

from asr.data.download import download_file, install_archive
from asr.data.manifest import ManifestError, PrepareReport, build_manifest

log = logging.getLogger(__name__)

URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
DIGITS = "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE".split()
TEST_INDICES = range(0, 5)
DEV_INDICES = range(5, 10)
_NAME = re.compile(r"^([0-9])_([A-Za-z0-9]+)_([0-9]+)$")


def download_fsdd(target_dir: str | Path, url: str = URL, sha256: str | None = None) -> Path:
    """Download the repository archive and extract it to ``<target_dir>/fsdd``; return that
    directory (it holds ``recordings/``).

    GitHub builds branch archives on the fly, so they have no published checksum; pass `sha256`
    to pin one. The archive's single top-level directory is what gets installed.
    """
    target_dir = Path(target_dir)
    archive = download_file(url, target_dir / "fsdd.zip", sha256)
    return install_archive(archive, None, target_dir / "fsdd", check=_check)


def _check(data_dir: Path) -> None:
    if not any((data_dir / "recordings").glob("*.wav")):
        raise ManifestError(f"{data_dir}: no recordings/*.wav in the archive")


def parse_name(path: Path) -> tuple[int, str, int] | None:
    """``7_george_12.wav`` -> (7, "george", 12); None for names outside the FSDD pattern."""
    m = _NAME.match(path.stem)
    return (int(m.group(1)), m.group(2), int(m.group(3))) if m else None


def prepare_fsdd(
    data_dir: str | Path,
    out_dir: str | Path,
    output_frames: Callable[[float], int] | None = None,
    test_indices: Collection[int] = TEST_INDICES,
    dev_indices: Collection[int] = DEV_INDICES,
    limit: int | None = None,
    test_speaker: str | None = None,
) -> dict[str, PrepareReport]:
    """Write ``<out_dir>/{train,dev,test}.jsonl`` from ``<data_dir>/recordings``.

    `test_speaker`: a leave-one-speaker-out fold (all of that speaker's recordings are test,
    `test_indices` are ignored). `limit` keeps the first `limit` recordings of each split in
    (index, speaker, digit) order, i.e. every digit of a speaker before the next index (smoke
    tests).
    """
    recordings = Path(data_dir) / "recordings"
    files = sorted(recordings.glob("*.wav"))
    if not files:
        raise ManifestError(f"{recordings}: no .wav files (expected the FSDD layout)")
    splits: dict[str, list[tuple[tuple[int, str, int], Path]]] = {
        "train": [],
        "dev": [],
        "test": [],
    }
    skipped = []
    for path in files:
        key = parse_name(path)
        if key is None:
            skipped.append(path.name)
            continue
        index, speaker = key[2], key[1]
        if test_speaker is not None:
            test = speaker == test_speaker
        else:
            test = index in test_indices
        name = "test" if test else "dev" if index in dev_indices else "train"
        splits[name].append(((index, key[1], key[0]), path))
    speakers = {key[1] for key in map(parse_name, files) if key}
    if test_speaker is not None and test_speaker not in speakers:
        raise ManifestError(f"{recordings}: no recordings of speaker {test_speaker!r} "
                            f"(speakers: {', '.join(sorted(speakers))})")
    if skipped:
        log.warning(
            "%s: skipped %d file(s) not named digit_speaker_index.wav, e.g. %s",
            recordings,
            len(skipped),
            ", ".join(skipped[:3]),
        )
    reports = {}
    for name, items in splits.items():
        if not items:
            raise ManifestError(f"{recordings}: no recordings for the {name} split")
        items = sorted(items)[:limit]
        entries = [(p.stem, p, DIGITS[digit], speaker) for (_, speaker, digit), p in items]
        reports[name] = build_manifest(entries, Path(out_dir) / f"{name}.jsonl", output_frames)
    return reports
