"""What the command groups share: declaring a command, options generated from a dataclass,
the training-config options."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import typing
from collections.abc import Callable, Sequence

log = logging.getLogger("asr")


def command(sub, name: str, func: Callable | None, help: str, **kw) -> argparse.ArgumentParser:
    """Add subcommand `name` running ``func(args) -> exit code``."""
    p = sub.add_parser(name, help=help, **kw)
    p.set_defaults(func=func)
    return p


def add_fields(parser, cls: type, defaults: bool = True, only: Sequence[str] | None = None) -> None:
    """``--<field>`` options for the fields of dataclass `cls` (`only` these, if given), so a
    dataclass is the one place its options, types and defaults are written: type from the
    annotation, ``help`` and ``choices`` from the field's metadata, which may also name the
    option (``flag``); ``args.<field>`` holds the value. `defaults`: the field's default, else
    None (for options whose unset values something else fills)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        kind = next((t for t in typing.get_args(hints[f.name]) if t is not type(None)),
                    hints[f.name])  # X | None -> X
        help = f.metadata.get("help", "")
        if f.default is not None and "default" not in help:
            help += f" (default {f.default})"
        parser.add_argument(f"--{f.metadata.get('flag', f.name.replace('_', '-'))}", dest=f.name,
                            type=kind, choices=f.metadata.get("choices"), help=help,
                            default=f.default if defaults else None)


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
