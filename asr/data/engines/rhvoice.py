"""RHVoice (Debian non-free, optional): the English voices alan, bdl, clb, slt."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from asr.data.engines.base import NON_FREE, Engine, pitch_factor, run_to_wav
from asr.data.sentences import SynthError


class RHVoiceEngine(Engine):
    """RHVoice (statistical parametric, HTS) with its English voices alan, bdl, clb, slt (LGPL;
    evgeniy-eng and lyubov are left out, their licence forbids derivatives). Rate and pitch via
    RHVoice-test -r and -t (whole percents of the voice's own, linear in speed and F0)."""

    name = "rhvoice"
    install_hint = f"{NON_FREE}; sudo apt-get install rhvoice rhvoice-english"
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
        tone = 100 * pitch_factor(pitch)
        with tempfile.TemporaryDirectory(prefix="asr-rhvoice-") as tmp:
            wav = Path(tmp) / "out.wav"
            cmd = ["RHVoice-test", "-p", voice, "-r", f"{100 * rate / 175:.0f}",
                   "-t", f"{tone:.0f}", "-o", str(wav)]
            return run_to_wav(cmd, wav, f"RHVoice voice {voice!r} on {text!r}", stdin=text)
