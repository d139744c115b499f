"""asr: train your own speech recognizer; recognize and evaluate with it from Python.

    import asr
    model = asr.load_model("exp/checkpoints/best.ckpt")  # a checkpoint, .onnx or TorchScript
    model.transcribe("talk.flac").to_dict()             # the `asr transcribe --format json` object
    asr.transcribe(model, "talk.flac")                  # the same call
    asr.evaluate(model, "test.jsonl", "eval_test")      # wer.json, hyps.jsonl; returns wer.json

The names are imported on first use, so ``import asr`` (and the `asr` command) stays light.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr.evaluation import evaluate
    from asr.recognizer import Recognizer, load_model
    from asr.transcription import Transcript, transcribe

try:
    __version__ = metadata.version("asr")
except metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["Recognizer", "Transcript", "__version__", "evaluate", "load_model", "transcribe"]

_LAZY = {
    "Recognizer": "asr.recognizer",
    "Transcript": "asr.transcription",
    "evaluate": "asr.evaluation",
    "load_model": "asr.recognizer",
    "transcribe": "asr.transcription",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'asr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
