"""MP3, Opus and Ogg Vorbis made by the real encoders (lame, opusenc, oggenc from Debian): the right
length and pitch at any rate, mono or stereo; cut files refused with one line; usable by
`transcribe`, `prepare` and `validate`. Skipped, naming the tool, where an encoder is missing
(scripts/setup.sh installs them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_audio import dominant_freq, sine
from tone_model import ToneRecognizer, tone_speech

from asr.audio import AudioError, audio_info, load_audio, read_blocks
from asr.cli import main
from asr.data.manifest import read_manifest
from asr.transcription import transcribe_files

SR = 16000
# suffix: (tool, Debian package, command from WAV to the suffix). lame -V 2: VBR, which keeps the
# input rate and always writes the Xing/LAME header that makes its length exact.
ENCODERS = {
    ".mp3": ("lame", "lame", lambda wav, out: ["lame", "--quiet", "-V", "2", wav, out]),
    ".opus": ("opusenc", "opus-tools", lambda wav, out: ["opusenc", "--quiet", wav, out]),
    ".ogg": ("oggenc", "vorbis-tools", lambda wav, out: ["oggenc", "-Q", "-o", out, wav]),
}
# Opus decodes at one of these rates (libsndfile reports the one at or above the input's)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def encode(wav: Path, suffix: str, *extra: str) -> Path:
    tool, package, command = ENCODERS[suffix]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install {package})")
    out = wav.with_suffix(suffix)
    argv = command(str(wav), str(out))
    subprocess.run([*argv[:-2], *extra, *argv[-2:]], check=True, capture_output=True)
    return out


def tone_wav(path: Path, rate: int, channels: int, seconds: float = 1.5) -> Path:
    """0.25 s of silence, then a 440 Hz tone (stereo: the same tone, quieter on the right)."""
    x = sine(440, rate, seconds, amp=0.4)
    x[: rate // 4] = 0
    sf.write(path, x if channels == 1 else np.stack([x, 0.5 * x], 1), rate, subtype="PCM_16")
    return path


def onset(y: np.ndarray, rate: int) -> float:
    return np.argmax(np.abs(y) > 0.1) / rate


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("suffix", list(ENCODERS))
def test_length_pitch_and_timing(tmp_path: Path, suffix: str, rate: int, channels: int) -> None:
    path = encode(tone_wav(tmp_path / "a.wav", rate, channels), suffix)
    seconds, file_rate = audio_info(path)
    opus_rate = min(r for r in OPUS_RATES if r >= rate)
    assert file_rate == (opus_rate if suffix == ".opus" else rate)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert seconds == pytest.approx(1.5, abs=0.002)  # encoder delay and padding removed
    assert len(y) == pytest.approx(1.5 * SR, abs=32)
    assert abs(dominant_freq(y, SR) - 440) <= 2.0
    assert onset(y, SR) == pytest.approx(0.25, abs=0.005)  # no shift
    np.testing.assert_allclose(np.concatenate(list(read_blocks(path, 0.4))), y, atol=1e-6)


def test_mp3_without_frame_count_header(tmp_path: Path) -> None:
    """The issue's files: no Xing/Info header (a stream written to a pipe) and an ID3v2 tag, so the
    header's frame count is an estimate that counts the tag as audio. Loaded whole; its length,
    as audio_info gives it, is what decodes: the source plus the encoder's delay and padding."""
    wav = tone_wav(tmp_path / "a.wav", 48000, 1)
    path = encode(wav, ".mp3", "-t", "--add-id3v2", "--tc", "a comment " * 100)
    with sf.SoundFile(path) as f:
        assert f.frames - len(f.read()) > 2 * 1152  # what was refused as truncated
    y = load_audio(path, 48000)
    assert len(y) / 48000 == pytest.approx(audio_info(path)[0])
    assert 0 <= len(y) - 1.5 * 48000 <= 576 + 529 + 1152  # delays + at most a frame of padding


def test_truncated_mp3_is_one_line(tmp_path: Path) -> None:
    path = encode(tone_wav(tmp_path / "a.wav", 48000, 2), ".mp3")
    raw = path.read_bytes()
    path.with_name("tail.mp3").write_bytes(raw[:-100])  # the last frame lost: still usable
    assert len(load_audio(path.with_name("tail.mp3"))) > 1.45 * SR
    path.write_bytes(raw[: len(raw) // 2])
    for read in (load_audio, lambda p: list(read_blocks(p))):
        with pytest.raises(AudioError) as info:
            read(path)
        message = str(info.value)
        assert message.startswith(f"{path}: truncated or corrupt audio") and "\n" not in message


def test_truncated_opus_is_one_line(tmp_path: Path) -> None:
    """Opus declares the length of the pages present: only the missing end-of-stream page shows."""
    path = encode(tone_wav(tmp_path / "a.wav", 48000, 1, seconds=3.0), ".opus")
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * 0.8)])
    with pytest.raises(AudioError, match="truncated or corrupt audio") as info:
        load_audio(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_transcribe_mp3_and_opus(tmp_path: Path) -> None:
    wav = tmp_path / "words.wav"
    truth = tone_speech(wav, 40, seed=4)  # 35 s: read in several blocks
    paths = [encode(wav, ".mp3"), encode(wav, ".opus")]
    for path, t in transcribe_files(ToneRecognizer(), paths, chunk_seconds=4, overlap_seconds=1):
        assert t.text == " ".join(w for w, _, _ in truth), path
        starts = np.array([w.start for w in t.words]) - [s for _, s, _ in truth]
        assert np.abs(starts).max() <= 0.031


def test_prepare_and_validate_compressed_corpus(tmp_path: Path, capsys) -> None:
    """A LibriSpeech-layout folder of MP3, Opus and Vorbis files -> manifest -> valid."""
    chapter = tmp_path / "corpus" / "19" / "198"
    chapter.mkdir(parents=True)
    lines = []
    files = [(".mp3", 48000, 1), (".mp3", 22050, 2), (".opus", 44100, 2), (".ogg", 16000, 1)]
    for i, (suffix, rate, channels) in enumerate(files):
        uid = f"19-198-{i:04d}"
        encode(tone_wav(chapter / f"{uid}.wav", rate, channels), suffix)
        (chapter / f"{uid}.wav").unlink()
        lines.append(f"{uid} A TONE")
    (chapter / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    manifest = tmp_path / "m.jsonl"
    assert main(["prepare", str(tmp_path / "corpus"), str(manifest)]) == 0
    records = read_manifest(manifest)
    assert [Path(r["audio"]).suffix for r in records] == [".mp3", ".mp3", ".opus", ".ogg"]
    assert all(r["duration"] == pytest.approx(1.5, abs=0.002) for r in records)
    assert main(["validate", str(manifest)]) == 0
    assert main(["validate", str(manifest), "--header-only"]) == 0
    assert "4 of 4 records usable" in capsys.readouterr().out
