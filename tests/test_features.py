"""Tests for asr.features: librosa parity, padding invariance, CMVN, SpecAugment."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest
import torch

from asr.features import FeatureConfig, LogMel, SpecAugment, compute_cmvn, lengths_to_mask


def make_signal(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-ish test signal (N,) float32: chirp + harmonics + noise + a near-silent gap."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    y = 0.3 * librosa.chirp(fmin=80, fmax=0.45 * sr, sr=sr, length=n)
    y += 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    y += 0.05 * rng.standard_normal(n)
    y[n // 3 : n // 3 + sr // 4] *= 1e-3  # quiet stretch: log-mel near its floor
    return y.astype(np.float32)


def librosa_logmel(y: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Reference (T, F) float64 log-mel from librosa."""
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        power=2.0,
        center=True,
        pad_mode="constant",
    )
    return np.log(mel.astype(np.float64) + cfg.log_eps).T


def batch(waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded (B, N) batch and (B,) lengths."""
    lengths = torch.tensor([len(w) for w in waves])
    out = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        out[i, : len(w)] = torch.from_numpy(w)
    return out, lengths


# ---------------------------------------------------------------- config


def test_config_defaults_and_dict_roundtrip() -> None:
    cfg = FeatureConfig()
    assert (cfg.win_length, cfg.hop_length, cfg.n_fft, cfg.fmax) == (400, 160, 512, 8000.0)
    d = dataclasses.asdict(cfg)
    assert all(isinstance(v, (int, float, str, type(None))) for v in d.values())
    assert FeatureConfig(**d) == cfg
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "kwargs",
    [{"normalize": "batch"}, {"n_fft": 256}, {"f_min": 9000.0}, {"hop_ms": 0.0}],
)
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        FeatureConfig(**kwargs)


@pytest.mark.parametrize("n", [0, 1, 159, 160, 161, 16000, 16079, 33333])
def test_num_frames_matches_output(n: int) -> None:
    cfg = FeatureConfig()
    feats, frames = LogMel(cfg)(torch.randn(1, n), torch.tensor([n]))
    assert feats.shape[1] == cfg.num_frames(n) == int(frames[0])


# ---------------------------------------------------------------- librosa parity


@pytest.mark.parametrize(
    "cfg",
    [
        FeatureConfig(normalize="none"),
        FeatureConfig(sample_rate=8000, n_mels=40, n_fft=256, normalize="none"),
        FeatureConfig(n_mels=64, f_min=20.0, f_max=7600.0, normalize="none"),
    ],
    ids=["16k-80", "8k-40", "16k-64-band"],
)
def test_parity_with_librosa(cfg: FeatureConfig) -> None:
    y = make_signal(cfg.sample_rate, 4.0)
    ref = librosa_logmel(y, cfg)
    feats, frames = LogMel(cfg)(torch.from_numpy(y)[None], torch.tensor([len(y)]))
    assert feats.dtype == torch.float32
    assert feats.shape == (1, *ref.shape) and int(frames[0]) == ref.shape[0]
    err = np.abs(feats[0].double().numpy() - ref).max()
    print(f"log-mel max abs diff vs librosa ({cfg.sample_rate} Hz, {cfg.n_mels} mels): {err:.2e}")
    assert err < 1e-3


# ---------------------------------------------------------------- padding / normalisation


@pytest.mark.parametrize("normalize", ["utterance", "global", "none"])
def test_padding_invariance(normalize: str) -> None:
    cfg = FeatureConfig(normalize=normalize)
    logmel = LogMel(cfg)
    if normalize == "global":
        logmel.set_cmvn(torch.linspace(-5, 0, cfg.n_mels), torch.linspace(1, 3, cfg.n_mels))
    waves = [make_signal(16000, s, seed=i) for i, s in enumerate([1.0, 0.3737, 2.2, 0.0151])]
    x, lengths = batch(waves)
    feats, frames = logmel(x, lengths)
    assert feats.shape == (4, cfg.num_frames(x.shape[1]), cfg.n_mels)
    for i, w in enumerate(waves):
        alone, n = logmel(torch.from_numpy(w)[None], torch.tensor([len(w)]))
        assert int(n[0]) == int(frames[i]) == alone.shape[1]
        torch.testing.assert_close(feats[i, : int(n[0])], alone[0], atol=1e-5, rtol=0)
        assert torch.all(feats[i, int(n[0]) :] == 0)  # padding frames are masked


def test_utterance_normalisation_statistics() -> None:
    logmel = LogMel(FeatureConfig(normalize="utterance"))
    waves = [make_signal(16000, 1.5, seed=1), make_signal(16000, 0.7, seed=2)]
    feats, frames = logmel(*batch(waves))
    for i in range(2):
        valid = feats[i, : int(frames[i])].double()
        assert valid.mean(dim=0).abs().max() < 1e-4
        assert (valid.std(dim=0, unbiased=False) - 1).abs().max() < 1e-3


def test_silence_is_finite() -> None:
    feats, _ = LogMel(FeatureConfig())(torch.zeros(2, 4000), torch.tensor([4000, 100]))
    assert torch.isfinite(feats).all() and torch.all(feats == 0)


def test_compute_cmvn_matches_numpy_and_global_mode() -> None:
    cfg = FeatureConfig(normalize="global")
    logmel = LogMel(cfg)
    waves = [make_signal(16000, s, seed=i) for i, s in enumerate([0.5, 1.3, 0.9])]
    mean, std = compute_cmvn(logmel, iter(waves))  # any iterable, consumed once
    ref = np.concatenate([librosa_logmel(w, cfg) for w in waves])
    assert mean.shape == std.shape == (cfg.n_mels,) and mean.dtype == torch.float32
    np.testing.assert_allclose(mean.numpy(), ref.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(std.numpy(), ref.std(axis=0), rtol=1e-4, atol=1e-5)

    logmel.set_cmvn(mean, std)
    feats, frames = logmel(torch.from_numpy(waves[0])[None], torch.tensor([len(waves[0])]))
    expected = (librosa_logmel(waves[0], cfg) - mean.numpy()) / std.numpy()
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=1e-3)

    # stats live in the state_dict (travel in checkpoints); derived buffers do not
    state = logmel.state_dict()
    assert set(state) == {"mean", "std"}
    fresh = LogMel(FeatureConfig(**dataclasses.asdict(cfg)))
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(torch.from_numpy(waves[0])[None])[0], feats)


def test_set_cmvn_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        LogMel(FeatureConfig(n_mels=40)).set_cmvn(np.zeros(80), np.ones(80))


def test_autocast_keeps_float32() -> None:
    logmel = LogMel(FeatureConfig())
    x, lengths = batch([make_signal(16000, 0.5)])
    expected, _ = logmel(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.matmul(x, x.T).dtype == torch.bfloat16  # autocast is active
        feats, _ = logmel(x, lengths)
    assert feats.dtype == torch.float32
    torch.testing.assert_close(feats, expected, atol=1e-5, rtol=0)


def test_meta_device_shapes() -> None:
    logmel = LogMel(FeatureConfig()).to("meta")
    feats, frames = logmel(torch.empty(3, 16000, device="meta"), torch.empty(3, device="meta"))
    assert feats.shape == (3, 101, 80) and feats.device.type == "meta"
    assert frames.shape == (3,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    logmel = LogMel(FeatureConfig())
    x, lengths = batch([make_signal(16000, 1.0), make_signal(16000, 0.6, seed=3)])
    cpu, _ = logmel(x, lengths)
    gpu, frames = logmel.cuda()(x.cuda(), lengths.cuda())
    assert gpu.device.type == "cuda" and frames.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
    aug = SpecAugment().train()
    assert aug(gpu, frames).device.type == "cuda"


# ---------------------------------------------------------------- SpecAugment


def padded_feats(lengths: list[int], n_freq: int = 80, pad: float = 7.0):
    """(B, T, F) ones on valid frames, ``pad`` on padding; and (B,) lengths."""
    lens = torch.tensor(lengths)
    valid = lengths_to_mask(lens, max(lengths))[:, :, None]
    feats = torch.where(valid, torch.tensor(1.0), torch.tensor(pad)).expand(-1, -1, n_freq)
    return feats.contiguous(), lens


def test_specaugment_eval_is_identity() -> None:
    feats, lens = padded_feats([300, 120])
    aug = SpecAugment().eval()
    assert aug(feats, lens) is feats


def test_specaugment_masks_within_bounds() -> None:
    torch.manual_seed(0)
    lengths = [1000, 640, 200, 37, 1]
    aug = SpecAugment(freq_masks=2, freq_width=15, time_masks=2, time_width=40)
    aug.train()
    total_masked = 0
    for _ in range(20):
        feats, lens = padded_feats(lengths)
        out = aug(feats, lens)
        assert out.shape == feats.shape
        masked = out == 0.0
        total_masked += int(masked.sum())
        for i, n in enumerate(lengths):
            # padding (frames >= length) is never touched
            assert torch.all(out[i, n:] == 7.0)
            m = masked[i, :n]  # (n, F)
            full_frames = int(m.all(dim=1).sum())  # time-masked frames
            full_bins = int(m.all(dim=0).sum())  # freq-masked bins
            assert full_frames <= 2 * min(40, int(0.05 * n))
            if full_frames < n:
                assert full_bins <= 2 * 15
                # every masked cell is explained by a masked frame or a masked bin
                explained = m.all(dim=1, keepdim=True) | m.all(dim=0, keepdim=True)
                assert torch.equal(m, m & explained)
    assert total_masked > 0


def test_specaugment_single_time_mask_is_one_span() -> None:
    torch.manual_seed(1)
    aug = SpecAugment(freq_masks=0, time_masks=1, time_width=40, time_width_ratio=0.2).train()
    feats, lens = padded_feats([500] * 64)
    out = aug(feats, lens)
    widths = []
    for i in range(64):
        idx = torch.nonzero((out[i] == 0).all(dim=1)).flatten()
        if len(idx):
            assert int(idx[-1] - idx[0]) + 1 == len(idx)  # contiguous
        widths.append(len(idx))
    assert max(widths) <= 40 and len(set(widths)) > 1  # random per utterance


def test_specaugment_ratio_caps_time_width_and_mask_value() -> None:
    torch.manual_seed(2)
    aug = SpecAugment(freq_masks=0, time_masks=2, time_width=40, time_width_ratio=0.05)
    aug.mask_value = -3.0
    feats, lens = padded_feats([60] * 128)
    out = aug.train()(feats, lens)
    per_utt = (out == -3.0).all(dim=2).sum(dim=1)
    assert int(per_utt.max()) <= 2 * 3  # 0.05 * 60 = 3 frames per mask
    assert int(per_utt.sum()) > 0
