"""Transcribe files of any length: windows -> batched log-probs -> text -> word times -> stitching.

A file is streamed (``asr.audio.read_blocks``) and cut into fixed windows of ``chunk_seconds``
that overlap by ``overlap_seconds``; at most ``batch_size`` windows (of this and the next files)
are in memory at a time, so memory does not grow with the file's length. Each window is
decoded (any decoder callable: greedy by default, or beam search) and its words are given
times by CTC forced alignment (``asr.align``). Consecutive windows are stitched at a cut point
inside their overlap, chosen where neither window has a word (a pause), as close as possible to
the overlap's middle, where both windows have the most context on either side: words before
the cut come from the earlier window, words after it from the later one, so a word in an
overlap is kept exactly once, and a word cut by a window edge is taken from the window that
holds it whole. Windows start on the model's output-frame grid, so overlapping windows see
the same frames.

The words are then grouped into segments (subtitle cues) at pauses, or when a segment would
grow past ``max_chars`` characters or ``max_seconds`` seconds.

The model is an ``asr.recognizer.Recognizer`` (``asr.load_model``: a checkpoint, TorchScript or
ONNX file), or anything with its ``tokens``, ``feature_config``, ``frame_seconds`` and
``__call__(wave (B, N), lengths (B,)) -> (log_probs (B, T', V), lengths (B,))``.
`transcribe` (also ``asr.transcribe`` and ``Recognizer.transcribe``) returns transcripts;
`transcribe_files` (also ``Recognizer.transcribe_files``, what ``asr transcribe`` runs) yields
them one by one as files are done, an unreadable file's error in its place. The window options
and their defaults are `WindowConfig`'s. Nothing here imports Lightning.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from tqdm import tqdm

from asr.align import Word, word_timestamps
from asr.audio import AudioError, audio_info, read_blocks
from asr.decode import DecodeConfig, build_decoder, to_numpy

if TYPE_CHECKING:
    import torch

__all__ = [
    "Segment",
    "Transcript",
    "WindowConfig",
    "make_segments",
    "stitch",
    "transcribe",
    "transcribe_files",
]

Decoder = Callable[[Any, Any], list[str]]  # (log_probs, lengths) -> texts, numpy or torch
# what `decoder` arguments take: see `asr.decode.build_decoder`
DecoderSpec = Decoder | DecodeConfig | dict | str | None
Audio = Union[str, Path, np.ndarray, "torch.Tensor"]  # a file, or mono samples at the model's rate


@dataclass(frozen=True)
class WindowConfig:
    """How long audio is cut for the model: the window options of ``asr transcribe`` and of
    `transcribe`, with their defaults (written only here)."""

    chunk_seconds: float = field(
        default=30.0, metadata={"help": "window length for long audio (0: whole files)"})
    overlap_seconds: float = field(
        default=5.0, metadata={"help": "overlap of consecutive windows"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})


@dataclass
class Segment:
    """A run of words (one subtitle cue); times in seconds."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    """The result for one file (or waveform); ``to_dict`` gives the JSON schema documented in
    asr.writers, the object ``asr transcribe --format json`` prints."""

    audio: str  # the input path ("" for a waveform given as an array)
    duration: float
    text: str
    segments: list[Segment]
    model: str
    decoder: str

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


# ----------------------------------------------------------------------------- stitching


def _free_point(busy: list[tuple[float, float]], lo: float, hi: float, target: float):
    """The point of [lo, hi] closest to ``target`` inside no (start, end) interval of ``busy``,
    or None if the intervals cover all of [lo, hi]."""
    best = None
    points = [min(max(target, lo), hi)] + [t for iv in busy for t in iv if lo <= t <= hi]
    for p in points:
        if any(a < p < b for a, b in busy):
            continue
        if best is None or abs(p - target) < abs(best - target):
            best = p
    return best


def stitch(left: list[Word], right: list[Word], overlap: tuple[float, float]) -> list[Word]:
    """Join the words of two windows that overlap on [overlap[0], overlap[1]] (seconds).

    The cut is a point of the overlap inside no word of either window, nearest to the
    overlap's middle (searched in its central half first, then in all of it); words ending
    before it come from ``left``, words starting after it from ``right``. Should words cover
    the whole overlap, the cut is its middle and each word goes to the side of its centre.
    """
    a, b = overlap
    mid, quarter = (a + b) / 2, (b - a) / 4
    busy = [(w.start, w.end) for w in left + right if w.end > a and w.start < b]
    cut = _free_point(busy, mid - quarter, mid + quarter, mid)
    if cut is None:
        cut = _free_point(busy, a, b, mid)
    if cut is None:
        return [w for w in left if (w.start + w.end) / 2 < mid] + [
            w for w in right if (w.start + w.end) / 2 >= mid
        ]
    return [w for w in left if w.end <= cut] + [w for w in right if w.start >= cut]


def make_segments(
    words: Sequence[Word], max_chars: int = 80, max_seconds: float = 6.0, pause: float = 0.5
) -> list[Segment]:
    """Group words into segments: a new one starts after a pause of ``pause`` seconds or more,
    or when adding the word would exceed ``max_chars`` characters or ``max_seconds``."""
    segments: list[Segment] = []
    current: list[Word] = []
    for w in words:
        if current:
            chars = sum(len(x.word) + 1 for x in current) + len(w.word)
            if (
                w.start - current[-1].end >= pause
                or chars > max_chars
                or w.end - current[0].start > max_seconds
            ):
                segments.append(_segment(current))
                current = []
        current.append(w)
    if current:
        segments.append(_segment(current))
    return segments


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.word for w in words), list(words))


# ----------------------------------------------------------------------------- windows


@dataclass
class _Window:
    file: int  # index into the input list
    start: float  # seconds from the start of the file
    wave: np.ndarray  # (N,) float32
    last: bool  # the file's final window


def _file_windows(
    index: int, source: Path | np.ndarray, rate: int, chunk: int, step: int
) -> Iterator[_Window]:
    """Windows of ``chunk`` samples every ``step`` samples (chunk 0: the whole file), of a file
    read in blocks or of a waveform array.

    Every window but the last has ``step`` or more samples after it, so the last one holds
    between ``chunk`` and ``chunk + step`` samples (or the whole of a shorter file).
    """
    pending: list[np.ndarray] = []
    have, offset = 0, 0  # samples pending; samples of the file before pending[0]
    blocks = [source] if isinstance(source, np.ndarray) else read_blocks(source, 10.0, rate)
    for block in blocks:
        pending.append(block)
        have += block.size
        if chunk and have >= chunk + step:
            buffer = np.concatenate(pending)
            while buffer.size >= chunk + step:
                yield _Window(index, offset / rate, buffer[:chunk].copy(), False)
                buffer, offset = buffer[step:], offset + step
            pending, have = [buffer], buffer.size
    yield _Window(index, offset / rate, np.concatenate(pending), True)


def _windows(
    paths: Sequence[Path | np.ndarray],
    rate: int,
    chunk: int,
    step: int,
    errors: dict[int, AudioError],
) -> Iterator[_Window]:
    """Windows of every readable file in order; a file that fails part-way is recorded in
    ``errors`` and closed with an empty last window."""
    for i, path in enumerate(paths):
        if i in errors:
            continue
        try:
            yield from _file_windows(i, path, rate, chunk, step)
        except AudioError as err:
            errors[i] = err
            yield _Window(i, 0.0, np.zeros(0, np.float32), True)


def _batches(windows: Iterable[_Window], size: int) -> Iterator[list[_Window]]:
    batch: list[_Window] = []
    for w in windows:
        batch.append(w)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _recognize(recognizer, decoder: Decoder, tokens: list[str], batch: list[_Window]):
    """Words (times in seconds from the file's start) of each window; None for empty ones."""
    live = [w for w in batch if w.wave.size]
    if not live:
        return [None] * len(batch)
    wave = np.zeros((len(live), max(w.wave.size for w in live)), dtype=np.float32)
    for row, w in zip(wave, live):
        row[: w.wave.size] = w.wave
    log_probs, lengths = recognizer(wave, np.array([w.wave.size for w in live]))
    texts = decoder(log_probs, lengths)
    log_probs, lengths = to_numpy(log_probs), to_numpy(lengths).tolist()
    found = iter(
        word_timestamps(log_probs[b, : lengths[b]], text, tokens, recognizer.frame_seconds, w.start)
        for b, (w, text) in enumerate(zip(live, texts))
    )
    return [next(found) if w.wave.size else None for w in batch]


# ----------------------------------------------------------------------------- driver


def _source(audio) -> Path | np.ndarray:
    """A path, or a waveform as a 1-D float32 array."""
    if isinstance(audio, (str, Path)):
        return Path(audio)
    wave = to_numpy(audio, np.float32)
    if wave.ndim != 1:
        raise ValueError(f"a waveform must be 1-D (mono samples), got shape {wave.shape}")
    return wave


def transcribe_files(
    recognizer,
    paths: Sequence[Audio],
    decoder: DecoderSpec = None,
    chunk_seconds: float = WindowConfig.chunk_seconds,
    overlap_seconds: float = WindowConfig.overlap_seconds,
    batch_size: int = WindowConfig.batch_size,
    progress: bool | None = None,
) -> Iterator[tuple[Path | np.ndarray, Transcript | AudioError]]:
    """Yield ``(path, Transcript)`` for every file, in input order, or ``(path, AudioError)``
    when a file cannot be read (it is skipped; the others go on).

    Args:
        recognizer: see the module docstring (``asr.recognizer.Recognizer``); its ``path``
            (if any) is recorded in each transcript as ``model``.
        paths: audio files (wav, flac, ogg, ... at any rate and channel count), or waveforms
            (1-D float arrays at the recognizer's sample rate; yielded as given, as arrays).
        decoder: ``(log_probs (B, T, V), lengths (B,)) -> list[str]``, or what
            ``asr.decode.build_decoder`` takes ("greedy", "beam", a `DecodeConfig` or a dict of
            its fields); default greedy.
        chunk_seconds: window length; 0 decodes each file in one piece (memory grows with it).
        overlap_seconds: overlap of consecutive windows (< chunk_seconds).
        batch_size: windows per forward pass.
        progress: tqdm bar of audio seconds on stderr (None: only on a terminal).
    """
    paths = [_source(p) for p in paths]
    tokens = recognizer.tokens
    decoder = build_decoder(tokens, decoder)
    model_name = getattr(recognizer, "path", "")
    name = getattr(decoder, "config", {}).get("type", type(decoder).__name__)
    rate = recognizer.feature_config.sample_rate
    grid = max(int(round(recognizer.frame_seconds * rate)), 1)  # samples per output frame
    chunk = int(chunk_seconds * rate) // grid * grid if chunk_seconds > 0 else 0
    step = chunk - int(overlap_seconds * rate) // grid * grid
    if chunk and not 0 < step <= chunk:
        raise ValueError(f"need 0 <= overlap ({overlap_seconds} s) < chunk ({chunk_seconds} s)")
    durations: dict[int, float] = {}
    errors: dict[int, AudioError] = {}
    for i, p in enumerate(paths):
        try:
            durations[i] = p.size / rate if isinstance(p, np.ndarray) else audio_info(p)[0]
        except AudioError as err:
            errors[i] = err

    words: dict[int, list[Word]] = {}
    ends: dict[int, float] = {}  # end (s) of the file's last window so far
    finished: set[int] = set()
    done = 0
    disable = None if progress is None else not progress
    bar = tqdm(
        total=round(sum(durations.values()), 2),
        unit="s",
        desc="transcribe",
        disable=disable,
        leave=False,
    )

    def results() -> Iterator[tuple[Path | np.ndarray, Transcript | AudioError]]:
        nonlocal done
        while done < len(paths) and (done in finished or done in errors):
            i, done = done, done + 1
            if i in errors:
                words.pop(i, None)
                yield paths[i], errors[i]
                continue
            found = words.pop(i, [])
            yield (
                paths[i],
                Transcript(
                    audio="" if isinstance(paths[i], np.ndarray) else str(paths[i]),
                    duration=round(durations[i], 3),
                    text=" ".join(w.word for w in found),
                    segments=make_segments(found),
                    model=model_name,
                    decoder=name,
                ),
            )

    with bar:
        for batch in _batches(_windows(paths, rate, chunk, step, errors), batch_size):
            for w, found in zip(batch, _recognize(recognizer, decoder, tokens, batch)):
                i = w.file
                if found is not None and i not in errors:
                    end = w.start + w.wave.size / rate
                    bar.update(round(end - ends.get(i, w.start), 2))
                    words[i] = stitch(words[i], found, (w.start, ends[i])) if i in ends else found
                    ends[i] = end
                if w.last:
                    finished.add(i)
            yield from results()
        yield from results()


def transcribe(
    model,
    audio: Audio | Sequence[Audio],
    decoder: DecoderSpec = None,
    *,
    chunk_seconds: float = WindowConfig.chunk_seconds,
    overlap_seconds: float = WindowConfig.overlap_seconds,
    batch_size: int = WindowConfig.batch_size,
    progress: bool | None = None,
) -> Transcript | list[Transcript]:
    """Transcribe an audio file (any format, rate and channel count that `asr.audio` reads) or
    a mono float waveform at the model's sample rate, of any length, into a `Transcript`
    (``to_dict()``: the ``asr transcribe --format json`` object); a list of them into a list of
    Transcripts, in order. ``model.transcribe(audio, ...)`` is the same call.

    `model`: a recognizer (``asr.load_model``). `decoder` and the window options: as for
    `transcribe_files` (default greedy). An unreadable file raises ``asr.audio.AudioError``
    naming it.
    """
    single = isinstance(audio, (str, Path, np.ndarray)) or hasattr(audio, "detach")  # a tensor
    results = []
    for _, result in transcribe_files(
        model, [audio] if single else list(audio), decoder, chunk_seconds, overlap_seconds,
        batch_size, progress,
    ):
        if isinstance(result, AudioError):
            raise result
        results.append(result)
    return results[0] if single else results
