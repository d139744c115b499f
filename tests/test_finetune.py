"""Fine-tuning from a checkpoint (init_from, freezing) and checkpoint averaging."""

import json

import pytest
import torch
from conftest import tiny_run
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from asr.checkpoint import (
    CheckpointError,
    average_checkpoints,
    load_network,
    read_checkpoint,
    save_atomic,
)
from asr.cli import main
from asr.config import load_config
from asr.train import fit


def weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


class Snapshots(Callback):
    """The model's weights before chosen global steps."""

    def __init__(self, steps) -> None:
        self.steps, self.at = set(steps), {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step in self.steps:
            self.at[trainer.global_step] = weights(module)


def test_init_from_takes_the_weights_only(trained, tmp_path):
    ckpt, _ = trained
    cfg, _ = tiny_run(tmp_path)
    snap = Snapshots({0})
    trainer = fit(load_config(cfg, [f"init_from={ckpt}", "model.dropout=0.3"]), callbacks=[snap])
    start = {k.removeprefix("model."): v for k, v in read_checkpoint(ckpt)["state_dict"].items()
             if k.startswith("model.")}
    assert all(torch.equal(snap.at[0][k], v) for k, v in start.items())  # CMVN included
    assert trainer.global_step == trainer.num_training_batches  # a fresh step count
    assert trainer.lightning_module.model.dims.dropout == 0.3  # dropout may differ


def test_init_from_gives_the_model_the_checkpoints_dimensions(trained, tmp_path):
    """A fine-tuning config that leaves the model at its defaults (3 x 256) fine-tunes the tiny
    2 x 16 checkpoint: its dimensions are taken, its weights loaded, and the run's saved config
    says so; dropout stays the config's."""
    ckpt, _ = trained
    cfg, _ = tiny_run(tmp_path)
    plain = json.loads(cfg.read_text())
    del plain["model"]
    cfg.write_text(json.dumps(plain))
    snap = Snapshots({0})
    trainer = fit(load_config(cfg, [f"init_from={ckpt}", "model.dropout=0.2"]), callbacks=[snap])
    dims = trainer.lightning_module.model.dims
    assert (dims.layers, dims.hidden, dims.dropout) == (2, 16, 0.2)
    start = read_checkpoint(ckpt)["state_dict"]
    assert all(torch.equal(v, start[f"model.{k}"]) for k, v in snap.at[0].items())
    saved = OmegaConf.load(tmp_path / "exp" / "config.yaml")
    assert (saved.model.layers, saved.model.hidden) == (2, 16)


@pytest.mark.parametrize(
    "override, message",
    [("model.hidden=32", "dims.hidden 16 there, 32 here"),
     ("features.n_mels=32", "features.n_mels 40 there, 32 here")],
)
def test_init_from_a_model_that_does_not_fit_is_one_line(trained, tmp_path, capsys, override,
                                                          message):
    ckpt, _ = trained
    cfg, _ = tiny_run(tmp_path)
    assert main(["train", "--config", str(cfg), f"init_from={ckpt}", override]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(ckpt) in err and "\n" not in err


def test_init_from_another_vocabulary_is_refused(trained, tmp_path):
    ckpt, _ = trained
    other = read_checkpoint(ckpt)
    other["hyper_parameters"]["vocab"] = other["hyper_parameters"]["vocab"][:-1] + ["!"]
    save_atomic(other, tmp_path / "other.ckpt")
    cfg, _ = tiny_run(tmp_path)
    with pytest.raises(CheckpointError, match="vocabulary"):
        fit(load_config(cfg, [f"init_from={tmp_path / 'other.ckpt'}"]))


def test_freezing_keeps_the_lower_layer_fixed_for_the_first_steps(trained, tmp_path):
    ckpt, _ = trained
    cfg, _ = tiny_run(tmp_path)
    snap = Snapshots({0, 2, 3})
    fit(load_config(cfg, [f"init_from={ckpt}", "freeze.layers=1", "freeze.steps=2"]),
        callbacks=[snap])
    first = [k for k in snap.at[0] if k.startswith("encoder.rnns.0.")]
    upper = [k for k in snap.at[0] if k.startswith("encoder.rnns.1.")]
    assert first and upper
    assert all(torch.equal(snap.at[0][k], snap.at[2][k]) for k in first)  # fixed for 2 steps
    assert not all(torch.equal(snap.at[0][k], snap.at[2][k]) for k in upper)  # the rest trains
    assert not all(torch.equal(snap.at[2][k], snap.at[3][k]) for k in first)  # then it trains


def test_average_of_checkpoints_is_their_mean(trained, tmp_path, capsys):
    ckpt, val = trained
    a = read_checkpoint(ckpt)
    b = read_checkpoint(ckpt)
    b["state_dict"] = {k: v + 1.0 if v.is_floating_point() else v
                       for k, v in b["state_dict"].items()}
    save_atomic(b, tmp_path / "b.ckpt")
    same = average_checkpoints([ckpt, ckpt])["state_dict"]
    assert all(torch.equal(same[k], v) for k, v in a["state_dict"].items())
    assert main(["average", str(ckpt), str(tmp_path / "b.ckpt"), "--out",
                 str(tmp_path / "avg.ckpt")]) == 0
    mean = read_checkpoint(tmp_path / "avg.ckpt")["state_dict"]
    for k, v in a["state_dict"].items():
        if v.is_floating_point():
            torch.testing.assert_close(mean[k], v + 0.5)
    load_network(tmp_path / "avg.ckpt")  # an ordinary self-describing checkpoint
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(tmp_path / "avg.ckpt"), "--manifest", str(val),
                 "--out-dir", str(out)]) == 0
    c = read_checkpoint(ckpt)
    c["hyper_parameters"]["dims"]["hidden"] = 99
    save_atomic(c, tmp_path / "c.ckpt")
    with pytest.raises(CheckpointError, match="another model"):
        average_checkpoints([ckpt, tmp_path / "c.ckpt"])


def test_keep_epochs_then_average_the_last(tmp_path, capsys):
    cfg, _ = tiny_run(tmp_path)
    fit(load_config(cfg, ["checkpoint.keep_epochs=2", "trainer.max_epochs=3"]))
    kept = sorted((tmp_path / "exp" / "checkpoints").glob("epoch*.ckpt"))
    assert [p.name for p in kept] == ["epoch01.ckpt", "epoch02.ckpt"]
    out = tmp_path / "avg.ckpt"
    assert main(["average", *map(str, kept), "--last", "1", "--out", str(out)]) == 0
    assert read_checkpoint(out)["averaged_from"] == [str(kept[-1])]
