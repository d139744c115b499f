"""End-to-end training on a tiny generated corpus (CPU, seconds)."""

import csv
import os
import subprocess
import sys

import pytest
import torch
from conftest import tiny_run

from asr.audio import load_audio
from asr.checkpoint import CheckpointError, best_checkpoint, load_network, read_checkpoint
from asr.config import load_config
from asr.data.manifest import read_manifest
from asr.evaluation import evaluate
from asr.features import LogMel, compute_cmvn
from asr.train import fit


@pytest.fixture
def tiny(tmp_path):
    return tmp_path, tiny_run(tmp_path)[0]


def metrics(exp) -> list[dict]:
    """Rows of every run's metrics.csv (one logs/version_N per run)."""
    rows = []
    for path in sorted((exp / "logs").glob("version_*/metrics.csv")):
        with open(path) as f:
            rows.extend(csv.DictReader(f))
    return rows


def test_checkpoint_is_self_describing_and_resume_continues(tiny):
    tmp, cfg_path = tiny
    trainer = fit(load_config(cfg_path))
    exp = tmp / "exp"
    last = exp / "checkpoints" / "last.ckpt"
    steps_one_epoch = trainer.global_step
    assert steps_one_epoch > 0 and last.is_file()
    # the best checkpoint written is the one the recipes and the study pick
    assert str(best_checkpoint(exp)) == trainer.checkpoint_callback.best_model_path
    assert (exp / "config.yaml").is_file()

    # load(checkpoint) needs no config and reproduces the trained network exactly
    model = load_network(last)
    trained = trainer.lightning_module.model.eval()
    wave = torch.randn(2, 16000) * 0.1
    lengths = torch.tensor([16000, 9000])
    with torch.no_grad():
        a, alen = model(wave, lengths)
        b, blen = trained(wave, lengths)
    assert torch.equal(alen, blen) and torch.equal(a, b)
    hp = read_checkpoint(last)["hyper_parameters"]
    assert hp["dims"]["hidden"] == 16 and hp["features"]["n_mels"] == 40 and len(hp["vocab"]) == 28

    # resume: the step and epoch counts continue from the checkpoint
    resumed = fit(load_config(cfg_path, [f"resume={last}", "trainer.max_epochs=2"]))
    assert resumed.current_epoch == 2
    assert resumed.global_step == 2 * steps_one_epoch
    epochs = {int(r["epoch"]) for r in metrics(exp) if r.get("val_wer")}
    assert epochs == {0, 1}

    # evaluate writes per-utterance hypotheses and a summary consistent with them
    val = read_manifest(tmp / "val.jsonl")
    summary = evaluate(model, tmp / "val.jsonl", tmp / "eval")
    assert summary["utterances"] == len(val)
    assert summary["words"]["ref_len"] == sum(len(r["text"].split()) for r in val)
    assert (tmp / "eval" / "hyps.jsonl").is_file()


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_network(tmp_path / "missing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="junk.ckpt"):
        load_network(junk)
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not an asr checkpoint"):
        load_network(tmp_path / "other.ckpt")


def test_ddp_two_processes_on_cpu_reduce_metrics(tiny):
    tmp, cfg_path = tiny
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [
        sys.executable,
        "-m",
        "asr.cli",
        "train",
        "--config",
        str(cfg_path),
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.max_epochs=2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world_size: 2" in proc.stderr or "GLOBAL_RANK: 1" in proc.stderr + proc.stdout
    rows = [r for r in metrics(tmp / "exp") if r.get("val_words")]
    total_words = sum(len(r["text"].split()) for r in read_manifest(tmp / "val.jsonl"))
    # each rank sees part of the validation set; the logged count is the sum over ranks
    assert [float(r["val_words"]) for r in rows] == [total_words, total_words]
    ckpt = read_checkpoint(tmp / "exp" / "checkpoints" / "last.ckpt")
    assert ckpt["epoch"] == 1


def test_global_cmvn_is_computed_from_training_manifest_and_saved(tiny):
    tmp, cfg_path = tiny
    fit(load_config(cfg_path, ["features.normalize=global"]))
    model = load_network(tmp / "exp" / "checkpoints" / "last.ckpt")
    records = read_manifest(tmp / "train.jsonl")
    mean, std = compute_cmvn(
        LogMel(model.feature_config), (load_audio(r["audio"]) for r in records)
    )
    assert model.feature_config.normalize == "global"
    torch.testing.assert_close(model.features.mean, mean)
    torch.testing.assert_close(model.features.std, std)
    assert not torch.allclose(mean, torch.zeros_like(mean))


def test_training_without_validation_finishes_cleanly(tiny, capsys):
    from asr.cli import main

    tmp, cfg_path = tiny
    assert main(["train", "--config", str(cfg_path), "trainer.limit_val_batches=0"]) == 0
    out = capsys.readouterr().out
    assert "best checkpoint: none (nothing was validated)" in out
    assert (tmp / "exp" / "checkpoints" / "last.ckpt").is_file()


def test_a_bug_keeps_its_traceback_while_user_errors_are_one_line(tiny, monkeypatch, capsys):
    from asr.cli import main

    _, cfg_path = tiny

    def broken(cfg, callbacks=None):
        raise KeyError("a bug")  # not a toolkit error: must not be turned into one line

    monkeypatch.setattr("asr.train.fit", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["train", "--config", str(cfg_path)])
    assert main(["train", "--config", str(cfg_path), "model.hidden=x"]) == 2
    assert "model.hidden" in capsys.readouterr().err


def test_denormals_are_flushed_during_fit_and_restored_after(tiny):
    """Also after a fit that fails (a leaked mode breaks later code, e.g. hypothesis)."""
    from lightning.pytorch.callbacks import Callback

    from asr.callbacks import flushing_denormals

    class Probe(Callback):
        def __init__(self, fail: bool) -> None:
            self.fail, self.during = fail, None

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.during = flushing_denormals()
            if self.fail:
                raise RuntimeError("stopped")

    torch.set_flush_denormal(False)
    cfg = load_config(tiny[1], ["trainer.max_epochs=1", "trainer.limit_val_batches=0"])
    probe = Probe(fail=False)
    fit(cfg, callbacks=[probe])
    assert probe.during and not flushing_denormals()
    probe = Probe(fail=True)
    with pytest.raises(RuntimeError, match="stopped"):
        fit(cfg, callbacks=[probe])
    assert probe.during and not flushing_denormals()
