"""Waveform augmentation (`asr.augment`): each transform does what it says, draws depend only on
(seed, epoch, index), validation data is never touched, the RIR bank is cached, and a run with
augmentation resumes exactly (CPU, seconds)."""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_resumes_exactly, tiny_run

import asr.augment as augment
from asr.augment import AugmentConfig, Augmenter, AugmentError, Draw, load_rir_bank
from asr.config import ConfigError, load_config
from asr.data.loader import ASRDataModule
from asr.data.manifest import read_manifest
from asr.text import LIBRISPEECH_CHARS

SR = 16000
HAVE_PRA = importlib.util.find_spec("pyroomacoustics") is not None
needs_pra = pytest.mark.skipif(not HAVE_PRA, reason="pyroomacoustics not installed (asr[augment])")


def speech_like(n: int = 2 * SR, seed: int = 0) -> np.ndarray:
    """A tone plus a little noise, 0.1-ish RMS, (n,) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.2 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(n)).astype(np.float32)


def small_rooms(tmp_path, **kw) -> AugmentConfig:
    """A 3-room bank of small, dry rooms: ~0.05 s each to simulate."""
    args = dict(p_rir=1.0, rir_bank=3, rt60_min=0.2, rt60_max=0.3, room_min=[3.0, 3.0, 2.5],
                room_max=[4.0, 4.0, 3.0], rir_cache_dir=str(tmp_path / "rir"))
    return AugmentConfig(**{**args, **kw})


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    return 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))


def band_db(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Energy change (dB) of y relative to x between lo and hi Hz."""
    f = np.fft.rfftfreq(len(x), 1 / SR)
    m = (f >= lo) & (f < hi)
    ex, ey = (np.sum(np.abs(np.fft.rfft(v.astype(np.float64))[m]) ** 2) for v in (x, y))
    return 10 * np.log10(ey / ex)


def test_off_by_default_and_bad_values_are_one_line_errors(tmp_path):
    assert not AugmentConfig().enabled
    with pytest.raises(ValueError, match=r"^p_noise: must be in \[0, 1\]"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="^snr_min: must be <= snr_max"):
        AugmentConfig(snr_min=30, snr_max=10)
    cfg, _ = tiny_run(tmp_path)
    with pytest.raises(ConfigError, match="augment.p_gain: must be in") as err:
        load_config(cfg, ["augment.p_gain=2"])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="augment.p_nosie: unknown key"):
        load_config(cfg, ["augment.p_nosie=0.5"])


@pytest.mark.parametrize("seed", range(4))
def test_coloured_noise_at_the_drawn_snr(seed):
    aug = Augmenter(AugmentConfig(p_noise=1.0, p_babble=0.0, snr_min=0, snr_max=20), seed)
    x = speech_like(seed=seed)
    d = aug.draw(index=7, epoch=seed)
    assert d.noise == "coloured" and 0 <= d.snr_db <= 20 and 0 <= d.colour <= 2
    y = aug.apply(x, d)
    assert y.shape == x.shape and y.dtype == np.float32
    assert snr_db(x, y) == pytest.approx(d.snr_db, abs=0.5)


def test_noise_colour_follows_the_exponent():
    aug = Augmenter(AugmentConfig(p_noise=1.0, p_babble=0.0), 0)
    x = speech_like()
    f = np.fft.rfftfreq(len(x), 1 / SR)
    tilt = []  # mean power density 50-500 Hz over 4-8 kHz, dB: white 0, then growing
    for beta in (0.0, 1.0, 2.0):  # white, pink, brown
        y = aug.apply(x, Draw(noise="coloured", colour=beta, snr_db=0.0, noise_seed=1))
        p = np.abs(np.fft.rfft(y.astype(np.float64) - x)) ** 2
        tilt.append(10 * np.log10(p[(f >= 50) & (f < 500)].mean() / p[f >= 4000].mean()))
    assert abs(tilt[0]) < 1.5 and tilt[0] + 10 < tilt[1] < tilt[2] - 10


