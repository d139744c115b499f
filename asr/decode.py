"""CTC decoding: log-probs -> text, greedy or by beam search with a word n-gram LM.
Knows only the vocabulary, never the model. A decoder is a callable
``decoder(log_probs (B, T, V), lengths (B,)) -> list[str]`` taking numpy arrays or torch
tensors on any device; see `build_decoder`. Needs no torch (an ONNX model's recognizer gives
numpy arrays). Tokens are characters or BPE pieces as text (a leading space starts a word, see
`asr.bpe`)."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from asr.text import Speller

log = logging.getLogger(__name__)


def to_numpy(x, dtype=None) -> np.ndarray:
    """A numpy array (of `dtype` if given) of a torch tensor (any device and dtype: float tensors
    become float32) or of anything numpy takes, without copying what needs no conversion."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu()
        x = (x.float() if x.is_floating_point() else x).numpy()
    return np.asarray(x, dtype=dtype)


def greedy_decode(log_probs, lengths, tokens: Sequence[str], blank: int = 0) -> list[str]:
    """Best path decoding: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, V) per-frame log-probabilities (numpy or torch).
        lengths: (B,) valid frames per utterance.
        tokens: the V output symbols (tokens[blank] is the blank).
    Returns:
        B strings, with runs of spaces collapsed and no leading/trailing space.
    """
    best = to_numpy(log_probs.argmax(-1))  # (B, T), on the tensor's device for torch
    keep = np.ones_like(best, dtype=bool)
    keep[:, 1:] = best[:, 1:] != best[:, :-1]
    keep &= best != blank
    out = []
    for b, n in enumerate(to_numpy(lengths).tolist()):
        ids = best[b, :n][keep[b, :n]].tolist()
        out.append(" ".join("".join(tokens[i] for i in ids).split()))
    return out


DEFAULT_ALPHA, DEFAULT_BETA = 0.5, 1.0  # without weights given or tuned (<lm>.tuned.json)
BACKENDS = ("flashlight", "pyctcdecode")


class DecoderError(RuntimeError):
    """A decoder that cannot be built (missing library, unreadable LM or lexicon)."""


@dataclass
class DecodeConfig:
    """How to decode: the ``decode:`` section of a config, and the decoding options of
    ``asr evaluate/transcribe`` (which override it), generated from these fields: ``--<field>``
    (``flag`` in a field's metadata where it differs), its ``help`` and ``choices``."""

    type: str = field(default="greedy", metadata={
        "flag": "decoder", "choices": ("greedy", "beam"),
        "help": "greedy, or beam: CTC prefix beam search, optional word n-gram LM (default: "
                "beam if --lm or --lexicon is given, else greedy)"})
    backend: str = field(default="flashlight", metadata={
        "flag": "lm-backend", "choices": BACKENDS,
        "help": "beam search library: flashlight (flashlight-text) or pyctcdecode (optional)"})
    lm: str | None = field(default=None, metadata={
        "help": "KenLM n-gram LM (ARPA or binary: asr lm build, LibriSpeech's) for beam search"})
    lexicon: str | None = field(default=None, metadata={
        "help": "word list restricting the output words (default: the LM's)"})
    beam_size: int = field(default=50, metadata={"help": "beams kept"})
    beam_threshold: float = field(default=25.0, metadata={
        "help": "prune hypotheses this far (log-prob) below the best"})
    alpha: float | None = field(default=None, metadata={
        "help": f"LM weight (default: <lm>.tuned.json from asr lm tune, else {DEFAULT_ALPHA})"})
    beta: float | None = field(default=None, metadata={
        "help": f"word insertion bonus (default: <lm>.tuned.json, else {DEFAULT_BETA})"})

    def __post_init__(self) -> None:
        if self.type not in ("greedy", "beam"):
            raise DecoderError(f"type: unknown decoder type {self.type!r} (greedy or beam)")
        if self.backend not in BACKENDS:
            raise DecoderError(f"backend: unknown beam search backend {self.backend!r} "
                               f"({BACKENDS})")
        if self.beam_size < 1:
            raise DecoderError(f"beam_size: must be >= 1, got {self.beam_size}")
        if self.beam_threshold < 0:
            raise DecoderError(f"beam_threshold: must be >= 0, got {self.beam_threshold}")
        if self.alpha is not None and self.alpha < 0:
            raise DecoderError(f"alpha: must be >= 0 or null, got {self.alpha}")


