"""CTC decoding: log-probs -> text. Knows only the vocabulary, never the model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def greedy_decode(
    log_probs: Tensor, lengths: Tensor, tokens: Sequence[str], blank: int = 0
) -> list[str]:
    """Best path decoding: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, V) per-frame log-probabilities.
        lengths: (B,) valid frames per utterance.
        tokens: the V output symbols (tokens[blank] is the blank).
    Returns:
        B strings, with runs of spaces collapsed and no leading/trailing space.
    """
    best = log_probs.argmax(dim=-1).cpu()
    keep = torch.ones_like(best, dtype=torch.bool)
    keep[:, 1:] = best[:, 1:] != best[:, :-1]
    keep &= best != blank
    out = []
    for b, n in enumerate(lengths.tolist()):
        ids = best[b, :n][keep[b, :n]].tolist()
        out.append(" ".join("".join(tokens[i] for i in ids).split()))
    return out
