"""JSONL manifests: one utterance per line, ``{"id", "audio", "duration", "text", "speaker"}``.

`build_manifest` is the one place where raw corpus entries become training records: it reads each
file's header, normalises the transcript and drops (with a reason, counted) every entry that
cannot be trained on, so a bad file is reported at preparation, not found after an hour of training.
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


def read_manifest(path: str | Path) -> list[dict]:
    """Read a JSONL manifest; every record must have the fields in `FIELDS`."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    records = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}:{lineno}: not JSON ({err.msg})") from None
            missing = [k for k in FIELDS if k not in rec] if isinstance(rec, dict) else FIELDS
            if missing:
                raise ManifestError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            records.append(rec)
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


def build_manifest(
    entries: Iterable[tuple[str, str | Path, str, str]],
    out_path: str | Path,
    output_frames: Callable[[float], int] | None = None,
    vocab: CharVocab | None = None,
) -> PrepareReport:
    """Turn (id, audio path, raw text, speaker) entries into a manifest at `out_path`.

    Drops, with counts: unreadable audio, empty transcripts, duplicate ids, and utterances whose
    transcript needs more CTC frames than the model emits for their duration
    (`output_frames(duration_seconds) -> T'`; they would make the CTC loss infinite).
    """
    vocab = vocab or CharVocab()
    report, records, seen = PrepareReport(), [], set()
    for uid, audio, raw_text, speaker in entries:
        if uid in seen:
            report.drop("duplicate id", uid)
            continue
        seen.add(uid)
        try:
            duration, _ = audio_info(audio)
        except AudioError as err:
            report.drop("bad audio", str(err))
            continue
        text, removed = normalize_text(raw_text)
        report.chars_removed.update(removed)
        if not text:
            report.drop("empty transcript", f"{uid} ({audio})")
            continue
        if output_frames is not None:
            need, have = ctc_min_frames(vocab.encode(text)), output_frames(duration)
            if need > have:
                report.drop(
                    "transcript too long for its audio",
                    f"{uid}: {need} CTC frames needed, {have} available",
                )
                continue
        records.append(
            {
                "id": uid,
                "audio": str(Path(audio).resolve()),
                "duration": round(duration, 4),
                "text": text,
                "speaker": str(speaker),
            }
        )
        report.kept += 1
        report.hours += duration / 3600
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
