"""Typed configs: one dataclass schema per section (the only place defaults are written), YAML
files composed on it, and ``key=value`` overrides from the command line (OmegaConf).

A config file states only what differs from the schema. It may list other files to merge first
under ``defaults`` (paths relative to its own folder, ``.yaml`` optional), e.g.
``defaults: [model/deepspeech2]``; keys of the file itself win, then the overrides
(``model.rnn_type=gru``). An unknown key, or a value of the wrong type or out of its range (each
section's ``__post_init__``, `_check_run`), is a `ConfigError` naming the key and the file (or
"command line"), raised on loading; `asr train` also wants the manifests (`_check_training`).
``asr config CFG [key=value ...]`` prints the result.

Sections: ``model`` (`asr.dims.ModelDims`), ``features`` (`asr.dims.FeatureConfig`),
``specaug`` (`asr.features.SpecAugConfig`), ``augment`` (`asr.augment.AugmentConfig`),
``decode`` (`asr.decode.DecodeConfig`), ``tokenizer`` (the output units: characters or
BPE pieces, `TokenizerConfig`), and the ones below; ``trainer`` holds `lightning.Trainer`
arguments, passed on as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from asr.augment import AugmentConfig
from asr.decode import DecodeConfig, DecoderError
from asr.dims import FeatureConfig, ModelDims
from asr.features import SpecAugConfig
from asr.text import CharVocab


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file or key and the problem."""


@dataclass
class ConcatConfig:
    """Training on several utterances in a row (``data.concat``; training set only).

    With `max_utterances` > 1 the training records are grouped once per run (from the seed)
    into groups of 1..`max_utterances`, each record in one group; an item is its group's audio
    joined by pauses of `pause_min`..`pause_max` seconds of digital silence, with 0..`edge_max`
    seconds before the first and after the last part, and its transcript is the parts' joined
    by a space. Pause and edge lengths are drawn from (seed, epoch, item). `edge_max` > 0 alone
    (with `max_utterances` 1) pads single utterances. Defaults: off.
    """

    max_utterances: int = 1  # 1: off; 3: groups of 1-3 utterances
    pause_min: float = 0.1  # seconds of silence between two utterances of a group
    pause_max: float = 0.8
    edge_max: float = 0.0  # seconds of silence before the first and after the last, 0..edge_max

    def __post_init__(self) -> None:
        if self.max_utterances < 1:
            raise ValueError(f"max_utterances: must be >= 1 (1: off), got {self.max_utterances}")
        if self.pause_min < 0:
            raise ValueError(f"pause_min: must be >= 0, got {self.pause_min}")
        if self.pause_min > self.pause_max:
            raise ValueError(f"pause_min: must be <= pause_max ({self.pause_max}), "
                             f"got {self.pause_min}")
        if self.edge_max < 0:
            raise ValueError(f"edge_max: must be >= 0, got {self.edge_max}")

    @property
    def enabled(self) -> bool:
        return self.max_utterances > 1 or self.edge_max > 0


@dataclass
class DataConfig:
    train_manifest: str = MISSING
    val_manifest: str = MISSING
    max_batch_seconds: float = 60.0  # cap on padded audio seconds per batch (longest x count)
    max_batch_size: int | None = None
    num_workers: int = 1
    speed_perturb: list[float] | None = None  # e.g. [0.9, 1.0, 1.1]; training only
    sortagrad: bool = False  # first epoch's batches shortest first (DeepSpeech2), then shuffled
    cmvn_utterances: int = 500  # for features.normalize=global
    max_duration: float | None = None  # seconds; longer utterances are skipped in training
    concat: ConcatConfig = field(default_factory=ConcatConfig)  # training only; default off

    def __post_init__(self) -> None:
        if self.max_batch_seconds <= 0:
            raise ValueError(f"max_batch_seconds: must be > 0, got {self.max_batch_seconds}")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise ValueError(f"max_batch_size: must be >= 1 or null, got {self.max_batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers: must be >= 0, got {self.num_workers}")
        if self.speed_perturb and min(self.speed_perturb) <= 0:
            raise ValueError(f"speed_perturb: factors must be > 0, got {list(self.speed_perturb)}")
        if self.cmvn_utterances < 1:
            raise ValueError(f"cmvn_utterances: must be >= 1, got {self.cmvn_utterances}")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ValueError(f"max_duration: must be > 0 or null, got {self.max_duration}")


