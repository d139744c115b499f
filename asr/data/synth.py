"""Synthetic speech corpus with espeak-ng (the backend of `asr synth`).

Sentences come from a small hand-written template grammar (``data/grammar.json``) or from a
user text file. Each one is spoken by an espeak-ng voice (an English accent combined with a
voice variant, e.g. ``en-us+m3``) at a random speaking rate and pitch, resampled to 16 kHz and
written as 16-bit FLAC in the LibriSpeech layout::

    <out_dir>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <out_dir>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <out_dir>/<subset>/voices.tsv     (speaker id -> espeak-ng voice)
    <out_dir>/<subset>/.complete      (JSON: parameters and statistics, written last)

so the LibriSpeech reader serves it unchanged. Test subsets are spoken by voices whose variant
never occurs in training, which measures generalisation to unseen voices. Everything is
deterministic given the seed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from asr.data.sentences import SynthError, generate_sentences, read_text_file

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DEFAULT_SUBSETS: dict[str, int] = {"train": 3000, "test": 200}

# English accents of espeak-ng 1.51, chosen to be audibly distinct (en-gb is close to
# en-gb-x-rp, en-us-nyc to en-us).
ACCENTS = ("en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# Voice variants -> gender. Chosen from `espeak-ng --voices=variant` by measurement: each one
# produces speech whose MFCCs align (DTW) clearly better with the same sentence spoken by a
# reference voice than with other sentences. Left out: variants that failed that test
# (kaukovalta, zac, Alicia, shelby, Lee, Demonic, UniRobot, norbert, david, marcelo),
# whispering ones, heavy-echo robots and near-duplicates of the chosen ones.
VARIANTS: dict[str, str] = {
    "m1": "M", "m2": "M", "m3": "M", "m5": "M", "m6": "M", "m7": "M", "croak": "M",
    "klatt2": "M", "klatt4": "M", "Andy": "M", "Gene": "M", "iven3": "M", "robert": "M",
    "f1": "F", "f2": "F", "f3": "F", "f4": "F", "f5": "F", "grandma": "F", "Andrea": "F",
}
RATE_RANGE = (130, 200)  # words per minute (espeak-ng -s)
PITCH_RANGE = (30, 70)  # espeak-ng -p, 0-99
# Half of the utterances pause at 1-3 word boundaries (an SSML <break>): without pauses in
# training a model never sees silence inside a sentence and runs words separated by one together.
PAUSE_SHARE = 0.5
MAX_PAUSES = 3
PAUSE_RANGE_S = (0.15, 0.7)
KEEP_SILENCE_S = 0.15  # silence kept before and after the speech when trimming

_MARKER = ".complete"
_FORMAT_VERSION = 2
_INSTALL_HINT = (
    "espeak-ng was not found on PATH; `asr synth` needs it. Install it with "
    "`sudo apt-get install espeak-ng` (Debian/Ubuntu), `brew install espeak-ng` (macOS) "
    "or see https://github.com/espeak-ng/espeak-ng"
)


# --------------------------------------------------------------------------- voices


def list_voices() -> list[str]:
    """All espeak-ng voice specs used by the corpus (accent x variant, e.g. ``en-us+m3``).

    The order is stable: speaker ids are the 1-based positions in this list.
    """
    return [f"{accent}+{variant}" for variant in VARIANTS for accent in ACCENTS]


def _variant(voice: str) -> str:
    return voice.partition("+")[2]


def split_voices(
    voices: Sequence[str], n_test_variants: int = 2, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split voices into (train, test) by holding out whole variants.

    A test voice's variant never occurs in any train voice. Held-out variants alternate
    between female and male (as far as `VARIANTS` knows the gender), picked with `seed`.
    """
    variants = sorted({_variant(v) for v in voices})
    if not 0 < n_test_variants < len(variants):
        raise SynthError(
            f"n_test_variants must be between 1 and {len(variants) - 1}, got {n_test_variants}"
        )
    random.Random(seed).shuffle(variants)
    female = [v for v in variants if VARIANTS.get(v) == "F"]
    other = [v for v in variants if VARIANTS.get(v) != "F"]
    order = [v for pair in zip_longest(female, other) for v in pair if v is not None]
    held_out = set(order[:n_test_variants])
    train = [v for v in voices if _variant(v) not in held_out]
    test = [v for v in voices if _variant(v) in held_out]
    return train, test


# --------------------------------------------------------------------------- audio


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthError(_INSTALL_HINT)
    return exe


