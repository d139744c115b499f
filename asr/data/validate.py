"""``asr validate``: check a manifest before training on it (cf. Kaldi's validate_data_dir).

Every line must be a manifest record; every record must be trainable (`check_records`: unique id,
non-empty in-vocabulary transcript, short enough for CTC, not longer than ``max_duration``), and
its audio must exist, decode (or, with ``decode=False``, have a readable header) and last as long
as the manifest says.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asr.audio import AudioError, audio_info, load_audio
from asr.data.manifest import PrepareReport, check_records, read_manifest, write_manifest
from asr.text import CharVocab

# A manifest duration may differ from the audio by rounding (4 decimals) and resampling edges.
DURATION_TOLERANCE = 0.02  # seconds, or 0.1 % of the duration if larger


def _audio_problem(rec: dict, decode: bool, sample_rate: int) -> tuple[str, str] | None:
    """(reason, message) if the record's audio is unusable or its duration is wrong."""
    try:
        if decode:
            seconds = len(load_audio(rec["audio"], sample_rate)) / sample_rate
        else:
            seconds = audio_info(rec["audio"])[0]
    except AudioError as err:
        return "bad audio", f"{rec['id']}: {err}"
    if abs(seconds - rec["duration"]) > max(DURATION_TOLERANCE, 1e-3 * seconds):
        return "duration mismatch", (
            f"{rec['id']}: manifest says {rec['duration']:.3f} s, audio has {seconds:.3f} s"
        )
    return None


def validate_manifest(
    path: str | Path,
    vocab: CharVocab | None = None,
    output_frames: Callable[[float], int] | None = None,
    max_duration: float | None = None,
    decode: bool = True,
    sample_rate: int = 16000,
    jobs: int | None = None,
    clean_out: str | Path | None = None,
) -> tuple[PrepareReport, int]:
    """Check every line and record of a manifest.

    Returns (report, number of non-empty lines): ``report.kept``/``hours`` count the good
    records, ``report.dropped`` the problems by reason (with examples). With `clean_out`, the
    good records are written there as a new manifest. Audio is checked on `jobs` threads
    (libsndfile and soxr release the GIL).
    """
    report = PrepareReport()
    records = read_manifest(path, report)
    total = len(records) + sum(report.dropped.values())  # malformed lines are counted already
    records = check_records(records, vocab, output_frames, max_duration, report=report)
    report.kept, report.hours = 0, 0.0  # recounted below, after the audio checks
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        problems = pool.map(lambda r: _audio_problem(r, decode, sample_rate), records)
        good = []
        for rec, problem in zip(records, problems):
            if problem:
                report.drop(*problem)
            else:
                good.append(rec)
                report.kept += 1
                report.hours += rec["duration"] / 3600
    if clean_out is not None and good:
        write_manifest(good, clean_out)
    return report, total


def summary(report: PrepareReport, path: str | Path, total: int) -> str:
    """A few lines for people: how many records are usable, and each problem with examples."""
    problems = sum(report.dropped.values())
    lines = [
        f"{path}: {report.kept} of {total} records usable ({report.hours:.2f} h), "
        f"{problems} problem(s)"
    ]
    for reason, n in sorted(report.dropped.items()):
        lines.append(f"  {reason}: {n}, e.g. " + "; ".join(report.examples[reason]))
    return "\n".join(lines)
