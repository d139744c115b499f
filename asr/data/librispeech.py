"""LibriSpeech layout reader: ``<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``
with one ``<speaker>-<chapter>.trans.txt`` per chapter (``<utt-id> TRANSCRIPT`` lines).

`asr synth` writes the same layout, so this reader serves real and synthetic corpora alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from asr.data.manifest import ManifestError, PrepareReport, build_manifest

AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg")


def iter_librispeech(subset_dir: str | Path) -> Iterator[tuple[str, Path, str, str]]:
    """Yield (id, audio path, transcript, speaker) for every line of every chapter transcript.

    A transcript line whose audio file is missing is still yielded (with the expected .flac path)
    so that preparation reports it instead of silently losing it.
    """
    subset_dir = Path(subset_dir)
    if not subset_dir.is_dir():
        raise ManifestError(f"{subset_dir}: not a directory")
    transcripts = sorted(subset_dir.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise ManifestError(
            f"{subset_dir}: no <speaker>/<chapter>/<speaker>-<chapter>.trans.txt found "
            "(expected the LibriSpeech layout)"
        )
    for trans in transcripts:
        speaker = trans.parent.parent.name
        for line in trans.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            uid, _, text = line.strip().partition(" ")
            audio = next(
                (p for ext in AUDIO_EXTENSIONS if (p := trans.parent / f"{uid}{ext}").exists()),
                trans.parent / f"{uid}.flac",
            )
            yield uid, audio, text, speaker


def prepare_librispeech(
    subset_dir: str | Path,
    out_manifest: str | Path,
    output_frames: Callable[[float], int] | None = None,
) -> PrepareReport:
    """Write a JSONL manifest for one LibriSpeech-layout subset (see `build_manifest`)."""
    return build_manifest(iter_librispeech(subset_dir), out_manifest, output_frames)
