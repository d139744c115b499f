"""Training faults: non-finite steps, out-of-memory batches, atomic and code-free checkpoints."""

from __future__ import annotations

import csv
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import tiny_run
from lightning.pytorch.callbacks import Callback

import asr.checkpoint
from asr.callbacks import SkipBadSteps
from asr.checkpoint import CheckpointError, load_network, read_checkpoint, save_atomic
from asr.cli import main
from asr.config import load_config
from asr.train import AtomicCheckpointIO, TrainingError, fit


def params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.named_parameters()}


class Fault(Callback):
    """Injects a fault into chosen training steps (by global step) and records whether the
    weights changed across each step."""

    def __init__(self, steps, kind: str) -> None:
        self.steps, self.kind = set(steps), kind
        self.changed: dict[int, bool] = {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.before = params(module)
        if trainer.global_step in self.steps and self.kind == "nan-input":
            batch["wave"][0, 100:200] = float("nan")  # -> NaN features, NaN loss, NaN gradients

    def on_after_backward(self, trainer, module):
        if trainer.global_step in self.steps and self.kind == "inf-grad":
            next(module.parameters()).grad[0] = float("inf")  # the loss itself is finite

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        after = params(module)
        step = trainer.global_step - 1
        self.changed[step] = any(not torch.equal(after[k], self.before[k]) for k in after)


def skipped(trainer: L.Trainer) -> int:
    return next(c for c in trainer.callbacks if isinstance(c, SkipBadSteps)).total


def logged(exp: Path, column: str) -> list[float]:
    rows = []
    for path in sorted((exp / "logs").glob("version_*/metrics.csv")):
        with open(path) as f:
            rows.extend(float(r[column]) for r in csv.DictReader(f) if r.get(column))
    return rows


@pytest.mark.parametrize("kind", ["nan-input", "inf-grad"])
def test_non_finite_steps_are_skipped_counted_and_logged(tmp_path, caplog, kind):
    cfg, _ = tiny_run(tmp_path)
    fault = Fault({1, 2}, kind)
    trainer = fit(load_config(cfg), callbacks=[fault])
    module = trainer.lightning_module
    assert trainer.global_step == trainer.num_training_batches == 4  # the run went on
    assert skipped(trainer) == 2
    assert fault.changed[1] is False and fault.changed[2] is False  # no update on bad steps
    assert fault.changed[0] and fault.changed[3]  # but on the others
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert max(logged(tmp_path / "exp", "skipped_steps")) == 2
    reason = "non-finite loss" if kind == "nan-input" else "non-finite gradient"
    messages = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(messages) == 2 and reason in messages[0] and "batch:" in messages[0]
    # the count travels in the checkpoint
    ckpt = read_checkpoint(tmp_path / "exp" / "checkpoints" / "last.ckpt")
    assert ckpt["callbacks"]["SkipBadSteps"] == {"total": 2, "in_row": 0}


def test_too_many_bad_steps_in_a_row_stop_with_a_clear_message(tmp_path, capsys):
    cfg, _ = tiny_run(tmp_path)
    with pytest.raises(TrainingError, match=r"3 training steps in a row were skipped"):
        fit(load_config(cfg, ["optim.max_bad_steps=3"]), callbacks=[Fault(range(99), "nan-input")])
    # through the command line: one line on stderr, non-zero exit, no traceback
    with pytest.MonkeyPatch.context() as mp:  # every forward produces NaN
        mp.setattr("asr.train.CTCModule._loss", _nan_loss)
        rc = main(["train", "--config", str(cfg), "optim.max_bad_steps=2"])
    err = capsys.readouterr().err
    assert rc == 2 and "asr train: error: 2 training steps in a row were skipped" in err
    assert "Traceback" not in err


def _nan_loss(self, batch):
    log_probs, lengths = self.model(batch["wave"], batch["wave_lengths"])
    return log_probs.sum() * float("nan"), log_probs, lengths


def test_out_of_memory_batches_are_skipped(tmp_path, monkeypatch, caplog):
    """Simulated on CPU: the forward pass (step 1) and the backward pass (step 3) raise
    torch.cuda.OutOfMemoryError, as a GPU would; the run skips those steps and goes on."""
    from asr.model import SpeechRecognizer

    cfg, _ = tiny_run(tmp_path)
    calls = {"forward": 0, "backward": 0}
    forward, backward = SpeechRecognizer.forward, L.LightningModule.backward

    def oom_forward(self, wave, lengths):
        if self.training:
            calls["forward"] += 1
            if calls["forward"] == 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(self, wave, lengths)

    def oom_backward(self, loss, *args, **kwargs):
        calls["backward"] += 1
        if calls["backward"] == 4:  # step 1 skipped its forward: backward #4 is step 3's
            loss.backward(retain_graph=True)  # gradients half-written when memory runs out
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return backward(self, loss, *args, **kwargs)

    monkeypatch.setattr(SpeechRecognizer, "forward", oom_forward)
    monkeypatch.setattr(L.LightningModule, "backward", oom_backward)
    fault = Fault(set(), "none")
    trainer = fit(load_config(cfg), callbacks=[fault])
    assert trainer.global_step == trainer.num_training_batches == 4
    assert skipped(trainer) == 2
    assert [s for s, changed in sorted(fault.changed.items()) if not changed] == [1, 3]
    text = caplog.text
    assert "out of memory in the forward pass" in text
    assert "out of memory in the backward pass" in text


# ---------------------------------------------------------------- checkpoints


def test_trainer_writes_checkpoints_atomically_and_every_n_steps(tmp_path):
    cfg, _ = tiny_run(tmp_path)
    seen = []

    class Watch(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            last = tmp_path / "exp" / "checkpoints" / "last.ckpt"
            if last.exists():
                seen.append(read_checkpoint(last)["global_step"])

    trainer = fit(load_config(cfg, ["checkpoint.every_n_steps=1"]), callbacks=[Watch()])
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert seen == list(range(1, trainer.global_step))  # rewritten after every step
    assert not list((tmp_path / "exp" / "checkpoints").glob(".*tmp"))


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    save_atomic({"step": torch.tensor(1)}, path)

    def dies_halfway(obj, f):
        f.write(b"PK\x03\x04 partial checkpoint bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(asr.checkpoint.torch, "save", dies_halfway)
    with pytest.raises(OSError, match="No space left"):
        save_atomic({"step": torch.tensor(2)}, path)
    monkeypatch.undo()
    assert read_checkpoint(path)["step"].item() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary left


SAVER = """
import sys, torch
from asr.checkpoint import save_atomic
big = torch.randn(4_000_000)  # 16 MB: each save takes a while
for i in range(1, 10**6):
    save_atomic({"i": torch.tensor(i), "w": big}, sys.argv[1])
    print(i, flush=True)
"""


def test_sigkill_during_saves_never_leaves_a_corrupt_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for delay in (0.0, 0.013, 0.031):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2):  # at least two complete saves, then kill at some moment of a third
            proc.stdout.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = read_checkpoint(path)  # loads: the previous or the new file, never a partial one
        assert state["i"].item() >= 2 and state["w"].shape == (4_000_000,)
    save_atomic({"i": torch.tensor(0)}, path)  # the next save clears what the kills left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# ---------------------------------------------------------------- safe loading


class RunsCode:
    """Unpickling this object would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_crafted_to_run_code_is_refused(tmp_path, trained, capsys):
    ckpt, _ = trained
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    state = read_checkpoint(ckpt)
    state["hyper_parameters"]["payload"] = RunsCode(marker)
    torch.save(state, evil)  # a complete, otherwise valid checkpoint
    for load in (read_checkpoint, load_network):
        with pytest.raises(CheckpointError, match="refused to load"):
            load(evil)
    plain = tmp_path / "evil.pkl"  # a legacy (non-zip) pickle file
    plain.write_bytes(pickle.dumps({"state_dict": RunsCode(marker)}))
    with pytest.raises(CheckpointError, match="refused|not a checkpoint"):
        read_checkpoint(plain)
    # resuming training goes through the same loader
    with pytest.raises(CheckpointError, match="refused to load"):
        AtomicCheckpointIO().load_checkpoint(evil)
    assert main(["transcribe", str(tmp_path / "x.wav"), "--checkpoint", str(evil)]) != 0
    assert not marker.exists()  # the payload never ran
    capsys.readouterr()


def test_truncated_checkpoint_gives_a_clear_error(tmp_path, trained, capsys):
    ckpt, _ = trained
    raw = ckpt.read_bytes()
    for size in (len(raw) // 2, len(raw) - 100, 10):
        cut = tmp_path / f"cut{size}.ckpt"
        cut.write_bytes(raw[:size])
        with pytest.raises(CheckpointError, match=r"cut\d+\.ckpt: truncated or not a checkpoint"):
            load_network(cut)
    rc = main(["evaluate", "--checkpoint", str(cut), "--manifest", "m", "--out-dir", "o"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("asr evaluate: error:") and "\n" not in err
