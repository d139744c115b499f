"""Export a trained recognizer to ONNX or TorchScript, and run an exported ONNX model.

The exported graph is the whole waveform -> log-probs model, features included:
``(wave (B, N) float32, wave_lengths (B,) int64) -> (log_probs (B, T', V), lengths (B,) int64)``
with dynamic batch and time axes. Two parts of the PyTorch model are rewritten for export,
with the same maths (the parity tests hold them to < 1e-4 in log-prob):

- the STFT (complex-valued in torch, which neither ONNX nor tracing handles) becomes a
  strided 1-D convolution with the windowed DFT basis (:class:`ConvLogMel`);
- frame stacking (a reshape whose padding depends on the input length, which tracing would
  freeze) becomes a strided convolution with a 0/1 selection kernel (:class:`ConvStack`).

Everything needed to transcribe travels with the file: the vocabulary (with its BPE model, for
BPE units), the feature settings, the model dimensions and the output frame duration are stored
as ONNX ``metadata_props`` (key ``asr``, a JSON string), or, for TorchScript, as the
``asr.json`` extra file inside the archive. ``asr.load_model`` (asr.recognizer) reads both, so
``asr transcribe --model model.onnx`` needs neither Lightning nor the checkpoint (onnxruntime
runs the graph).

``int8=True`` (``asr export --int8``, ONNX only) quantises the weights of the LSTM and linear
layers dynamically (onnxruntime's ``quantize_dynamic``: int8 weights, activations quantised per
call): the file is about a third of the size and the network runs 1.7 times faster on one core,
with the features, the frame stacking and convolutions left in float (docs/benchmarks.md has the
measured speed and WER). GRU and plain-RNN cells have no quantised ONNX kernel and stay float.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from asr.dims import FeatureConfig
from asr.features import LogMel
from asr.model import SpeechRecognizer, StackFrontend
from asr.recognizer import ONNX_METADATA_KEY, TORCHSCRIPT_METADATA, import_onnx, load_model

__all__ = [
    "ConvLogMel",
    "ConvStack",
    "export_model",
    "exportable",
    "parity",
]

OPSET = 17


class ConvLogMel(LogMel):
    """:class:`LogMel` whose power spectrum is a convolution with the windowed DFT basis.

    Same output as the torch.stft version (center=True, zero padding), in export-friendly ops.
    """

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__(cfg)
        n_fft, bins = cfg.n_fft, cfg.n_fft // 2 + 1
        left = (n_fft - cfg.win_length) // 2  # torch.stft centres the window inside n_fft
        window = torch.zeros(n_fft, dtype=torch.float64)
        window[left : left + cfg.win_length] = torch.hann_window(
            cfg.win_length, periodic=True, dtype=torch.float64
        )
        k = torch.arange(bins, dtype=torch.float64)[:, None]
        n = torch.arange(n_fft, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * k * n / n_fft
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # (2 bins, n_fft)
        self.register_buffer("dft", basis.float()[:, None, :], persistent=False)

    def log_mel(self, wave: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, N), (B,) -> un-normalised log-mel (B, T, F) and frame counts (B,)."""
        if lengths is None:
            lengths = torch.full((wave.shape[0],), wave.shape[1], device=wave.device)
        lengths = torch.minimum(lengths, torch.full_like(lengths, wave.shape[1]))
        mask = torch.arange(wave.shape[1], device=wave.device)[None, :] < lengths[:, None]
        wave = (wave * mask).float()[:, None, :]  # (B, 1, N)
        pad = self.cfg.n_fft // 2
        wave = nn.functional.pad(wave, (pad, pad))
        spec = nn.functional.conv1d(wave, self.dft, stride=self.cfg.hop_length)  # (B, 2 K, T)
        bins = self.cfg.n_fft // 2 + 1
        power = spec[:, :bins].square() + spec[:, bins:].square()
        mel = torch.matmul(self.mel_fb, power)  # (B, F, T)
        feats = torch.log(mel + self.cfg.log_eps).transpose(1, 2)
        return feats, self.num_frames(lengths)


class ConvStack(nn.Module):
    """:class:`StackFrontend` as a strided convolution: (B, T, F) -> (B, ceil(T/s), F s)."""

    def __init__(self, n_input: int, stack: int) -> None:
        super().__init__()
        self.stack, self.out_dim = stack, n_input * stack
        # output channel j * F + f copies input channel f at tap j (the reshape's layout)
        kernel = torch.zeros(n_input * stack, n_input, stack)
        for j in range(stack):
            kernel[j * n_input : (j + 1) * n_input, :, j] = torch.eye(n_input)
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = nn.functional.pad(x.transpose(1, 2), (0, self.stack - 1))  # (B, F, T + s - 1)
        x = nn.functional.conv1d(x, self.kernel, stride=self.stack).transpose(1, 2)
        return x, torch.div(lengths + self.stack - 1, self.stack, rounding_mode="floor")


