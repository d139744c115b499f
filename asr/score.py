"""WER/CER scoring with jiwer, with Kaldi/sclite-style counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

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


# one aligned word pair: (op, ref word, hyp word); op is "C" correct, "S" substitution,
# "D" deletion (hyp word None) or "I" insertion (ref word None)
AlignedWord = tuple[str, str | None, str | None]
_OPS = {"equal": "C", "substitute": "S", "delete": "D", "insert": "I"}


def align_words(ref: str, hyp: str) -> list[AlignedWord]:
    """Levenshtein word alignment of one hypothesis against its reference (jiwer), as a list
    of (op, ref_word, hyp_word) in reading order."""
    ref_words, hyp_words = ref.split(), hyp.split()
    if not ref_words:  # jiwer refuses empty references
        return [("I", None, w) for w in hyp_words]
    out = jiwer.process_words(ref, hyp)
    aligned: list[AlignedWord] = []
    for chunk in out.alignments[0]:
        op = _OPS[chunk.type]
        refs = out.references[0][chunk.ref_start_idx : chunk.ref_end_idx]
        hyps = out.hypotheses[0][chunk.hyp_start_idx : chunk.hyp_end_idx]
        if op == "D":
            aligned += [(op, r, None) for r in refs]
        elif op == "I":
            aligned += [(op, None, h) for h in hyps]
        else:  # equal and substitute chunks pair words one to one
            aligned += [(op, r, h) for r, h in zip(refs, hyps)]
    return aligned


@dataclass
class ErrorTally:
    """What went wrong, word by word, over many aligned utterances (sclite's "confusion
    pairs", "deletions" and "insertions" sections)."""

    confusions: Counter = field(default_factory=Counter)  # (ref word, hyp word) -> count
    deleted: Counter = field(default_factory=Counter)  # ref word -> count
    inserted: Counter = field(default_factory=Counter)  # hyp word -> count

    def add(self, alignment: Sequence[AlignedWord]) -> None:
        for op, ref, hyp in alignment:
            if op == "S":
                self.confusions[(ref, hyp)] += 1
            elif op == "D":
                self.deleted[ref] += 1
            elif op == "I":
                self.inserted[hyp] += 1


def kaldi_line(words: ErrorCounts, name: str = "WER") -> str:
    """Kaldi's compute-wer summary: ``%WER 15.55 [ 252 / 1621, 7 ins, 29 del, 216 sub ]``."""
    return (
        f"%{name} {100 * words.rate:.2f} [ {words.errors} / {words.ref_len}, "
        f"{words.insertions} ins, {words.deletions} del, {words.substitutions} sub ]"
    )
