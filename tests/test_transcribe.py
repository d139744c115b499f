"""Long-audio transcription: windows, stitching, batching, timestamps against known positions."""

import numpy as np
import pytest
import soundfile as sf
from tone_model import ToneRecognizer, tone_speech

from asr.align import Word
from asr.audio import AudioError, load_audio, read_blocks
from asr.transcription import make_segments, stitch, transcribe_files


def _one(recognizer, path, **kw):
    [(_, transcript)] = list(transcribe_files(recognizer, [path], progress=False, **kw))
    return transcript


def test_word_times_within_100_ms_of_truth(tmp_path):
    wav = tmp_path / "words.wav"
    truth = tone_speech(wav, 40, seed=1)
    t = _one(ToneRecognizer(), wav, chunk_seconds=8, overlap_seconds=2)
    assert [w.word for w in t.words] == [w for w, _, _ in truth]
    starts = np.array([w.start for w in t.words]) - [s for _, s, _ in truth]
    ends = np.array([w.end for w in t.words]) - [e for _, _, e in truth]
    assert np.abs(starts).max() < 0.1 and np.abs(ends).max() < 0.1
    # the frame-local model is exact to a frame (30 ms)
    assert np.abs(starts).max() <= 0.031 and np.abs(ends).max() <= 0.031


@pytest.mark.parametrize("gaps", [(0.2, 0.9), (0.03, 0.08)])
def test_chunked_equals_unchunked_on_a_long_file(tmp_path, gaps):
    """3 minutes cut into 10 s windows (22 seams, words straddling them) give the same words
    and times as one pass over the whole file: none duplicated, none lost."""
    wav = tmp_path / "long.wav"
    truth = tone_speech(wav, 400 if gaps[0] < 0.1 else 260, seed=2, gaps=gaps)
    assert sf.info(wav).duration > 170
    rec = ToneRecognizer()
    whole = _one(rec, wav, chunk_seconds=0)
    chunked = _one(rec, wav, chunk_seconds=10, overlap_seconds=2, batch_size=3)
    assert [w.word for w in whole.words] == [w for w, _, _ in truth]
    assert [w.word for w in chunked.words] == [w.word for w in whole.words]
    for a, b in zip(chunked.words, whole.words):
        assert abs(a.start - b.start) <= 0.031 and abs(a.end - b.end) <= 0.031
    assert chunked.text == whole.text
    assert chunked.duration == pytest.approx(sf.info(wav).duration, abs=1e-3)


def test_many_files_in_order_with_a_bad_one(tmp_path):
    rec = ToneRecognizer()
    paths, truths = [], []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.wav")
        truths.append(tone_speech(paths[-1], 3 + 10 * i, seed=10 + i))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    inputs = [paths[0], bad, paths[1], tmp_path / "missing.flac", paths[2]]
    results = list(transcribe_files(rec, inputs, chunk_seconds=6, overlap_seconds=1, batch_size=4))
    assert [p for p, _ in results] == inputs
    assert isinstance(results[1][1], AudioError) and str(bad) in str(results[1][1])
    assert "file not found" in str(results[3][1])
    for (_, t), truth in zip([results[0], results[2], results[4]], truths):
        assert t.text == " ".join(w for w, _, _ in truth)
        assert t.decoder == "greedy"


def test_any_rate_and_channels_are_read_like_load_audio(tmp_path):
    """Stereo 44.1 kHz: the streamed blocks equal load_audio's whole-file conversion."""
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((44100 * 5 + 77, 2))).astype(np.float32)
    sf.write(tmp_path / "s.flac", x, 44100)
    blocks = list(read_blocks(tmp_path / "s.flac", 1.5, 16000))
    assert len(blocks) >= 3
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(tmp_path / "s.flac"), atol=1e-6)


def _w(word, start, end):
    return Word(word, start, end, 1.0)


def test_stitch_cuts_at_a_shared_pause():
    left = [_w("A", 0.0, 1.0), _w("B", 8.2, 8.9), _w("C", 9.3, 9.9)]  # C cut by the edge
    right = [_w("B", 8.2, 8.9), _w("C", 9.3, 10.4), _w("D", 11.0, 11.5)]
    assert [w.word for w in stitch(left, right, (8.0, 10.0))] == ["A", "B", "C", "D"]
    joined = stitch(left, right, (8.0, 10.0))
    assert joined[2].end == 10.4  # the whole C, from the window that holds it


def test_segments_break_at_pauses_and_length():
    words = [_w(f"W{i}", i * 0.5, i * 0.5 + 0.4) for i in range(30)] + [_w("LATE", 40.0, 40.5)]
    segments = make_segments(words, max_chars=80, max_seconds=6.0, pause=0.5)
    assert [w for s in segments for w in s.words] == words
    assert all(len(s.text) <= 80 and s.end - s.start <= 6.0 for s in segments)
    assert segments[-1].text == "LATE" and len(segments) >= 4


def test_recognizer_transcribe_takes_paths_waveforms_lists_and_decoder_configs(tmp_path):
    """``Recognizer.transcribe``: a path or a waveform -> one Transcript, a list -> a list; the
    decoder by name, by config or as a callable."""
    wav = tmp_path / "words.wav"
    truth = tone_speech(wav, 12, seed=3)
    rec = ToneRecognizer()
    by_path = rec.transcribe(wav, chunk_seconds=4, overlap_seconds=1)
    assert by_path.text == " ".join(w for w, _, _ in truth) and by_path.audio == str(wav)
    assert by_path.to_dict() == _one(rec, wav, chunk_seconds=4, overlap_seconds=1).to_dict()
    wave = load_audio(wav)
    by_array = rec.transcribe(wave, chunk_seconds=4, overlap_seconds=1)
    assert by_array.to_dict() == {**by_path.to_dict(), "audio": ""}
    both = rec.transcribe([str(wav), wave], decoder="greedy", chunk_seconds=4, overlap_seconds=1)
    assert [t.text for t in both] == [by_path.text] * 2
    beam = rec.transcribe(wav, decoder={"type": "beam", "beam_size": 4})
    assert beam.text == by_path.text and beam.decoder == "beam"
    assert rec.transcribe(wav, decoder=rec.decoder()).text == by_path.text
    with pytest.raises(AudioError, match="missing.wav"):
        rec.transcribe(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="1-D"):
        rec.transcribe(np.zeros((2, 16000), np.float32))
