"""Training behaviour that is not the model's maths: Lightning callbacks used by `asr.train.fit`.

- `SkipBadSteps`: a step whose loss or gradients are not finite, or whose batch ran out of GPU
  memory, is skipped (no weight update), counted (``skipped_steps`` in the logs and in the
  checkpoint) and logged; ``max_in_row`` such steps in a row stop the run with a `TrainingError`.
- `FreezeLayers`: fine-tuning keeps the frontend and/or the lowest recurrent layers fixed for
  the first steps.
- `GradNormMonitor`: the total gradient norm before clipping (``grad_norm``) at every step,
  and the share of steps so far that clipping cut (``clipped_share``), in the run's logs.
- `ElapsedTime`: wall-clock seconds of training so far (``elapsed_s``, validation included,
  carried across a resume) at every step and validation, for curves against time.
- `FlushDenormals`: floats below 1.2e-38 are computed as zero while training runs on a CPU.
- `ReseedPerStep`: the torch generator is re-seeded before every step from (seed, rank, epoch,
  batch), so dropout and SpecAugment do not depend on history and a resumed run continues
  exactly as an uninterrupted one.

The module under training marks a step it could not run (out of memory) by setting its
``skip_reason``; everything else is seen from the hooks.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. too many consecutive non-finite steps)."""


class SkipBadSteps(Callback):
    """Skip, count and log bad steps; stop after ``max_in_row`` of them in a row.

    Under DDP every rank skips when one does (the decision is all-reduced). With float16 mixed
    precision the GradScaler, which skips overflowing steps itself, checks the gradients.
    """

    def __init__(self, max_in_row: int) -> None:
        self.max_in_row = max_in_row
        self.total = 0  # steps skipped so far
        self.in_row = 0  # consecutive skipped steps
        self._ids: list[str] = []

    def on_train_batch_start(self, trainer, pl_module, batch: dict, batch_idx: int) -> None:
        self._ids = batch["ids"]

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        if pl_module.skip_reason is None and not torch.isfinite(loss):
            pl_module.skip_reason = f"non-finite loss ({loss.item()})"

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        reason, pl_module.skip_reason = pl_module.skip_reason, None
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if reason is None and grads and scaler is None:
            norms = torch.stack(torch._foreach_norm(grads))
            if not torch.isfinite(norms).all():
                reason = "non-finite gradient"
        bad = torch.tensor(float(reason is not None), device=pl_module.device)
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce(bad, reduce_op="sum")
        if bad.item() > 0:
            optimizer.zero_grad(set_to_none=True)  # the optimizer skips parameters without grad
            self._skip(reason or "a batch on another rank was skipped", trainer.global_step)
        else:
            self.in_row = 0
        pl_module.log("skipped_steps", float(self.total), on_step=True, on_epoch=False)

    def _skip(self, reason: str, step: int) -> None:
        self.total += 1
        self.in_row += 1
        ids = ", ".join(self._ids[:3]) + ("..." if len(self._ids) > 3 else "")
        log.warning("step %d skipped: %s (batch: %s); %d skipped so far", step, reason, ids,
                    self.total)
        if self.in_row >= self.max_in_row:
            raise TrainingError(
                f"{self.in_row} training steps in a row were skipped (last: {reason}, batch "
                f"{ids}); stopping. Check the data (asr validate) and the learning rate, or "
                f"raise optim.max_bad_steps (now {self.max_in_row})."
            )

    def state_dict(self) -> dict:
        return {"total": self.total, "in_row": self.in_row}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.in_row = state.get("total", 0), state.get("in_row", 0)


def flushing_denormals() -> bool:
    """Whether this process computes denormal floats as zero (`torch.set_flush_denormal`)."""
    return torch.tensor(1e-39).mul(1.0).item() == 0.0


class FlushDenormals(Callback):
    """Compute denormal floats (|x| < 1.2e-38) as zero during fit, restoring the mode after.

    Training drives weights and gradients towards zero, and x86 cores take a slow path on
    denormals: on an Intel Xeon the conv model's steps slowed from 1.0 s to 2.4-3.5 s within one
    epoch, and trained 2.6x faster with them flushed (docs/benchmarks.md). No effect on GPUs.
    """

    was_on: bool | None = None  # the mode before fit; None outside a fit

    def on_fit_start(self, trainer: L.Trainer, pl_module) -> None:
        self.was_on = flushing_denormals()
        torch.set_flush_denormal(True)

    def teardown(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        if self.was_on is not None:
            torch.set_flush_denormal(self.was_on)
            self.was_on = None


class ReseedPerStep(Callback):
    """Seed torch's generator before every training step from (seed, rank, epoch, batch)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        key = [self.seed, trainer.global_rank, trainer.current_epoch, batch_idx]
        torch.manual_seed(int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> 1))


class FreezeLayers(Callback):
    """Keep the frontend (``frontend``) and the lowest ``layers`` recurrent layers fixed for the
    first ``steps`` training steps: their gradients are dropped before each optimizer step
    (AdamW then leaves them as they are), which also works under DDP, where every parameter
    takes part in each step's gradient exchange."""

    def __init__(self, frontend: bool, layers: int, steps: int) -> None:
        self.frontend, self.layers, self.steps = frontend, layers, steps

    def frozen(self, pl_module) -> list[torch.nn.Parameter]:
        encoder = pl_module.model.encoder
        parts = [encoder.frontend] if self.frontend else []
        return [p for part in [*parts, *encoder.rnns[: self.layers]] for p in part.parameters()]

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step < self.steps:
            for p in self.frozen(pl_module):
                p.grad = None


class GradNormMonitor(Callback):
    """Log ``grad_norm`` (the 2-norm of all gradients, before clipping) at every step and
    ``clipped_share`` (the share of steps so far whose norm exceeded `clip_value`; 0 without
    clipping). metrics.csv keeps every ``trainer.log_every_n_steps``-th step."""

    def __init__(self, clip_value: float | None) -> None:
        self.clip_value, self.steps, self.clipped = clip_value, 0, 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if not grads:
            return
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).item()
        self.steps += 1
        self.clipped += bool(self.clip_value and norm > self.clip_value)
        pl_module.log("grad_norm", norm, on_step=True, on_epoch=False)
        pl_module.log("clipped_share", self.clipped / self.steps, on_step=True, on_epoch=False)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "clipped": self.clipped}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.clipped = state["steps"], state["clipped"]


class ElapsedTime(Callback):
    """Log ``elapsed_s``: wall-clock seconds since training started (set-up excluded,
    validation included), summed over a resumed run's sessions."""

    def __init__(self) -> None:
        self.before, self.start = 0.0, time.perf_counter()

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        pl_module.log("elapsed_s", self.elapsed(), on_step=True, on_epoch=False)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            pl_module.log("elapsed_s", self.elapsed(), on_step=False, on_epoch=True)

    def state_dict(self) -> dict:
        return {"elapsed_s": self.elapsed()}

    def load_state_dict(self, state: dict) -> None:
        self.before = state["elapsed_s"]
