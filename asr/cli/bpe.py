"""Commands for BPE units: ``asr bpe train``."""

from __future__ import annotations

import argparse
import json

from asr.cli.common import command


def cmd_train(args: argparse.Namespace) -> int:
    from asr.bpe import train_bpe

    print(json.dumps(train_bpe(args.text, args.vocab_size, args.out), indent=2))
    return 0


def add_commands(sub) -> None:
    bpe = command(sub, "bpe", None, "BPE units (sentencepiece) instead of characters")
    bpe_sub = bpe.add_subparsers(dest="bpe_command", required=True)
    p = command(bpe_sub, "train", cmd_train,
                "transcripts -> a BPE model (OUT/bpe.model) for tokenizer.bpe_model")
    p.add_argument("--text", nargs="+", required=True,
                   help="text files: one sentence a line, id|text, or JSONL manifests")
    p.add_argument("--vocab-size", type=int, required=True,
                   help="pieces, the CTC blank and <unk> included (the model's output size)")
    p.add_argument("--out", required=True, help="output folder: bpe.model, bpe.vocab")
