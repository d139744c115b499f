"""Output writers for transcripts, one class per format, as in Whisper's command line.

| format | file | content |
| --- | --- | --- |
| ``txt`` | ``<stem>.txt`` | the text, one segment per line |
| ``json`` | ``<stem>.json`` | the transcript (schema below) |
| ``srt`` | ``<stem>.srt`` | SubRip cues, one per segment: ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` |
| ``vtt`` | ``<stem>.vtt`` | WebVTT cues, one per segment: ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` |
| ``tsv`` | ``<stem>.tsv`` | ``start<TAB>end<TAB>text`` per segment, in integer milliseconds |

``all`` writes every format. Segments are subtitle-sized (see ``asr.transcription.make_segments``:
a new cue after a pause of 0.5 s, or before it would exceed 80 characters or 6 seconds).

JSON schema (one object per audio file; times in seconds, confidence in [0, 1])::

    {
      "audio": str,            # the input path
      "duration": float,       # seconds
      "text": str,             # the whole transcript
      "segments": [
        {"start": float, "end": float, "text": str,
         "words": [{"word": str, "start": float, "end": float, "confidence": float}]}
      ],
      "model": str,            # the checkpoint / exported model file
      "decoder": str           # "greedy" or "beam"
    }

A word's times come from CTC forced alignment of the decoded text; its confidence is the mean
posterior of its characters on their aligned frames (``asr.align``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the writers only read attributes; importing them stays cheap
    from asr.transcription import Transcript

__all__ = ["FORMATS", "WRITERS", "format_timestamp", "unique_stems", "write_transcript"]


def format_timestamp(seconds: float, decimal: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or, with ``decimal="."``, ``HH:MM:SS.mmm`` (WebVTT)."""
    ms = max(int(round(seconds * 1000)), 0)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


class Writer:
    """Writes one transcript in one format to a text stream."""

    extension = ""

    def write(self, transcript: Transcript, out: TextIO) -> None:
        raise NotImplementedError


class TxtWriter(Writer):
    extension = "txt"

    def write(self, transcript: Transcript, out: TextIO) -> None:
        for segment in transcript.segments:
            print(segment.text, file=out)


class JsonWriter(Writer):
    extension = "json"

    def write(self, transcript: Transcript, out: TextIO) -> None:
        print(transcript.to_json(), file=out)


class SubtitlesWriter(Writer):
    """One cue per segment, as Whisper's ``SubtitlesWriter``: SRT and WebVTT differ only in the
    timestamps' decimal marker, a file header and whether cues are numbered."""

    decimal_marker = ","
    header = ""  # written first, followed by a blank line
    numbered = False  # a cue number line before each cue's times

    def write(self, transcript: Transcript, out: TextIO) -> None:
        if self.header:
            print(f"{self.header}\n", file=out)
        for n, s in enumerate(transcript.segments, start=1):
            start = format_timestamp(s.start, self.decimal_marker)
            end = format_timestamp(s.end, self.decimal_marker)
            number = f"{n}\n" if self.numbered else ""
            print(f"{number}{start} --> {end}\n{s.text}\n", file=out)


class SrtWriter(SubtitlesWriter):
    extension = "srt"
    numbered = True


class VttWriter(SubtitlesWriter):
    extension = "vtt"
    decimal_marker = "."
    header = "WEBVTT"


class TsvWriter(Writer):
    extension = "tsv"

    def write(self, transcript: Transcript, out: TextIO) -> None:
        print("start\tend\ttext", file=out)
        for s in transcript.segments:
            print(f"{round(1000 * s.start)}\t{round(1000 * s.end)}\t{s.text}", file=out)


WRITERS: dict[str, type[Writer]] = {
    w.extension: w for w in (TxtWriter, JsonWriter, SrtWriter, VttWriter, TsvWriter)
}
FORMATS = [*WRITERS, "all"]


def write_transcript(
    transcript: Transcript, fmt: str, output_dir: str | Path, stem: str | None = None
) -> list[Path]:
    """Write ``<output_dir>/<stem>.<ext>`` for ``fmt`` (or every format for "all").

    ``stem`` defaults to the audio file's name without its suffix. Returns the paths written.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(transcript.audio).stem
    written = []
    for ext in WRITERS if fmt == "all" else [fmt]:
        path = output_dir / f"{stem}.{ext}"
        with path.open("w", encoding="utf-8") as out:
            WRITERS[ext]().write(transcript, out)
        written.append(path)
    return written


def unique_stems(paths: Sequence[str | Path]) -> list[str]:
    """Output names for `paths`: each file's name without suffix, made unique by ``-2``,
    ``-3``, ... when two inputs share a name (e.g. in two input directories)."""
    seen: set[str] = set()
    stems = []
    for path in map(Path, paths):
        stem, n = path.stem, 1
        while stem in seen:
            n += 1
            stem = f"{path.stem}-{n}"
        seen.add(stem)
        stems.append(stem)
    return stems
