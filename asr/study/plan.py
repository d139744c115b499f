"""The study's runs: a base run and one factor changed at a time, at an equal parameter budget.

Every run is an ordinary `asr train` run of the study's config (``conf/rnn-study.yaml``) with
a few overrides. A run is described by its *factors* (cell, seed, direction, depth, clipping,
dropout, learning rate, batch size, length cap); the report compares runs that differ from the
base run in one factor only. The hidden size of each run is chosen so that its parameter count
is the base model's (`asr.model.hidden_for_parameters`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from omegaconf import DictConfig

from asr.config import model_dims
from asr.dims import RNN_TYPES, ModelDims
from asr.model import Encoder, count_parameters, hidden_for_parameters

CELLS = RNN_TYPES  # the study compares all three: rnn, gru, lstm


@dataclass(frozen=True)
class Profile:
    """How big the study is. The base model is the config's (an LSTM); the other cells get
    its parameter count."""

    name: str
    train: int  # training sentences
    dev: int
    test: int
    epochs: int
    hidden: int  # the base LSTM's units per direction (sets the parameter budget)
    seeds: tuple[int, ...]  # the cell comparison's seeds
    depths: tuple[int, ...]
    depth_cells: tuple[str, ...]  # the cells whose depth is varied
    clips: tuple[float | None, ...]  # gradient_clip_val (None: no clipping)
    clip_cells: tuple[str, ...]
    dropouts: tuple[float, ...]
    lrs: tuple[float, ...]
    batches: tuple[float, ...]  # data.max_batch_seconds
    max_duration: float  # seconds: the short-sequence run skips longer training utterances


PROFILES = {
    "quick": Profile(
        "quick", train=1200, dev=100, test=200, epochs=8, hidden=128, seeds=(0, 1),
        depths=(1, 2, 3, 5), depth_cells=("lstm",), clips=(None, 1.0, 5.0),
        clip_cells=("rnn", "lstm"), dropouts=(0.0, 0.1, 0.3), lrs=(1e-3, 2e-3, 4e-3, 8e-3),
        batches=(10.0, 20.0, 40.0), max_duration=3.0,
    ),
    "full": Profile(
        "full", train=3200, dev=100, test=200, epochs=12, hidden=256, seeds=(0, 1, 2),
        depths=(1, 2, 3, 5), depth_cells=CELLS, clips=(None, 1.0, 5.0),
        clip_cells=("rnn", "lstm"), dropouts=(0.0, 0.1, 0.3),
        lrs=(5e-4, 1e-3, 2e-3, 4e-3, 8e-3), batches=(10.0, 20.0, 40.0), max_duration=3.0,
    ),
}


@dataclass(frozen=True)
class Factors:
    """What distinguishes one run of the study from another."""

    cell: str
    seed: int
    bidirectional: bool
    layers: int
    clip: float | None
    dropout: float
    lr: float
    batch: float
    max_duration: float | None

    def differs(self, other: Factors) -> list[str]:
        """Names of the factors that differ between two runs."""
        return [k for k, v in asdict(self).items() if getattr(other, k) != v]


@dataclass
class Run:
    name: str
    factors: Factors
    hidden: int
    params: int
    overrides: list[str] = field(default_factory=list)  # key=value for `asr train`


def base_factors(cfg: DictConfig) -> Factors:
    """The base run: the study config as it is, seed 0."""
    return Factors(
        cell=cfg.model.rnn_type, seed=0, bidirectional=cfg.model.bidirectional,
        layers=cfg.model.layers, clip=cfg.trainer.get("gradient_clip_val"),
        dropout=cfg.model.dropout, lr=cfg.optim.lr, batch=cfg.data.max_batch_seconds,
        max_duration=cfg.data.max_duration,
    )


def run_name(f: Factors) -> str:
    """A folder name that reads as the factors, e.g. ``lstm-bi-L3-clip5-do0.1-lr0.004-b20-s0``."""
    clip = "noclip" if f.clip is None else f"clip{f.clip:g}"
    cap = f"-max{f.max_duration:g}s" if f.max_duration else ""
    direction = "bi" if f.bidirectional else "uni"
    return (f"{f.cell}-{direction}-L{f.layers}-{clip}-do{f.dropout:g}-lr{f.lr:g}-b{f.batch:g}"
            f"{cap}-s{f.seed}")


def variations(base: Factors, p: Profile) -> list[Factors]:
    """The runs of a profile: the cells with every seed, then one factor at a time."""
    out = [replace(base, cell=c, seed=s) for c in CELLS for s in p.seeds]
    out += [replace(base, cell=c, bidirectional=not base.bidirectional) for c in CELLS]
    out += [replace(base, cell=c, layers=n) for c in p.depth_cells for n in p.depths]
    out += [replace(base, cell=c, clip=v) for c in p.clip_cells for v in p.clips]
    out += [replace(base, dropout=v) for v in p.dropouts]
    out += [replace(base, lr=v) for v in p.lrs]
    out += [replace(base, batch=v) for v in p.batches]
    out.append(replace(base, max_duration=p.max_duration))
    return list(dict.fromkeys(out))  # the base run appears in several lists: once


def _dims(cfg: DictConfig, f: Factors, hidden: int) -> ModelDims:
    return replace(model_dims(cfg), rnn_type=f.cell, bidirectional=f.bidirectional,
                   layers=f.layers, hidden=hidden, dropout=f.dropout)


def plan(cfg: DictConfig, profile: Profile, exp_dir: str, common: Sequence[str] = ()) -> list[Run]:
    """The runs of `profile` on the study config `cfg` (with the overrides `common`, which
    every run repeats), each in ``<exp_dir>/runs/<name>``."""
    base = base_factors(cfg)
    budget = count_parameters(Encoder(_dims(cfg, base, profile.hidden)))
    runs = []
    for f in variations(base, profile):
        hidden = hidden_for_parameters(_dims(cfg, f, profile.hidden), budget)
        name = run_name(f)
        overrides = [
            *common, f"exp_dir={exp_dir}/runs/{name}", f"seed={f.seed}", f"model.rnn_type={f.cell}",
            f"model.bidirectional={f.bidirectional}", f"model.layers={f.layers}",
            f"model.hidden={hidden}", f"model.dropout={f.dropout}", f"optim.lr={f.lr}",
            f"data.max_batch_seconds={f.batch}",
            f"data.max_duration={'null' if f.max_duration is None else f.max_duration}",
            f"trainer.gradient_clip_val={'null' if f.clip is None else f.clip}",
            f"trainer.max_epochs={profile.epochs}",
        ]
        if set(f.differs(base)) <= {"cell", "seed"}:  # the cells' curves on test: every epoch
            overrides.append(f"checkpoint.keep_epochs={profile.epochs}")
        params = count_parameters(Encoder(_dims(cfg, f, hidden)))
        runs.append(Run(name, f, hidden, params, overrides))
    return runs


def save_plan(path: str | Path, config: str, profile: Profile, runs: list[Run],
              base: Factors) -> None:
    """plan.json: the config, the profile, the base run's factors and every run."""
    doc = {"config": config, "profile": asdict(profile), "base": asdict(base),
           "runs": [asdict(r) for r in runs]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def load_plan(path: str | Path) -> tuple[str, Profile, Factors, list[Run]]:
    """(config path, profile, base factors, runs) of a plan.json."""
    doc = json.loads(Path(path).read_text())
    profile = Profile(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in doc["profile"].items()})
    runs = [Run(**{**r, "factors": Factors(**r["factors"])}) for r in doc["runs"]]
    return doc["config"], profile, Factors(**doc["base"]), runs
