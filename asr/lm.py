"""Word n-gram language models for beam search: build an ARPA file, read its vocabulary, tune
the decoder's LM weight (alpha) and word bonus (beta) on a dev set.

The estimator is interpolated modified Kneser-Ney (Chen & Goodman 1998), computed the way
KenLM's ``lmplz`` does it: the highest order uses raw counts, lower orders use continuation
counts (distinct left extensions) except n-grams starting with ``<s>``, which keep raw counts;
three discounts per order from the count-of-counts; unigrams interpolate with the uniform
distribution over the vocabulary (``<unk>`` and ``</s>`` included, ``<s>`` excluded). The ARPA
backoff of a context is its interpolation weight, so the file is exact, not renormalised.
``lmplz`` itself is used when it is found (``estimator="auto"``; see `kenlm_tool`): it is faster
and leaner on large corpora; the Python estimator holds every n-gram in memory (fine up to a few
million words). ``scripts/build_kenlm.sh`` builds lmplz and build_binary into the venv.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from torch import Tensor

from asr.decode import BeamSearchDecoder, tuned_path
from asr.score import word_errors
from asr.text import normalize_text

log = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback


class LMError(RuntimeError):
    """A text corpus or LM file that cannot be used."""


def read_text(path: str | Path) -> list[str]:
    """Normalised sentences of a text file: one sentence a line, either plain text, ``id|text``
    (LJSpeech sentences.tsv) or ``id|raw|normalized`` (LJSpeech metadata.csv: the last field),
    or a JSONL manifest (its ``text`` fields). Empty lines are skipped."""
    return [text for _, text in read_sentences(path)]


def read_sentences(path: str | Path) -> list[tuple[str | None, str]]:
    """(id, normalised text) for each sentence of a file in the formats of `read_text`; the id
    is None for plain text lines."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"{path}: no such file")
    out = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line, uid = line.strip(), None
            if not line:
                continue
            if path.suffix == ".jsonl":
                try:
                    record = json.loads(line)
                    line, uid = record["text"], record.get("id")
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise LMError(f"{path}:{n}: not a manifest line with a 'text' field") from None
            elif "|" in line:
                uid, line = line.split("|", 1)[0], line.rsplit("|", 1)[1]
            text, _ = normalize_text(line)
            if text:
                out.append((uid, text))
    return out


