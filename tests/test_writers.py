"""Output formats: SRT/VTT/TSV parsed back, the JSON schema, Whisper-style file naming."""

import json
import re

import pytest
from tone_model import ToneRecognizer, tone_speech

from asr.transcription import transcribe_files
from asr.writers import FORMATS, format_timestamp, write_transcript

SRT_TIME = re.compile(
    r"^(\d{2}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2}):([0-5]\d):([0-5]\d),(\d{3})$"
)
VTT_TIME = re.compile(
    r"^(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})$"
)


def _seconds(groups) -> tuple[float, float]:
    h, m, s, ms, h2, m2, s2, ms2 = map(int, groups)
    return h * 3600 + m * 60 + s + ms / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000


@pytest.fixture(scope="module")
def transcript(tmp_path_factory):
    wav = tmp_path_factory.mktemp("w") / "talk.wav"
    tone_speech(wav, 60, seed=3, gaps=(0.05, 1.2))
    [(_, t)] = list(transcribe_files(ToneRecognizer(), [wav], chunk_seconds=10, progress=False))
    assert len(t.segments) > 5
    return t


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    cues = []
    for n, block in enumerate(text.strip("\n").split("\n\n"), start=1):
        index, times, *lines = block.split("\n")
        assert index == str(n) and lines
        cues.append((*_seconds(SRT_TIME.match(times).groups()), " ".join(lines)))
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    header, *blocks = text.strip("\n").split("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in blocks:
        times, *lines = block.split("\n")
        cues.append((*_seconds(VTT_TIME.match(times).groups()), " ".join(lines)))
    return cues


def _check_cues(cues, transcript):
    assert [c[2] for c in cues] == [s.text for s in transcript.segments]
    assert all(start < end for start, end, _ in cues)
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))  # ordered, not overlapping
    for (start, end, _), s in zip(cues, transcript.segments):
        assert abs(start - s.start) <= 0.0005 and abs(end - s.end) <= 0.0005


def test_srt_vtt_tsv_parse_back(transcript, tmp_path):
    paths = write_transcript(transcript, "all", tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"talk.{f}" for f in FORMATS if f != "all")
    _check_cues(parse_srt((tmp_path / "talk.srt").read_text()), transcript)
    _check_cues(parse_vtt((tmp_path / "talk.vtt").read_text()), transcript)
    header, *rows = (tmp_path / "talk.tsv").read_text().splitlines()
    assert header == "start\tend\ttext"
    tsv = [(int(a) / 1000, int(b) / 1000, t) for a, b, t in (r.split("\t") for r in rows)]
    _check_cues(tsv, transcript)
    lines = (tmp_path / "talk.txt").read_text().splitlines()
    assert " ".join(lines) == transcript.text


def test_json_schema(transcript, tmp_path):
    [path] = write_transcript(transcript, "json", tmp_path, stem="out")
    doc = json.loads(path.read_text())
    assert set(doc) == {"audio", "duration", "text", "segments", "model", "decoder"}
    assert doc["audio"].endswith("talk.wav") and doc["duration"] > 0 and doc["decoder"] == "greedy"
    words = []
    for seg in doc["segments"]:
        assert set(seg) == {"start", "end", "text", "words"}
        assert seg["text"] == " ".join(w["word"] for w in seg["words"])
        for w in seg["words"]:
            assert set(w) == {"word", "start", "end", "confidence"}
            assert seg["start"] <= w["start"] < w["end"] <= seg["end"]
            assert 0.0 <= w["confidence"] <= 1.0
        words += seg["words"]
    assert " ".join(w["word"] for w in words) == doc["text"] == transcript.text
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:]))


def test_timestamp_format():
    assert format_timestamp(3723.4567) == "01:02:03,457"
    assert format_timestamp(59.9996, ".") == "00:01:00.000"
    assert format_timestamp(0) == "00:00:00,000"
