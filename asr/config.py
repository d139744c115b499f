"""YAML configs with composition and command-line overrides (OmegaConf).

A config may list other configs to merge first under ``defaults`` (paths relative to its own
folder, ``.yaml`` optional), e.g. ``defaults: [base, model/bilstm_small]``; keys of the file
itself win, then ``key=value`` overrides from the command line (``model.rnn_type=gru``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    pass


def _load(path: Path, seen: tuple[Path, ...] = ()) -> DictConfig:
    if path.suffix != ".yaml" and not path.exists():
        path = path.with_suffix(".yaml")
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path in seen:
        raise ConfigError(f"{path}: circular 'defaults'")
    cfg = OmegaConf.load(path)
    merged = OmegaConf.create()
    for parent in cfg.pop("defaults", []) or []:
        merged = OmegaConf.merge(merged, _load(path.parent / str(parent), (*seen, path)))
    return OmegaConf.merge(merged, cfg)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Load `path` (resolving ``defaults``) and apply ``key=value`` overrides."""
    cfg = _load(Path(path))
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"overrides must look like key=value, got {bad}")
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
