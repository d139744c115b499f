"""Text side of the recognizer: the character vocabulary, the normaliser and spelling text in
any vocabulary's tokens.

The alphabet is LibriSpeech's: upper-case A-Z, space and apostrophe, plus the CTC blank at index 0.
`normalize_text` turns free user text (any case, punctuation, digits, accents) into that alphabet.
The other kind of vocabulary, BPE pieces (sentencepiece), lives in `asr.bpe`; its tokens are the
pieces' text with the word marker as a leading space (``"\u2581THE"`` -> ``" THE"``), so joining
tokens gives text in both kinds, and `Speller` spells text in either from the tokens alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

BLANK = "<blank>"
LIBRISPEECH_CHARS = [" ", "'"] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]

_ONES = (
    "ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN FOURTEEN "
    "FIFTEEN SIXTEEN SEVENTEEN EIGHTEEN NINETEEN"
).split()
_TENS = "_ _ TWENTY THIRTY FORTY FIFTY SIXTY SEVENTY EIGHTY NINETY".split()
_SCALES = [(10**12, "TRILLION"), (10**9, "BILLION"), (10**6, "MILLION"), (1000, "THOUSAND")]
_ORDINAL_SUFFIX = {
    "ONE": "FIRST",
    "TWO": "SECOND",
    "THREE": "THIRD",
    "FIVE": "FIFTH",
    "EIGHT": "EIGHTH",
    "NINE": "NINTH",
    "TWELVE": "TWELFTH",
}
_SYMBOLS = {"&": " AND ", "%": " PERCENT ", "+": " PLUS ", "@": " AT ", "$": " DOLLARS "}
# "$5" is read "FIVE DOLLARS", "$1.50" "ONE DOLLAR AND FIFTY CENTS"
_CURRENCIES = {
    "$": ("DOLLAR", "DOLLARS"),
    "\u00a3": ("POUND", "POUNDS"),
    "\u20ac": ("EURO", "EUROS"),
}
_MONEY = re.compile(r"([$\u00a3\u20ac])\s?(\d+(?:,\d{3})*)(?:\.(\d+))?")
# Characters that separate words: turned into spaces, not reported as dropped.
_SEPARATORS = set("-_/\u2010\u2011\u2012\u2013\u2014\u2015")
_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "`": "'", "\u02bc": "'"}
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?", re.IGNORECASE)
# Longer numbers are read digit by digit (and Python refuses int() beyond 4300 digits).
_MAX_SPELLED_DIGITS = 15


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in upper-case English words (1234 -> ONE THOUSAND TWO ...)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " HUNDRED" + (" " + number_to_words(rest) if rest else "")
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return (
                number_to_words(high) + " " + name + (" " + number_to_words(rest) if rest else "")
            )
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_SUFFIX:
        last = _ORDINAL_SUFFIX[last]
    elif last.endswith("Y"):
        last = last[:-1] + "IETH"
    else:
        last += "TH"
    return (head + " " + last).strip()


def _spell_integer(digits: str) -> str:
    if len(digits) > _MAX_SPELLED_DIGITS:  # an id or a phone number: read digit by digit
        return " ".join(_ONES[int(d)] for d in digits)
    return number_to_words(int(digits))


def _spell_money(match: re.Match[str]) -> str:
    one, many = _CURRENCIES[match.group(1)]
    whole = match.group(2).replace(",", "")
    frac = match.group(3) or ""
    if len(frac) not in (0, 2):  # "$3.5": THREE POINT FIVE DOLLARS
        digits = " ".join(_ONES[int(d)] for d in frac)
        return f" {_spell_integer(whole)} POINT {digits} {many} "
    cents = int(frac or 0)
    spoken_cents = f"{number_to_words(cents)} {'CENT' if cents == 1 else 'CENTS'}"
    if cents and not whole.strip("0"):  # "$0.99": NINETY NINE CENTS
        return f" {spoken_cents} "
    words = f"{_spell_integer(whole)} {one if whole.lstrip('0') == '1' else many}"
    return f" {words} AND {spoken_cents} " if cents else f" {words} "


def _spell_number(match: re.Match[str]) -> str:
    token = match.group(0).replace(",", "")
    suffix = token[-2:].lower() if token[-2:].isalpha() else ""
    token = token[: len(token) - len(suffix)]
    whole, _, frac = token.partition(".")
    words = _spell_integer(whole)
    if suffix:
        words = _ordinal(words)
    if frac:
        words += " POINT " + " ".join(_ONES[int(d)] for d in frac)
    return f" {words} "


def normalize_text(text: str) -> tuple[str, list[str]]:
    """Map user text onto the LibriSpeech alphabet.

    Upper-cases, strips accents, spells numbers (``"2nd"`` -> ``"SECOND"``, ``"3.5"`` ->
    ``"THREE POINT FIVE"``), turns dashes/slashes into spaces and removes every other character.

    Returns:
        (clean text, sorted list of the distinct characters that had to be dropped)
    """
    for src, dst in _APOSTROPHES.items():
        text = text.replace(src, dst)
    text = _MONEY.sub(_spell_money, text)
    for src, dst in _SYMBOLS.items():
        text = text.replace(src, dst)
    text = _NUMBER.sub(_spell_number, text)
    text = unicodedata.normalize("NFKD", text)
    allowed = set(LIBRISPEECH_CHARS)
    out, dropped = [], set()
    for ch in text.upper():
        if ch in allowed:
            out.append(ch)
        elif ch.isspace() or ch in _SEPARATORS:
            out.append(" ")
        elif unicodedata.combining(ch):
            continue  # accent stripped from its letter
        else:
            dropped.add(ch)
            out.append(" " if not ch.isalnum() else "")
    clean = " ".join("".join(out).split())
    # apostrophes only inside words ("DON'T"), not used as quotes
    clean = " ".join(w.strip("'") for w in clean.split(" ") if w.strip("'"))
    return clean, sorted(dropped)


class CharVocab:
    """Character vocabulary for CTC: index 0 is the blank, then the alphabet.

    >>> v = CharVocab()
    >>> v.decode(v.encode("HELLO WORLD"))
    'HELLO WORLD'
    """

    def __init__(self, chars: Sequence[str] = LIBRISPEECH_CHARS) -> None:
        self.tokens = [BLANK, *chars]
        self.index = {c: i for i, c in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary has duplicate characters")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank(self) -> int:
        return 0

    def encode(self, text: str) -> list[int]:
        """Text already in the alphabet -> token ids. Raises ValueError on unknown characters."""
        try:
            return [self.index[c] for c in text]
        except KeyError as err:
            raise ValueError(
                f"character {err.args[0]!r} is not in the vocabulary: {text!r}"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text (blanks skipped; no CTC collapsing, see asr.decode for that)."""
        return "".join(self.tokens[i] for i in ids if i != self.blank)


