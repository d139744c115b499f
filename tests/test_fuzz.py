"""Property-based fuzzing (hypothesis) of the audio loader and the text normaliser.

The only exception `load_audio` may raise is `AudioError` (one line, naming the file); whatever
it returns is a finite float32 mono waveform in [-1, 1]. `normalize_text` never raises and
returns text in the vocabulary. Bounded and derandomised, so CI runs the same cases every time
(``FUZZ_EXAMPLES`` raises the count for a longer local campaign).
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio import AudioError, audio_info, load_audio
from asr.text import CharVocab, normalize_text

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RUNS: Counter = Counter()  # cases run per test, printed at the end (pytest -s)
SUFFIXES = [".wav", ".flac", ".ogg", ".aiff", ".bin", ""]
TMP = Path(tempfile.mkdtemp(prefix="asr-fuzz-"))
atexit.register(shutil.rmtree, TMP, True)


def _seed_file(fmt: str, subtype: str | None) -> bytes:
    t = np.arange(4000) / 16000
    buf = io.BytesIO()
    sf.write(buf, 0.5 * np.sin(2 * np.pi * 440 * t), 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


SEEDS = [
    _seed_file("WAV", "PCM_16"),
    _seed_file("WAV", "FLOAT"),
    _seed_file("FLAC", "PCM_16"),
    _seed_file("OGG", "VORBIS"),
    _seed_file("AIFF", "PCM_24"),
]


def check_load(path: Path) -> np.ndarray | None:
    """load_audio(path): the waveform, or None after an AudioError that names the file."""
    try:
        info = audio_info(path)
    except AudioError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        info = None
    try:
        wave = load_audio(path)
    except AudioError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return None
    assert info is not None  # a file that decodes has a readable header
    assert wave.dtype == np.float32 and wave.ndim == 1 and len(wave) > 0
    assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0
    return wave


def write_bytes(data: bytes, suffix: str) -> Path:
    path = TMP / f"case{sum(RUNS.values())}{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(data, suffix):
    RUNS["random bytes"] += 1
    check_load(write_bytes(data, suffix))


@FUZZ
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
    suffix=st.sampled_from(SUFFIXES),
)
def test_mutated_audio_files(seed, cut, flips, suffix):
    """Valid wav/flac/ogg/aiff files, truncated anywhere and with bytes overwritten anywhere
    (headers included)."""
    RUNS["mutated files"] += 1
    data = bytearray(SEEDS[seed][: max(1, int(len(SEEDS[seed]) * cut))])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    check_load(write_bytes(bytes(data), suffix))


FORMATS = [
    ("WAV", "PCM_U8"),
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "PCM_32"),
    ("WAV", "FLOAT"),
    ("WAV", "DOUBLE"),
    ("FLAC", "PCM_S8"),
    ("FLAC", "PCM_24"),
    ("OGG", "VORBIS"),
]


@FUZZ
@given(
    fmt=st.sampled_from(FORMATS),
    rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000, 7, 192000]),
    channels=st.integers(1, 8),
    frames=st.integers(0, 3000),
    specials=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -2.0]), max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_written_arrays(fmt, rate, channels, frames, specials, seed):
    """Any sample format, rate and channel count, including empty audio and NaN/inf/huge
    float samples: a waveform of the right length, or an AudioError."""
    RUNS["written arrays"] += 1
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (frames, channels))
    for i, value in enumerate(specials):
        if frames:
            x[(i * 7919) % frames, i % channels] = value
    path = TMP / f"array{sum(RUNS.values())}.{fmt[0].lower()}"
    try:
        sf.write(path, x, rate, format=fmt[0], subtype=fmt[1])
    except (sf.LibsndfileError, RuntimeError, ValueError, AssertionError):
        return  # a combination libsndfile cannot write (e.g. Vorbis at 7 Hz, NaN in FLAC)
    wave = check_load(path)
    float_file = fmt[1] in ("FLOAT", "DOUBLE")
    if wave is not None:
        assert abs(len(wave) - frames * 16000 / rate) <= 2 + 16000 / rate
        assert not (float_file and any(not np.isfinite(v) for v in specials) and frames)
    elif frames * 16000 >= rate and not (float_file and specials):
        pytest.fail(f"a valid {fmt} file ({rate} Hz, {channels} ch, {frames} frames) was refused")


@FUZZ
@given(text=st.text(max_size=200))
def test_normalize_text_any_unicode(text):
    RUNS["normalize_text"] += 1
    clean, dropped = normalize_text(text)
    assert CharVocab().decode(CharVocab().encode(clean)) == clean  # only vocabulary characters
    assert clean == " ".join(clean.split())  # single spaces, none at the ends
    assert all(w.strip("'") == w for w in clean.split(" ") if w)  # no quote-like apostrophes
    assert normalize_text(clean) == (clean, [])  # idempotent
    assert dropped == sorted(set(dropped))


@FUZZ
@given(
    text=st.lists(
        st.one_of(
            st.from_regex(r"\d{1,30}(,\d{3}){0,3}(\.\d{1,5})?(st|nd|rd|th)?", fullmatch=True),
            st.integers(4000, 6000).map(lambda n: "7" * n),  # beyond int()'s 4300 digits
            st.sampled_from(["&", "%", "$", "@", "+", "-", "'", "’", "é", "ß", "Ⅻ", "²", "٣"]),
            st.text(max_size=5),
        ),
        max_size=12,
    ).map(" ".join)
)
def test_normalize_text_numbers_and_symbols(text):
    RUNS["normalize_text numbers"] += 1
    clean, _ = normalize_text(text)
    assert CharVocab().decode(CharVocab().encode(clean)) == clean
    assert normalize_text(clean) == (clean, [])


def test_zz_report_fuzz_counts():
    """Runs last in this file: print how many cases each fuzz test ran."""
    print("fuzz cases:", dict(RUNS), "total", sum(RUNS.values()))
    assert all(n >= 1 for n in RUNS.values())
