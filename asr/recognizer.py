"""One loading path for inference: a training checkpoint, a TorchScript archive or an ONNX file
-> a :class:`Recognizer`.

    model = load_model("exp/checkpoints/best.ckpt")  # or model.onnx, or a TorchScript model.pt
    model.transcribe("talk.flac").to_dict()          # the `asr transcribe --format json` object

Every recognizer knows its vocabulary and ``tokens`` (the CTC blank first), its feature settings
(``sample_rate``), the duration of one output frame (``frame_seconds``), and maps a padded batch
of waveforms to CTC log-probs: ``model(wave (B, N), lengths (B,)) -> (log_probs (B, T', V),
lengths (B,))``. Transcription (``asr.transcription``, also ``model.transcribe``) and
evaluation (``asr.evaluation``) take any of them. Nothing here imports Lightning; onnxruntime
is imported for ONNX files only, torch for the others only: an ONNX model's recognizer returns
numpy arrays, and ``asr transcribe --model model.onnx`` runs without importing torch.
"""

from __future__ import annotations

import importlib
import json
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from asr import transcription
from asr.decode import build_decoder, to_numpy
from asr.dims import CheckpointError, FeatureConfig, ModelDims
from asr.text import BLANK
from asr.transcription import Decoder, DecoderSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "ONNX_METADATA_KEY",
    "TORCHSCRIPT_METADATA",
    "OnnxRecognizer",
    "Recognizer",
    "TorchRecognizer",
    "load_model",
]

ONNX_METADATA_KEY = "asr"  # ONNX metadata_props entry holding the model's JSON description
TORCHSCRIPT_METADATA = "asr.json"  # the same, as an extra file inside a TorchScript archive


class Recognizer:
    """Waveform -> CTC log-probs, with what decoding and word timing need.

    Attributes: ``vocab`` (the characters, or BPE pieces as text, without the blank),
    ``bpe_model`` (a BPE model's sentencepiece model, base64, see `asr.bpe`; None for
    characters), ``feature_config``
    (:class:`asr.dims.FeatureConfig`), ``frame_seconds`` (one output frame), ``dims``
    (:class:`asr.dims.ModelDims`, or None), ``path`` (the file it was loaded from, or ""),
    ``device``. Subclasses implement ``__call__(wave (B, N), lengths (B,)) -> (log_probs
    (B, T', V), lengths (B,))`` for float32 waveforms at ``sample_rate`` (numpy or torch), giving
    torch tensors (PyTorch models) or numpy arrays (ONNX); decoders and alignment take either.
    """

    vocab: list[str]
    bpe_model: str | None = None
    feature_config: FeatureConfig
    frame_seconds: float
    dims: ModelDims | None = None
    path: str = ""
    device: str | torch.device = "cpu"

    @property
    def tokens(self) -> list[str]:
        """The V output symbols: the CTC blank (index 0), then the vocabulary."""
        return [BLANK, *self.vocab]

    @property
    def sample_rate(self) -> int:
        return self.feature_config.sample_rate

    @property
    def num_parameters(self) -> int | None:
        """Trainable parameters, where the format tells (None for ONNX)."""
        return None

    def __call__(self, wave, lengths) -> tuple:
        raise NotImplementedError

    def decoder(self, decoder: DecoderSpec = None) -> Decoder:
        """A decoder over this model's tokens: None or "greedy" -> greedy; "beam", or a config
        (``asr.decode.DecodeConfig`` or a dict such as ``{"type": "beam", "lm": "lm.arpa"}``) ->
        ``asr.decode.build_decoder``; a decoder callable is returned as it is."""
        return build_decoder(self.tokens, decoder)

    # model.transcribe(audio, decoder, ...) is asr.transcribe(model, audio, decoder, ...), and
    # model.transcribe_files(paths, ...) its streaming form (what `asr transcribe` runs)
    transcribe = transcription.transcribe
    transcribe_files = transcription.transcribe_files


