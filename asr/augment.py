"""Waveform augmentation for training: simulated rooms (RIR), additive noise, telephone
band-limiting and gain (speed perturbation lives in `asr.data.dataset.AudioDataset`).

Every draw is a function of (seed, epoch, utterance index) only, like speed perturbation, so
it is the same in any DataLoader worker and after a resume. Each transform draws from its own
child stream, so switching one on does not change the draws of the others. Applied in this
order to a float32 waveform (N,) -> (N,) (same length, same timing):

1. room (``p_rir``): convolution with a simulated shoebox-room impulse response from a bank of
   ``rir_bank`` RIRs built once with pyroomacoustics (deterministic from the seed) and cached in
   ``rir_cache_dir``; the direct path is kept at lag 0 and the RMS level is restored;
2. noise (``p_noise``): coloured noise (power spectrum ~ 1/f^beta, beta drawn in
   [``colour_min``, ``colour_max``]: 0 white, 1 pink, 2 brown) or, with ``p_babble``, babble
   (the sum of ``babble_min``-``babble_max`` other training utterances), at an SNR drawn in
   [``snr_min``, ``snr_max``] dB;
3. telephone band (``p_bandlimit``): 300-3400 Hz band-pass (zero phase), with ``p_8k`` also
   resampled to 8 kHz and back;
4. gain (``p_gain``): drawn in [``gain_min_db``, ``gain_max_db``] dB.

Last, a waveform whose peak would exceed ``CLIP_PEAK`` is scaled down (never clipped).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import butter, fftconvolve, sosfiltfilt

from asr.audio import AudioError, load_audio

__all__ = ["AugmentConfig", "AugmentError", "Augmenter", "Draw", "RirBank", "load_rir_bank"]

log = logging.getLogger(__name__)

CLIP_PEAK = 0.99  # peak level a waveform is scaled down to when it would exceed it
TELEPHONE_BAND = (300.0, 3400.0)  # Hz
_BANK_VERSION = 1  # part of the cache key: bump when the bank's construction changes


class AugmentError(ValueError):
    """Augmentation that cannot run; the one-line message names the config key."""


@dataclass
class AugmentConfig:
    """Waveform augmentation (the ``augment:`` config section; training only; all off)."""

    p_noise: float = 0.0  # probability of additive noise per utterance
    snr_min: float = 5.0  # dB
    snr_max: float = 20.0  # dB
    p_babble: float = 0.3  # share of the noise draws that are babble (the rest: coloured)
    babble_min: int = 3  # babble: other training utterances summed
    babble_max: int = 5
    colour_min: float = 0.0  # coloured noise spectral exponent beta (0 white, 1 pink, 2 brown)
    colour_max: float = 2.0
    p_rir: float = 0.0  # probability of a simulated room (needs pyroomacoustics: asr[augment])
    rir_bank: int = 200  # RIRs simulated once per seed and cached
    rt60_min: float = 0.2  # target RT60 (s); the measured RT60 is stored (it overshoots)
    rt60_max: float = 0.8
    room_min: list[float] = field(default_factory=lambda: [3.0, 3.0, 2.4])  # metres (x, y, z)
    room_max: list[float] = field(default_factory=lambda: [10.0, 8.0, 4.0])
    rir_cache_dir: str = "~/.cache/asr/rir"  # rir_bank cache (.npz, one file per settings)
    p_bandlimit: float = 0.0  # probability of telephone band-limiting (300-3400 Hz)
    p_8k: float = 0.5  # share of the band-limited draws also resampled to 8 kHz and back
    p_gain: float = 0.0  # probability of a random gain
    gain_min_db: float = -6.0
    gain_max_db: float = 6.0

    def __post_init__(self) -> None:
        for key in ("p_noise", "p_babble", "p_rir", "p_bandlimit", "p_8k", "p_gain"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}: must be in [0, 1], got {getattr(self, key)}")
        for lo, hi in (("snr_min", "snr_max"), ("babble_min", "babble_max"),
                       ("colour_min", "colour_max"), ("rt60_min", "rt60_max"),
                       ("gain_min_db", "gain_max_db")):
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo}: must be <= {hi}, got {getattr(self, lo)}")
        if self.babble_min < 1:
            raise ValueError(f"babble_min: must be >= 1, got {self.babble_min}")
        if self.rir_bank < 1:
            raise ValueError(f"rir_bank: must be >= 1, got {self.rir_bank}")
        if self.rt60_min <= 0:
            raise ValueError(f"rt60_min: must be > 0, got {self.rt60_min}")
        if len(self.room_min) != 3 or len(self.room_max) != 3 or not all(
            1.0 <= lo <= hi for lo, hi in zip(self.room_min, self.room_max)
        ):
            raise ValueError(f"room_min: need 3 sizes, 1 m <= room_min <= room_max, got "
                             f"{list(self.room_min)} / {list(self.room_max)}")

    @property
    def enabled(self) -> bool:
        """Whether any transform can fire."""
        return max(self.p_noise, self.p_rir, self.p_bandlimit, self.p_gain) > 0


@dataclass(frozen=True)
class Draw:
    """What `Augmenter` does to one utterance (None / False: that transform is skipped)."""

    rir: int | None = None  # bank entry
    noise: str | None = None  # "coloured" | "babble"
    snr_db: float = 0.0
    colour: float = 0.0  # spectral exponent of coloured noise
    babble: tuple[int, ...] = ()  # training utterances summed
    noise_seed: int = 0  # coloured noise samples / babble offsets
    bandlimit: bool = False
    resample_8k: bool = False
    gain_db: float | None = None


@dataclass
class RirBank:
    """Simulated impulse responses, K entries; entry k is ``rirs[k, :lengths[k]]`` with its
    direct path at sample ``direct[k]``. ``rt60`` is measured on the RIR (s), ``rt60_target``
    what was asked of pyroomacoustics; ``rooms`` (K, 3) metres."""

    rirs: np.ndarray  # (K, L) float32, zero-padded
    lengths: np.ndarray  # (K,) int
    direct: np.ndarray  # (K,) int
    rt60: np.ndarray  # (K,) float
    rt60_target: np.ndarray  # (K,) float
    rooms: np.ndarray  # (K, 3) float
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.lengths)


def _rng(*key: object) -> np.random.Generator:
    """A numpy generator seeded from a string key (stable across processes and platforms)."""
    return np.random.default_rng(random.Random("/".join(map(str, key))).getrandbits(128))


def _bank_path(cfg: AugmentConfig, seed: int, sample_rate: int) -> Path:
    keys = ("rir_bank", "rt60_min", "rt60_max", "room_min", "room_max")
    spec = {k: asdict(cfg)[k] for k in keys} | {"seed": seed, "sample_rate": sample_rate,
                                                "version": _BANK_VERSION}
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cfg.rir_cache_dir).expanduser() / f"rirs-{cfg.rir_bank}-{digest}.npz"


def _simulate_bank(cfg: AugmentConfig, seed: int, sample_rate: int) -> RirBank:
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise AugmentError(
            "augment.p_rir > 0 needs pyroomacoustics (not installed): "
            "pip install 'asr[augment]' (or pip install pyroomacoustics), or set augment.p_rir=0"
        ) from None
    rng = _rng(seed, "rir-bank")
    rirs, direct, rt60, target, rooms = [], [], [], [], []
    while len(rirs) < cfg.rir_bank:
        room_dims = rng.uniform(cfg.room_min, cfg.room_max)
        rt = rng.uniform(cfg.rt60_min, cfg.rt60_max)
        margin = np.minimum(0.5, room_dims / 4)
        src, mic = (rng.uniform(margin, room_dims - margin) for _ in range(2))
        try:  # fails when the room is too large for the RT60 asked: draw another
            absorption, max_order = pra.inverse_sabine(rt, room_dims)
        except ValueError:
            continue
        room = pra.ShoeBox(room_dims, fs=sample_rate, materials=pra.Material(absorption),
                           max_order=max_order)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], dtype=np.float64)
        rirs.append(h.astype(np.float32))
        direct.append(int(np.argmax(np.abs(h))))  # the direct path is the strongest arrival
        rt60.append(float(pra.experimental.measure_rt60(h, fs=sample_rate)))
        target.append(rt)
        rooms.append(room_dims)
    padded = np.zeros((len(rirs), max(map(len, rirs))), np.float32)
    for k, h in enumerate(rirs):
        padded[k, : len(h)] = h
    return RirBank(padded, np.array([len(h) for h in rirs]), np.array(direct), np.array(rt60),
                   np.array(target), np.array(rooms))


def load_rir_bank(cfg: AugmentConfig, seed: int, sample_rate: int = 16000) -> RirBank:
    """The bank for these settings: read from ``rir_cache_dir`` or simulated (then cached,
    written atomically so concurrent ranks are safe). Raises `AugmentError` if it must be
    simulated and pyroomacoustics is not installed."""
    path = _bank_path(cfg, seed, sample_rate)
    if path.is_file():
        with np.load(path) as z:
            bank = RirBank(**{k: z[k] for k in z.files})
        bank.path = path
        return bank
    start = time.perf_counter()
    bank = _simulate_bank(cfg, seed, sample_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        arrays = {k: v for k, v in asdict(bank).items() if k != "path"}
        np.savez(f, **arrays)
    os.replace(tmp, path)
    bank.path = path
    log.info("RIR bank: %d rooms in %.1f s, measured RT60 %.2f-%.2f s, cached in %s", len(bank),
             time.perf_counter() - start, bank.rt60.min(), bank.rt60.max(), path)
    return bank


def coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise (n,) float64 with power spectrum ~ 1/f^beta, unit RMS (no DC)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = np.inf  # no DC
    noise = np.fft.irfft(spec * f ** (-beta / 2), n)
    return noise / max(np.sqrt(np.mean(noise**2)), 1e-12)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


class Augmenter:
    """``augmenter(wave (N,) float32, index, epoch) -> (N,) float32``: the transforms of
    `AugmentConfig`, drawn from (`seed`, epoch, index).

    `sources`: audio paths of the training set, indexed like the dataset (babble draws other
    utterances from it). The RIR bank (if ``p_rir > 0``) is loaded or built here, once.
    """

    def __init__(self, cfg: AugmentConfig, seed: int = 0, sample_rate: int = 16000,
                 sources: Sequence[str] = ()) -> None:
        self.cfg, self.seed, self.sample_rate, self.sources = cfg, seed, sample_rate, list(sources)
        if cfg.p_noise > 0 and cfg.p_babble > 0 and len(self.sources) < 2:
            raise AugmentError("augment.p_babble > 0 needs a training set of 2+ utterances")
        if cfg.p_bandlimit > 0 and sample_rate <= 2 * TELEPHONE_BAND[1]:
            raise AugmentError(f"augment.p_bandlimit > 0 needs a sample rate above "
                               f"{2 * TELEPHONE_BAND[1]:.0f} Hz, got {sample_rate}")
        self.bank = load_rir_bank(cfg, seed, sample_rate) if cfg.p_rir > 0 else None
        self._band = (butter(4, TELEPHONE_BAND, btype="bandpass", fs=sample_rate, output="sos")
                      if sample_rate > 2 * TELEPHONE_BAND[1] else None)

    def draw(self, index: int, epoch: int = 0) -> Draw:
        """What happens to utterance `index` in `epoch` (one child stream per transform)."""
        c = self.cfg
        room, noise, band, gain = (_rng(self.seed, epoch, index, "augment", t)
                                   for t in ("rir", "noise", "band", "gain"))
        d: dict = {}
        if self.bank is not None and room.random() < c.p_rir:
            d["rir"] = int(room.integers(len(self.bank)))
        if noise.random() < c.p_noise:
            d["snr_db"] = float(noise.uniform(c.snr_min, c.snr_max))
            d["noise_seed"] = int(noise.integers(2**63))
            if noise.random() < c.p_babble:
                k = int(noise.integers(c.babble_min, c.babble_max + 1))
                others = noise.choice(len(self.sources) - 1, min(k, len(self.sources) - 1),
                                      replace=False)
                d["noise"] = "babble"
                d["babble"] = tuple(int(j + (j >= index)) for j in others)  # never itself
            else:
                d["noise"], d["colour"] = "coloured", float(noise.uniform(c.colour_min,
                                                                          c.colour_max))
        if band.random() < c.p_bandlimit:
            d["bandlimit"], d["resample_8k"] = True, bool(band.random() < c.p_8k)
        if gain.random() < c.p_gain:
            d["gain_db"] = float(gain.uniform(c.gain_min_db, c.gain_max_db))
        return Draw(**d)

    def __call__(self, wave: np.ndarray, index: int, epoch: int = 0) -> np.ndarray:
        return self.apply(wave, self.draw(index, epoch))

    def apply(self, wave: np.ndarray, draw: Draw) -> np.ndarray:
        """`wave` (N,) float32 transformed as `draw` says -> (N,) float32."""
        x = np.asarray(wave, dtype=np.float64)
        n = len(x)
        if n == 0:
            return np.asarray(wave, np.float32)
        if draw.rir is not None:
            x = self.reverberate(x, draw.rir)
        if draw.noise is not None:
            x = x + self.noise(draw, n, _rms(x), draw.snr_db)
        if draw.bandlimit:
            x = self.bandlimit(x, draw.resample_8k)
        if draw.gain_db is not None:
            x = x * 10 ** (draw.gain_db / 20)
        peak = float(np.max(np.abs(x)))
        if peak > CLIP_PEAK:  # clipping protection: scale down, never clip
            x = x * (CLIP_PEAK / peak)
        return x.astype(np.float32)

    def reverberate(self, x: np.ndarray, k: int) -> np.ndarray:
        """`x` (N,) convolved with bank entry `k`, direct path at lag 0, RMS restored."""
        h = self.bank.rirs[k, : self.bank.lengths[k]].astype(np.float64)
        d = int(self.bank.direct[k])
        y = fftconvolve(x, h)[d : d + len(x)]
        return y * (_rms(x) / max(_rms(y), 1e-12))

    def noise(self, draw: Draw, n: int, signal_rms: float, snr_db: float) -> np.ndarray:
        """The noise (n,) of `draw`, scaled to `snr_db` below `signal_rms` (whole utterance)."""
        rng = np.random.default_rng(draw.noise_seed)
        if draw.noise == "babble":
            v = np.zeros(n)
            for j in draw.babble:
                try:
                    other = load_audio(self.sources[j], self.sample_rate).astype(np.float64)
                except AudioError as err:
                    log.debug("babble: skipping %s", err)
                    continue
                if len(other) == 0 or _rms(other) == 0:
                    continue
                other = np.tile(other, -(-n // len(other)) + 1)  # loop short ones
                start = int(rng.integers(len(other) - n + 1))
                v += other[start : start + n] / _rms(other)
            if _rms(v) == 0:  # no usable babble: white noise rather than nothing
                v = rng.standard_normal(n)
        else:
            v = coloured_noise(n, draw.colour, rng)
        return v * (signal_rms / max(_rms(v), 1e-12) * 10 ** (-snr_db / 20))

    def bandlimit(self, x: np.ndarray, resample_8k: bool) -> np.ndarray:
        """Telephone band: zero-phase 300-3400 Hz band-pass; optionally via 8 kHz (N,)."""
        if resample_8k:
            n = len(x)
            x = soxr.resample(soxr.resample(x, self.sample_rate, 8000), 8000, self.sample_rate)
            x = np.pad(x[:n], (0, max(0, n - len(x))))
        return sosfiltfilt(self._band, x)