def synthesize(
    text: str,
    voice: str,
    rate: int = 175,
    pitch: int = 50,
    pauses: Sequence[tuple[int, float]] = (),
) -> np.ndarray:
    """Speak `text` with espeak-ng; return float32 mono 16 kHz audio.

    ``pauses``: (i, seconds) pairs, a pause of that length after the i-th word (0-based; an SSML
    ``<break>``, so `text` must hold no markup characters). Silence is trimmed, or padded with
    zeros, to KEEP_SILENCE_S before and after the speech.
    """
    cmd = [_espeak(), "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout"]
    if pauses:
        words = text.split()
        for i, seconds in sorted(pauses, reverse=True):
            words.insert(i + 1, f'<break time="{round(seconds * 1000)}ms"/>')
        cmd, text = [*cmd, "-m"], " ".join(words)
    cmd.append(text)
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode(errors="replace").strip()
        raise SynthError(f"espeak-ng failed for voice {voice!r} on {text!r}: {err}")
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    audio = soxr.resample(audio.mean(axis=1), sr, SAMPLE_RATE)
    peak = float(np.abs(audio).max(initial=0.0))
    if peak < 1e-3:
        raise SynthError(f"espeak-ng produced silence for voice {voice!r} on {text!r}")
    loud = np.flatnonzero(np.abs(audio) > 0.01 * peak)  # -40 dB below the peak
    start, end, keep = loud[0], loud[-1] + 1, int(KEEP_SILENCE_S * SAMPLE_RATE)
    speech = audio[max(start - keep, 0) : end + keep]
    return np.pad(speech, (max(keep - start, 0), max(end + keep - len(audio), 0)))


@dataclass(frozen=True)
class _Utterance:
    uid: str
    path: Path  # relative to the subset directory
    voice: str
    text: str  # upper-case transcript
    rate: int
    pitch: int
    pauses: tuple[tuple[int, float], ...]  # (after word i, seconds)


def _render(utt: _Utterance, root: Path) -> float:
    audio = synthesize(utt.text.lower(), utt.voice, utt.rate, utt.pitch, utt.pauses)
    sf.write(root / utt.path, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format="FLAC",
             subtype="PCM_16")
    return len(audio) / SAMPLE_RATE


# --------------------------------------------------------------------------- corpus


def _plan(texts: list[str], voices: list[str], speakers: dict[str, int], chapter: int,
          rng: random.Random, pause_share: float = PAUSE_SHARE) -> list[_Utterance]:
    """Give each text a voice (balanced round robin over a shuffled list), rate, pitch and,
    for a `pause_share` of them, pauses at 1..MAX_PAUSES random word boundaries."""
    order = list(voices)
    rng.shuffle(order)
    counts: dict[str, int] = {}
    plan = []
    for i, text in enumerate(texts):
        voice = order[i % len(order)]
        spk = speakers[voice]
        n = counts[voice] = counts.get(voice, -1) + 1
        uid = f"{spk}-{chapter}-{n:04d}"
        rate, pitch = rng.randint(*RATE_RANGE), rng.randint(*PITCH_RANGE)
        pauses: tuple[tuple[int, float], ...] = ()
        boundaries = len(text.split()) - 1
        if boundaries > 0 and rng.random() < pause_share:
            where = rng.sample(range(boundaries), min(rng.randint(1, MAX_PAUSES), boundaries))
            pauses = tuple((i, round(rng.uniform(*PAUSE_RANGE_S), 2)) for i in sorted(where))
        plan.append(_Utterance(uid, Path(str(spk), str(chapter), f"{uid}.flac"), voice, text,
                               rate, pitch, pauses))
    return plan


def _write_subset(tmp: Path, plan: list[_Utterance], speakers: dict[str, int],
                  jobs: int) -> float:
    """Synthesize all utterances into `tmp` and write transcripts; return seconds of audio."""
    chapters: dict[Path, list[_Utterance]] = {}
    for utt in plan:
        chapters.setdefault(utt.path.parent, []).append(utt)
    for chapter_dir, utts in chapters.items():
        (tmp / chapter_dir).mkdir(parents=True, exist_ok=True)
        spk, chapter = chapter_dir.parts
        lines = "".join(f"{u.uid} {u.text}\n" for u in utts)
        (tmp / chapter_dir / f"{spk}-{chapter}.trans.txt").write_text(lines, encoding="utf-8")
    used = sorted({speakers[u.voice] for u in plan})
    voice_of = {spk: voice for voice, spk in speakers.items()}
    (tmp / "voices.tsv").write_text(
        "speaker_id\tvoice\n" + "".join(f"{s}\t{voice_of[s]}\n" for s in used), encoding="utf-8"
    )
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_render, utt, tmp) for utt in plan]
        seconds = 0.0
        try:
            for future in tqdm(futures, desc=f"synth {tmp.name}", unit="utt", disable=None):
                seconds += future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return seconds


