"""What every synthesis engine shares: the `Engine` class, the output format (float32 mono
16 kHz, the silence around the speech trimmed to KEEP_SILENCE_S), and the rate and pitch
scales (espeak-ng's) that every engine maps to its own controls."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from asr.data.sentences import SynthError

SAMPLE_RATE = 16000
RATE_RANGE = (130, 200)  # words per minute (espeak-ng -s)
PITCH_RANGE = (30, 70)  # espeak-ng -p, 0-99
KEEP_SILENCE_S = 0.15  # silence kept before and after the speech when trimming
NON_FREE = ("enable Debian's non-free component (add non-free to the Components of "
            "/etc/apt/sources.list.d/debian.sources, then sudo apt-get update)")


def trim_silence(audio: np.ndarray, what: str) -> np.ndarray:
    """Trim (or pad with zeros) the silence around the speech in `audio` to KEEP_SILENCE_S."""
    peak = float(np.abs(audio).max(initial=0.0))
    if peak < 1e-3:
        raise SynthError(f"{what} produced silence")
    loud = np.flatnonzero(np.abs(audio) > 0.01 * peak)  # -40 dB below the peak
    start, end, keep = loud[0], loud[-1] + 1, int(KEEP_SILENCE_S * SAMPLE_RATE)
    speech = audio[max(start - keep, 0) : end + keep]
    return np.pad(speech, (max(keep - start, 0), max(end + keep - len(audio), 0)))


def pitch_factor(pitch: int) -> float:
    """F0 factor for a pitch on espeak-ng's scale: PITCH_RANGE -> -/+ 2.4 semitones (0.2 octave)."""
    return 2 ** ((pitch - 50) / 100)


def run_to_wav(cmd: list[str], wav: Path, what: str, stdin: str | None = None) -> np.ndarray:
    """Run a synthesizer command that writes `wav`; return its audio as float32 mono 16 kHz."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False, text=True)
    if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
        raise SynthError(f"{what} failed: {(proc.stderr or proc.stdout).strip()}")
    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), sr, SAMPLE_RATE)


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
            speech = trim_silence(self._speak(chunk, name, rate, pitch), what)
            parts.append(speech[keep : len(speech) - keep])
            parts.append(np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32))
        return trim_silence(np.concatenate(parts), what)
