"""WER/CER scoring with jiwer, with Kaldi/sclite-style counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import jiwer


@dataclass
class ErrorCounts:
    """Word (or character) alignment counts of hypotheses against references."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def ref_len(self) -> int:
        return self.substitutions + self.deletions + self.hits

    @property
    def rate(self) -> float:
        """Errors / reference length (WER for words, CER for characters)."""
        return self.errors / max(self.ref_len, 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors, "ref_len": self.ref_len, "rate": self.rate}


def word_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    """Corpus-level word alignment counts."""
    return _count(refs, hyps, jiwer.process_words)


def char_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    """Corpus-level character alignment counts (spaces count as characters, like jiwer's CER)."""
    return _count(refs, hyps, jiwer.process_characters)


def _count(refs: Sequence[str], hyps: Sequence[str], process) -> ErrorCounts:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    total = ErrorCounts()
    for ref, hyp in zip(refs, hyps):
        if not ref.strip():  # jiwer refuses empty references: all of hyp is insertions
            total.insertions += len(hyp.split()) if process is jiwer.process_words else len(hyp)
            continue
        out = process(ref, hyp)
        total.substitutions += out.substitutions
        total.deletions += out.deletions
        total.insertions += out.insertions
        total.hits += out.hits
    return total
