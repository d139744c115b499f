"""JSONL manifests: one utterance per line, ``{"id", "audio", "duration", "text", "speaker"}``.

`build_manifest` is the one place where raw corpus entries become training records: it reads each
file's header, normalises the transcript and drops (with a reason, counted) every entry that
cannot be trained on, so a bad file is reported at preparation, not found after an hour of training.
`check_records` applies the same rules to an existing manifest (training and ``asr validate`` use
it), and ``read_manifest(path, report)`` counts and skips malformed lines instead of raising.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asr.audio import AudioError, audio_info
from asr.text import CharVocab, ctc_min_frames, normalize_text

FIELDS = ("id", "audio", "duration", "text", "speaker")


class ManifestError(ValueError):
    """A manifest file that cannot be read; the message names the file and line."""


def _line_problem(line: str) -> tuple[str, str, dict | None]:
    """(reason, detail, record): reason is "" for a usable manifest line."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as err:
        return "line not JSON", err.msg, None
    if not isinstance(rec, dict):
        return "line not a JSON object", type(rec).__name__, None
    missing = [k for k in FIELDS if k not in rec]
    if missing:
        return "missing fields", f"missing field(s) {', '.join(missing)}", None
    duration = rec["duration"]
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
        return "bad duration", f"duration {duration!r} is not a positive number", None
    if not all(isinstance(rec[k], str) for k in ("id", "audio", "text")):
        return "bad field type", "id, audio and text must be strings", None
    return "", "", rec


def read_manifest(path: str | Path, report: PrepareReport | None = None) -> list[dict]:
    """Read a JSONL manifest; every record must have the fields in `FIELDS` (positive number
    ``duration``; string ``id``, ``audio``, ``text``).

    Without `report` the first malformed line raises `ManifestError` naming the file and line;
    with one, malformed lines are counted in it (with their line numbers) and skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    records = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            reason, detail, rec = _line_problem(line)
            if rec is not None:
                records.append(rec)
            elif report is None:
                if reason == "line not JSON":
                    detail = f"not JSON ({detail})"
                raise ManifestError(f"{path}:{lineno}: {detail}")
            else:
                report.drop(reason, f"{path.name}:{lineno}: {detail}")
    return records


def write_manifest(records: Iterable[dict], path: str | Path) -> Path:
    """Write records as JSONL atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


@dataclass
class PrepareReport:
    """What preparation kept and dropped, and why."""

    kept: int = 0
    hours: float = 0.0
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict = field(default_factory=dict)  # reason -> first few messages
    chars_removed: Counter = field(default_factory=Counter)  # character -> utterances

    def drop(self, reason: str, message: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(message)

    def summary(self) -> str:
        lines = [f"kept {self.kept} utterances ({self.hours:.2f} h)"]
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"dropped {n} ({reason}), e.g. " + "; ".join(self.examples[reason]))
        if self.chars_removed:
            chars = ", ".join(f"{c!r} x{n}" for c, n in self.chars_removed.most_common(10))
            lines.append(f"normaliser removed characters: {chars}")
        return "\n".join(lines)


def check_records(
    records: Iterable[dict],
    vocab: CharVocab | None = None,
    output_frames: Callable[[float], int] | None = None,
    max_duration: float | None = None,
    report: PrepareReport | None = None,
) -> list[dict]:
    """The records training can use; the others are counted in `report` (and its ``kept`` and
    ``hours`` count the rest).

    Dropped: duplicate ids (the first is kept), empty transcripts, characters outside `vocab`,
    audio longer than `max_duration` seconds, and transcripts that need more CTC frames than
    the model emits for the audio (`output_frames(duration_seconds) -> T'`; they would make
    the CTC loss infinite).
    """
    vocab = vocab or CharVocab()
    report = report if report is not None else PrepareReport()
    kept, seen = [], set()
    for rec in records:
        uid, text, duration = rec["id"], rec["text"], rec["duration"]
        if uid in seen:
            report.drop("duplicate id", uid)
            continue
        seen.add(uid)
        if not text.strip():
            report.drop("empty transcript", f"{uid} ({rec['audio']})")
            continue
        unknown = sorted({c for c in text if c not in vocab.index})
        if unknown:
            report.drop("characters outside the vocabulary", f"{uid}: {''.join(unknown)!r}")
            continue
        if max_duration is not None and duration > max_duration:
            report.drop("audio too long", f"{uid}: {duration:.1f} s > {max_duration:g} s")
            continue
        if output_frames is not None:
            need, have = ctc_min_frames(vocab.encode(text)), output_frames(duration)
            if need > have:
                report.drop(
                    "transcript too long for its audio",
                    f"{uid}: {need} CTC frames needed, {have} available",
                )
                continue
        kept.append(rec)
        report.kept += 1
        report.hours += duration / 3600
    return kept


def build_manifest(
    entries: Iterable[tuple[str, str | Path, str, str]],
    out_path: str | Path,
    output_frames: Callable[[float], int] | None = None,
    vocab: CharVocab | None = None,
) -> PrepareReport:
    """Turn (id, audio path, raw text, speaker) entries into a manifest at `out_path`.

    Reads each audio header and normalises each transcript; drops, with counts, unreadable
    audio and whatever `check_records` drops (duplicate ids, empty transcripts, transcripts
    too long for CTC).
    """
    report, candidates = PrepareReport(), []
    for uid, audio, raw_text, speaker in entries:
        try:
            duration, _ = audio_info(audio)
        except AudioError as err:
            report.drop("bad audio", str(err))
            continue
        text, removed = normalize_text(raw_text)
        report.chars_removed.update(removed)
        candidates.append(
            {
                "id": uid,
                "audio": str(Path(audio).resolve()),
                "duration": round(duration, 4),
                "text": text,
                "speaker": str(speaker),
            }
        )
    records = check_records(candidates, vocab, output_frames, report=report)
    if not records:
        raise ManifestError(f"{out_path}: no usable utterance\n{report.summary()}")
    write_manifest(records, out_path)
    return report


def read_listing(path: str | Path) -> list[tuple[str, Path, str, str]]:
    """A generic corpus listing: TSV lines ``audio<TAB>text[<TAB>speaker]`` (relative audio paths
    are relative to the listing). The id is the audio file's stem."""
    path = Path(path)
    entries = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise ManifestError(f"{path}:{lineno}: expected 'audio<TAB>text[<TAB>speaker]'")
        audio = (path.parent / parts[0]).resolve()
        speaker = parts[2] if len(parts) > 2 else "unknown"
        entries.append((audio.stem, audio, parts[1], speaker))
    return entries
