"""SVOX pico (pico2wave; Debian non-free, optional): en-US and en-GB."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from asr.data.engines.base import NON_FREE, Engine, pitch_factor, run_to_wav
from asr.data.sentences import SynthError


class PicoEngine(Engine):
    """SVOX pico (pico2wave; non-free): its two English voices en-US and en-GB; rate and pitch
    through its inline <speed level> and <pitch level> markup (percent)."""

    name = "pico"
    install_hint = f"{NON_FREE}; sudo apt-get install libttspico-utils"
    speaker_base = 600

    def available(self) -> bool:
        return shutil.which("pico2wave") is not None

    def voices(self) -> list[str]:
        return ["pico:en-US", "pico:en-GB"]

    def _speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        if not self.available():
            raise SynthError(f"pico2wave was not found on PATH; {self.install_hint}")
        tone = 100 * pitch_factor(pitch)
        markup = (f"<pitch level='{tone:.0f}'><speed level='{100 * rate / 175:.0f}'>"
                  f"{text.replace('<', ' ')}</speed></pitch>")
        with tempfile.TemporaryDirectory(prefix="asr-pico-") as tmp:
            wav = Path(tmp) / "out.wav"  # pico2wave wants the .wav suffix
            return run_to_wav(["pico2wave", "-l", voice, "-w", str(wav), markup], wav,
                               f"pico2wave voice {voice!r} on {text!r}")
