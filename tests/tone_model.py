"""A recognizer whose behaviour is known, for testing transcription plumbing exactly.

"Speech" is a sequence of words, each letter a 90 ms tone at its own frequency, words separated
by silence. ``ToneRecognizer`` hears it frame by frame (30 ms, no context): the strongest letter
tone of a frame, or a space in silence. So its output on any window of a file is fixed by the
samples in that window alone, and the true position of every word is known.
"""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from asr.features import FeatureConfig
from asr.recognizer import Recognizer
from asr.text import LIBRISPEECH_CHARS

RATE = 16000
FRAME = 480  # samples per output frame: 30 ms, like a 10 ms hop stacked 3 times
LETTER_S = 0.09
LETTERS = [c for c in LIBRISPEECH_CHARS if c.isalpha()]
FREQS = {c: 300.0 + 110.0 * i for i, c in enumerate(LETTERS)}
WORDS = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "INDIA", "JULIET"]


class ToneRecognizer(Recognizer):
    """``__call__(wave (B, N), lengths (B,)) -> (log_probs (B, T', V), lengths (B,))``."""

    vocab = list(LIBRISPEECH_CHARS)
    feature_config = FeatureConfig()
    frame_seconds = FRAME / RATE

    def __init__(self) -> None:
        t = np.arange(FRAME) / RATE
        freqs = np.array([FREQS[c] for c in LETTERS])
        self.basis = np.concatenate(
            [
                np.cos(2 * np.pi * freqs[None, :] * t[:, None]),
                np.sin(2 * np.pi * freqs * t[:, None]),
            ],
            axis=1,
        )  # (FRAME, 2 letters)
        self.letter_ids = np.array([1 + self.vocab.index(c) for c in LETTERS])
        self.space_id = 1 + self.vocab.index(" ")

    def __call__(self, wave, lengths) -> tuple[torch.Tensor, torch.Tensor]:
        wave, lengths = np.asarray(wave, np.float32), np.asarray(lengths)
        n_out = -(-lengths // FRAME)
        t_max = int(n_out.max())
        frames = np.zeros((wave.shape[0], t_max * FRAME), np.float32)
        for b, n in enumerate(lengths):
            frames[b, :n] = wave[b, :n]
        proj = frames.reshape(wave.shape[0], t_max, FRAME) @ self.basis  # (B, T, 2 L)
        energy = proj[..., : len(LETTERS)] ** 2 + proj[..., len(LETTERS) :] ** 2
        logits = np.full((*energy.shape[:2], len(self.vocab) + 1), -12.0)
        best = energy.argmax(-1)
        power = (frames.reshape(wave.shape[0], t_max, FRAME) ** 2).sum(-1)  # (B, T)
        loud = power > 0.5 * 0.045 * FRAME  # tones over half the frame (a tone's power: 0.045)
        b_idx, t_idx = np.nonzero(loud)
        logits[b_idx, t_idx, self.letter_ids[best[loud]]] = 0.0
        logits[..., self.space_id] = np.where(loud, -12.0, 0.0)
        logits[..., 0] = -3.0  # the blank: possible everywhere, never the best
        log_probs = torch.from_numpy(logits).float().log_softmax(-1)
        return log_probs, torch.from_numpy(n_out).long()


def tone_speech(
    path, n_words: int, seed: int = 0, gaps: tuple[float, float] = (0.2, 0.9), lead: float = 0.5
) -> list[tuple[str, float, float]]:
    """Write a 16 kHz WAV of ``n_words`` tone words; return [(word, start s, end s)]."""
    rng = np.random.default_rng(seed)
    pieces, truth, now = [np.zeros(int(lead * RATE), np.float32)], [], lead
    for _ in range(n_words):
        word = str(rng.choice(WORDS))
        n = int(round(LETTER_S * RATE))
        t = np.arange(n) / RATE
        tones = [0.3 * np.sin(2 * np.pi * FREQS[c] * t + rng.uniform(0, 6.28)) for c in word]
        pieces.append(np.concatenate(tones).astype(np.float32))
        truth.append((word, now, now + len(word) * n / RATE))
        now += len(word) * n / RATE
        gap = int(rng.uniform(*gaps) * RATE)
        pieces.append(np.zeros(gap, np.float32))
        now += gap / RATE
    sf.write(path, np.concatenate(pieces), RATE)
    return truth
