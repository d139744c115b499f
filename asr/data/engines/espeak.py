"""espeak-ng (formant synthesis): English accents x voice variants, each a speaker; test
subsets hold out whole variants (`split_voices`)."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from collections.abc import Sequence
from itertools import zip_longest

import numpy as np
import soundfile as sf
import soxr

from asr.data.engines.base import SAMPLE_RATE, Engine, trim_silence
from asr.data.sentences import SynthError

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
INSTALL_HINT = (
    "espeak-ng was not found on PATH; `asr synth` needs it. Install it with "
    "`sudo apt-get install espeak-ng` (Debian/Ubuntu), `brew install espeak-ng` (macOS) "
    "or see https://github.com/espeak-ng/espeak-ng"
)


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


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SynthError(INSTALL_HINT)
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
    return trim_silence(audio, f"espeak-ng voice {voice!r} on {text!r}")


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
