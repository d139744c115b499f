"""Audio file loading: the only module that touches ``soundfile``.

``load_audio`` returns a float32 mono waveform in [-1, 1] at the requested sample
rate, whatever the file's container (anything libsndfile reads: wav, flac, Ogg Vorbis, Opus,
MP3, ...), sample rate, channel count or sample format. Every failure is reported as an
:class:`AudioError` whose one-line message names the file and the problem.

The success path costs one ``soundfile`` open + decode; the slower diagnosis of
*why* a file could not be opened (missing, directory, empty, permissions, ...) only
runs after a failure, so the training data loader does not pay for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

__all__ = ["AUDIO_SUFFIXES", "AudioError", "audio_info", "find_audio", "load_audio", "read_blocks"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")  # what directories are searched for

# libsndfile's header log reports a chunk whose declared size runs past the end of the
# file as e.g. "data : 32000 (should be 16000)" (WAV/CAF), " SSND : ..." (AIFF),
# "riff : ..." (W64) or "  Riff size : ..." (RF64). It then silently clamps the frame
# count to what is present, so this log line is the only trace of a truncated file.
_SIZE_MISMATCH = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
# Container-level sizes (RIFF/FORM) are redundant with the data-chunk line and are
# sometimes wrong in otherwise intact files, so they alone do not make a file truncated.
_CONTAINER_CHUNKS = {"RIFF", "FORM"}
# Streaming writers (e.g. ffmpeg to a pipe) leave the size as "unknown"; not an error.
_STREAMED_SIZES = {0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFFFFFFFFFF}
# An Ogg stream cut short: logged on opening (Vorbis: 0 frames are then reported) or, for Opus,
# whose frame count is that of the pages present, only once the decoder reaches the cut.
_OGG_TRUNCATED = "File ended unexpectedly"
# MP3 (libsndfile decodes it with mpg123): the frame count is exact only when the first frame holds
# a Xing/Info (lame, ffmpeg) or VBRI (Fraunhofer) header. Without one (a stream written to a pipe)
# it is an estimate from the file size and the first frame's bitrate: ID3 tags count as audio, a
# VBR file is mis-sized either way, and decoding stops at the estimate. A shortfall then says
# nothing (a cut file's estimate shrinks with it), so the decoded length is the file's length.
_MP3_LENGTH_HEADERS = (b"Xing", b"Info", b"VBRI")
# With such a header an intact file decodes to the exact count; a copy that lost its last bytes
# (an interrupted download) misses the last frame or two, the one cut and the one whose bit
# reservoir it held. That is tolerated: 2 frames of at most 1152 samples (48 ms at 48 kHz).
_MP3_SLACK = 2 * 1152


class AudioError(ValueError):
    """An audio file could not be used.

    The message is one line, ``"<path>: <problem>"``; ``path`` and ``problem`` are also
    available as attributes. Constructible from the message alone so that it survives
    pickling and DataLoader worker re-raising.
    """

    def __init__(
        self, message: str, *, path: str | None = None, problem: str | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem


def find_audio(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Files to transcribe from files and directories (searched recursively for
    `AUDIO_SUFFIXES`, sorted), and the directories that held none."""
    files, empty = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
            files += found
            if not found:
                empty.append(p)
        else:
            files.append(p)
    return files, empty


def _error(path: str | Path, problem: str) -> AudioError:
    """Build an :class:`AudioError` for ``path`` with a single-line message."""
    problem = " ".join(str(problem).split())
    return AudioError(f"{path}: {problem}", path=str(path), problem=problem)