def test_babble_from_other_training_utterances(tmp_path):
    paths = []
    for k in range(6):
        paths.append(tmp_path / f"u{k}.wav")
        sf.write(paths[-1], speech_like(SR + 1000 * k, seed=k + 1), SR)
    cfg = AugmentConfig(p_noise=1.0, p_babble=1.0, babble_min=3, babble_max=5)
    aug = Augmenter(cfg, 0, SR, [str(p) for p in paths])
    x = speech_like(3 * SR)  # longer than every source: they are looped
    for i in range(6):
        d = aug.draw(i, epoch=1)
        assert d.noise == "babble" and 3 <= len(d.babble) <= 5 and i not in d.babble
        assert len(set(d.babble)) == len(d.babble)
        assert snr_db(x, aug.apply(x, d)) == pytest.approx(d.snr_db, abs=0.5)


@pytest.mark.parametrize("resample_8k", [False, True])
def test_bandlimit_keeps_the_telephone_band_only(resample_8k):
    aug = Augmenter(AugmentConfig(p_bandlimit=1.0), 0)
    x = (np.random.default_rng(0).standard_normal(2 * SR) * 0.1).astype(np.float32)
    y = aug.apply(x, Draw(bandlimit=True, resample_8k=resample_8k))
    assert y.shape == x.shape
    assert band_db(x, y, 0, 200) < -30 and band_db(x, y, 0, 300) < -15  # below 300 Hz
    assert band_db(x, y, 3800, 8000) < -25 and band_db(x, y, 3400, 8000) < -15  # above 3400 Hz
    assert abs(band_db(x, y, 500, 3000)) < 0.5  # the band itself is kept
    assert np.corrcoef(x, aug.bandlimit(x, False))[0, 1] > 0.5  # zero phase: no delay


def test_gain_in_range_and_never_clips():
    aug = Augmenter(AugmentConfig(p_gain=1.0, gain_min_db=-10, gain_max_db=6), 0)
    x = speech_like() * 0.5  # peak ~0.17: +6 dB cannot clip
    gains = []
    for i in range(20):
        d = aug.draw(i)
        y = aug.apply(x, d)
        gains.append(20 * np.log10(np.sum(np.abs(y)) / np.sum(np.abs(x))))
        assert gains[-1] == pytest.approx(d.gain_db, abs=1e-3)
    assert -10 <= min(gains) < max(gains) <= 6
    loud = aug.apply(speech_like() * 4, Draw(gain_db=6.0))
    assert np.max(np.abs(loud)) == pytest.approx(augment.CLIP_PEAK, abs=1e-6)


def test_same_key_same_output_other_epoch_differs(tmp_path):
    paths = [tmp_path / f"u{k}.wav" for k in range(4)]
    for k, p in enumerate(paths):
        sf.write(p, speech_like(seed=k + 1), SR)
    cfg = AugmentConfig(p_noise=1.0, p_babble=0.5, p_bandlimit=0.5, p_gain=1.0)
    a, b = (Augmenter(cfg, 3, SR, [str(p) for p in paths]) for _ in range(2))
    x = speech_like()
    assert np.array_equal(a(x, 2, epoch=5), b(x, 2, epoch=5))  # another process, same key
    assert not np.array_equal(a(x, 2, epoch=5), a(x, 2, epoch=6))
    assert not np.array_equal(a(x, 2, epoch=5), a(x, 1, epoch=5))
    assert not np.array_equal(a(x, 2, epoch=5), Augmenter(cfg, 4, SR, [str(p) for p in paths])(
        x, 2, epoch=5))
    # one stream per transform: switching band-limiting on leaves the noise draws alone
    only_noise = Augmenter(AugmentConfig(p_noise=1.0, p_babble=0.5), 3, SR, [str(p) for p in paths])
    assert only_noise.draw(2, 5).snr_db == a.draw(2, 5).snr_db


