"""Commands for n-gram language models: ``asr lm build | tune | download`` (``asr tune-lm`` and
``asr lm download-librispeech`` are the older spellings)."""

from __future__ import annotations

import argparse
import json

from asr.cli.common import command
from asr.cli.recognize import add_decoder_args


def cmd_build(args: argparse.Namespace) -> int:
    from asr.lm import build_lm

    info = build_lm(args.text, args.out, args.order, args.exclude or (), args.estimator,
                    args.binary, args.prune or (), args.dev_text)
    print(json.dumps(info, indent=2))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from asr.lm import download_librispeech_lm

    print(download_librispeech_lm(args.out_dir, args.name))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from asr.evaluation import tune_lm
    from asr.recognizer import load_model

    result, path = tune_lm(load_model(args.checkpoint, args.device), args.manifest, args.lm,
                           args.alphas, args.betas, args.lexicon, args.beam_size, args.backend)
    w = result["words"]
    print(f"best alpha {result['alpha']} beta {result['beta']}: dev WER {100 * result['wer']:.2f} "
          f"% [S={w['substitutions']} D={w['deletions']} I={w['insertions']} of {w['ref_len']}]")
    print(f"tuned weights: {path}")
    return 0


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None


def add_commands(sub) -> None:
    lm = command(sub, "lm", None, "n-gram language models: build, tune, download")
    lm_sub = lm.add_subparsers(dest="lm_command", required=True)
    p = command(lm_sub, "build", cmd_build, "text -> ARPA n-gram LM (modified Kneser-Ney)")
    p.add_argument("--text", nargs="+", required=True,
                   help="text files: one sentence a line, id|text, or JSONL manifests")
    p.add_argument("--out", required=True, help="output ARPA file (also writes <out>.words)")
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--exclude", nargs="+", help="files of held-out sentences to leave out")
    p.add_argument("--estimator", choices=["auto", "lmplz", "python"], default="auto",
                   help="KenLM's lmplz (auto: when found) or the Python estimator")
    p.add_argument("--binary", action="store_true",
                   help="also write a KenLM binary <out stem>.bin (needs KenLM's build_binary)")
    p.add_argument("--prune", type=int, nargs="+", metavar="N",
                   help="lmplz: drop n-grams seen at most N times, one N per order from the "
                   "bigrams on (e.g. --prune 0 1: 3-grams and longer seen once); needs lmplz")
    p.add_argument("--dev-text", help="report the LM's perplexity and OOV rate on this text")

    tune = argparse.ArgumentParser(add_help=False)
    tune.add_argument("--checkpoint", required=True)
    tune.add_argument("--manifest", required=True, help="dev manifest")
    tune.add_argument("--lm", required=True)
    tune.add_argument("--alphas", type=_floats, default=[0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
    tune.add_argument("--betas", type=_floats, default=[-1.0, 0.0, 1.0, 2.0, 3.0],
                      help="comma-separated; write --betas=-1,0,1 when the first is negative")
    tune.add_argument("--device", default="cpu")
    add_decoder_args(tune, tuning=True)
    what = "search the beam decoder's LM weight and word bonus on a dev set -> <lm>.tuned.json"
    command(lm_sub, "tune", cmd_tune, what, parents=[tune])
    command(sub, "tune-lm", cmd_tune, "same as `asr lm tune`", parents=[tune])

    p = command(lm_sub, "download", cmd_download, "an official LibriSpeech LM (openslr 11)",
                aliases=["download-librispeech"])
    p.add_argument("--out-dir", required=True)
    p.add_argument("--name", default="3-gram.pruned.1e-7.arpa.gz",
                   help="3-gram.pruned.1e-7.arpa.gz (default), 3-gram.pruned.3e-7.arpa.gz, "
                   "3-gram.arpa.gz, 4-gram.arpa.gz or librispeech-vocab.txt")
