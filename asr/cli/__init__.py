"""The `asr` command: argument parsing and calls into the library, nothing else.

One module per group of commands, each declaring its commands' options beside the functions
they run: `data` (synth, prepare, validate, download, prepare-corpus), `train` (config, train,
export), `recognize` (evaluate, transcribe, the decoding options), `report` (report, compare),
`lm` (lm build | tune | download) and `bpe` (bpe train).

Errors of the toolkit's own types (defined in asr.*) and file-system errors end the command with
one line on stderr and exit code 2; anything else is a bug and keeps its traceback (``-v``:
tracebacks for all).
"""

from __future__ import annotations

import argparse
import logging
import sys

from asr.cli import bpe, data, lm, recognize, report, study, train
from asr.cli.common import log

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and a traceback for every error")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (data, train, recognize, report, lm, bpe, study):
        group.add_commands(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (tests and notebooks replace it between calls)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def user_error(err: BaseException) -> bool:
    """The toolkit's own error types (defined in asr.*) and file-system errors."""
    return isinstance(err, OSError) or any(
        c.__module__.startswith("asr.") for c in type(err).__mro__
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling a trailing positional list once an option came between
    # (`asr prepare SRC OUT --config C key=value`): such key=value words are overrides too
    if extra and hasattr(args, "overrides") and all("=" in e for e in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # our own messages only: Lightning configures its own logger (propagating would print twice)
    if not log.handlers:  # main() may run more than once in a process (tests, notebooks)
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except Exception as err:
        if args.verbose or not user_error(err):
            raise
        print(f"asr {args.command}: error: {err}", file=sys.stderr)
        return 2
