"""Synthetic speech corpus with espeak-ng, flite or piper (the backend of `asr synth`).

Sentences come from a small hand-written template grammar (``data/grammar.json``) or from a
user text file. Each one is spoken by a voice of one of the chosen engines (`asr.data.engines`)
at a random speaking rate and pitch, resampled to 16 kHz and written as 16-bit FLAC in the
LibriSpeech layout. Every voice is a speaker: an espeak-ng voice is an English accent combined
with a voice variant (e.g. ``en-us+m3``), a flite or piper voice is named ``flite:slt``,
``piper:joe``::

    <out_dir>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <out_dir>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <out_dir>/<subset>/voices.tsv     (speaker id -> voice)
    <out_dir>/<subset>/.complete      (JSON: parameters and statistics, written last)

so the LibriSpeech reader serves it unchanged. Test subsets are spoken by voices held out of
training (whole espeak-ng variants, whole flite voices), which measures generalisation to unseen
voices. Texts, voice assignments, rates and pitches are deterministic given the seed, and so is
the audio of espeak-ng and flite (piper's neural vocoder samples noise that no seed controls).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from asr.data.engines import (
    DEFAULT_ENGINES,
    ENGINES,
    PITCH_RANGE,
    RATE_RANGE,
    SAMPLE_RATE,
    engine_of,
    select_engines,
    split_engine_voices,
)
from asr.data.sentences import SynthError, generate_sentences, read_text_file

log = logging.getLogger(__name__)

DEFAULT_SUBSETS: dict[str, int] = {"train": 3000, "test": 200}

# Half of the utterances pause at 1-3 word boundaries (an SSML <break>): without pauses in
# training a model never sees silence inside a sentence and runs words separated by one together.
PAUSE_SHARE = 0.5
MAX_PAUSES = 3
PAUSE_RANGE_S = (0.15, 0.7)

_MARKER = ".complete"
_FORMAT_VERSION = 2



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
    engine = ENGINES[engine_of(utt.voice)]
    audio = engine.synthesize(utt.text.lower(), utt.voice, utt.rate, utt.pitch, utt.pauses)
    sf.write(root / utt.path, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format="FLAC",
             subtype="PCM_16")
    return len(audio) / SAMPLE_RATE


# --------------------------------------------------------------------------- corpus


def _plan(texts: list[str], voices: list[str], speakers: dict[str, int], chapter: int,
          rng: random.Random, pause_share: float = PAUSE_SHARE) -> list[_Utterance]:
    """Give each text a voice, rate, pitch and, for a `pause_share` of them, pauses at
    1..MAX_PAUSES random word boundaries.

    Voices are balanced: texts go round robin over the engines (each engine speaks an equal
    share), and within an engine round robin over its voices, shuffled.
    """
    by_engine: dict[str, list[str]] = {}
    for voice in voices:
        by_engine.setdefault(engine_of(voice), []).append(voice)
    orders = list(by_engine.values())
    for order in orders:
        rng.shuffle(order)
    counts: dict[str, int] = {}
    plan = []
    for i, text in enumerate(texts):
        order = orders[i % len(orders)]
        voice = order[i // len(orders) % len(order)]
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
    engines: Sequence[str] = DEFAULT_ENGINES,
) -> dict[str, Path]:
    """Synthesize a LibriSpeech-layout corpus; return {subset: directory}.

    Args:
        out_dir: corpus root; each subset becomes ``<out_dir>/<subset>``.
        subsets: subset name -> number of utterances (default ``DEFAULT_SUBSETS``). Subsets
            get disjoint slices of one pool of distinct sentences; the chapter id of a subset
            is its 1-based position here.
        seed: drives sentences, voice split, voice assignment, rate and pitch.
        text_file: take sentences from this file (see `read_text_file`) instead of the grammar.
        test_subsets: subsets spoken by held-out voices (voices unseen in the others); when
            none of them is asked for, every voice speaks the other subsets.
        n_test_variants: espeak-ng voice variants held out for the test subsets (other engines
            hold out `Engine.test_voices` whole voices).
        jobs: parallel synthesis jobs (default: number of CPUs).
        pause_share: share of the utterances with pauses of PAUSE_RANGE_S at 1..MAX_PAUSES
            random word boundaries (0: none).
        engines: names in `ENGINES`; missing ones are skipped with a warning (SynthError when
            none is installed). Each engine speaks an equal share of every subset.

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
    present = select_engines(engines)
    jobs = jobs or os.cpu_count() or 1
    out_dir = Path(out_dir)
    speakers = {voice: e.speaker_base + i + 1 for e in present
                for i, voice in enumerate(e.voices())}
    train_voices, test_voices = split_engine_voices(present, n_test_variants, seed)
    if not test_voices and set(subsets) & set(test_subsets):
        raise SynthError(f"--engines {','.join(e.name for e in present)}: no voice can be held "
                         "out for the test subsets (piper has one voice); add espeak-ng or flite, "
                         "or synthesize no test subset (--test 0)")
    if not set(subsets) & set(test_subsets):  # nothing to hold out for: every voice trains
        train_voices, test_voices = train_voices + test_voices, []
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
        if [e.name for e in present] != list(DEFAULT_ENGINES):
            params["engines"] = [e.name for e in present]
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
