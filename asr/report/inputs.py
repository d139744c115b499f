"""What a report reads: an `asr evaluate` directory (``wer.json`` + ``hyps.jsonl``), Lightning
training logs (metrics.csv), the run's saved config.yaml, and written report.json files.

Missing or malformed input raises `ReportError` naming the file, except the run's config: a
broken config.yaml is recorded in the report (``{"error": ...}``) instead of stopping it.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path


class ReportError(ValueError):
    """Missing or malformed report input; the message names the file and the problem."""


def read_json(path: Path, missing: str) -> object:
    """The JSON document in `path`; `missing` says what to do when the file is not there."""
    if not path.is_file():
        raise ReportError(f"{path}: not found ({missing})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None


def load_evaluation(eval_dir: str | Path) -> tuple[dict, list[dict]]:
    """(wer.json summary, hyps.jsonl rows) of an `asr evaluate` output directory."""
    eval_dir = Path(eval_dir)
    summary_path, rows_path = eval_dir / "wer.json", eval_dir / "hyps.jsonl"
    missing = f"is {eval_dir} an `asr evaluate` directory?"
    summary = read_json(summary_path, missing)
    if not rows_path.is_file():
        raise ReportError(f"{rows_path}: not found ({missing})")
    rows = []
    for n, line in enumerate(rows_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ReportError(f"{rows_path}:{n}: not valid JSON ({err})") from None
        missing = {"id", "ref", "hyp"} - set(row if isinstance(row, dict) else ())
        if missing:
            raise ReportError(f"{rows_path}:{n}: not an evaluation row (missing {sorted(missing)})")
        rows.append(row)
    return summary, rows


def find_training_logs(path: str | Path) -> list[Path]:
    """metrics.csv files of a training run: `path` is a metrics.csv, a ``logs/version_N``
    folder, or an experiment directory (all ``logs/version_*`` in order, for resumed runs)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if (path / "metrics.csv").is_file():
        return [path / "metrics.csv"]

    def version(csv_path: Path) -> int:
        number = csv_path.parent.name.removeprefix("version_")
        return int(number) if number.isdigit() else -1

    versions = sorted((path / "logs").glob("version_*/metrics.csv"), key=version)
    if not versions:
        raise ReportError(f"{path}: no training log (metrics.csv or logs/version_*/metrics.csv)")
    return versions


def read_training_log(path: str | Path) -> dict:
    """Per-epoch training curves from Lightning CSV logs: mean train_loss over the epoch's
    logged steps, the epoch's val_loss / val_wer / val_cer, and elapsed_s (wall-clock seconds
    of training at the epoch's end, when logged). A later log (resumed run)
    replaces the epochs it repeats."""
    files = find_training_logs(path)
    epochs: dict[int, dict] = {}
    for file in files:
        losses: dict[int, list[float]] = defaultdict(list)
        seen: dict[int, dict] = {}
        with file.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    epoch = int(float(row["epoch"]))
                except (KeyError, TypeError, ValueError):
                    continue
                out = seen.setdefault(epoch, {"epoch": epoch})
                if row.get("step"):
                    out["step"] = int(float(row["step"]))
                if row.get("train_loss"):
                    losses[epoch].append(float(row["train_loss"]))
                for key in ("val_loss", "val_wer", "val_cer"):
                    if row.get(key):
                        out[key] = float(row[key])
                if row.get("elapsed_s"):  # the epoch's last step or its validation
                    out["elapsed_s"] = max(out.get("elapsed_s", 0.0), float(row["elapsed_s"]))
        for epoch, out in seen.items():
            if losses[epoch]:
                out["train_loss"] = sum(losses[epoch]) / len(losses[epoch])
            epochs[epoch] = out
    if not epochs:
        raise ReportError(f"{files[0]}: no epochs in the training log")
    keys = ("epoch", "step", "train_loss", "val_loss", "val_wer", "val_cer", "elapsed_s")
    return {
        "source": [str(f) for f in files],
        "epochs": [{k: epochs[e].get(k) for k in keys} for e in sorted(epochs)],
    }


def read_step_log(path: str | Path) -> list[dict]:
    """Per-step rows of a training run's Lightning CSV logs (resumed runs: a later log replaces
    the steps it repeats): ``{"step", "train_loss", "grad_norm", "skipped_steps"}`` (None where
    a value was not logged), in step order."""
    steps: dict[int, dict] = {}
    keys = ("train_loss", "grad_norm", "skipped_steps")
    for file in find_training_logs(path):
        with file.open(newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("step") or not any(row.get(k) for k in keys):
                    continue
                out = steps.setdefault(int(float(row["step"])), {})
                out.update({k: float(row[k]) for k in keys if row.get(k)})
    return [{"step": s, **{k: steps[s].get(k) for k in keys}} for s in sorted(steps)]


def read_run_config(path: str | Path | None) -> dict | None:
    """The saved training config (an experiment's config.yaml) as a plain dict, unresolved, to
    be shown in a report; None if there is none. A broken file does not stop the report: the
    problem is recorded as ``{"error": "<path>: <message>"}``. (To load a config to train or
    decode with, use `asr.config.load_config`, which raises.)"""
    if not path or not Path(path).is_file():
        return None
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as err:  # a broken config should not stop a report: say so instead
        return {"error": f"{path}: {err}"}
