"""The public corpora by name: one download and one prepare entry point over the corpus modules
(`asr.data.librispeech`, `asr.data.ljspeech`, `asr.data.fsdd`), for the CLI and the recipes.

Each corpus module has lhotse-style pure, idempotent ``download_<name>()`` and
``prepare_<name>()`` functions; this module only picks one by name and fills in its defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from asr.data import fsdd, librispeech, ljspeech
from asr.data.download import read_sha256sums
from asr.data.manifest import ManifestError, PrepareReport

CORPORA = ("librispeech", "ljspeech", "fsdd")


def _check(name: str) -> None:
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r} (choose from {', '.join(CORPORA)})")


def download_corpus(
    name: str,
    target_dir: str | Path,
    url: str | None = None,
    sha256: str | None = None,
    subsets: Sequence[str] | None = None,
    checksums_file: str | Path | None = None,
) -> dict[str, Path]:
    """Download and extract a corpus (resumable, verified); return ``{part: directory}``.

    librispeech: `subsets` (default dev-clean; train-clean-5 and dev-clean-2 are Mini
    LibriSpeech's) from the mirror `url` (default OpenSLR), checked against the published
    checksums or the SHA-256 of `checksums_file` (``sha256sum`` format). ljspeech,
    fsdd: the archive at `url` (default: the public one), checked against `sha256`; the
    published checksum applies to the public archive only.
    """
    _check(name)
    if name == "librispeech":
        sums = read_sha256sums(checksums_file) if checksums_file else {}
        checksums = {k.removesuffix(".tar.gz"): v for k, v in sums.items()}
        return librispeech.download_librispeech(
            target_dir, subsets or ["dev-clean"], url, checksums
        )
    if name == "ljspeech":  # the published checksum holds for the public archive only
        sha256 = sha256 if url else sha256 or ljspeech.SHA256
        return {name: ljspeech.download_ljspeech(target_dir, url or ljspeech.URL, sha256)}
    return {name: fsdd.download_fsdd(target_dir, url or fsdd.URL, sha256)}


def prepare_corpus(
    name: str,
    data_dir: str | Path,
    out_dir: str | Path,
    output_frames: Callable[[float], int] | None = None,
    subsets: Sequence[str] | None = None,
    limit: int | None = None,
    test_speaker: str | None = None,
    dev_speakers: int = 0,
    test_speakers: int = 0,
) -> dict[str, PrepareReport]:
    """Write ``<out_dir>/<split>.jsonl`` manifests of a downloaded corpus; ``{split: report}``.

    librispeech: one manifest per subset of `data_dir` (`subsets`, default all present); with
    `dev_speakers` or `test_speakers`, also ``train/dev/test.jsonl``: those subsets split by
    speaker (`asr.data.split`; genders from ``data_dir/SPEAKERS.TXT`` when present);
    ljspeech, fsdd: train/dev/test splits, at most `limit` utterances each (smoke tests);
    fsdd with `test_speaker`: that speaker is the test set (leave one speaker out).
    """
    _check(name)
    if name == "librispeech":
        reports = librispeech.prepare_librispeech_subsets(data_dir, out_dir, output_frames, subsets)
        if dev_speakers or test_speakers:
            from asr.data.split import read_speaker_genders, split_manifest

            info = Path(data_dir) / "SPEAKERS.TXT"
            genders = read_speaker_genders(info) if info.is_file() else None
            split_manifest([Path(out_dir) / f"{s}.jsonl" for s in reports], out_dir,
                           dev_speakers, test_speakers, genders)
        return reports
    if dev_speakers or test_speakers:
        raise ManifestError(f"--dev-speakers/--test-speakers: only for librispeech, not {name} "
                            "(`asr split` splits any manifest by speaker)")
    if name == "ljspeech":
        if test_speaker is not None:
            raise ManifestError(f"--test-speaker: only for fsdd, not {name}")
        return ljspeech.prepare_ljspeech(data_dir, out_dir, output_frames, limit=limit)
    return fsdd.prepare_fsdd(data_dir, out_dir, output_frames, limit=limit,
                             test_speaker=test_speaker)