@dataclass
class TokenizerConfig:
    """The model's output units: ``char`` (A-Z, apostrophe, space; the default) or ``bpe``
    (the pieces of a sentencepiece BPE model, written by ``asr bpe train``; see `asr.bpe`)."""

    type: str = "char"  # char | bpe
    bpe_model: str | None = None  # type bpe: the model file (<dir>/bpe.model of asr bpe train)

    def __post_init__(self) -> None:
        if self.type not in ("char", "bpe"):
            raise ValueError(f"type: unknown tokenizer type {self.type!r} (char or bpe)")
        if self.type == "bpe" and not self.bpe_model:
            raise ValueError("bpe_model: needed by type bpe (the bpe.model of asr bpe train)")
        if self.type == "char" and self.bpe_model:
            raise ValueError("bpe_model: set but type is char (set type: bpe)")


@dataclass
class OptimConfig:
    lr: float = 1.0e-3  # AdamW peak learning rate
    weight_decay: float = 1.0e-2
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = 100  # linear warm-up, then cosine decay
    min_lr_ratio: float = 0.02  # cosine decay to lr * min_lr_ratio at the last step
    max_bad_steps: int = 20  # stop after this many skipped steps in a row (NaN/inf or GPU OOM)

    def __post_init__(self) -> None:
        if self.lr < 0:  # 0: the weights stay as drawn
            raise ValueError(f"lr: must be >= 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay: must be >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas: need two values in [0, 1), got {list(self.betas)}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}")
        if self.max_bad_steps < 1:
            raise ValueError(f"max_bad_steps: must be >= 1, got {self.max_bad_steps}")


@dataclass
class CheckpointConfig:
    every_n_steps: int | None = 500  # also rewrite last.ckpt every N steps (None: epoch ends only)
    keep_epochs: int = 0  # also keep the last N epochs' checkpoints, epochNN.ckpt (asr average)

    def __post_init__(self) -> None:
        if self.every_n_steps is not None and self.every_n_steps < 1:
            raise ValueError(f"every_n_steps: must be >= 1 or null, got {self.every_n_steps}")
        if self.keep_epochs < 0:
            raise ValueError(f"keep_epochs: must be >= 0, got {self.keep_epochs}")


@dataclass
class FreezeConfig:
    """Fine-tuning: parts of the model kept fixed for the first `steps` training steps."""

    frontend: bool = False  # the frontend (its convolutions; frame stacking has no weights)
    layers: int = 0  # the lowest N recurrent layers
    steps: int = 0  # 0: nothing is frozen

    def __post_init__(self) -> None:
        for key in ("layers", "steps"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must be >= 0, got {getattr(self, key)}")


def _trainer_defaults() -> dict[str, Any]:
    return {
        "accelerator": "auto",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "32-true",  # or bf16-mixed, or auto (`auto_precision`)
        "max_epochs": 10,
        "gradient_clip_val": 5.0,
        "log_every_n_steps": 10,
        "num_sanity_val_steps": 0,
    }


@dataclass
class TrainConfig:
    """A whole training run (``asr train --config``)."""

    seed: int = 0
    exp_dir: str = "exp/default"
    resume: str | None = None  # checkpoint to continue from (<exp_dir>/checkpoints/last.ckpt)
    init_from: str | None = None  # fine-tuning: these weights (and the model dimensions left at
    # their defaults here); a fresh optimizer and schedule
    freeze: FreezeConfig = field(default_factory=FreezeConfig)  # with init_from
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    specaug: SpecAugConfig = field(default_factory=SpecAugConfig)  # training only
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # waveforms; training only
    model: ModelDims = field(default_factory=ModelDims)  # n_input, vocab_size: set by training
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)  # characters or BPE
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    trainer: dict[str, Any] = field(default_factory=_trainer_defaults)  # lightning.Trainer(**)
    decode: DecodeConfig = field(default_factory=DecodeConfig)  # asr evaluate --decode-config


def _error(source: str, err: OmegaConfBaseException) -> ConfigError:
    key = getattr(err, "full_key", None)
    msg = str(err).splitlines()[0].strip()
    if "not in" in msg and key:
        msg = "unknown key"
    return ConfigError(f"{source}: {key + ': ' if key else ''}{msg}")


def _merge(base: DictConfig, other: Any, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, other)
    except OmegaConfBaseException as err:
        raise _error(source, err) from None


def _read(path: Path) -> DictConfig:
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # YAML syntax errors come from yaml, not OmegaConf
        raise ConfigError(f"{path}: not a YAML config ({' '.join(str(err).split())})") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path}: expected a mapping of sections")
    return cfg


