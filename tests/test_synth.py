"""Tests for the synthetic corpus (asr.data.synth): grammar, voices and a tiny espeak-ng run."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.data.engines import list_voices, split_voices, synthesize
from asr.data.sentences import (
    MAX_WORDS,
    MIN_WORDS,
    SynthError,
    generate_sentences,
    grammar_vocabulary,
    load_grammar,
    read_text_file,
)
from asr.data.synth import MAX_PAUSES, PAUSE_RANGE_S, _plan, synthesize_corpus

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng / brew install espeak-ng)",
)
UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d{4})$")
TRANSCRIPT = re.compile(r"^[A-Z']+(?: [A-Z']+)*$")


def test_generate_sentences_is_deterministic_and_varied():
    first = generate_sentences(300, seed=1)
    assert first == generate_sentences(300, seed=1)
    assert first != generate_sentences(300, seed=2)
    assert len(set(first)) == len(first)
    for sentence in first:
        assert MIN_WORDS <= len(sentence.split()) <= MAX_WORDS, sentence
        assert re.fullmatch(r"[a-z']+(?: [a-z']+)*", sentence), sentence


def test_grammar_vocabulary():
    load_grammar()  # validates references and words
    vocab = grammar_vocabulary()
    assert 300 <= len(vocab) <= 460
    assert all(re.fullmatch(r"[a-z']+", w) for w in vocab)
    assert "an" in vocab and "don't" in vocab
    used = {w for s in generate_sentences(2000, seed=0) for w in s.split()}
    assert used <= set(vocab)


def test_articles_agree():
    for sentence in generate_sentences(1000, seed=3):
        words = sentence.split()
        for article, nxt in zip(words, words[1:], strict=False):
            if article == "a":
                assert nxt[0] not in "aeio", sentence
            elif article == "an":
                assert nxt[0] in "aeiou" or nxt.startswith("hon"), sentence


def test_split_voices_holds_out_whole_variants():
    voices = list_voices()
    assert len(voices) == len(set(voices)) >= 100
    train, test = split_voices(voices, n_test_variants=2, seed=0)
    assert sorted(train + test) == sorted(voices)
    variants = {v.split("+")[1] for v in test}
    assert len(variants) == 2
    assert not {v.split("+")[1] for v in train} & variants
    assert len(train) >= 100 and 8 <= len(test) <= 16
    assert split_voices(voices, 2, seed=0) == (train, test)
    with pytest.raises(SynthError, match="n_test_variants"):
        split_voices(voices, n_test_variants=0)


def test_read_text_file_accepts_ids(tmp_path):
    text = tmp_path / "lines.txt"
    text.write_text("a1|the cat sat down\nb2\tit was warm today\n\nplain line here\n")
    assert read_text_file(text) == ["THE CAT SAT DOWN", "IT WAS WARM TODAY", "PLAIN LINE HERE"]


def test_read_text_file_normalizes(tmp_path):
    pytest.importorskip("asr.text")
    text = tmp_path / "lines.txt"
    text.write_text("Hello, World 2!\n...\n")
    assert read_text_file(text) == ["HELLO WORLD TWO"]


def _read_corpus(subset: Path) -> dict[str, str]:
    texts = {}
    for trans in subset.glob("*/*/*.trans.txt"):
        speaker, chapter = trans.parent.parent.name, trans.parent.name
        assert trans.name == f"{speaker}-{chapter}.trans.txt"
        for line in trans.read_text().splitlines():
            uid, text = line.split(" ", 1)
            assert UTT_ID.match(uid).groups()[:2] == (speaker, chapter)
            assert TRANSCRIPT.match(text), text
            texts[uid] = text
    return texts


@needs_espeak
def test_synthesize_tiny_corpus(tmp_path):
    dirs = synthesize_corpus(tmp_path, {"train": 6, "test": 3}, seed=0, jobs=2)
    assert dirs == {"train": tmp_path / "train", "test": tmp_path / "test"}
    train, test = _read_corpus(dirs["train"]), _read_corpus(dirs["test"])
    assert len(train) == 6 and len(test) == 3
    assert not set(train.values()) & set(test.values())  # no sentence shared

    voice_of = {}
    for name in ("train", "test"):
        lines = (dirs[name] / "voices.tsv").read_text().splitlines()
        assert lines[0] == "speaker_id\tvoice"
        voice_of[name] = dict(line.split("\t") for line in lines[1:])
    train_variants = {v.split("+")[1] for v in voice_of["train"].values()}
    assert not train_variants & {v.split("+")[1] for v in voice_of["test"].values()}

    for name, texts in (("train", train), ("test", test)):
        for uid in texts:
            speaker, chapter, _ = uid.split("-")
            assert speaker in voice_of[name]
            path = dirs[name] / speaker / chapter / f"{uid}.flac"
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
            assert info.subtype == "PCM_16"
            assert 0.8 < info.duration < 12
            audio, _ = sf.read(path)
            assert abs(audio).max() > 0.05

    marker = json.loads((dirs["train"] / ".complete").read_text())
    assert marker["params"]["utterances"] == 6 and marker["stats"]["hours"] > 0
    assert not list(tmp_path.glob(".*partial"))

    # A second run with the same parameters skips the finished subsets.
    flac = next(dirs["train"].glob("*/*/*.flac"))
    mtime = flac.stat().st_mtime_ns
    assert synthesize_corpus(tmp_path, {"train": 6, "test": 3}, seed=0, jobs=2) == dirs
    assert flac.stat().st_mtime_ns == mtime
    # Different parameters for an existing subset are refused.
    with pytest.raises(RuntimeError, match="different parameters"):
        synthesize_corpus(tmp_path, {"train": 6, "test": 3}, seed=1, jobs=2)


@needs_espeak
def test_synthesize_from_text_file(tmp_path):
    text = tmp_path / "sentences.txt"
    text.write_text("u1|the red boat is on the lake\nu2|we don't like cold soup\n")
    dirs = synthesize_corpus(tmp_path / "corpus", {"mine": 3}, seed=0, text_file=text, jobs=2)
    texts = list(_read_corpus(dirs["mine"]).values())
    assert len(texts) == 3  # two sentences, cycled
    assert set(texts) == {"THE RED BOAT IS ON THE LAKE", "WE DON'T LIKE COLD SOUP"}
    assert len(list(dirs["mine"].glob("*/*/*.flac"))) == 3


def _longest_pause(audio: np.ndarray, sr: int = 16000) -> float:
    """Longest run (s) of 10 ms frames at least 40 dB below the peak, inside the speech."""
    frames = audio[: audio.size // 160 * 160].reshape(-1, 160)
    loud = np.abs(frames).max(axis=1) > 0.01 * np.abs(audio).max()
    inside = loud[np.argmax(loud) : loud.size - np.argmax(loud[::-1])]
    longest = run = 0
    for is_loud in inside:
        run = 0 if is_loud else run + 1
        longest = max(longest, run)
    return longest * 160 / sr


@needs_espeak
def test_pauses_go_between_the_given_words():
    plain = synthesize("red garden yellow", "en-us+m3", rate=175)
    paused = synthesize("red garden yellow", "en-us+m3", rate=175, pauses=[(1, 0.6), (0, 0.3)])
    assert _longest_pause(plain) < 0.15
    assert 0.55 < _longest_pause(paused) < 0.7
    assert abs((paused.size - plain.size) / 16000 - 0.9) < 0.15  # the two pauses


def test_plan_gives_pauses_to_about_half_of_the_texts():
    texts = [s.upper() for s in generate_sentences(400, seed=3)]
    voices = list_voices()[:4]
    plan = _plan(texts, voices, {v: i for i, v in enumerate(voices)}, 1, random.Random(0))
    paused = [u for u in plan if u.pauses]
    assert 0.4 < len(paused) / len(plan) < 0.6
    none = _plan(texts, voices, {v: i for i, v in enumerate(voices)}, 1, random.Random(0), 0.0)
    assert not any(u.pauses for u in none)
    for u in paused:
        where = [i for i, _ in u.pauses]
        assert where == sorted(set(where)) and 1 <= len(where) <= MAX_PAUSES
        assert 0 <= where[0] and where[-1] < len(u.text.split()) - 1  # between two words
        assert all(PAUSE_RANGE_S[0] <= s <= PAUSE_RANGE_S[1] for _, s in u.pauses)


def test_missing_espeak_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        synthesize_corpus(tmp_path, {"train": 1}, jobs=1)
