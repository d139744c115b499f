"""Train the study's runs: each an `asr train` process, a few side by side.

A run's folder gets ``status.json`` when its process ends: ``finished``, ``diverged`` (training
stopped on non-finite losses or gradients, `asr.callbacks.TrainingError`) or ``failed`` (any
other error, its last line kept). Runs with a status are never trained again; a run without
one (interrupted) resumes from its ``last.ckpt``. Diverged and failed runs stay in the results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asr.study.plan import Run


def run_dir(run: Run) -> Path:
    return Path(next(o for o in run.overrides if o.startswith("exp_dir=")).split("=", 1)[1])


def read_status(run: Run) -> dict | None:
    path = run_dir(run) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _last_line(log: Path) -> str:
    """The error line `asr train` printed last (else the log's last line)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    errors = [line for line in lines if "error:" in line or "Error" in line]
    return (errors or [line for line in lines if line] or [""])[-1]


def train_run(run: Run, config: str, threads: int) -> dict:
    """Train one run to the end (or resume it) in its own process; write and return its status."""
    out = run_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "checkpoints" / "last.ckpt"
    resume = [f"resume={last}"] if last.is_file() else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "asr.cli", "train", "--config", config, *run.overrides, *resume]
    start = time.perf_counter()
    with (out / "train.log").open("a") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    status = {"status": "finished", "seconds": time.perf_counter() - start, "threads": threads}
    if code:
        line = _last_line(out / "train.log")
        diverged = "in a row were skipped" in line  # asr.callbacks.SkipBadSteps stopped it
        status.update(status="diverged" if diverged else "failed", error=line)
    (out / "status.json").write_text(json.dumps(status, indent=2) + "\n")
    return status


def train_runs(
    runs: list[Run], config: str, jobs: int, threads: int, say: Callable[[str], None] = print
) -> None:
    """Train every run without a status, `jobs` processes at a time, `threads` threads each."""
    todo = [r for r in runs if read_status(r) is None]
    say(f"{len(runs) - len(todo)} of {len(runs)} runs already done; training {len(todo)} "
        f"({jobs} at a time, {threads} thread(s) each)")

    def one(run: Run) -> None:
        status = train_run(run, config, threads)
        error = f": {status['error']}" if "error" in status else ""
        say(f"{run.name}: {status['status']} in {status['seconds']:.0f} s{error}")

    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        list(pool.map(one, todo))
