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

from asr.dims import CheckpointError, FeatureConfig, ModelDims
from asr.model import SpeechRecognizer

# The name `asr train` gives the checkpoint of the best epoch by dev WER in <exp_dir>/checkpoints/
# (a ModelCheckpoint filename; .ckpt is appended), e.g. best-epoch07-wer0.2345.ckpt
BEST_CHECKPOINT = "best-epoch{epoch:02d}-wer{val_wer:.4f}"


def best_checkpoint(exp_dir: str | Path) -> Path:
    """The checkpoint with the best dev WER that `asr train` wrote in `exp_dir` (the first by
    name should there be several), else its last.ckpt. The recipes call it too (common.sh)."""
    folder = Path(exp_dir) / "checkpoints"
    best = sorted(folder.glob(BEST_CHECKPOINT.split("{", 1)[0] + "*.ckpt"))
    return best[0] if best else folder / "last.ckpt"


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


def load_network(path: str | Path, device: str | torch.device = "cpu") -> SpeechRecognizer:
    """Rebuild the network (the ``nn.Module``) from a training checkpoint alone, in eval mode
    on `device`: for training-side uses (export, averaging, tests). To recognize speech, use
    ``asr.load_model`` (asr.recognizer), which also reads ONNX and TorchScript files."""
    ckpt = read_checkpoint(path)
    described = model_description(path, ckpt)
    try:
        model = SpeechRecognizer(
            ModelDims(**described["dims"]), FeatureConfig(**described["features"]),
            described["vocab"], bpe_model=described.get("bpe_model"),
        )
        model.load_state_dict(_model_state(ckpt))
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path}: not an asr checkpoint ({err})") from None
    return model.eval().to(device)


def _model_state(ckpt: dict) -> dict:
    """The network's weights in a training checkpoint (the LightningModule's ``model.*``)."""
    return {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()
            if k.startswith("model.")}


def model_description(path: str | Path, ckpt: dict) -> dict:
    """``{"dims", "features", "vocab"}`` of a training checkpoint (what rebuilds its model),
    and ``bpe_model`` (base64, see `asr.bpe`) for BPE units."""
    try:
        hp = ckpt["hyper_parameters"]
        out = {"dims": hp["dims"], "features": hp["features"], "vocab": list(hp["vocab"])}
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not an asr checkpoint (no {err})") from None
    if hp.get("bpe_model"):
        out["bpe_model"] = hp["bpe_model"]
    return out


def _units(description: dict) -> str:
    kind = "BPE pieces" if description.get("bpe_model") else "characters"
    return f"{len(description['vocab']) + 1} tokens, {kind}"


def average_checkpoints(paths: list[str | Path]) -> dict:
    """The element-wise mean of the model weights of training checkpoints of one model (same
    dimensions, features and vocabulary), as ESPnet, NeMo and icefall average the last or best
    epochs. Returns an ordinary self-describing checkpoint (``state_dict``, ``hyper_parameters``,
    ``averaged_from``) that `load_network`, ``asr evaluate`` and ``asr export`` read; it has no
    optimizer state, so training cannot resume from it. Integer buffers come from the first."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    first = read_checkpoint(paths[0])
    described = model_description(paths[0], first)
    total = {k: v.double() if v.is_floating_point() else v for k, v in first["state_dict"].items()}
    for path in paths[1:]:
        ckpt = read_checkpoint(path)
        if model_description(path, ckpt) != described:
            raise CheckpointError(f"{path}: another model than {paths[0]} (dimensions, features "
                                  "or vocabulary differ): cannot average them")
        state = ckpt["state_dict"]
        if state.keys() != total.keys():
            raise CheckpointError(f"{path}: its weights differ in name from {paths[0]}'s")
        for k, v in state.items():
            if v.is_floating_point():
                total[k] += v.double()
    mean = {k: (v / len(paths)).to(first["state_dict"][k].dtype) if v.is_floating_point() else v
            for k, v in total.items()}
    return {
        "state_dict": mean,
        "hyper_parameters": first["hyper_parameters"],
        "averaged_from": [str(p) for p in paths],
    }


def init_weights(model: SpeechRecognizer, path: str | Path, ckpt: dict) -> None:
    """Load the weights of training checkpoint `ckpt`, read from `path` (`read_checkpoint`; CMVN
    statistics included) into `model`, for fine-tuning: nothing else of the checkpoint
    (optimizer, schedule, step count) is used. Dimensions (dropout aside), features and
    vocabulary must be the same; a difference is a one-line `CheckpointError` naming the first
    keys that differ."""
    found = model_description(path, ckpt)
    found["dims"] = {**found["dims"], "dropout": model.dims.dropout}  # free to change
    expected = model.config()
    for part in ("vocab", "features", "dims"):
        if found[part] != expected[part]:
            if part == "vocab":
                raise CheckpointError(f"{path}: its vocabulary ({_units(found)}) differs from "
                                      f"this model's ({_units(expected)})")
            diff = sorted(k for k in expected[part] if found[part].get(k) != expected[part][k])
            shown = ", ".join(f"{part}.{k} {found[part].get(k)!r} there, {expected[part][k]!r} "
                              "here" for k in diff[:3])
            raise CheckpointError(f"{path}: cannot initialise this model from it: {shown}")
    try:
        model.load_state_dict(_model_state(ckpt))
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit ({str(err).splitlines()[0]})") from None