def _corpus_texts(total: int, seed: int, text_file: str | Path | None) -> tuple[list[str], str]:
    """`total` upper-case transcripts and a description of where they came from."""
    if text_file is None:
        return [s.upper() for s in generate_sentences(total, seed)], "grammar"
    lines = read_text_file(text_file)
    random.Random(seed).shuffle(lines)
    if total > len(lines):
        log.warning("%s has %d sentences for %d utterances: sentences repeat (also across "
                    "subsets)", text_file, len(lines), total)
    return [lines[i % len(lines)] for i in range(total)], str(Path(text_file).resolve())


def synthesize_corpus(
    out_dir: str | Path,
    subsets: Mapping[str, int] | None = None,
    seed: int = 0,
    text_file: str | Path | None = None,
    test_subsets: Sequence[str] = ("test",),
    n_test_variants: int = 2,
    jobs: int | None = None,
    pause_share: float = PAUSE_SHARE,
) -> dict[str, Path]:
    """Synthesize a LibriSpeech-layout corpus with espeak-ng; return {subset: directory}.

    Args:
        out_dir: corpus root; each subset becomes ``<out_dir>/<subset>``.
        subsets: subset name -> number of utterances (default ``DEFAULT_SUBSETS``). Subsets
            get disjoint slices of one pool of distinct sentences; the chapter id of a subset
            is its 1-based position here.
        seed: drives sentences, voice split, voice assignment, rate and pitch.
        text_file: take sentences from this file (see `read_text_file`) instead of the grammar.
        test_subsets: subsets spoken by held-out voices (variants unseen in the others).
        n_test_variants: voice variants held out for the test subsets.
        jobs: parallel espeak-ng processes (default: number of CPUs).
        pause_share: share of the utterances with pauses of PAUSE_RANGE_S at 1..MAX_PAUSES
            random word boundaries (0: none).

    A finished subset carries a ``.complete`` marker with its parameters and is skipped when
    asked for again with the same parameters; other parameters raise an error. Subsets are
    built in ``<out_dir>/.<subset>.partial`` and renamed when complete, so an interrupted run
    never leaves a subset that looks complete.
    """
    subsets = dict(DEFAULT_SUBSETS if subsets is None else subsets)
    bad = {name: n for name, n in subsets.items() if n < 1 or "/" in name or name.startswith(".")}
    if bad:
        raise SynthError(f"invalid subsets (need a plain name and a count >= 1): {bad}")
    if not 0.0 <= pause_share <= 1.0:
        raise SynthError(f"pause_share must be between 0 and 1, got {pause_share}")
    _espeak()
    jobs = jobs or os.cpu_count() or 1
    out_dir = Path(out_dir)
    voices = list_voices()
    speakers = {voice: i + 1 for i, voice in enumerate(voices)}
    train_voices, test_voices = split_voices(voices, n_test_variants, seed)
    texts, source = _corpus_texts(sum(subsets.values()), seed, text_file)

    result: dict[str, Path] = {}
    offset = 0
    for chapter, (name, count) in enumerate(subsets.items(), start=1):
        subset_texts = texts[offset : offset + count]
        offset += count
        pool = test_voices if name in test_subsets else train_voices
        params = {
            "format_version": _FORMAT_VERSION,
            "seed": seed,
            "utterances": count,
            "chapter": chapter,
            "text_source": source,
            "texts_sha1": hashlib.sha1("\n".join(subset_texts).encode()).hexdigest(),
            "voices": pool,
            "rate_range": list(RATE_RANGE),
            "pitch_range": list(PITCH_RANGE),
            "pauses": {"share": pause_share, "max": MAX_PAUSES, "seconds": list(PAUSE_RANGE_S)},
            "sample_rate": SAMPLE_RATE,
        }
        final = out_dir / name
        result[name] = final
        marker = final / _MARKER
        if marker.exists():
            if json.loads(marker.read_text(encoding="utf-8")).get("params") == params:
                log.info("%s: already complete, skipping", final)
                continue
            raise SynthError(
                f"{final} was synthesized with different parameters; remove it or choose "
                "another output directory"
            )
        if final.exists():
            raise SynthError(f"{final} exists but is not a complete synthetic subset (no "
                               f"{_MARKER} marker); remove it or choose another output directory")

        tmp = out_dir / f".{name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)  # left over from an interrupted run
        tmp.mkdir(parents=True)
        plan = _plan(subset_texts, pool, speakers, chapter, random.Random(f"{seed}/{name}"),
                     pause_share)
        started = time.perf_counter()
        seconds = _write_subset(tmp, plan, speakers, jobs)
        stats = {
            "hours": round(seconds / 3600, 4),
            "speakers": len({u.voice for u in plan}),
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / _MARKER).write_text(json.dumps({"params": params, "stats": stats}, indent=1),
                                   encoding="utf-8")
        os.replace(tmp, final)
        log.info("%s: %d utterances, %.2f h, %d voices in %.0f s", final, count, stats["hours"],
                 stats["speakers"], stats["wall_seconds"])
    return result
