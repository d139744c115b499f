"""Commands for models: config (print one), train, average, export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.cli.common import command, config


def cmd_config(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    print(OmegaConf.to_yaml(config(args)), end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from asr.config import load_config

    # every value checked, manifests included, before any work (or the slow imports)
    cfg = load_config(args.config, args.overrides, training=True)
    from asr.train import fit

    trainer = fit(cfg)
    if trainer.is_global_zero:
        best = trainer.checkpoint_callback
        if best.best_model_path:
            print(f"best checkpoint: {best.best_model_path} (val_wer {best.best_model_score:.4f})")
        else:
            print("best checkpoint: none (nothing was validated)")
        print(f"last checkpoint: {Path(best.dirpath) / 'last.ckpt'}")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from asr.checkpoint import average_checkpoints, save_atomic

    paths = sorted(args.checkpoints)[-args.last:] if args.last else args.checkpoints
    save_atomic(average_checkpoints(paths), args.out)
    print(f"averaged {len(paths)} checkpoints: {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from asr.checkpoint import load_network
    from asr.export import export_model, parity

    model = load_network(args.checkpoint, "cpu")
    if args.int8 and args.format != "onnx":
        print("asr export: error: --int8 is for --format onnx", file=sys.stderr)
        return 2
    out = export_model(model, args.out, args.format, int8=args.int8)
    kind = f"{args.format}, int8" if args.int8 else args.format
    print(f"exported: {out} ({kind}); max |log-prob difference| to PyTorch on a "
          f"padded batch: {parity(model, out):.2e}")
    return 0


def add_commands(sub) -> None:
    p = command(sub, "config", cmd_config, "print a training config with every default filled in")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")

    p = command(sub, "train", cmd_train, "train a model from a config")
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. model.rnn_type=gru")

    p = command(sub, "average", cmd_average, "average the weights of checkpoints (e.g. the last "
                "epochs: checkpoint.keep_epochs=N) into one checkpoint")
    p.add_argument("checkpoints", nargs="+", help="checkpoints of one model")
    p.add_argument("--last", type=int, help="only the last N of them in name order "
                   "(epoch05.ckpt ... epoch07.ckpt)")
    p.add_argument("--out", required=True, help="the averaged checkpoint")

    p = command(sub, "export", cmd_export, "checkpoint -> ONNX or TorchScript (waveform -> "
                "log-probs)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    p.add_argument("--int8", action="store_true", help="ONNX with int8 LSTM and linear weights "
                   "(dynamic quantisation): a third of the size, 1.7x faster on one core")