class TorchRecognizer(Recognizer):
    """A PyTorch network on its device: a :class:`asr.model.SpeechRecognizer` (a training
    checkpoint), or a TorchScript export with its metadata (`meta`: vocab, features, dims,
    frame_seconds). The network is put in eval mode; ``module`` is the network."""

    def __init__(self, module: nn.Module, meta: dict | None = None, path: str | Path = "") -> None:
        import torch

        from asr.model import SpeechRecognizer

        if meta is None:
            if not isinstance(module, SpeechRecognizer):
                raise TypeError("a module other than SpeechRecognizer needs its metadata")
            self.vocab, self.feature_config = list(module.vocab), module.feature_config
            self.dims, self.frame_seconds = module.dims, module.frame_seconds
            self.bpe_model = module.bpe_model
        else:
            self.vocab, self.feature_config = list(meta["vocab"]), FeatureConfig(**meta["features"])
            self.dims, self.frame_seconds = ModelDims(**meta["dims"]), float(meta["frame_seconds"])
            self.bpe_model = meta.get("bpe_model")
        self.module, self.path = module.eval(), str(path)
        self.device = next(module.parameters(), torch.empty(0)).device

    @property
    def num_parameters(self) -> int:
        from asr.model import count_parameters

        return count_parameters(self.module)

    def __call__(self, wave, lengths) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        with torch.inference_mode():
            wave = torch.as_tensor(wave, dtype=torch.float32).to(self.device)
            lengths = torch.as_tensor(lengths, dtype=torch.long).to(self.device)
            return self.module(wave, lengths)


def import_onnx(module: str):
    """``onnx`` or ``onnxruntime`` (the ``[export]`` extra), or one line saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CheckpointError(
            f"ONNX models need {module}, which is not installed: pip install 'asr[export]' "
            f"(or pip install {module})"
        ) from None


class OnnxRecognizer(Recognizer):
    """An exported ONNX model run with onnxruntime (no torch network, no checkpoint); its
    vocabulary, features, dims and frame duration come from the file's metadata."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        ort = import_onnx("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: model not found")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise CheckpointError(f"--device {device}: this onnxruntime has no CUDA provider")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
            meta = json.loads(self.session.get_modelmeta().custom_metadata_map[ONNX_METADATA_KEY])
        except Exception as err:  # onnxruntime raises its own exception types
            msg = " ".join(str(err).split())[:300]
            raise CheckpointError(f"{path}: not an asr ONNX model ({msg})") from None
        self.path, self.device = str(path), str(device)
        self.vocab: list[str] = meta["vocab"]
        self.bpe_model = meta.get("bpe_model")
        self.feature_config = FeatureConfig(**meta["features"])
        self.dims = ModelDims(**meta["dims"])
        self.frame_seconds: float = meta["frame_seconds"]

    def __call__(self, wave, lengths) -> tuple[np.ndarray, np.ndarray]:
        feed = {
            "wave": np.ascontiguousarray(to_numpy(wave, np.float32)),
            "wave_lengths": to_numpy(lengths, np.int64),
        }
        log_probs, out_lengths = self.session.run(None, feed)
        return log_probs, out_lengths


def _is_torchscript(path: Path) -> bool:
    """An ``asr export --format torchscript`` archive: a zip holding ``<name>/extra/asr.json``."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith(f"/extra/{TORCHSCRIPT_METADATA}") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_model(
    path: str | Path, device: str | torch.device = "cpu", threads: int | None = None
) -> Recognizer:
    """The recognizer in a file: an ONNX export (``.onnx``, run with onnxruntime), a TorchScript
    export (``asr export --format torchscript``) or a training checkpoint, on `device`.

    ``threads``: onnxruntime's intra-op threads; for PyTorch models ``torch.set_num_threads``
    (process-wide). Raises ``asr.dims.CheckpointError`` naming the file when it is none of
    these, or for a CUDA device that is not there.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxRecognizer(path, str(device), threads)
    import torch

    from asr.checkpoint import load_network

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise CheckpointError(f"--device {device}: no CUDA device (torch {torch.__version__})")
    if threads:
        torch.set_num_threads(threads)
    if path.is_file() and _is_torchscript(path):
        extra = {TORCHSCRIPT_METADATA: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch 2.13 marks TorchScript as deprecated
                scripted = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except RuntimeError as err:
            raise CheckpointError(f"{path}: unreadable TorchScript archive ({err})") from None
        return TorchRecognizer(scripted, json.loads(extra[TORCHSCRIPT_METADATA]), path)
    return TorchRecognizer(load_network(path, device), path=path)
