"""festival + hts_engine: pseudo-speakers of the slt HTS voice."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from asr.data.engines.base import Engine, run_to_wav
from asr.data.sentences import SynthError

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
            return run_to_wav(cmd, wav, f"hts_engine voice {voice!r} on {text!r}")
