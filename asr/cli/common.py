"""What the command groups share: declaring a command, the training-config options."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

log = logging.getLogger("asr")


def command(sub, name: str, func: Callable | None, help: str, **kw) -> argparse.ArgumentParser:
    """Add subcommand `name` running ``func(args) -> exit code``."""
    p = sub.add_parser(name, help=help, **kw)
    p.set_defaults(func=func)
    return p


def with_config(p: argparse.ArgumentParser, what: str) -> None:
    """``--config CFG [key=value ...]``: a training config, for `what`."""
    p.add_argument("--config", help=f"training config: {what}")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")


def config(args: argparse.Namespace):
    """The training config of ``--config`` (and overrides), or None."""
    from asr.config import load_config

    return load_config(args.config, args.overrides) if args.config else None


def output_frames(args: argparse.Namespace) -> Callable[[float], int]:
    """duration (s) -> output frames of the model ``--config`` describes (defaults if none)."""
    from asr.config import output_frames

    return output_frames(config(args))