def kn_discounts(count_of_counts: Sequence[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from t1..t4, the numbers of n-grams seen
    exactly 1..4 times (Chen & Goodman eq. 26). Falls back to (0.5, 1.0, 1.5), with a warning,
    where they cannot be estimated (tiny or artificial corpora), like lmplz --discount_fallback."""
    t = [0, *count_of_counts[:4]]
    if min(t[1:4]) > 0:
        y = t[1] / (t[1] + 2 * t[2])
        d = tuple(k - (k + 1) * y * t[k + 1] / t[k] for k in (1, 2, 3))
        if all(0 <= dk <= k for k, dk in zip((1, 2, 3), d)):
            return d
    log.warning("counts of counts %s: using fallback discounts %s", t[1:], FALLBACK_DISCOUNTS)
    return FALLBACK_DISCOUNTS


def estimate_kn(sentences: Iterable[str], order: int = 3) -> list[dict[tuple, tuple]]:
    """Interpolated modified Kneser-Ney n-gram model of upper-case sentences.

    Returns:
        one dict per order (1..order) mapping an n-gram (tuple of words) to
        (probability, backoff) in linear scale; backoff is None for the highest order and for
        n-grams that are not a context. ``<s>`` has probability 0.
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    raw: list[Counter] = [Counter() for _ in range(order)]
    for sentence in sentences:
        s = [BOS, *sentence.split(), EOS]
        for i in range(1, len(s)):
            gram = tuple(s[max(0, i - order + 1) : i + 1])
            raw[len(gram) - 1][gram] += 1
    if not raw[0] and not raw[-1]:
        raise LMError("no sentences to estimate a language model from")
    # adjusted counts: continuation counts, except the top order and n-grams starting with <s>
    adjusted: list[dict[tuple, int]] = [dict() for _ in range(order)]
    adjusted[-1] = dict(raw[-1])
    for n in range(order - 1, 0, -1):
        lower = Counter(g[1:] for g in adjusted[n])
        lower.update(raw[n - 1])  # lower orders hold raw counts only for <s>-initial n-grams
        adjusted[n - 1] = dict(lower)
    vocab = sorted({g[0] for g in adjusted[0]} | {UNK} - {BOS})
    stats = [_order_stats(counts) for counts in adjusted]
    model: list[dict[tuple, tuple]] = []
    lower: dict[tuple, float] = {}
    for n, counts in enumerate(adjusted):
        d, contexts = stats[n]
        grams = counts if n else {(w,): counts.get((w,), 0) for w in vocab}
        probs = {}
        for g, c in grams.items():
            total, mass = contexts[g[:-1]]
            lower_p = lower[g[1:]] if n else 1.0 / len(vocab)
            probs[g] = max(c - d[min(c, 3)], 0.0) / total + mass / total * lower_p
        if n == 0:
            probs[(BOS,)] = 0.0
        # the backoff of an n-gram is its interpolation weight as a context of order n + 1
        nxt = stats[n + 1][1] if n + 1 < order else {}
        backoff = {g: nxt[g][1] / nxt[g][0] for g in probs if g in nxt}
        model.append({g: (p, backoff.get(g)) for g, p in probs.items()})
        lower = probs
    return model


def _order_stats(counts: dict[tuple, int]) -> tuple[tuple, dict[tuple, tuple[float, float]]]:
    """Discounts (0, D1, D2, D3+) of one order's adjusted counts, and for each context the sum
    of its extensions' counts and the discounted mass (gamma = mass / sum)."""
    coc = Counter(c for c in counts.values() if c <= 4)
    d = (0.0, *kn_discounts([coc[k] for k in (1, 2, 3, 4)]))
    out: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for g, c in counts.items():
        out[g[:-1]][0] += c
        out[g[:-1]][1] += d[min(c, 3)]
    return d, {ctx: (t, m) for ctx, (t, m) in out.items()}


def write_arpa(model: list[dict[tuple, tuple]], path: str | Path) -> Path:
    """Write a model from `estimate_kn` as an ARPA file (log10 probabilities and backoffs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n, grams in enumerate(model, 1):
            f.write(f"ngram {n}={len(grams)}\n")
        for n, grams in enumerate(model, 1):
            f.write(f"\n\\{n}-grams:\n")
            for g in sorted(grams):
                p, b = grams[g]
                logp = math.log10(p) if p > 0 else -99.0
                line = f"{logp:.7g}\t{' '.join(g)}"
                if b is not None:
                    line += f"\t{math.log10(b):.7g}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    return path


def kenlm_tool(name: str) -> str | None:
    """Path of a KenLM program (``lmplz``, ``build_binary``): on PATH, else next to the Python
    interpreter, where ``scripts/build_kenlm.sh`` installs it (a venv's bin, which is not on
    PATH when its ``asr`` is run without activating it). None if neither has it."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def build_lm(
    text: Sequence[str | Path],
    out: str | Path,
    order: int = 3,
    exclude: Sequence[str | Path] = (),
    estimator: str = "auto",
    binary: bool = False,
    prune: Sequence[int] = (),
    dev_text: str | Path | None = None,
) -> dict:
    """Build an ARPA n-gram LM from text files (see `read_text`), leaving out every sentence
    whose text or id occurs in the `exclude` files (held-out test/dev text). `estimator`:
    ``lmplz`` (KenLM, see `kenlm_tool`), ``python`` (`estimate_kn`) or ``auto`` (lmplz when found).
    Also writes ``<out>.words``, the LM's vocabulary (a lexicon for the beam decoder), and with
    `binary` a KenLM binary ``<out stem>.bin`` (a trie: smaller and faster to load; needs
    ``build_binary``). `prune`: lmplz's ``--prune`` count thresholds per order from the bigrams
    on (``[0, 1]``: drop 3-grams and longer seen once; needs lmplz). `dev_text`: also report the
    perplexity of its sentences (`perplexity`). Returns a summary dict (sizes, seconds)."""
    if estimator not in ("auto", "lmplz", "python"):
        raise ValueError(f"unknown estimator {estimator!r}")
    started = time.perf_counter()
    held_out = [entry for path in exclude for entry in read_sentences(path)]
    held_ids, held_texts = {i for i, _ in held_out if i}, {t for _, t in held_out}
    sentences = [entry for path in text for entry in read_sentences(path)]
    kept = [t for i, t in sentences if t not in held_texts and (i is None or i not in held_ids)]
    if not kept:
        raise LMError(f"no sentences left in {', '.join(map(str, text))}")
    lmplz = kenlm_tool("lmplz")
    if (estimator == "lmplz" or prune) and not lmplz:
        need = "pruning needs it" if prune else "or --estimator python"
        raise LMError(f"lmplz not found (scripts/build_kenlm.sh builds it; {need})")
    if prune and estimator == "python":
        raise LMError("pruning (--prune) needs the lmplz estimator")
    build_binary = kenlm_tool("build_binary")
    if binary and not build_binary:
        raise LMError("build_binary not found (scripts/build_kenlm.sh builds it)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if lmplz and estimator != "python":
        _run_lmplz(lmplz, kept, out, order, prune)
        used = "lmplz"
    else:
        write_arpa(estimate_kn(kept, order), out)
        used = "python"
    words = sorted({w for s in kept for w in s.split()})
    Path(f"{out}.words").write_text("\n".join(words) + "\n")
    info = {"arpa_mb": round(out.stat().st_size / 1e6, 1)}
    if binary:
        bin_path = out.with_suffix(".bin")
        _run([build_binary, "trie", str(out), str(bin_path)], "build_binary")
        Path(f"{bin_path}.words").write_text("\n".join(words) + "\n")
        info.update(binary=str(bin_path), binary_mb=round(bin_path.stat().st_size / 1e6, 1))
    info["seconds"] = round(time.perf_counter() - started, 1)
    if dev_text is not None:
        info["dev"] = {"text": str(dev_text), **perplexity(out, read_text(dev_text))}
    return {
        "lm": str(out),
        "order": order,
        "prune": list(prune),
        "estimator": used,
        "sentences": len(kept),
        "excluded": len(sentences) - len(kept),
        "words": sum(len(s.split()) for s in kept),
        "vocabulary": len(words),
        **info,
    }


def perplexity(lm: str | Path, sentences: Sequence[str]) -> dict:
    """Perplexity of an LM on sentences (``</s>`` counted, as KenLM's ``query`` does), with
    out-of-vocabulary words included in the average at the ``<unk>`` probability, and the OOV
    rate. Uses KenLM's ``query`` when found (ARPA or binary LMs), else reads the ARPA file itself
    (any order). Returns {perplexity, oov_rate, tokens}."""
    query = kenlm_tool("query")
    if query:
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write("\n".join(sentences) + "\n")
            f.flush()
            with open(f.name) as src:
                proc = subprocess.run([query, "-v", "summary", str(lm)], stdin=src,
                                      capture_output=True, text=True)
        if proc.returncode:
            raise LMError(f"query failed on {lm}: {proc.stderr.strip()[-200:]}")
        fields = dict(line.split(":\t", 1) for line in proc.stdout.splitlines() if ":\t" in line)
        tokens = int(fields["Tokens"])
        return {"perplexity": round(float(fields["Perplexity including OOVs"]), 2),
                "oov_rate": round(int(fields["OOVs"]) / tokens, 4), "tokens": tokens}
    model = read_arpa(lm)
    keep = max(map(len, model)) - 1  # context words the highest order sees
    log10_sum, oov, tokens = 0.0, 0, 0
    for sentence in sentences:
        context: tuple = (BOS,)
        for word in [*sentence.split(), EOS]:
            if (word,) not in model:
                oov += 1
                word = UNK
            log10_sum += _arpa_log10(model, context, word)
            context = (*context, word)[-keep:] if keep else ()
            tokens += 1
    return {"perplexity": round(10 ** (-log10_sum / tokens), 2), "oov_rate": round(oov / tokens, 4),
            "tokens": tokens}


def read_arpa(path: str | Path) -> dict[tuple, tuple[float, float]]:
    """``{n-gram: (log10 p, log10 backoff)}`` of an ARPA file (``.gz`` too)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    model, order = {}, 0
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.endswith("-grams:") and line.startswith("\\"):
                order = int(line[1:].split("-")[0])
            elif order and line and not line.startswith("\\"):
                fields = line.split("\t")
                backoff = float(fields[2]) if len(fields) > 2 else 0.0
                model[tuple(fields[1].split(" "))] = (float(fields[0]), backoff)
    if not model:
        raise LMError(f"{path}: no n-grams found (not an ARPA file)")
    return model


def _arpa_log10(model: dict, context: tuple, word: str) -> float:
    """log10 p(word | context) with backoff (the ARPA recursion)."""
    backoff = 0.0
    for start in range(len(context) + 1):
        gram = (*context[start:], word)
        if gram in model:
            return backoff + model[gram][0]
        if context[start:] in model:
            backoff += model[context[start:]][1]
    return backoff + model[(UNK,)][0]


def lmplz_memory(text_bytes: int) -> str:
    """lmplz's sorting memory (``-S``) for a text of ``text_bytes``: 20 bytes per text byte,
    at least 100 MB (lmplz aborts below ~24 MB), at most 20 % of the RAM. A fixed ``-S 20%``
    costs ~1 GB of RAM and 1-2 s of allocation even for a tiny text."""
    mib = max(100, 20 * text_bytes // 2**20)
    return f"{mib}M" if mib < 0.2 * _ram_mib() else "20%"


def _ram_mib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _run_lmplz(lmplz: str, sentences: list[str], out: Path, order: int,
               prune: Sequence[int] = ()) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(sentences) + "\n")
    memory = lmplz_memory(Path(f.name).stat().st_size)
    cmd = [lmplz, "-o", str(order), "--discount_fallback", "-S", memory, "-T", str(out.parent)]
    if prune:  # lmplz wants a threshold for the unigrams too, and they are never pruned
        cmd += ["--prune", "0", *map(str, prune)]
    try:
        with open(f.name) as src, open(out, "w") as dst:
            _run(cmd, "lmplz", src, dst)
    finally:
        Path(f.name).unlink()


def _run(cmd: list[str], name: str, stdin=None, stdout=None) -> None:
    proc = subprocess.run(cmd, stdin=stdin, stdout=stdout or subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no message"]
        raise LMError(f"{name} failed (exit {proc.returncode}): {tail[0]}")


OPENSLR_LM_URL = "https://www.openslr.org/resources/11"
LIBRISPEECH_LMS = ("3-gram.pruned.1e-7.arpa.gz", "3-gram.pruned.3e-7.arpa.gz", "3-gram.arpa.gz",
                   "4-gram.arpa.gz", "librispeech-vocab.txt")


def download_librispeech_lm(
    out_dir: str | Path, name: str = "3-gram.pruned.1e-7.arpa.gz", base_url: str = OPENSLR_LM_URL
) -> Path:
    """Fetch one of the official LibriSpeech LMs (openslr resource 11; upper-case words, read
    gzipped by the decoders) into `out_dir`, unless already there. Returns its path."""
    if name not in LIBRISPEECH_LMS:
        raise LMError(f"unknown LibriSpeech LM {name!r} (one of {', '.join(LIBRISPEECH_LMS)})")
    out = Path(out_dir) / name
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    url = f"{base_url}/{name}"
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=60) as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except OSError as err:
        part.unlink(missing_ok=True)
        raise LMError(f"{url}: download failed ({err})") from None
    part.rename(out)
    return out


def tune_weights(
    decoder: BeamSearchDecoder,
    utterances: Sequence[tuple[Tensor, str]],
    alphas: Sequence[float],
    betas: Sequence[float],
) -> dict:
    """Grid search of the LM weight and word bonus: decode every utterance ((T, V) log-probs
    computed once, reference text) with each (alpha, beta) and keep the lowest WER
    (ties: the first in grid order). Returns {alpha, beta, wer, words, grid}."""
    refs = [ref for _, ref in utterances]
    grid = []
    for alpha, beta in itertools.product(alphas, betas):
        decoder.set_weights(alpha, beta)
        hyps = [decoder(lp[None], lp.new_tensor([len(lp)], dtype=int))[0] for lp, _ in utterances]
        w = word_errors(refs, hyps)
        grid.append({"alpha": alpha, "beta": beta, "wer": w.rate, "words": w.as_dict()})
        log.info("alpha %.3g beta %.3g: WER %.2f %%", alpha, beta, 100 * w.rate)
    best = min(grid, key=lambda g: g["wer"])
    return {**best, "grid": grid}


def write_tuned(lm: str | Path, backend: str, result: dict, **info) -> Path:
    """Store weights tuned for a backend next to the LM (``<lm>.tuned.json``, other backends'
    entries kept); beam decoders of that backend use them by default."""
    path = tuned_path(lm)
    tuned = json.loads(path.read_text()) if path.is_file() else {}
    tuned[backend] = {**result, **info}
    path.write_text(json.dumps(tuned, indent=2) + "\n")
    return path
