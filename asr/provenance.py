"""Where a result came from: toolkit revision, hardware, checkpoint identity.

Recorded into ``wer.json`` by evaluation so that a report can say which code, which model and
which machine produced its numbers.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

PACKAGE_DIR = Path(__file__).resolve().parent


def git_revision(path: Path = PACKAGE_DIR) -> str | None:
    """``git rev-parse HEAD`` of the checkout holding `path` (with ``-dirty`` when there are
    uncommitted changes to tracked files); None when it is not a git checkout."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def toolkit_info() -> dict:
    try:
        version = metadata.version("asr")
    except metadata.PackageNotFoundError:
        version = None
    return {"name": "asr", "version": version, "git_revision": git_revision()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info(device: str | torch.device) -> dict:
    """The machine a run used: CPU model and cores, GPU name for CUDA devices, library versions."""
    device = torch.device(device)
    gpu = None
    if device.type == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(device)
    return {
        "device": str(device),
        "cpu": _cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def checkpoint_info(path: str | Path) -> dict:
    """Path, size and sha256 of a checkpoint file, and the training config found next to it
    (``<exp_dir>/config.yaml`` for ``<exp_dir>/checkpoints/*.ckpt``), if any."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    config = path.resolve().parent.parent / "config.yaml"
    return {
        "path": str(path),
        "sha256": digest.hexdigest(),
        "size_bytes": path.stat().st_size,
        "config": str(config) if config.is_file() else None,
    }


def now() -> str:
    """The current time, ISO 8601 with the UTC offset."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