def _compose(cfg: DictConfig, path: Path, seen: tuple[Path, ...] = ()) -> DictConfig:
    """Merge the file at `path` (its ``defaults`` first) into `cfg`."""
    if path.suffix != ".yaml" and not path.exists():
        path = path.with_suffix(".yaml")
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path in seen:
        raise ConfigError(f"{path}: circular 'defaults'")
    own = _read(path)
    for parent in own.pop("defaults", None) or []:
        cfg = _compose(cfg, path.parent / str(parent), (*seen, path))
    return _merge(cfg, own, str(path))


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("auto", "32-true", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true",
              "transformer-engine", "transformer-engine-float16", "32", "16", "64", "bf16",
              32, 16, 64)  # auto (`auto_precision`), then lightning.Trainer's


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _devices(v: Any) -> bool:
    """lightning.Trainer's ``devices``: auto, a count >= 1, -1 (all), indices ([0, 1], "0,1")."""
    if isinstance(v, str):
        return v == "auto" or re.fullmatch(r"-1|\d+(,\d+)*,?", v.replace(" ", "")) is not None
    if isinstance(v, list):
        return bool(v) and all(_int(i) and i >= 0 for i in v)
    return _int(v) and (v >= 1 or v == -1)


# trainer key -> (is the value good?, what it must be); other keys go to lightning.Trainer as
# they are (`trainer_args` checks that they are its arguments)
TRAINER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "accelerator": (lambda v: v in ACCELERATORS, f"one of {', '.join(ACCELERATORS)}"),
    "precision": (lambda v: v in PRECISIONS, "auto or a Lightning precision (32-true, "
                  "bf16-mixed, 16-mixed, ...)"),
    "devices": (_devices, "auto, a count >= 1, -1 (all) or a list of device indices"),
    "num_nodes": (lambda v: _int(v) and v >= 1, ">= 1"),
    "max_epochs": (lambda v: v is None or _int(v) and (v >= 1 or v == -1),
                   ">= 1, -1 (no limit) or null"),
    "max_steps": (lambda v: _int(v) and (v >= 1 or v == -1), ">= 1 or -1 (no limit)"),
    "gradient_clip_val": (lambda v: v is None or (_int(v) or isinstance(v, float)) and v >= 0,
                          ">= 0 or null"),
    "log_every_n_steps": (lambda v: _int(v) and v >= 1, ">= 1"),
    "num_sanity_val_steps": (lambda v: _int(v) and v >= -1, ">= 0 or -1 (all)"),
}


def _check_run(cfg: DictConfig) -> None:
    """The top-level values, the trainer's and the rules across sections: a `ValueError`
    starting with the key."""
    if not 0 <= cfg.seed < 2**32:
        raise ValueError(f"seed: must be in [0, 2**32), got {cfg.seed}")
    if not cfg.exp_dir:
        raise ValueError("exp_dir: must not be empty")
    if cfg.freeze.layers > cfg.model.layers:
        raise ValueError(f"freeze.layers: must be <= model.layers ({cfg.model.layers}), "
                         f"got {cfg.freeze.layers}")
    trainer = section(cfg, "trainer")
    for key, (good, need) in TRAINER_RULES.items():
        if key in trainer and not good(trainer[key]):
            raise ValueError(f"trainer.{key}: must be {need}, got {trainer[key]!r}")


# each section's own checks: its dataclass's __post_init__ (data.concat before data)
SECTIONS = ("data.concat", "data", "features", "specaug", "augment", "model", "tokenizer",
            "optim", "checkpoint", "freeze", "decode")


