"""BPE units (sentencepiece) as an alternative to characters: a model trained from transcripts
(``asr bpe train``), and the vocabulary it gives a recognizer (``tokenizer.type=bpe``).

The model is trained on normalised text (`asr.text.normalize_text`: A-Z, apostrophe, space),
``model_type=bpe``, ``character_coverage=1.0``, one thread, every sentence in file order (no
sampling, no shuffling): the same text gives the same model, byte for byte. Its piece ids are
the CTC output ids: 0 the blank (sentencepiece's padding piece, never produced by encoding),
1 ``<unk>`` (never a training target; its token is the empty string, so a model that emits it
adds nothing to the text), then the merged pieces in the order BPE learned them, then the single
characters.

A recognizer's tokens are the pieces' text with the word marker ``"\u2581"`` turned into a
leading space (``"\u2581THE"`` -> ``" THE"``, ``"\u2581"`` -> ``" "``), so greedy decoding
(joining tokens), word timestamps, beam search over a lexicon (`asr.text.Speller` spells words
in pieces from the tokens alone) and exports work as they do for characters. The serialized
model travels with the weights, base64-encoded: in checkpoints (hyper-parameter ``bpe_model``)
and in exports' metadata. sentencepiece (``pip install 'asr[bpe]'``) is needed to train a model
and to train or fine-tune on one, not to decode.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from asr.text import BLANK, CharVocab

__all__ = ["BpeError", "BpeVocab", "load_vocab", "piece_text", "train_bpe"]

MODEL_NAME = "bpe"  # <out>/bpe.model and <out>/bpe.vocab
WORD_MARKER = "\u2581"


class BpeError(ValueError):
    """A BPE model that cannot be trained or used; the message names the file."""


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise BpeError(
            "BPE units need sentencepiece, which is not installed: pip install 'asr[bpe]' "
            "(or pip install sentencepiece)"
        ) from None
    return sentencepiece


def piece_text(piece: str) -> str:
    """A sentencepiece piece as a token: the word marker becomes a space."""
    return piece.replace(WORD_MARKER, " ")


class BpeVocab:
    """The vocabulary of a BPE model, with `asr.text.CharVocab`'s interface: ``tokens`` (the
    blank first), ``index``, ``blank``, ``encode``, ``decode``, ``len()``.

    Args:
        proto: the serialized sentencepiece model (the bytes of a ``bpe.model`` file).
        source: names the model in errors (its file, or "checkpoint").
    """

    def __init__(self, proto: bytes, source: str = "BPE model") -> None:
        spm = _sentencepiece()
        self.proto, self.source = bytes(proto), source
        try:
            self.sp = spm.SentencePieceProcessor(model_proto=self.proto)
        except (RuntimeError, TypeError, ValueError) as err:
            raise BpeError(f"{source}: not a sentencepiece model ({err})") from None
        if self.sp.pad_id() != 0 or self.sp.unk_id() != 1:
            raise BpeError(f"{source}: not a model of `asr bpe train` (piece 0 must be the "
                           "blank, piece 1 <unk>)")
        # <unk> is never a training target: shown as nothing should a model emit it
        pieces = [self.sp.id_to_piece(i) for i in range(2, self.sp.get_piece_size())]
        self.tokens = [BLANK, "", *(piece_text(p) for p in pieces)]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def from_file(cls, path: str | Path) -> BpeVocab:
        path = Path(path)
        if not path.is_file():
            raise BpeError(f"{path}: BPE model not found (asr bpe train writes one)")
        return cls(path.read_bytes(), str(path))

    @classmethod
    def from_base64(cls, text: str, source: str = "checkpoint") -> BpeVocab:
        try:
            proto = base64.b64decode(text.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError, AttributeError):
            raise BpeError(f"{source}: its BPE model is not base64 text") from None
        return cls(proto, source)

    def to_base64(self) -> str:
        """The model as stored in checkpoints and exports."""
        return base64.b64encode(self.proto).decode("ascii")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank(self) -> int:
        return 0

    @property
    def vocab(self) -> list[str]:
        """The tokens without the blank (what a model's ``vocab`` holds)."""
        return self.tokens[1:]

    def encode(self, text: str) -> list[int]:
        """Text already in the alphabet -> piece ids. ValueError on characters the model lacks."""
        ids = self.sp.encode(text)
        if self.sp.unk_id() in ids:
            unknown = sorted({c for c in text if c != " " and c not in self.index})
            raise ValueError(f"characters {''.join(unknown)!r} are not in the BPE vocabulary: "
                             f"{text!r}")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Piece ids -> text (blanks skipped; no CTC collapsing, see asr.decode for that)."""
        return " ".join("".join(self.tokens[i] for i in ids if i != self.blank).split())


def load_vocab(vocab: Sequence[str], bpe_model: str | None = None,
               source: str = "checkpoint") -> CharVocab | BpeVocab:
    """The vocabulary of a model: its characters, or with `bpe_model` (base64) its BPE model,
    which must give the same tokens."""
    if not bpe_model:
        return CharVocab(vocab)
    found = BpeVocab.from_base64(bpe_model, source)
    if found.vocab != list(vocab):
        raise BpeError(f"{source}: its BPE model and its vocabulary differ")
    return found


def _read_texts(texts: Sequence[str | Path]) -> list[str]:
    from asr.lm import LMError, read_text

    try:
        return [sentence for path in texts for sentence in read_text(path)]
    except (LMError, UnicodeDecodeError) as err:
        raise BpeError(str(err).splitlines()[0]) from None


def train_bpe(texts: Sequence[str | Path], vocab_size: int, out_dir: str | Path) -> dict:
    """Train a BPE model on the sentences of text files, deterministically.

    Args:
        texts: files in the formats of `asr.lm.read_text`: one sentence a line (plain, or
            ``id|text``), or JSONL manifests (their ``text`` fields); normalised as transcripts.
        vocab_size: pieces including the blank and ``<unk>`` (the model's output size V).
        out_dir: gets ``bpe.model`` (for ``tokenizer.bpe_model``) and ``bpe.vocab`` (the
            pieces and their scores, one a line).
    Returns:
        A summary: model and vocab paths, vocab_size, sentences, pieces per sentence.
    """
    spm = _sentencepiece()
    if vocab_size < 3:
        raise BpeError(f"--vocab-size {vocab_size}: needs at least 3 (blank, <unk>, a piece)")
    sentences = _read_texts(texts)
    if not sentences:
        raise BpeError(f"no sentences in {', '.join(map(str, texts))}")
    out = Path(out_dir)
    written = io.BytesIO()  # not model_prefix: the model would hold the output path
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=written,
            vocab_size=vocab_size,
            model_type="bpe",
            character_coverage=1.0,
            normalization_rule_name="identity",  # the text is normalised already
            pad_id=0, pad_piece=BLANK, unk_id=1, bos_id=-1, eos_id=-1,
            num_threads=1,
            input_sentence_size=0,  # every sentence, in order
            shuffle_input_sentence=False,
            minloglevel=2,
        )
    except RuntimeError as err:
        raise BpeError(f"{out}: sentencepiece cannot train this model: "
                       f"{' '.join(str(err).split())}") from None
    vocab = BpeVocab(written.getvalue(), str(out))
    out.mkdir(parents=True, exist_ok=True)
    model = out / f"{MODEL_NAME}.model"
    model.write_bytes(vocab.proto)
    (out / f"{MODEL_NAME}.vocab").write_text("".join(
        f"{vocab.sp.id_to_piece(i)}\t{vocab.sp.get_score(i):g}\n" for i in range(len(vocab))
    ), encoding="utf-8")
    pieces = sum(len(vocab.sp.encode(s)) for s in sentences)
    return {
        "model": str(model),
        "vocab": str(out / f"{MODEL_NAME}.vocab"),
        "vocab_size": len(vocab),
        "sentences": len(sentences),
        "pieces_per_sentence": round(pieces / len(sentences), 2),
        "characters_per_sentence": round(sum(map(len, sentences)) / len(sentences), 2),
    }
