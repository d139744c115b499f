"""Self-describing checkpoints: atomic saving, and loading without Lightning and without
running pickled code."""

from __future__ import annotations

import contextlib
import glob
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch

from asr.features import FeatureConfig
from asr.model import ModelDims, SpeechRecognizer


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_atomic(obj: dict, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over `path`.

    A crash or kill at any moment leaves either the previous file or the new one, never a
    partial file. The temporary file a kill leaves behind (``.<name>.*.tmp``, never read) is
    removed by the next save to the same path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """torch.load with ``weights_only=True``: tensors and plain containers only, no code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: refused to load (not a plain checkpoint: {err})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: truncated or not a checkpoint ({err})") from None


def load_module(path: str | Path, device: str | torch.device = "cpu") -> SpeechRecognizer:
    """Rebuild the network (the ``nn.Module``) from a training checkpoint alone, in eval mode
    on `device`: for training-side uses (export, averaging, tests). To recognize speech, use
    ``asr.load_model`` (asr.recognizer), which also reads ONNX and TorchScript files."""
    ckpt = read_checkpoint(path)
    try:
        hp = ckpt["hyper_parameters"]
        model = SpeechRecognizer(
            ModelDims(**hp["dims"]), FeatureConfig(**hp["features"]), hp["vocab"]
        )
        state = {
            k.removeprefix("model."): v
            for k, v in ckpt["state_dict"].items()
            if k.startswith("model.")
        }
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path}: not an asr checkpoint ({err})") from None
    return model.eval().to(device)
