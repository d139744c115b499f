"""Log-mel feature extraction, CMVN and SpecAugment, computed in torch.

Shapes used throughout:
    B: batch size, N: samples, T: frames, F: mel bins (``n_mels``).

``LogMel`` matches ``librosa.feature.melspectrogram(..., center=True,
pad_mode="constant", power=2.0)`` followed by ``log(mel + log_eps)``, runs batched on
whatever device its input lives on, and is padding-invariant: an utterance's features
inside a zero-padded batch equal its features computed alone (on its valid frames).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np
import torch
from torch import Tensor, nn

from asr.dims import FeatureConfig

__all__ = [
    "FeatureConfig",
    "LogMel",
    "SpecAugConfig",
    "SpecAugment",
    "compute_cmvn",
    "lengths_to_mask",
]

_STD_FLOOR = 1e-5


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Boolean mask (B, max_len), True on positions ``< lengths`` (B,)."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def _no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Context that disables autocast on ``device_type`` (no-op where unsupported)."""
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # e.g. "meta": no autocast, nothing to disable
        return contextlib.nullcontext()


class LogMel(nn.Module):
    """Batched log-mel spectrogram with optional mean/variance normalisation.

    Input: ``wave`` (B, N) float, ``lengths`` (B,) valid samples per utterance.
    Output: features (B, T, F) float32 with ``T = 1 + N // hop_length`` and frame
    counts (B,) ``= 1 + lengths // hop_length``; frames past each count are 0.

    Buffers: ``window`` and ``mel_fb`` are derived from the config (non-persistent);
    ``mean`` and ``std`` (F,) hold global CMVN stats and are persistent, so they travel
    in the checkpoint's ``state_dict`` (defaults 0 and 1).
    """

    window: Tensor
    mel_fb: Tensor
    mean: Tensor
    std: Tensor

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # Periodic Hann as librosa uses; torch.stft centre-pads it to n_fft.
        self.register_buffer(
            "window", torch.hann_window(cfg.win_length, periodic=True), persistent=False
        )
        fb = librosa.filters.mel(
            sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.fmax
        )  # (F, n_fft // 2 + 1), slaney-normalised as in librosa's melspectrogram
        self.register_buffer(
            "mel_fb", torch.from_numpy(np.asarray(fb, np.float32)), persistent=False
        )
        self.register_buffer("mean", torch.zeros(cfg.n_mels))
        self.register_buffer("std", torch.ones(cfg.n_mels))

    @property
    def n_mels(self) -> int:
        return self.cfg.n_mels

    def num_frames(self, lengths: Tensor) -> Tensor:
        """Frame counts (B,) long for sample counts ``lengths`` (B,)."""
        return lengths.long() // self.cfg.hop_length + 1

    def log_mel(self, wave: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Un-normalised log-mel: (B, N), (B,) -> (B, T, F) float32, (B,) frames.

        Frames past each utterance's length are *not* masked here.
        """
        if wave.dim() != 2:
            raise ValueError(f"expected wave of shape (B, N), got {tuple(wave.shape)}")
        if lengths is None:
            lengths = torch.full((wave.shape[0],), wave.shape[1], device=wave.device)
        lengths = lengths.clamp(0, wave.shape[1])
        # samples past each length never reach a frame: padding content cannot leak
        wave = wave * lengths_to_mask(lengths, wave.shape[1])
        cfg = self.cfg
        with _no_autocast(wave.device.type):
            spec = torch.stft(
                wave.float(),
                n_fft=cfg.n_fft,
                hop_length=cfg.hop_length,
                win_length=cfg.win_length,
                window=self.window.float(),
                center=True,
                pad_mode="constant",
                return_complex=True,
            )  # (B, n_fft // 2 + 1, T)
            power = spec.real.square() + spec.imag.square()
            mel = torch.matmul(self.mel_fb.float(), power)  # (B, F, T)
            feats = torch.log(mel + cfg.log_eps).transpose(1, 2)  # (B, T, F)
        return feats, self.num_frames(lengths).to(feats.device)

    def forward(self, wave: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Features (B, T, F) float32 and frame counts (B,) long for wave (B, N).

        ``lengths`` (B,) holds each utterance's valid samples (default: all N).
        Normalisation follows ``cfg.normalize``; padded frames are set to 0.
        """
        feats, frames = self.log_mel(wave, lengths)
        mask = lengths_to_mask(frames, feats.shape[1]).unsqueeze(-1)  # (B, T, 1)
        mode = self.cfg.normalize
        if mode == "utterance":
            feats = _utterance_cmvn(feats, mask, frames)
        elif mode == "global":
            feats = (feats - self.mean.float()) / self.std.float().clamp_min(_STD_FLOOR)
        return feats.masked_fill(~mask, 0.0), frames

    @torch.no_grad()
    def set_cmvn(self, mean: Tensor | np.ndarray, std: Tensor | np.ndarray) -> None:
        """Store global CMVN stats, each of shape (F,), used when normalize="global"."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32)
        std_t = torch.as_tensor(std, dtype=torch.float32)
        shape = (self.cfg.n_mels,)
        if tuple(mean_t.shape) != shape or tuple(std_t.shape) != shape:
            got = (tuple(mean_t.shape), tuple(std_t.shape))
            raise ValueError(f"CMVN stats must have shape {shape}, got {got}")
        if not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all()):
            raise ValueError("CMVN stats must be finite")
        self.mean.copy_(mean_t)
        self.std.copy_(std_t.clamp_min(_STD_FLOOR))

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"sample_rate={c.sample_rate}, n_mels={c.n_mels}, n_fft={c.n_fft}, "
            f"win_length={c.win_length}, hop_length={c.hop_length}, normalize={c.normalize!r}"
        )


def _utterance_cmvn(feats: Tensor, mask: Tensor, frames: Tensor) -> Tensor:
    """Per-utterance, per-bin mean/variance normalisation over valid frames only.

    feats (B, T, F), mask (B, T, 1) bool, frames (B,) -> (B, T, F).
    """
    count = frames.clamp_min(1).to(feats.dtype).view(-1, 1, 1)  # (B, 1, 1)
    # Shift by the first frame before summing: exact zeros for constant bins (e.g. digital
    # silence) instead of rounding noise blown up by the std floor, and less cancellation.
    shifted = (feats - feats[:, :1]).masked_fill(~mask, 0.0)
    mean = shifted.sum(dim=1, keepdim=True) / count  # (B, 1, F), relative to frame 0
    centred = (shifted - mean).masked_fill(~mask, 0.0)
    var = centred.square().sum(dim=1, keepdim=True) / count
    return centred / var.sqrt().clamp_min(_STD_FLOOR)


@torch.no_grad()
def compute_cmvn(logmel: LogMel, waves: Iterable[np.ndarray | Tensor]) -> tuple[Tensor, Tensor]:
    """Global per-bin mean and std (each (F,) float32) of un-normalised log-mel.

    Streams over ``waves`` (each a 1-D waveform (N,) at ``logmel.cfg.sample_rate``),
    accumulating float64 sums of x and x**2 over all frames, so memory is constant.
    Pass the results to :meth:`LogMel.set_cmvn` for ``normalize="global"``.
    """
    device = logmel.mel_fb.device
    n_mels = logmel.cfg.n_mels
    total = torch.zeros(n_mels, dtype=torch.float64, device=device)
    total_sq = torch.zeros(n_mels, dtype=torch.float64, device=device)
    count = 0
    for wave in waves:
        w = torch.as_tensor(wave, dtype=torch.float32, device=device).reshape(1, -1)
        feats, _ = logmel.log_mel(w)  # (1, T, F), every frame valid
        x = feats[0].double()
        total += x.sum(dim=0)
        total_sq += x.square().sum(dim=0)
        count += x.shape[0]
    if count == 0:
        raise ValueError("compute_cmvn: no waveforms given")
    mean = total / count
    var = (total_sq / count - mean.square()).clamp_min(0.0)
    std = var.sqrt().clamp_min(_STD_FLOOR)
    return mean.float().cpu(), std.float().cpu()


@dataclass
class SpecAugConfig:
    """`SpecAugment` settings (the ``specaug:`` config section; training only)."""

    freq_masks: int = 2  # frequency bands masked per utterance
    freq_width: int = 15  # widest band (mel bins)
    time_masks: int = 2  # time spans masked per utterance
    time_width: int = 40  # widest span (frames)
    time_width_ratio: float | None = 0.05  # and at most this share of the utterance
    mask_value: float = 0.0

    def __post_init__(self) -> None:
        for key in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must be >= 0, got {getattr(self, key)}")
        if self.time_width_ratio is not None and not 0 <= self.time_width_ratio <= 1:
            raise ValueError(f"time_width_ratio: must be in [0, 1] or null, "
                             f"got {self.time_width_ratio}")


class SpecAugment(nn.Module):
    """SpecAugment frequency and time masking, applied only in training mode.

    ``forward(feats (B, T, F), lengths (B,) frames) -> (B, T, F)``. In eval mode it
    returns ``feats`` unchanged, so validation/inference never sees augmentation.

    Per utterance, independently: ``freq_masks`` bands of width uniform in
    [0, ``freq_width``] bins, and ``time_masks`` spans of width uniform in
    [0, min(``time_width``, ``time_width_ratio`` * length)] frames, are set to
    ``mask_value``. Masks lie entirely inside the utterance's valid frames, so
    padding (frames >= length) is never modified. Vectorised over batch, time and
    frequency; only the (small) number of masks is looped over.
    """

    def __init__(self, **options: Any) -> None:
        """Options: the fields of `SpecAugConfig` (its defaults where not given)."""
        super().__init__()
        cfg = SpecAugConfig(**options)
        self.freq_masks, self.freq_width = cfg.freq_masks, cfg.freq_width
        self.time_masks, self.time_width = cfg.time_masks, cfg.time_width
        self.time_width_ratio, self.mask_value = cfg.time_width_ratio, cfg.mask_value

    @staticmethod
    def _spans(max_width: Tensor, limit: Tensor, size: int) -> Tensor:
        """Random spans as a bool mask (B, size).

        Widths are uniform in [0, max_width] (B,), starts uniform in
        [0, limit - width] (B,), so each span lies within [0, limit).
        """
        u_w, u_s = torch.rand(2, max_width.shape[0], device=max_width.device)
        width = (u_w * (max_width + 1).to(u_w.dtype)).long().minimum(max_width)
        start = (u_s * (limit - width + 1).to(u_s.dtype)).long().minimum(limit - width)
        pos = torch.arange(size, device=max_width.device)[None, :]
        return (pos >= start[:, None]) & (pos < (start + width)[:, None])

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """Mask feats (B, T, F) within lengths (B,) frames; identity in eval mode."""
        if not self.training or (self.freq_masks == 0 and self.time_masks == 0):
            return feats
        bsz, t_max, n_freq = feats.shape
        lengths = lengths.to(feats.device).long().clamp(0, t_max)
        valid = lengths_to_mask(lengths, t_max)  # (B, T)

        freq = torch.zeros(bsz, n_freq, dtype=torch.bool, device=feats.device)
        f_cap = torch.full((bsz,), min(self.freq_width, n_freq), device=feats.device)
        f_lim = torch.full((bsz,), n_freq, device=feats.device)
        for _ in range(self.freq_masks):
            freq |= self._spans(f_cap, f_lim, n_freq)

        time = torch.zeros(bsz, t_max, dtype=torch.bool, device=feats.device)
        t_cap = torch.full_like(lengths, self.time_width).minimum(lengths)
        if self.time_width_ratio is not None:
            ratio_cap = (lengths.double() * self.time_width_ratio).floor().long()
            t_cap = t_cap.minimum(ratio_cap)
        for _ in range(self.time_masks):
            time |= self._spans(t_cap, lengths, t_max)

        mask = (freq[:, None, :] | time[:, :, None]) & valid[:, :, None]  # (B, T, F)
        return feats.masked_fill(mask, self.mask_value)

    def extra_repr(self) -> str:
        return (
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
            f"time_masks={self.time_masks}, time_width={self.time_width}, "
            f"time_width_ratio={self.time_width_ratio}, mask_value={self.mask_value}"
        )