class GreedyDecoder:
    """Best path decoding as a decoder object: ``decoder(log_probs, lengths) -> list[str]``."""

    def __init__(self, tokens: Sequence[str], blank: int = 0) -> None:
        self.tokens, self.blank = list(tokens), blank
        self.config = {"type": "greedy"}

    def __call__(self, log_probs, lengths) -> list[str]:
        """log_probs (B, T, V), lengths (B,) -> B strings."""
        return greedy_decode(log_probs, lengths, self.tokens, self.blank)


def tuned_path(lm: str | Path) -> Path:
    """Where `asr lm tune` stores the tuned weights of an LM: ``<lm>.tuned.json``, holding
    ``{backend: {"alpha", "beta", "wer", "grid", ...}}``."""
    return Path(f"{lm}.tuned.json")


def read_words(path: str | Path) -> list[str]:
    """Words of a word list or lexicon (first field of each line), upper-cased; or the unigrams
    of an ARPA file (``.arpa`` or ``.arpa.gz``) without ``<s>``, ``</s>``, ``<unk>``."""
    path = Path(path)
    arpa = path.name.endswith((".arpa", ".arpa.gz"))
    opener = gzip.open if path.suffix == ".gz" else open
    words, in_unigrams = [], False
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not arpa:
                    words += line.split()[:1]
                elif line.startswith("\\"):
                    if in_unigrams:
                        break
                    in_unigrams = line == "\\1-grams:"
                elif in_unigrams and line:
                    words.append(line.split()[1])
    except (OSError, UnicodeDecodeError, IndexError) as err:
        raise DecoderError(f"{path}: cannot read words ({err})") from None
    words = [w for w in words if w not in ("<s>", "</s>", "<unk>")]
    if not words:
        raise DecoderError(f"{path}: no words found" + (" (no unigrams)" if arpa else ""))
    return words if arpa else sorted({w.upper() for w in words})


def lm_vocabulary(lm: str | Path) -> list[str]:
    """The words an LM knows: its ARPA unigrams, or for a binary LM the ``<lm>.words`` list that
    `asr lm build` writes (or an ARPA file with the same stem)."""
    lm = Path(lm)
    if lm.name.endswith((".arpa", ".arpa.gz")):
        return read_words(lm)
    for candidate in (Path(f"{lm}.words"), lm.with_suffix(".arpa")):
        if candidate.is_file():
            return read_words(candidate)
    raise DecoderError(f"{lm}: binary LM without a word list: pass a lexicon (--lexicon)")


