"""Tests for asr.audio: decoding, resampling, downmixing and clear errors."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import AudioError, audio_info, load_audio

SR = 16000


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    """(N,) float64 sine wave."""
    t = np.arange(int(round(rate * seconds))) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / rate)[np.argmax(spectrum)])


def write(path: Path, data: np.ndarray, rate: int, **kw) -> Path:
    sf.write(path, data, rate, **kw)
    return path


def assert_audio_error(path: Path, *words: str, fn=load_audio) -> AudioError:
    with pytest.raises(AudioError) as info:
        fn(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert "\n" not in msg
    assert any(w in msg.lower() for w in words), msg
    return info.value


# ---------------------------------------------------------------- happy paths


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_resample_preserves_length_and_pitch(tmp_path: Path, rate: int) -> None:
    path = write(tmp_path / f"sine_{rate}.wav", sine(440, rate, 1.0), rate, subtype="PCM_16")
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and y.flags.c_contiguous
    assert abs(len(y) - SR) <= 1
    assert abs(dominant_freq(y, SR) - 440) <= 1.0
    # amplitude is preserved away from the edges (resampler warm-up)
    assert np.max(np.abs(y[800:-800])) == pytest.approx(0.5, abs=0.01)
    assert np.max(np.abs(y)) <= 1.0


def test_native_rate_is_bit_exact(tmp_path: Path) -> None:
    x = sine(440, SR, 0.5)
    path = write(tmp_path / "a.wav", x, SR, subtype="PCM_16")
    np.testing.assert_allclose(load_audio(path), x, atol=1.0 / 32768)


def test_output_sample_rate_argument(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", sine(300, 44100, 0.5), 44100, subtype="PCM_16")
    y = load_audio(path, sample_rate=8000)
    assert abs(len(y) - 4000) <= 1
    assert abs(dominant_freq(y, 8000) - 300) <= 2.0


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_downmixed_to_mean(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    data = rng.uniform(-0.5, 0.5, size=(8000, channels))
    path = write(tmp_path / "multi.wav", data, SR, subtype="FLOAT")
    y = load_audio(path)
    assert y.shape == (8000,)
    np.testing.assert_allclose(y, data.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize(
    ("subtype", "step"),
    [
        ("PCM_U8", 1 / 128),
        ("PCM_16", 1 / 2**15),
        ("PCM_24", 1 / 2**23),
        ("PCM_32", 1 / 2**31),
        ("FLOAT", 1e-7),
        ("DOUBLE", 1e-7),
    ],
)
def test_sample_formats(tmp_path: Path, subtype: str, step: float) -> None:
    x = sine(440, SR, 0.25, amp=0.8)
    path = write(tmp_path / f"{subtype}.wav", x, SR, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=step + 1e-7)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
def test_flac(tmp_path: Path, subtype: str) -> None:
    x = sine(440, 22050, 0.5)
    path = write(tmp_path / "a.flac", x, 22050, subtype=subtype)
    y = load_audio(path)
    assert abs(len(y) - 8000) <= 1
    assert abs(dominant_freq(y, SR) - 440) <= 2.0
    # lossless at the native rate
    same = write(tmp_path / "b.flac", sine(440, SR, 0.5), SR, subtype=subtype)
    np.testing.assert_allclose(load_audio(same), sine(440, SR, 0.5), atol=1 / 2**15)


def test_ogg_vorbis(tmp_path: Path) -> None:
    x = sine(440, 48000, 1.0, amp=0.3)
    path = write(tmp_path / "a.ogg", x, 48000, format="OGG", subtype="VORBIS")
    y = load_audio(path)
    assert abs(len(y) - SR) <= 1
    assert abs(dominant_freq(y, SR) - 440) <= 1.0
    assert np.max(np.abs(y)) == pytest.approx(0.3, abs=0.05)


def test_float_overrange_is_clipped(tmp_path: Path) -> None:
    x = sine(440, SR, 0.1, amp=1.5)
    y = load_audio(write(tmp_path / "loud.wav", x, SR, subtype="FLOAT"))
    assert np.max(np.abs(y)) <= 1.0 and np.max(y) == 1.0


def test_streamed_wav_with_unknown_size_loads(tmp_path: Path) -> None:
    """A WAV written to a pipe declares RIFF/data sizes 0xFFFFFFFF; that is not truncation."""
    path = write(tmp_path / "a.wav", sine(440, SR, 0.5), SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    assert raw[36:40] == b"data"
    struct.pack_into("<I", raw, 4, 0xFFFFFFFF)
    struct.pack_into("<I", raw, 40, 0xFFFFFFFF)
    path.write_bytes(bytes(raw))
    assert len(load_audio(path)) == 8000


def test_str_path_and_audio_info(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", sine(440, 22050, 1.5), 22050, subtype="PCM_16")
    duration, rate = audio_info(str(path))
    assert rate == 22050 and duration == pytest.approx(1.5)
    assert len(load_audio(str(path))) == 24000


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    assert_audio_error(tmp_path / "nope.wav", "not found")
    assert_audio_error(tmp_path / "nope.wav", "not found", fn=audio_info)


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.wav").mkdir()
    assert_audio_error(tmp_path / "dir.wav", "directory")
    assert_audio_error(tmp_path / "dir.wav", "directory", fn=audio_info)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert_audio_error(path, "empty")
    assert_audio_error(path, "empty", fn=audio_info)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    assert_audio_error(path, "not an audio file")
    assert_audio_error(path, "not an audio file", fn=audio_info)


def test_truncated_wav(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.wav", sine(440, SR, 1.0), SR, subtype="PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: 44 + (len(raw) - 44) // 2])  # data chunk cut in half
    assert_audio_error(path, "truncated")
    assert_audio_error(path, "truncated", fn=audio_info)


def test_truncated_flac(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.flac", sine(440, SR, 1.0), SR, subtype="PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    assert_audio_error(path, "truncated")


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_ogg(tmp_path: Path, fraction: float) -> None:
    x = sine(440, SR, 2.0)
    path = write(tmp_path / "cut.ogg", x, SR, format="OGG", subtype="VORBIS")
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * fraction)])
    assert_audio_error(path, "truncated", "corrupt")


def test_zero_length_audio(tmp_path: Path) -> None:
    path = write(tmp_path / "zero.wav", np.zeros(0, np.float32), SR, subtype="PCM_16")
    assert path.stat().st_size > 0  # a valid header, no frames
    assert_audio_error(path, "zero-length")
    assert_audio_error(path, "zero-length", fn=audio_info)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    x = sine(440, SR, 0.1).astype(np.float32)
    x[100] = bad
    path = write(tmp_path / "bad.wav", x, SR, subtype="FLOAT")
    assert_audio_error(path, "non-finite")


def test_non_finite_in_one_channel(tmp_path: Path) -> None:
    x = np.zeros((1000, 2), np.float32)
    x[10, 1] = np.nan
    assert_audio_error(write(tmp_path / "bad.wav", x, SR, subtype="FLOAT"), "non-finite")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.wav", sine(440, SR, 0.1), SR, subtype="PCM_16")
    path.chmod(0)
    try:
        assert_audio_error(path, "permission")
        assert_audio_error(path, "permission", fn=audio_info)
    finally:
        path.chmod(0o644)


def test_audio_error_is_value_error_and_picklable(tmp_path: Path) -> None:
    err = assert_audio_error(tmp_path / "nope.wav", "not found")
    assert isinstance(err, ValueError)
    assert err.path == str(tmp_path / "nope.wav") and err.problem == "file not found"
    clone = pickle.loads(pickle.dumps(err))
    assert str(clone) == str(err) and clone.path == err.path
    assert str(AudioError("x.wav: boom")) == "x.wav: boom"  # message-only construction


def test_too_short_to_resample(tmp_path: Path) -> None:
    """Found by fuzzing: one frame at 44.1 kHz resamples to no sample at 16 kHz."""
    path = write(tmp_path / "tiny.wav", np.full(1, 0.5), 44100, subtype="PCM_16")
    assert_audio_error(path, "too short")
    assert len(load_audio(write(tmp_path / "ok.wav", np.full(3, 0.5), 44100))) == 1
