"""CTC forced alignment on hand-made log-probs whose best path is known."""

import itertools

import numpy as np
import pytest
import torch

from asr.align import AlignmentError, forced_align, token_spans, word_timestamps
from asr.text import CharVocab

VOCAB = CharVocab()


def peaked(frames: list[int], vocab: int = len(VOCAB), p: float = 0.9) -> np.ndarray:
    """(T, V) log-probs putting ``p`` on the given token of every frame."""
    probs = np.full((len(frames), vocab), (1 - p) / (vocab - 1))
    probs[np.arange(len(frames)), frames] = p
    return np.log(probs)


def test_recovers_known_spans_with_repeats_and_blanks():
    # "HELLO" with frames: blank x2, H x3, E, blank, L x2, blank, L, O x4, blank x3
    b, (h, e, ll, o) = 0, VOCAB.encode("HELO")
    frames = [b, b, h, h, h, e, b, ll, ll, b, ll, o, o, o, o, b, b, b]
    path = forced_align(peaked(frames), VOCAB.encode("HELLO"))
    expected = [-1, -1, 0, 0, 0, 1, -1, 2, 2, -1, 3, 4, 4, 4, 4, -1, -1, -1]
    assert path.tolist() == expected
    assert token_spans(path, 5).tolist() == [[2, 5], [5, 6], [7, 9], [10, 11], [11, 15]]


def _path_score(lp: np.ndarray, labels) -> float:
    return float(sum(lp[t, k] for t, k in enumerate(labels)))


def _collapse(labels) -> list[int]:
    return [k for k, _ in itertools.groupby(labels) if k != 0]


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_equals_brute_force(seed):
    """The returned path spells the targets and no path that does scores higher."""
    rng = np.random.default_rng(seed)
    n_frames, vocab = 6, 4
    lp = np.log(rng.dirichlet(np.ones(vocab), size=n_frames))
    targets = [[1, 2, 2], [3, 1], [2], [1, 1], [3, 2, 1], [2, 3, 2, 3]][seed]
    best = max(
        _path_score(lp, labels)
        for labels in itertools.product(range(vocab), repeat=n_frames)
        if _collapse(labels) == targets
    )
    path = forced_align(lp, targets)
    labels = [0 if j < 0 else targets[j] for j in path]
    assert _collapse(labels) == targets
    assert _path_score(lp, labels) == pytest.approx(best, abs=1e-9)


def test_infeasible_text_and_bad_ids_raise():
    lp = peaked([0, 1, 0])
    with pytest.raises(AlignmentError, match="need 4 frames"):
        forced_align(lp, [1, 1, 2])  # a repeat needs a blank between: 4 frames
    with pytest.raises(AlignmentError):
        forced_align(lp, [0])  # the blank is not a target
    with pytest.raises(AlignmentError, match="not in the vocabulary"):
        word_timestamps(lp, "A1", VOCAB.tokens, 0.03)


def test_word_timestamps_in_seconds_from_torch_tensors():
    """Words of 'GO UP' at known frames; times = frames x frame duration + offset."""
    g, o, sp, u, p = VOCAB.encode("GO UP")
    frames = [0] * 10 + [g] * 3 + [o] * 4 + [0] * 5 + [sp] + [0] * 5 + [u] * 2 + [p] * 2 + [0] * 8
    lp = torch.from_numpy(peaked(frames)).float()
    words = word_timestamps(lp, "GO UP", VOCAB.tokens, frame_seconds=0.03, offset=12.0)
    assert [w.word for w in words] == ["GO", "UP"]
    assert [(w.start, w.end) for w in words] == [
        (pytest.approx(12.0 + 10 * 0.03), pytest.approx(12.0 + 17 * 0.03)),
        (pytest.approx(12.0 + 28 * 0.03), pytest.approx(12.0 + 32 * 0.03)),
    ]
    assert all(w.confidence == pytest.approx(0.9, abs=1e-4) for w in words)
    assert word_timestamps(lp, "  ", VOCAB.tokens, 0.03) == []


def test_confidence_drops_where_the_model_is_unsure():
    a, b = VOCAB.encode("AB")
    sure = peaked([a, a, 0, b, b], p=0.95)
    unsure = sure.copy()
    unsure[3:5] = peaked([b, b], p=0.4)
    words_sure = word_timestamps(sure, "A B", VOCAB.tokens, 0.03)
    words_unsure = word_timestamps(unsure, "A B", VOCAB.tokens, 0.03)
    assert words_sure[1].confidence > 0.9 > words_unsure[1].confidence
    assert words_sure[0].confidence == pytest.approx(words_unsure[0].confidence)
