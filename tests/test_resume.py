"""Exact resume: a run killed with SIGKILL mid-epoch and resumed from last.ckpt ends with the same
weights and validation scores as the same run left alone (CPU, seconds)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_run

from asr.checkpoint import read_checkpoint
from asr.config import load_config
from asr.train import fit

# Trains like `asr train`, plus a callback that kills the process (SIGKILL: no clean-up, no
# handlers) when a training step is about to start with `global_step == KILL_AT`; the step
# checkpoint of the previous step has been written by then.
KILLED_RUN = """
import os, signal, sys
from lightning.pytorch.callbacks import Callback
from asr.config import load_config
from asr.train import fit

class Kill(Callback):
    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == int(os.environ["KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)

fit(load_config(sys.argv[1], sys.argv[2:]), callbacks=[Kill()])
"""


def last_val_row(exp: Path) -> dict:
    rows = []
    for path in sorted((exp / "logs").glob("version_*/metrics.csv")):
        with open(path) as f:
            rows.extend(r for r in csv.DictReader(f) if r.get("val_wer"))
    return rows[-1]


@pytest.mark.parametrize("workers", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path, workers):
    cfg, _ = tiny_run(tmp_path)
    common = [
        "trainer.max_epochs=2",
        "checkpoint.every_n_steps=1",
        "data.speed_perturb=[0.9,1.0,1.1]",  # per-batch draws
        "model.dropout=0.3",  # per-step draws, as are SpecAugment's masks
        f"data.num_workers={workers}",
    ]
    whole = fit(load_config(cfg, [*common, f"exp_dir={tmp_path / 'whole'}"]))
    per_epoch = whole.num_training_batches
    assert per_epoch >= 3 and whole.global_step == 2 * per_epoch
    kill_at = per_epoch + per_epoch // 2  # in the middle of the second epoch

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "KILL_AT": str(kill_at)}
    cmd = [sys.executable, "-c", KILLED_RUN, str(cfg), *common, f"exp_dir={killed}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    last = killed / "checkpoints" / "last.ckpt"
    state = read_checkpoint(last)
    assert state["global_step"] == kill_at and state["epoch"] == 1  # mid-epoch, not an epoch end

    resumed = fit(load_config(cfg, [*common, f"exp_dir={killed}", f"resume={last}"]))
    assert resumed.global_step == whole.global_step and resumed.current_epoch == 2

    a = read_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(last)["state_dict"]
    assert a.keys() == b.keys()
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(f"max |weight difference| after SIGKILL + resume ({workers} workers): {diff:.3g}")
    assert diff <= 1e-6
    # the weights moved, so the comparison means something
    assert any(not torch.equal(a[k], state["state_dict"][k]) for k in a)

    va, vb = last_val_row(tmp_path / "whole"), last_val_row(killed)
    for key in ("val_wer", "val_loss"):
        print(f"{key}: uninterrupted {va[key]}, killed and resumed {vb[key]}")
    assert va["epoch"] == vb["epoch"] == "1"
    assert float(va["val_wer"]) == float(vb["val_wer"])
    assert float(va["val_loss"]) == pytest.approx(float(vb["val_loss"]), rel=1e-5)