def _diagnose_open_failure(path: str, exc: Exception) -> AudioError:
    """Turn a failed ``soundfile`` open/decode into a precise :class:`AudioError`."""
    detail = " ".join(str(exc).split())
    if not os.path.lexists(path):
        return _error(path, "file not found")
    if not os.path.exists(path):
        return _error(path, "broken symbolic link (file not found)")
    if os.path.isdir(path):
        return _error(path, "is a directory, not an audio file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except PermissionError:
        return _error(path, "permission denied (file is not readable)")
    except OSError as err:
        return _error(path, f"cannot read file ({err.strerror or err})")
    if not head:
        return _error(path, "empty file (0 bytes)")
    if "not recognised" in detail or "unknown format" in detail.lower():
        return _error(path, f"not an audio file / unrecognised format (soundfile: {detail})")
    return _error(path, f"truncated or corrupt audio (soundfile: {detail})")


def _check_header(path: str, f: sf.SoundFile) -> None:
    """Raise :class:`AudioError` if the header gives no sample rate or libsndfile's header log
    shows a truncated file."""
    if f.samplerate <= 0:
        raise _error(path, f"invalid sample rate {f.samplerate} in header")
    try:
        log = f.extra_info
    except Exception:  # pragma: no cover - the log is a diagnostic nicety only
        return
    for name, declared, actual in _SIZE_MISMATCH.findall(log):
        declared_n, actual_n = int(declared), int(actual)
        if (
            name.strip() not in _CONTAINER_CHUNKS
            and declared_n > actual_n
            and declared_n not in _STREAMED_SIZES
        ):
            raise _error(
                path,
                f"truncated or corrupt audio (header declares {name.strip()} size "
                f"{declared_n} bytes, file holds {actual_n})",
            )
    if _OGG_TRUNCATED in log:
        raise _error(path, "truncated or corrupt audio (Ogg stream ended unexpectedly)")


def _open(path: str) -> sf.SoundFile:
    try:
        f = sf.SoundFile(path)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise _diagnose_open_failure(path, exc) from exc
    if f.format == "MP3":
        # After each read soundfile seeks to where the file already is, if it can seek; for MP3
        # that restarts mpg123 without its bit reservoir, so all but the first of several blocks
        # decode to garbage. Reads here are sequential: let soundfile believe it cannot seek.
        f.seekable = lambda: False
    return f


def _mono(path: str, data: np.ndarray) -> np.ndarray:
    """(N, C) float32 -> (N,): a view for mono, a channel mean otherwise; finite samples only."""
    wave = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    if not np.isfinite(wave).all():
        raise _error(path, "non-finite samples (NaN or inf) in audio data")
    return wave


def _read(path: str, f: sf.SoundFile, frames: int) -> np.ndarray:
    """Up to `frames` frames as float32 (N, C); decoder errors become AudioError."""
    try:
        return f.read(frames, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise _error(path, f"truncated or corrupt audio (soundfile: {detail})") from exc


def _mp3_length_is_exact(path: str) -> bool:
    """Whether the MP3's first frame (after any ID3v2 tag) holds a frame-count header."""
    with open(path, "rb") as fh:
        head = fh.read(10)
        if len(head) == 10 and head[:3] == b"ID3":  # 10-byte header, 7-bit size, optional footer
            size = sum((b & 0x7F) << 7 * (3 - i) for i, b in enumerate(head[6:]))
            fh.seek(10 + size + (10 if head[5] & 0x10 else 0))
        else:
            fh.seek(0)
        first = fh.read(40)  # frame header (4 bytes) + side info (9-32) + the header's id (4)
    return any(tag in first for tag in _MP3_LENGTH_HEADERS)


def _check_decoded(path: str, f: sf.SoundFile, declared: int, decoded: int) -> None:
    """Raise AudioError when the file ended before the header said (within `_MP3_SLACK` for
    MP3), or decoded to nothing. Call with `f` still open."""
    if _OGG_TRUNCATED in f.extra_info:
        raise _error(path, "truncated or corrupt audio (Ogg stream ended unexpectedly)")
    short = declared - decoded
    if short > 0 and (f.format != "MP3" or (short > _MP3_SLACK and _mp3_length_is_exact(path))):
        raise _error(
            path,
            f"truncated or corrupt audio (header declares {declared} frames, "
            f"only {decoded} could be decoded)",
        )
    if decoded == 0:
        raise _error(path, "zero-length audio (0 frames, no samples)")


def audio_info(path: str | Path) -> tuple[float, int]:
    """Return ``(duration_seconds, sample_rate)`` read from the header (no decoding, except for
    an MP3 without a frame-count header, whose length is only known once decoded).

    Raises :class:`AudioError` for missing, unreadable, empty, non-audio, header-level
    truncated and zero-length files. Corruption inside compressed data (e.g. a FLAC
    frame) and non-finite samples are only detected by :func:`load_audio`.
    """
    path = os.fspath(path)
    with _open(path) as f:
        _check_header(path, f)
        frames, rate = f.frames, f.samplerate
        if f.format == "MP3" and frames > 0 and not _mp3_length_is_exact(path):
            frames = 0  # the count is an estimate: count what decodes
            while n := len(_read(path, f, 1 << 16)):
                frames += n
    if frames <= 0:
        raise _error(path, "zero-length audio (header declares 0 frames, no samples)")
    return frames / rate, int(rate)


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Load an audio file as float32 mono in [-1, 1] at ``sample_rate``.

    Multi-channel audio is downmixed by averaging channels; integer PCM of any width
    and float PCM are supported; other rates are resampled with soxr (quality "HQ").

    Args:
        path: audio file in any format libsndfile reads (wav, flac, ogg, opus, mp3, aiff, ...).
        sample_rate: output sample rate in Hz.

    Returns:
        ``np.ndarray`` of shape (N,), dtype float32.

    Raises:
        AudioError: the file is missing, a directory, unreadable, empty, not audio,
            truncated or corrupt, has zero frames (or too few to give one sample at
            `sample_rate`), or contains NaN/inf samples.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    path = os.fspath(path)
    with _open(path) as f:
        _check_header(path, f)
        declared = f.frames
        rate = f.samplerate
        data = _read(path, f, declared)
        _check_decoded(path, f, declared, data.shape[0])

    wave = _mono(path, data)
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality="HQ")
        if len(wave) == 0:
            raise _error(
                path,
                f"audio too short ({data.shape[0]} frame(s) at {rate} Hz give no sample at "
                f"{sample_rate} Hz)",
            )
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    # Float files may exceed full scale and resampling can overshoot slightly.
    np.clip(wave, -1.0, 1.0, out=wave)
    return wave


def read_blocks(
    path: str | Path, block_seconds: float = 10.0, sample_rate: int = 16000
) -> Iterator[np.ndarray]:
    """Stream a file as consecutive float32 mono blocks (N,) at ``sample_rate``.

    The same conversion as :func:`load_audio` (channel mean, soxr "HQ" resampling, clipping to
    [-1, 1]) done block by block (``soxr.ResampleStream``), so memory does not grow with the
    file: a one-hour file is never held whole. Blocks hold about ``block_seconds`` of audio
    (the last one may be shorter). Raises :class:`AudioError` as :func:`load_audio` does;
    corruption found part-way raises after the blocks before it were yielded.
    """
    path = os.fspath(path)
    with _open(path) as f:
        _check_header(path, f)
        declared, rate = f.frames, f.samplerate
        stream = None
        if rate != sample_rate:
            stream = soxr.ResampleStream(rate, sample_rate, 1, quality="HQ")
        size = max(int(block_seconds * rate), 1)
        done = 0
        while True:
            data = _read(path, f, size)
            done += data.shape[0]
            last = data.shape[0] < size
            wave = _mono(path, data)
            if stream is not None:
                wave = stream.resample_chunk(wave, last=last)
            if wave.size:
                yield np.clip(wave, -1.0, 1.0).astype(np.float32, copy=False)
            if last:
                break
        _check_decoded(path, f, declared, done)