def _check_values(cfg: DictConfig, source: str) -> None:
    """Every value of a config: each section's own checks (its dataclass's ``__post_init__``,
    e.g. an unknown rnn_type), then `_check_run`. A `ConfigError` ``{source}: {key}: {problem}``
    (checks name the field first, ``field: problem``)."""
    for name in SECTIONS:
        node = OmegaConf.select(cfg, name)
        try:  # as a plain dict: data's manifests may be missing (`_check_training` wants them)
            OmegaConf.get_type(node)(**OmegaConf.to_container(node, resolve=True))
        except OmegaConfBaseException as err:
            raise _error(source, err) from None
        except (ValueError, TypeError, DecoderError) as err:
            key, sep, problem = str(err).partition(": ")
            where = f"{name}.{key}: {problem}" if sep and key in node else f"{name}: {err}"
            raise ConfigError(f"{source}: {where}") from None
    try:
        _check_run(cfg)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def _check_training(cfg: DictConfig, source: str) -> None:
    """What `asr train` needs beyond `load_config`'s checks, before any work: the manifests
    (and a BPE model) exist, and every ``trainer`` key is a `lightning.Trainer` argument."""
    paths = ["data.train_manifest", "data.val_manifest"]
    if cfg.tokenizer.type == "bpe":
        paths.append("tokenizer.bpe_model")
    for key in paths:
        path = OmegaConf.select(cfg, key)  # None where missing (???)
        if path is None:
            raise ConfigError(f"{source}: {key}: not set")
        if not Path(path).is_file():
            raise ConfigError(f"{source}: {key}: no such file: {path}")
    for key in ("resume", "init_from"):  # checked here only: a saved config may outlive them
        if cfg[key] is not None and not Path(cfg[key]).is_file():
            raise ConfigError(f"{source}: {key}: no such checkpoint: {cfg[key]}")
    try:
        trainer_args(cfg)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_config(
    path: str | Path, overrides: Sequence[str] = (), *, training: bool = False
) -> DictConfig:
    """The `TrainConfig` schema, with the file at `path` (and its ``defaults``) and
    ``key=value`` overrides merged on it, every value checked (`_check_values`); `training`:
    also what a training run needs (`_check_training`: the manifests exist...). Raises
    `ConfigError` naming the key and the file."""
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"command line: overrides must look like key=value, got {bad}")
    cfg = _compose(OmegaConf.structured(TrainConfig), Path(path))
    cfg = _merge(cfg, OmegaConf.from_dotlist(list(overrides)), "command line")
    source = str(path) if not overrides else f"{path} + command line"
    _check_values(cfg, source)
    if training:
        _check_training(cfg, source)
    return cfg


def section(cfg: DictConfig, name: str) -> dict:
    """One section as a plain dict (resolved)."""
    return OmegaConf.to_container(cfg[name], resolve=True)


def vocabulary(cfg: DictConfig):
    """The output vocabulary a config describes: `asr.text.CharVocab`, or for
    ``tokenizer.type=bpe`` the `asr.bpe.BpeVocab` of ``tokenizer.bpe_model`` (a `ConfigError`
    naming the key when it cannot be read)."""
    if cfg.tokenizer.type == "char":
        return CharVocab()
    from asr.bpe import BpeError, BpeVocab

    try:
        return BpeVocab.from_file(cfg.tokenizer.bpe_model)
    except BpeError as err:
        raise ConfigError(f"tokenizer.bpe_model: {err}") from None


def model_dims(cfg: DictConfig, vocab_size: int | None = None) -> ModelDims:
    """The model a config describes, its input size and vocabulary filled in: the features'
    mel bins, and `vocab_size` (default: that of `vocabulary`, the CTC blank included)."""
    if vocab_size is None:
        vocab_size = len(vocabulary(cfg))
    return replace(OmegaConf.to_object(cfg.model), n_input=cfg.features.n_mels,
                   vocab_size=vocab_size)


def output_frames(cfg: DictConfig | None = None) -> Callable[[float], int]:
    """duration (s) -> output frames (T') of the model a config describes (defaults if None);
    manifests drop utterances too short for their transcript (CTC) with it."""
    dims = OmegaConf.to_object(cfg.model) if cfg is not None else ModelDims()
    feats = OmegaConf.to_object(cfg.features) if cfg is not None else FeatureConfig()
    return lambda seconds: dims.output_length(feats.num_frames(int(seconds * feats.sample_rate)))


def auto_precision(accelerator: str = "auto") -> str:
    """``trainer.precision: auto``: ``bf16-mixed`` where the device multiplies bf16 matrices
    natively (a CUDA GPU that supports bf16; a CPU with AVX-512 BF16, with or without AMX tiles:
    the mini recipe's model trained 11-18 % faster on an Intel Xeon with AMX, about 16 % on an
    AMD EPYC Zen 4 without, at a WER within a seed's noise), else ``32-true``."""
    import torch

    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        native = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    elif accelerator in ("cpu", "auto"):
        try:
            native = torch.cpu._is_avx512_bf16_supported()
        except AttributeError:  # an older torch without this probe
            native = False
    else:
        native = False
    return "bf16-mixed" if native else "32-true"


def trainer_args(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.trainer`` checked against `lightning.Trainer`'s arguments; ``precision: auto``
    resolved (`auto_precision`)."""
    import inspect

    import lightning as L

    args = section(cfg, "trainer")
    known = inspect.signature(L.Trainer.__init__).parameters
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise ConfigError(f"trainer.{unknown[0]}: not an argument of lightning.Trainer")
    if args.get("precision") == "auto":
        args["precision"] = auto_precision(str(args.get("accelerator", "auto")))
    return args