def exportable(model: SpeechRecognizer) -> SpeechRecognizer:
    """A copy of ``model`` (eval mode, CPU) with the export-friendly features and frontend."""
    out = copy.deepcopy(model).cpu().eval()
    features = ConvLogMel(model.feature_config)
    features.load_state_dict(model.features.state_dict())
    out.features = features
    if isinstance(out.encoder.frontend, StackFrontend):
        out.encoder.frontend = ConvStack(model.dims.n_input, model.dims.stack)
    return out


def model_metadata(model: SpeechRecognizer) -> dict:
    """What a transcriber needs besides the graph: vocabulary, features, dims, frame duration."""
    return {**model.config(), "frame_seconds": model.frame_seconds}


def _example(model: SpeechRecognizer) -> tuple[Tensor, Tensor]:
    rate = model.feature_config.sample_rate
    wave = torch.randn(2, rate) * 0.1
    return wave, torch.tensor([rate, rate * 3 // 4])


def export_model(model: SpeechRecognizer, out: str | Path, fmt: str, int8: bool = False) -> Path:
    """Write ``model`` as ``fmt`` ("onnx" or "torchscript") to ``out``; return the path.
    ``int8``: ONNX with dynamically quantised LSTM and linear weights (see the module's notes)."""
    if int8 and fmt != "onnx":
        raise ValueError(f"int8 quantisation is for ONNX exports, not {fmt}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = exportable(model)
    meta = json.dumps(model_metadata(model))
    example = _example(model)
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch 2.13 marks TorchScript as deprecated
            scripted = torch.jit.trace(net, example, check_trace=False)
            torch.jit.save(scripted, str(out), _extra_files={TORCHSCRIPT_METADATA: meta})
        return out
    if fmt != "onnx":
        raise ValueError(f"unknown export format {fmt!r} (onnx or torchscript)")
    onnx = import_onnx("onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on RNNs and traced shapes
        torch.onnx.export(
            net,
            example,
            str(out),
            input_names=["wave", "wave_lengths"],
            output_names=["log_probs", "lengths"],
            dynamic_axes={
                "wave": {0: "batch", 1: "samples"},
                "wave_lengths": {0: "batch"},
                "log_probs": {0: "batch", 1: "frames"},
                "lengths": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, meta
    onnx.save(proto, str(out))
    if int8:
        _quantize(out)
    return out


def _quantize(path: Path) -> None:
    """Replace the ONNX model at `path` by its dynamically int8-quantised version (LSTM,
    MatMul and Gemm weights; the metadata is kept)."""
    import logging

    import_onnx("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = path.with_name(path.name + ".float.tmp")
    path.replace(float_path)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run shape-inference pre-processing first
    try:
        # reduce_range: 7-bit weights, as onnxruntime advises for CPUs without VNNI (AVX2 only),
        # where u8 x s8 products summed in pairs saturate int16; the LSTM's are 7-bit anyway
        quantize_dynamic(float_path, path, weight_type=QuantType.QInt8, reduce_range=True,
                         op_types_to_quantize=["LSTM", "MatMul", "Gemm"])
    finally:
        root.setLevel(level)
        float_path.unlink()


def parity(model: SpeechRecognizer, exported: str | Path, seed: int = 0) -> float:
    """Max |log-prob difference| between ``model`` and its export on a padded batch of noise
    (3 utterances of 1.3, 2.1 and 0.4 s), over valid frames; also checks the lengths agree."""
    rate = model.feature_config.sample_rate
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(1.3 * rate), int(2.1 * rate), int(0.4 * rate)])
    wave = torch.randn(3, int(lengths.max()), generator=gen) * 0.1
    got, got_lengths = map(torch.as_tensor, load_model(exported)(wave, lengths))
    with torch.no_grad():
        ref, ref_lengths = model.cpu().eval()(wave, lengths)
    if not torch.equal(got_lengths.long(), ref_lengths.long()) or got.shape != ref.shape:
        raise RuntimeError(f"{exported}: output shapes differ from the PyTorch model")
    valid = torch.arange(ref.shape[1])[None, :, None] < ref_lengths[:, None, None]
    return float(((got - ref).abs() * valid).max())
