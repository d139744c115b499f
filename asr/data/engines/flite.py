"""CMU flite: the voices kal16, awb, rms, slt."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from asr.data.engines.base import Engine, pitch_factor, run_to_wav
from asr.data.sentences import SynthError

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
        f0 = FLITE_VOICES[voice] * pitch_factor(pitch)
        with tempfile.TemporaryDirectory(prefix="asr-flite-") as tmp:
            wav = Path(tmp) / "out.wav"
            cmd = [exe, "-voice", voice, "--setf", f"duration_stretch={175 / rate:.4f}",
                   "--setf", f"int_f0_target_mean={f0:.1f}", "-t", text, "-o", str(wav)]
            return run_to_wav(cmd, wav, f"flite voice {voice!r} on {text!r}")
