"""Acoustic model: frontend (frame stacking or conv) -> stacked (Bi)RNN -> linear -> log-softmax.

All maths lives in plain ``nn.Module``s; ``asr.train`` only wires loss, optimizer and metrics.
Padding never leaks into outputs: the backward direction runs on each sequence reversed within
its own length (an exact alternative to ``pack_padded_sequence`` that keeps the fast kernels).
"""

from __future__ import annotations

from dataclasses import asdict, replace

import torch
from torch import Tensor, nn

from asr.dims import RNN_TYPES, FeatureConfig, ModelDims
from asr.features import LogMel, SpecAugment, lengths_to_mask
from asr.text import BLANK

RNNS = dict(zip(RNN_TYPES, (nn.RNN, nn.GRU, nn.LSTM)))


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of x (B, T, D) within its own length; padding stays in place.
    (Whole rows are moved: index_select on (B*T, D) is about 2x faster than a gather.)"""
    b, t, d = x.shape
    steps = torch.arange(t, device=x.device)[None, :]
    idx = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    rows = idx + t * torch.arange(b, device=x.device)[:, None]
    return x.reshape(b * t, d).index_select(0, rows.reshape(-1)).reshape(b, t, d)


class StackFrontend(nn.Module):
    """Concatenate `stack` consecutive frames: (B, T, F) -> (B, ceil(T/stack), F*stack)."""

    def __init__(self, n_input: int, stack: int) -> None:
        super().__init__()
        self.stack = stack
        self.out_dim = n_input * stack

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        b, t, f = x.shape
        pad = (-t) % self.stack
        if pad:
            x = nn.functional.pad(x, (0, 0, 0, pad))
        x = x.reshape(b, (t + pad) // self.stack, f * self.stack)
        return x, torch.div(lengths + self.stack - 1, self.stack, rounding_mode="floor")


class ConvFrontend(nn.Module):
    """DeepSpeech2-style 2-D convolutions over (time, freq): conv -> BatchNorm -> hardtanh(0,
    20), masked after every layer. Without the BatchNorm the activations reach 6 +- 9 with a
    quarter of them at the clip, the LSTM's gates saturate, and CTC training stays at the
    all-blank plateau (3 epochs of conf/mini_librispeech.yaml: dev WER 100 %).

    (B, T, F) -> (B, T / prod(time_strides), C * F'), F' = F / 4. The weights are stored as
    (out, in, time, freq); the convolutions run on (B, C, F, T) with the kernels transposed to
    match, in channels-last memory: the same maths, laid out the way oneDNN's CPU kernels are
    fastest (about 2x over (B, C, T, F); docs/benchmarks.md).
    """

    def __init__(self, n_input: int, channels: int, time_strides: list[int]) -> None:
        super().__init__()
        kernels = [(11, 41), (11, 21)] + [(11, 21)] * (len(time_strides) - 2)
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        in_ch, freq = 1, n_input
        for (kt, kf), st in zip(kernels, time_strides):
            self.convs.append(nn.Conv2d(in_ch, channels, (kt, kf), (st, 2), (kt // 2, kf // 2)))
            self.norms.append(nn.BatchNorm2d(channels))
            in_ch, freq = channels, (freq - 1) // 2 + 1
        self.out_dim = channels * freq

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = x.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        x = x.contiguous(memory_format=torch.channels_last)
        for conv, norm in zip(self.convs, self.norms):
            weight = conv.weight.transpose(2, 3).contiguous(memory_format=torch.channels_last)
            x = nn.functional.conv2d(x, weight, conv.bias, conv.stride[::-1], conv.padding[::-1])
            x = nn.functional.hardtanh(norm(x), 0.0, 20.0)
            lengths = torch.div(lengths - 1, conv.stride[0], rounding_mode="floor") + 1
            x = x * lengths_to_mask(lengths, x.shape[3])[:, None, None, :]
        b, c, f, t = x.shape
        return x.permute(0, 3, 1, 2).reshape(b, t, c * f), lengths


class RecurrentLayer(nn.Module):
    """One (bi)directional recurrent layer over padded input, exact under padding.

    (B, T, D_in) -> (B, T, hidden * directions); steps beyond each length are zero.
    """

    def __init__(self, rnn_type: str, n_input: int, hidden: int, bidirectional: bool) -> None:
        super().__init__()
        rnn = RNNS[rnn_type]
        self.fwd = rnn(n_input, hidden, batch_first=True)
        self.bwd = rnn(n_input, hidden, batch_first=True) if bidirectional else None

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        out = self.fwd(x)[0]  # padding is at the end: it never reaches valid forward steps
        if self.bwd is not None:
            back = reverse_padded(self.bwd(reverse_padded(x, lengths))[0], lengths)
            out = torch.cat([out, back], dim=-1)
        return out * lengths_to_mask(lengths, x.shape[1])[:, :, None]


class Encoder(nn.Module):
    """Features (B, T, F) -> log-probs (B, T', V) and output lengths (B,)."""

    def __init__(self, dims: ModelDims) -> None:
        super().__init__()
        self.dims = dims
        if dims.frontend == "stack":
            self.frontend: nn.Module = StackFrontend(dims.n_input, dims.stack)
        else:
            self.frontend = ConvFrontend(dims.n_input, dims.conv_channels, dims.conv_time_strides)
        directions = 2 if dims.bidirectional else 1
        sizes = [self.frontend.out_dim] + [dims.hidden * directions] * dims.layers
        self.rnns = nn.ModuleList(
            RecurrentLayer(dims.rnn_type, sizes[i], dims.hidden, dims.bidirectional)
            for i in range(dims.layers)
        )
        self.dropout = nn.Dropout(dims.dropout)
        self.output = nn.Linear(sizes[-1], dims.vocab_size)

    def forward(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x, lengths = self.frontend(feats, lengths)
        for i, rnn in enumerate(self.rnns):
            x = rnn(self.dropout(x) if i else x, lengths)
        logits = self.output(self.dropout(x))
        return logits.float().log_softmax(dim=-1), lengths


class SpeechRecognizer(nn.Module):
    """Waveform to CTC log-probs: LogMel -> SpecAugment (training only) -> Encoder.

    ``forward(wave (B, N), wave_lengths (B,)) -> (log_probs (B, T', V), out_lengths (B,))``.
    The vocabulary, model dims and feature settings (with CMVN statistics in the state dict)
    make the module self-describing; see ``asr.checkpoint``. `vocab`: characters, or BPE pieces
    as text (see `asr.bpe`), whose sentencepiece model (base64) is `bpe_model`.
    """

    def __init__(
        self,
        dims: ModelDims,
        features: FeatureConfig,
        vocab: list[str],
        specaug: dict | None = None,
        bpe_model: str | None = None,
    ) -> None:
        super().__init__()
        if dims.vocab_size != len(vocab) + 1:
            raise ValueError(f"vocab_size {dims.vocab_size} != {len(vocab)} tokens + blank")
        if dims.n_input != features.n_mels:
            raise ValueError(f"n_input {dims.n_input} != features.n_mels {features.n_mels}")
        self.dims, self.feature_config, self.vocab = dims, features, list(vocab)
        self.bpe_model = bpe_model
        self.features = LogMel(features)
        self.specaug = SpecAugment(**(specaug or {}))
        self.encoder = Encoder(dims)

    def forward(self, wave: Tensor, wave_lengths: Tensor) -> tuple[Tensor, Tensor]:
        feats, lengths = self.features(wave, wave_lengths)
        feats = self.specaug(feats, lengths)
        return self.encoder(feats, lengths)

    @property
    def tokens(self) -> list[str]:
        """The V output symbols: the CTC blank (index 0), then the vocabulary."""
        return [BLANK, *self.vocab]

    @property
    def frame_seconds(self) -> float:
        """Duration of one output frame: feature hop x frontend subsampling."""
        cfg = self.feature_config
        return cfg.hop_length * self.dims.subsampling / cfg.sample_rate

    def output_frames(self, num_samples: int) -> int:
        """Number of output frames (T') the model emits for a waveform of `num_samples`."""
        return self.dims.output_length(self.feature_config.num_frames(num_samples))

    def config(self) -> dict:
        """Plain-dict description stored in checkpoints and exports (see asr.checkpoint);
        ``bpe_model`` only for BPE units."""
        out = {
            "dims": asdict(self.dims),
            "features": asdict(self.feature_config),
            "vocab": self.vocab,
        }
        if self.bpe_model:
            out["bpe_model"] = self.bpe_model
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def hidden_for_parameters(dims: ModelDims, target: int) -> int:
    """The hidden size (units per direction) that brings a model of `dims` (its rnn_type,
    layers, frontend...) closest to `target` parameters: for comparing cells at an equal
    parameter budget (a GRU has 3 gate blocks per unit, an LSTM 4, a simple RNN 1)."""

    def params(hidden: int) -> int:
        return count_parameters(Encoder(replace(dims, hidden=hidden)))

    lo, hi = 1, 1
    while params(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # the parameter count grows with the hidden size
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if params(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda h: abs(params(h) - target))