class BeamSearchDecoder:
    """CTC prefix beam search with an optional word n-gram LM (KenLM ARPA or binary).

    Score of a hypothesis: acoustic log-prob + alpha * LM log-prob + beta * number of words.
    Backends (both C++/Python libraries, loaded once, reused for every batch):

    - ``flashlight`` (flashlight-text, the decoder torchaudio wraps): with an LM the search runs
      over a lexicon trie, so only lexicon words come out; the lexicon is the LM's vocabulary
      unless `lexicon` names a word list. Without LM or lexicon: plain CTC beam search. With
      BPE units the trie spells each word in pieces as training did (`asr.text.Speller`), and
      the silence token is the bare word-marker piece (``" "``).
    - ``pyctcdecode``: lexicon-free character beam search with word-level LM scoring; `lexicon`
      words (default: the LM's unigrams) only bias partial words. Characters only.

    alpha and beta default to the values `asr lm tune` stored in ``<lm>.tuned.json`` for this
    backend, else (0.5, 1.0). Note the LM scale differs: flashlight uses KenLM's log10 scores,
    pyctcdecode natural logs.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        lm: str | Path | None = None,
        lexicon: str | Path | None = None,
        beam_size: int = DecodeConfig.beam_size,
        alpha: float | None = None,
        beta: float | None = None,
        beam_threshold: float = DecodeConfig.beam_threshold,
        backend: str = DecodeConfig.backend,
        blank: int = 0,
        space: str = " ",
    ) -> None:
        if backend not in BACKENDS:
            raise DecoderError(f"unknown beam search backend {backend!r} (choose from {BACKENDS})")
        if lm is not None and not Path(lm).is_file():
            raise DecoderError(f"{lm}: language model not found")
        if space not in tokens:
            raise DecoderError(f"the vocabulary has no word separator {space!r}")
        self.tokens, self.blank, self.space = list(tokens), blank, tokens.index(space)
        self.lm, self.lexicon, self.backend = lm, lexicon, backend
        self.beam_size, self.beam_threshold = beam_size, beam_threshold
        tuned = self._tuned()
        self.alpha = alpha if alpha is not None else tuned.get("alpha", DEFAULT_ALPHA)
        self.beta = beta if beta is not None else tuned.get("beta", DEFAULT_BETA)
        if lm is None:
            self.alpha = 0.0
        start = time.perf_counter()
        words = read_words(lexicon) if lexicon else lm_vocabulary(lm) if lm else None
        self._impl = (_FlashlightBeam if backend == "flashlight" else _PyctcdecodeBeam)(self, words)
        self.load_seconds = time.perf_counter() - start
        self.set_weights(self.alpha, self.beta)
        log.info("beam search: %s (LM loaded in %.2f s)", self.config, self.load_seconds)

    def _tuned(self) -> dict:
        path = tuned_path(self.lm) if self.lm else None
        if not path or not path.is_file():
            return {}
        try:
            tuned = json.loads(path.read_text()).get(self.backend, {})
        except (ValueError, AttributeError):
            raise DecoderError(f"{path}: not a tuned-weights file (asr lm tune)") from None
        if not tuned:
            log.warning("%s has no weights tuned for %s: using defaults", path, self.backend)
        return tuned

    @property
    def config(self) -> dict:
        """Settings, as `build_decoder` takes them (recorded in wer.json)."""
        return {
            "type": "beam",
            "backend": self.backend,
            "lm": str(self.lm) if self.lm else None,
            "lexicon": str(self.lexicon) if self.lexicon else None,
            "beam_size": self.beam_size,
            "beam_threshold": self.beam_threshold,
            "alpha": self.alpha,
            "beta": self.beta,
        }

    def set_weights(self, alpha: float, beta: float) -> None:
        """Change the LM weight and word bonus without reloading the LM (for tuning)."""
        self.alpha, self.beta = (alpha if self.lm else 0.0), beta
        self._impl.set_weights(self.alpha, self.beta)

    def __call__(self, log_probs, lengths) -> list[str]:
        """log_probs (B, T, V) per-frame log-probabilities, lengths (B,) -> B strings."""
        log_probs = to_numpy(log_probs, np.float32)
        return [
            " ".join(self._impl.decode(np.ascontiguousarray(log_probs[b, :n])).split())
            for b, n in enumerate(to_numpy(lengths).tolist())
        ]


class _FlashlightBeam:
    def __init__(self, owner: BeamSearchDecoder, words: list[str] | None) -> None:
        try:
            from flashlight.lib.text import decoder as fl
            from flashlight.lib.text.decoder.kenlm import KenLM
            from flashlight.lib.text.dictionary import Dictionary
        except ImportError as err:
            raise DecoderError(f"flashlight-text is not installed ({err})") from None
        self.fl, self.owner = fl, owner
        self.words = None
        if words is not None:
            speller, spelled, spellings = Speller(owner.tokens, owner.blank), [], []
            for w in dict.fromkeys(words):
                try:
                    spellings.append(speller.word(w))
                    spelled.append(w)
                except ValueError:
                    pass
            if len(spelled) < len(words):
                log.warning("lexicon: %d words with characters outside the vocabulary skipped",
                            len(words) - len(spelled))
            self.words = Dictionary([*spelled, "<unk>"])
            try:
                self.lm = KenLM(str(owner.lm), self.words) if owner.lm else fl.ZeroLM()
            except Exception as err:  # KenLM raises plain RuntimeErrors with its own message
                raise DecoderError(f"{owner.lm}: cannot load the LM ({err})") from None
            self.trie = fl.Trie(len(owner.tokens), owner.space)
            start = self.lm.start(False)
            for i, spelling in enumerate(spellings):
                _, score = self.lm.score(start, i)
                self.trie.insert(spelling, i, score)
            self.trie.smear(fl.SmearingMode.MAX)
        else:
            self.lm = fl.ZeroLM()

    def set_weights(self, alpha: float, beta: float) -> None:
        fl, o = self.fl, self.owner
        common = (o.beam_size, len(o.tokens), o.beam_threshold, alpha)
        if self.words is None:
            opts = fl.LexiconFreeDecoderOptions(*common, 0.0, False, fl.CriterionType.CTC)
            self.decoder = fl.LexiconFreeDecoder(opts, self.lm, o.space, o.blank, [])
        else:
            opts = fl.LexiconDecoderOptions(
                *common, beta, float("-inf"), 0.0, False, fl.CriterionType.CTC
            )
            unk = self.words.index_size() - 1
            self.decoder = fl.LexiconDecoder(opts, self.trie, self.lm, o.space, o.blank, unk, [],
                                             False)

    def decode(self, log_probs: np.ndarray) -> str:
        """log_probs: (T, V) float32, C-contiguous."""
        T, V = log_probs.shape
        results = self.decoder.decode(log_probs.ctypes.data, T, V)
        if not results:
            return ""
        best = results[0]
        if self.words is not None:
            return " ".join(self.words.get_entry(i) for i in best.words if i >= 0)
        ids = [i for i, _ in itertools.groupby(best.tokens) if i != self.owner.blank]
        return "".join(self.owner.tokens[i] for i in ids if 0 <= i < len(self.owner.tokens))


class _PyctcdecodeBeam:
    def __init__(self, owner: BeamSearchDecoder, words: list[str] | None) -> None:
        if Speller(owner.tokens, owner.blank).subword:
            raise DecoderError("the pyctcdecode backend decodes characters only: use the "
                               "flashlight backend for BPE units")
        try:
            from pyctcdecode import build_ctcdecoder
        except ImportError as err:
            raise DecoderError(
                f"pyctcdecode is not installed ({err}): pip install --no-deps pyctcdecode "
                "pygtrie kenlm"
            ) from None
        self.owner = owner
        labels = ["" if i == owner.blank else t for i, t in enumerate(owner.tokens)]
        try:
            self.decoder = build_ctcdecoder(
                labels, kenlm_model_path=str(owner.lm) if owner.lm else None, unigrams=words,
                alpha=owner.alpha, beta=owner.beta,
            )
        except (OSError, RuntimeError, ValueError) as err:
            raise DecoderError(f"{owner.lm}: cannot load the LM ({err})") from None

    def set_weights(self, alpha: float, beta: float) -> None:
        self.decoder.reset_params(alpha=alpha, beta=beta)

    def decode(self, log_probs: np.ndarray) -> str:
        return self.decoder.decode(
            log_probs, beam_width=self.owner.beam_size,
            beam_prune_logp=-self.owner.beam_threshold,
        )


def build_decoder(tokens: Sequence[str], cfg=None):
    """A decoder over `tokens` (``decoder(log_probs (B, T, V), lengths (B,)) -> list[str]``):
    None or "greedy" -> greedy; "beam", a `DecodeConfig` or a plain dict of its fields (e.g.
    ``{"type": "beam", "lm": "lm.arpa", "beam_size": 50}``) -> the decoder it describes; a
    decoder (any callable) is returned as it is."""
    if callable(cfg):
        return cfg
    if isinstance(cfg, str):
        cfg = {"type": cfg}
    if not isinstance(cfg, DecodeConfig):
        try:
            cfg = DecodeConfig(**(cfg or {}))
        except TypeError as err:
            raise DecoderError(f"decode config: {err}") from None
    if cfg.type == "greedy":
        return GreedyDecoder(tokens)
    options = asdict(cfg)
    del options["type"]
    return BeamSearchDecoder(tokens, **options)