@needs_pra
def test_rir_same_length_aligned_on_the_direct_path(tmp_path):
    aug = Augmenter(small_rooms(tmp_path), 0)
    bank = aug.bank
    assert len(bank) == 3 and np.all(bank.rt60 > 0.1) and bank.rooms.shape == (3, 3)
    n = SR
    click = np.zeros(n, np.float32)
    click[4000] = 0.5
    x = speech_like(n)
    for k in range(len(bank)):
        y = aug.apply(click, Draw(rir=k))
        assert y.shape == (n,) and int(np.argmax(np.abs(y))) == 4000  # direct path: no shift
        # before it: only the fractional-delay filter's half (40 samples) and the slow
        # pre-response of pyroomacoustics' zero-phase 10 Hz high-pass
        assert np.sum(y[: 4000 - 41] ** 2) < 0.02 * np.sum(y**2)
        r = aug.apply(x, Draw(rir=k))
        assert np.sqrt(np.mean(r.astype(np.float64) ** 2)) == pytest.approx(
            np.sqrt(np.mean(x.astype(np.float64) ** 2)), rel=1e-3)  # level restored
        assert not np.allclose(r, x, atol=1e-3)
        w = np.random.default_rng(k).standard_normal(n).astype(np.float32) * 0.1
        rw = aug.apply(w, Draw(rir=k))
        lags = range(-200, 201)  # the reverberant copy is best aligned with no shift
        xcorr = [np.dot(rw[200 + lag : n - 200 + lag], w[200 : n - 200]) for lag in lags]
        assert lags[int(np.argmax(xcorr))] == 0


@needs_pra
def test_rir_bank_built_once_then_read_from_its_cache(tmp_path, monkeypatch):
    cfg = small_rooms(tmp_path)
    first = load_rir_bank(cfg, seed=0)
    assert first.path.parent == tmp_path / "rir" and first.path.suffix == ".npz"
    assert [p.name for p in (tmp_path / "rir").iterdir()] == [first.path.name]  # no temp left

    def no_simulation(*args):
        raise AssertionError("simulated again")

    monkeypatch.setattr(augment, "_simulate_bank", no_simulation)
    again = load_rir_bank(cfg, seed=0)
    assert np.array_equal(first.rirs, again.rirs) and np.array_equal(first.rt60, again.rt60)
    x = speech_like()
    assert np.array_equal(Augmenter(cfg, 0)(x, 1), Augmenter(cfg, 0)(x, 1))
    with pytest.raises(AssertionError, match="simulated again"):  # another seed: another bank
        load_rir_bank(cfg, seed=1)


def test_missing_pyroomacoustics_is_one_line_naming_the_key(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("pyroomacoustics"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(AugmentError) as err:
        Augmenter(small_rooms(tmp_path), 0)
    msg = str(err.value)
    assert "\n" not in msg and "augment.p_rir" in msg and "pip install" in msg
    Augmenter(small_rooms(tmp_path, p_rir=0.0, p_gain=1.0), 0)  # only needed with p_rir > 0


def test_only_the_training_data_is_augmented(tmp_path):
    _, val = tiny_run(tmp_path)
    train = tmp_path / "train.jsonl"
    aug = {"p_noise": 1.0, "p_gain": 1.0, "p_bandlimit": 1.0}
    plain = ASRDataModule(str(train), str(val), list(LIBRISPEECH_CHARS), num_workers=0)
    noisy = ASRDataModule(str(train), str(val), list(LIBRISPEECH_CHARS), num_workers=0,
                          augment=aug)
    assert noisy.train_dataloader().dataset.augment is not None
    assert plain.train_dataloader().dataset.augment is None
    assert noisy.val_dataloader().dataset.augment is None
    for a, b in zip(plain.val_dataloader(), noisy.val_dataloader()):
        assert a["ids"] == b["ids"] and a["wave"].equal(b["wave"])
    loader = noisy.train_dataloader()
    batch = next(iter(loader))
    n = len(read_manifest(str(train)))
    assert batch["wave"].shape[0] <= n
    clean = plain.train_dataloader()
    clean.batch_sampler.set_epoch(0)
    ref = {i: w for b in clean for i, w in zip(b["ids"], b["wave"])}
    assert all(not w.equal(ref[i]) for i, w in zip(batch["ids"], batch["wave"]))


def test_augmented_run_stopped_mid_epoch_resumes_exactly(tmp_path):
    cfg, _ = tiny_run(tmp_path)
    common = [
        "trainer.max_epochs=2",
        "checkpoint.every_n_steps=1",
        "augment.p_noise=1.0",
        "augment.p_babble=0.5",
        "augment.p_bandlimit=0.5",
        "augment.p_gain=0.5",
        f"augment.p_rir={0.5 if HAVE_PRA else 0.0}",
        "augment.rir_bank=3",
        "augment.rt60_max=0.3",
        "augment.room_max=[4.0,4.0,3.0]",
        f"augment.rir_cache_dir={tmp_path / 'rir'}",
    ]
    assert_resumes_exactly(cfg, common, tmp_path)
