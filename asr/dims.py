"""What a model file says about itself, without torch: its feature settings (`FeatureConfig`),
its network's dimensions (`ModelDims`), and the error for a model file that cannot be used
(`CheckpointError`). Checkpoints and the TorchScript and ONNX exports store the first two as
plain dicts. An ONNX model needs nothing else of the package's network code, so transcribing
with one never imports torch (``asr.recognizer``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RNN_TYPES", "CheckpointError", "FeatureConfig", "ModelDims"]

RNN_TYPES = ("rnn", "gru", "lstm")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


NORMALIZE_MODES = ("utterance", "global", "none")


@dataclass
class FeatureConfig:
    """Log-mel front-end settings; stored in checkpoints as a plain dict.

    Round-trips through ``dataclasses.asdict(cfg)`` / ``FeatureConfig(**d)``
    (or :meth:`to_dict` / :meth:`from_dict`).
    """

    sample_rate: int = 16000
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    f_min: float = 0.0
    f_max: float | None = None  # None -> sample_rate / 2
    log_eps: float = 1e-6
    normalize: str = "utterance"  # "utterance" | "global" | "none"

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize: must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        for key in ("sample_rate", "n_mels", "win_ms", "hop_ms", "log_eps"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be > 0, got {getattr(self, key)}")
        for key, samples in (("win_ms", self.win_length), ("hop_ms", self.hop_length)):
            if samples < 1:
                raise ValueError(f"{key}: must be one sample or more, got {getattr(self, key)}")
        if self.n_fft < self.win_length:
            raise ValueError(f"n_fft: must be >= the window ({self.win_length} samples), "
                             f"got {self.n_fft}")
        if self.f_min < 0:
            raise ValueError(f"f_min: must be >= 0, got {self.f_min}")
        if self.fmax > self.sample_rate / 2:
            raise ValueError(f"f_max: must be <= sample_rate/2 ({self.sample_rate / 2:g}), "
                             f"got {self.f_max}")
        if self.f_min >= self.fmax:
            raise ValueError(f"f_min: must be < f_max ({self.fmax:g}), got {self.f_min}")

    @property
    def win_length(self) -> int:
        """Window length in samples (400 for 25 ms at 16 kHz)."""
        return int(round(self.sample_rate * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        """Hop length in samples (160 for 10 ms at 16 kHz)."""
        return int(round(self.sample_rate * self.hop_ms / 1000.0))

    @property
    def fmax(self) -> float:
        """Upper mel edge in Hz (``f_max`` or Nyquist)."""
        return float(self.sample_rate) / 2 if self.f_max is None else float(self.f_max)

    def num_frames(self, num_samples: int) -> int:
        """Number of frames :class:`LogMel` yields for ``num_samples`` (center=True)."""
        return 1 + int(num_samples) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (what is stored in checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``."""
        return cls(**dict(d))


@dataclass
class ModelDims:
    """Everything needed to rebuild the network; stored inside every checkpoint."""

    n_input: int = 80  # feature bins (F)
    vocab_size: int = 29  # output tokens including the CTC blank (V)
    frontend: str = "stack"  # "stack": concatenate `stack` frames; "conv": 2-D conv stack
    stack: int = 3  # frame-stacking factor (frontend=stack)
    conv_channels: int = 32  # frontend=conv
    conv_time_strides: list[int] = field(default_factory=lambda: [2, 1])  # frontend=conv
    rnn_type: str = "lstm"  # rnn | gru | lstm
    hidden: int = 256  # units per direction
    layers: int = 3
    bidirectional: bool = True
    dropout: float = 0.1  # between recurrent layers and before the output layer

    def __post_init__(self) -> None:
        if self.rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type: must be one of {list(RNN_TYPES)}, got {self.rnn_type!r}")
        if self.frontend not in ("stack", "conv"):
            raise ValueError(f"frontend: must be 'stack' or 'conv', got {self.frontend!r}")
        for key, low in (("n_input", 1), ("vocab_size", 2), ("stack", 1), ("conv_channels", 1),
                         ("hidden", 1), ("layers", 1)):
            if getattr(self, key) < low:
                raise ValueError(f"{key}: must be >= {low}, got {getattr(self, key)}")
        if not self.conv_time_strides or min(self.conv_time_strides) < 1:
            raise ValueError(f"conv_time_strides: need one or more strides >= 1, got "
                             f"{list(self.conv_time_strides)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: must be in [0, 1), got {self.dropout}")

    @property
    def subsampling(self) -> int:
        """Input feature frames per output frame: the frontend's time stride."""
        if self.frontend == "stack":
            return self.stack
        return math.prod(self.conv_time_strides)

    def output_length(self, frames: int) -> int:
        """Output frames (T') for `frames` input feature frames (T): ceil(T / subsampling)
        (each conv layer's ``(T - 1) // s + 1`` is ceil(T / s), and nested ceilings compose)."""
        return -(-frames // self.subsampling)
