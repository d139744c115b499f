"""LibriSpeech layout reader: ``<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``
with one ``<speaker>-<chapter>.trans.txt`` per chapter (``<utt-id> TRANSCRIPT`` lines).

`asr synth` writes the same layout, so this reader serves real and synthetic corpora alike.
`download_librispeech` fetches official subsets from OpenSLR (resumable, checksum-verified):
LibriSpeech's (resource 12) and Mini LibriSpeech's train-clean-5 and dev-clean-2 (resource 31).
The audio may be FLAC (as published), WAV or Ogg (Vorbis or Opus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from asr.data.download import COMPLETE, DownloadError, download_file, install_archive
from asr.data.manifest import ManifestError, PrepareReport, build_manifest

AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".opus", ".mp3")  # the first one present is used
OPENSLR = "https://www.openslr.org/resources"
# OpenSLR resource 12 (LibriSpeech): SHA-256 of the official archives, copied from torchaudio
# (torchaudio/datasets/librispeech.py, `_CHECKSUMS`); resource 31 (Mini LibriSpeech): the MD5s of
# its published md5sum.txt (https://www.openslr.org/resources/31/md5sum.txt), the only checksums
# it has.
CHECKSUMS = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
    "train-clean-5": "md5:5df7d4e78065366204ca6845bb08f490",
    "dev-clean-2": "md5:6d7ab67ac6a1d2c993d050e16d61080d",
}
MINI_SUBSETS = ("train-clean-5", "dev-clean-2")
SUBSETS = tuple(CHECKSUMS)


def subset_url(subset: str, base_url: str | None = None) -> str:
    """The archive of `subset`: ``<base_url>/<subset>.tar.gz`` (a mirror or a folder of the
    archives), by default on OpenSLR (resource 31 for Mini LibriSpeech, else 12)."""
    if base_url is None:
        base_url = f"{OPENSLR}/{31 if subset in MINI_SUBSETS else 12}"
    return f"{base_url.rstrip('/')}/{subset}.tar.gz"


def download_librispeech(
    target_dir: str | Path,
    subsets: Sequence[str] = ("dev-clean",),
    base_url: str | None = None,
    checksums: Mapping[str, str | None] | None = None,
    keep_archives: bool = True,
) -> dict[str, Path]:
    """Download and extract official LibriSpeech or Mini LibriSpeech subsets; return
    {subset: directory}.

    Archives (`subset_url`) go to ``<target_dir>/<subset>.tar.gz`` (resumable, verified against
    `CHECKSUMS`), subsets to ``<target_dir>/LibriSpeech/<subset>`` with a ``.complete`` marker
    written only after a full extraction. Idempotent: complete subsets are skipped without any
    network access. `checksums` replaces the published checksums of the subsets it names (e.g.
    tests serving their own archives).
    """
    checksums = {**CHECKSUMS, **(checksums or {})}
    unknown = [s for s in subsets if s not in checksums]
    if unknown:
        raise DownloadError(f"unknown LibriSpeech subset(s) {unknown}; choose from {SUBSETS}")
    target_dir = Path(target_dir)
    out = {}
    for subset in subsets:
        dest = target_dir / "LibriSpeech" / subset
        if not (dest / COMPLETE).is_file():
            archive = download_file(subset_url(subset, base_url),
                                    target_dir / f"{subset}.tar.gz", checksums.get(subset))
            install_archive(archive, f"LibriSpeech/{subset}", dest, check=_check_layout)
            if not keep_archives:
                archive.unlink()
        out[subset] = dest
    return out


def _check_layout(subset_dir: Path) -> None:
    if not any(subset_dir.glob("*/*/*.trans.txt")):
        raise DownloadError(f"{subset_dir}: no <speaker>/<chapter>/*.trans.txt in the archive")


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


def prepare_librispeech_subsets(
    root: str | Path,
    out_dir: str | Path,
    output_frames: Callable[[float], int] | None = None,
    subsets: Sequence[str] | None = None,
) -> dict[str, PrepareReport]:
    """Write ``<out_dir>/<subset>.jsonl`` for each subset directory of `root` (a
    ``LibriSpeech/`` folder); default: every subset present."""
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a directory")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != ".")
    return {
        s: prepare_librispeech(root / s, Path(out_dir) / f"{s}.jsonl", output_frames)
        for s in subsets or found
    }