def ctc_min_frames(tokens: Sequence[int]) -> int:
    """Fewest output frames CTC needs for a label sequence: its length plus one blank
    between every pair of equal neighbours."""
    return len(tokens) + sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)


def is_subword(tokens: Sequence[str], blank: int = 0) -> bool:
    """Whether `tokens` are word pieces (BPE, see `asr.bpe`) rather than single characters."""
    return any(len(t) != 1 for i, t in enumerate(tokens) if i != blank)


class Speller:
    """Text -> token ids in a vocabulary known only by its tokens (the blank at `blank`).

    Characters: one token per character. Word pieces (`is_subword`): each word, with its leading
    space (the sentencepiece word marker), is built by BPE merges in vocabulary order (a lower
    index merges first, ties leftmost): the merges sentencepiece's BPE applies, since its pieces
    are numbered in the order they were learned. ValueError for a character outside the
    vocabulary. Words are cached, so spelling a lexicon or many transcripts stays cheap.
    """

    def __init__(self, tokens: Sequence[str], blank: int = 0) -> None:
        self.index = {t: i for i, t in enumerate(tokens) if i != blank and t}
        self.subword = is_subword(tokens, blank)
        self._words: dict[str, list[int]] = {}

    def __call__(self, text: str) -> list[int]:
        """Text already in the alphabet (words separated by single spaces) -> token ids."""
        if not self.subword:
            try:
                return [self.index[c] for c in text]
            except KeyError as err:
                raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None
        return [i for word in text.split(" ") if word for i in self.word(word)]

    def word(self, word: str) -> list[int]:
        """The token ids of one word (with its leading space, for word pieces)."""
        if not self.subword:
            return self(word)
        if word not in self._words:
            self._words[word] = self._merge(" " + word)
        return self._words[word]

    def fewest(self, word: str) -> list[int]:
        """A spelling of one word (with its leading space) in the fewest tokens."""
        text = " " + word if self.subword else word
        longest = max(map(len, self.index))
        best: list[list[int] | None] = [[]] + [None] * len(text)  # best[j]: text[:j]
        for j in range(1, len(text) + 1):
            for k in range(max(0, j - longest), j):
                head, piece = best[k], text[k:j]
                if head is not None and piece in self.index:
                    if best[j] is None or len(head) + 1 < len(best[j]):
                        best[j] = [*head, self.index[piece]]
        if best[-1] is None:
            raise ValueError(f"{word!r} cannot be spelled in the vocabulary")
        return best[-1]

    def _merge(self, text: str) -> list[int]:
        parts = list(text)
        missing = [c for c in parts if c not in self.index]
        if missing:
            raise ValueError(f"character {missing[0]!r} is not in the vocabulary")
        while len(parts) > 1:
            ranked = [
                (self.index[a + b], j)
                for j, (a, b) in enumerate(zip(parts, parts[1:]))
                if a + b in self.index
            ]
            if not ranked:
                break
            _, j = min(ranked)
            parts[j : j + 2] = [parts[j] + parts[j + 1]]
        return [self.index[p] for p in parts]
