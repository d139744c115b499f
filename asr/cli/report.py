"""Commands for WER reports: report, compare."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.cli.common import command


def add_embed_audio(p: argparse.ArgumentParser) -> None:
    """``--embed-audio``, for every command that writes an HTML report."""
    p.add_argument("--embed-audio", action="store_true",
                   help="hold the utterances' audio in the HTML page (Opus, 16 kHz mono) "
                   "instead of linking the files by relative path: one self-contained file")


def write_report(eval_dir: Path, out: str, train_log: str | None, embed_audio: bool) -> None:
    """The report of an evaluation directory; prints where it is."""
    from asr.report import report_from_eval_dir

    _, paths = report_from_eval_dir(eval_dir, out, train_log, embed_audio)
    print(f"report: {paths['html']} (also {paths['md'].name}, {paths['json'].name})")


def cmd_report(args: argparse.Namespace) -> int:
    write_report(Path(args.eval_dir), args.out, args.train_log, args.embed_audio)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from asr.report import compare_reports, format_text, load_report, write_compare

    cmp = compare_reports(load_report(args.report_a), load_report(args.report_b))
    print(format_text(cmp), end="")
    if args.out:
        paths = write_compare(cmp, args.out, args.embed_audio)
        print(f"comparison: {paths['html']} (also {paths['md'].name})")
    return 0


def add_commands(sub) -> None:
    p = command(sub, "report", cmd_report, "WER report (md, json, html) of an evaluation "
                "directory")
    p.add_argument("eval_dir", help="an `asr evaluate --out-dir` directory (wer.json, hyps.jsonl)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--train-log", metavar="PATH", help="a metrics.csv or an experiment directory")
    add_embed_audio(p)

    p = command(sub, "compare", cmd_compare, "two WER reports side by side")
    p.add_argument("report_a", help="report directory or report.json (baseline)")
    p.add_argument("report_b", help="report directory or report.json")
    p.add_argument("--out", metavar="DIR", help="also write compare.md and compare.html")
    add_embed_audio(p)
