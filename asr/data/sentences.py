"""Sentences for synthetic speech: a small template grammar (``data/grammar.json``) or a
user's text file, as clean upper-case transcripts (see `asr.data.synth`)."""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path

log = logging.getLogger(__name__)

GRAMMAR_PATH = Path(__file__).resolve().parents[2] / "data" / "grammar.json"
MIN_WORDS, MAX_WORDS = 5, 14
_REF = re.compile(r"^<([A-Z0-9_]+)>$")
_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
_CLEAN = re.compile(r"^[A-Z']+(?: [A-Z']+)*$")


class SynthError(RuntimeError):
    """Synthesis cannot run (engine missing or failing, bad text file, clashing output)."""


def load_grammar(path: str | Path = GRAMMAR_PATH) -> tuple[str, dict[str, list[list[str]]]]:
    """Read and validate a grammar file.

    Returns:
        (start symbol, rules): every rule maps to its alternatives, each a list of tokens that
        are either words or ``<RULE>`` references. Paradigms are expanded into one rule per
        form (``VT`` with form ``PAST`` -> ``VT_PAST``).
    """
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    raw: dict[str, list[str]] = {k: list(v) for k, v in spec["rules"].items()}
    for family, paradigm in spec.get("paradigms", {}).items():
        forms = paradigm["forms"]
        for row in paradigm["words"]:
            if len(row) != len(forms):
                raise ValueError(f"{path}: paradigm {family}: {row} does not have {forms}")
        for i, form in enumerate(forms):
            raw[f"{family}_{form}"] = [row[i] for row in paradigm["words"]]
    rules = {name: [alt.split() for alt in alts] for name, alts in raw.items()}
    for name, alts in rules.items():
        for token in (t for alt in alts for t in alt):
            ref = _REF.match(token)
            if ref and ref.group(1) not in rules:
                raise ValueError(f"{path}: rule {name} refers to undefined <{ref.group(1)}>")
            if not ref and not _WORD.match(token):
                raise ValueError(f"{path}: rule {name}: bad word {token!r} (only a-z and ')")
    if spec["start"] not in rules:
        raise ValueError(f"{path}: start rule {spec['start']!r} is not defined")
    return spec["start"], rules


def grammar_vocabulary(path: str | Path = GRAMMAR_PATH) -> list[str]:
    """All words the grammar can produce (sorted, lower case)."""
    _, rules = load_grammar(path)
    words = {t for alts in rules.values() for alt in alts for t in alt if not _REF.match(t)}
    if "a" in words:
        words.add("an")  # made from "a" before a vowel sound
    return sorted(words)


def _expand(
    symbol: str, rules: dict[str, list[list[str]]], rng: random.Random, depth: int = 0
) -> list[str]:
    if depth > 30:
        raise ValueError(f"grammar recursion too deep at <{symbol}> (recursive rule?)")
    out: list[str] = []
    for token in rng.choice(rules[symbol]):
        ref = _REF.match(token)
        out.extend(_expand(ref.group(1), rules, rng, depth + 1) if ref else [token])
    return out


def _vowel_sound(word: str) -> bool:
    if word.startswith(("hour", "honest", "honour")):
        return True
    return word[0] in "aeiou" and not word.startswith(("use", "usu", "uni", "one", "once", "eu"))


def _fix_articles(words: list[str]) -> list[str]:
    return [
        "an" if w == "a" and i + 1 < len(words) and _vowel_sound(words[i + 1]) else w
        for i, w in enumerate(words)
    ]


def generate_sentences(n: int, seed: int = 0, grammar: str | Path = GRAMMAR_PATH) -> list[str]:
    """Generate `n` distinct lower-case sentences of MIN_WORDS..MAX_WORDS words from the grammar.

    Deterministic for a given seed and grammar file. Should the grammar run out of new
    sentences, duplicates are allowed rather than looping forever.
    """
    start, rules = load_grammar(grammar)
    rng = random.Random(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    tries, patience = 0, 100 * n + 1000
    while len(sentences) < n:
        tries += 1
        if tries > 10 * patience:
            raise ValueError(f"{grammar}: too few sentences of {MIN_WORDS}-{MAX_WORDS} words")
        words = _expand(start, rules, rng)
        if not MIN_WORDS <= len(words) <= MAX_WORDS:
            continue
        sentence = " ".join(_fix_articles(words))
        if sentence in seen and tries < patience:
            continue
        seen.add(sentence)
        sentences.append(sentence)
    return sentences


def read_text_file(path: str | Path) -> list[str]:
    """Read user sentences, one per line, as clean upper-case transcripts.

    ``id|text`` and ``id<TAB>text`` lines are accepted (the first field is dropped when it has
    no spaces; of several remaining fields the last is used, e.g. LJSpeech's normalised text).
    Text outside A-Z, space and apostrophe goes through `asr.text.normalize_text`.
    Empty lines, and lines that are empty after normalisation, are skipped.
    """
    texts: list[str] = []
    dropped: set[str] = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = re.split(r"[|\t]", line.strip())
        if len(fields) > 1 and fields[0] and not re.search(r"\s", fields[0]):
            fields = fields[1:]
        text = " ".join(fields[-1].upper().split())
        if text and not _CLEAN.match(text):
            from asr.text import normalize_text

            text, lost = normalize_text(text)
            dropped.update(lost)
        if text:
            texts.append(text)
    if dropped:
        log.warning("%s: dropped characters outside A-Z ' and space: %s", path,
                    " ".join(sorted(dropped)))
    if not texts:
        raise SynthError(f"{path}: no usable sentences")
    return texts
