"""Commands that run a model: evaluate, transcribe; and the decoding options they share."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path

from asr.cli.common import add_fields, command, log
from asr.cli.report import add_embed_audio, write_report
from asr.decode import DecodeConfig
from asr.transcription import WindowConfig
from asr.writers import FORMATS


def add_decoder_args(parser: argparse.ArgumentParser, tuning: bool = False) -> None:
    """The options of `DecodeConfig`. For evaluate/transcribe their defaults are None, so the
    ``decode:`` section of ``--decode-config`` fills what is not given; `asr lm tune`
    (``tuning``) takes the beam's size, lexicon and backend, with their defaults."""
    g = parser.add_argument_group("decoding (greedy, or beam search with an n-gram LM)")
    if tuning:
        add_fields(g, DecodeConfig, only=("beam_size", "lexicon", "backend"))
        return
    g.add_argument("--decode-config", metavar="CFG",
                   help="config whose `decode:` section sets the defaults of these options")
    add_fields(g, DecodeConfig, defaults=False)


def decode_config(args: argparse.Namespace) -> DecodeConfig:
    """The decoding asked for: the ``decode:`` section of --decode-config, then the options
    given; beam search when --lm or --lexicon is given without --decoder."""
    cfg = DecodeConfig()
    if args.decode_config:
        from omegaconf import OmegaConf

        from asr.config import load_config

        cfg = OmegaConf.to_object(load_config(args.decode_config).decode)
    given = {f.name: getattr(args, f.name) for f in fields(DecodeConfig)}
    cfg = replace(cfg, **{k: v for k, v in given.items() if v is not None})
    if args.type is None and (args.lm or args.lexicon):
        cfg = replace(cfg, type="beam")
    return cfg


def cmd_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluation import evaluate
    from asr.recognizer import load_model

    model = load_model(args.checkpoint, args.device)
    s = evaluate(model, args.manifest, args.out_dir, decoder=decode_config(args))
    w, out = s["words"], Path(args.out_dir)
    print(f"WER {100 * s['wer']:.2f} % [{w['errors']} / {w['ref_len']}: S={w['substitutions']} "
          f"D={w['deletions']} I={w['insertions']}]  CER {100 * s['cer']:.2f} %  SER "
          f"{100 * s['sentence_error_rate']:.1f} %  ({s['utterances']} utterances, RTF "
          f"{s['rtf']:.4f})\nsummary: {out / 'wer.json'}\nhypotheses: {out / 'hyps.jsonl'}")
    if args.report:
        write_report(out, args.report, args.train_log, args.embed_audio)
    return 1 if s["failed"] else 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.audio import AudioError, find_audio
    from asr.recognizer import load_model
    from asr.writers import WRITERS, unique_stems, write_transcript

    files, empty = find_audio(args.audio)
    fmt = args.format or ("json" if args.json else "all" if args.output_dir else "txt")
    out_dir = args.output_dir or ("." if fmt == "all" else None)
    if out_dir is None and fmt in ("srt", "vtt", "tsv") and len(files) > 1:
        print(f"asr transcribe: error: --format {fmt} with several inputs needs --output-dir",
              file=sys.stderr)
        return 2
    recognizer = load_model(args.model or args.checkpoint, args.device, args.threads or None)
    windows = {f.name: getattr(args, f.name) for f in fields(WindowConfig)}
    results = recognizer.transcribe_files(files, decode_config(args), **windows)
    failed = [f"{d}: no audio files in this directory" for d in empty]
    as_json = []
    for (path, result), stem in zip(results, unique_stems(files)):
        if isinstance(result, AudioError):
            failed.append(str(result))
        elif out_dir is not None:
            written = write_transcript(result, fmt, out_dir, stem)
            log.info("%s -> %s", path, ", ".join(map(str, written)))
        elif fmt == "json":
            as_json.append(result.to_dict())
        elif fmt == "txt":
            print(result.text if len(files) == 1 else f"{path}\t{result.text}", flush=True)
        else:
            WRITERS[fmt]().write(result, sys.stdout)
    if fmt == "json" and out_dir is None:
        print(json.dumps(as_json, indent=2, ensure_ascii=False))
    for message in failed:
        print(f"asr transcribe: error: {message}", file=sys.stderr)
    return 1 if failed else 0


def add_commands(sub) -> None:
    p = command(sub, "evaluate", cmd_evaluate, "decode a manifest, write WER/CER and hypotheses")
    p.add_argument("--checkpoint", required=True, help="checkpoint, .onnx or TorchScript file")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--report", metavar="DIR", help="also write report.{md,json,html} into DIR")
    p.add_argument("--train-log", metavar="PATH", help="with --report: training curves from a "
                   "metrics.csv or an experiment directory")
    add_embed_audio(p)
    add_decoder_args(p)

    p = command(sub, "transcribe", cmd_transcribe, "audio files (or directories) -> text, JSON, "
                "subtitles (any length)", description="Transcribe audio files or directories "
                "(wav/flac/ogg, any sample rate and channel count, any length). Without "
                "--output-dir, the text (or --format json/srt/vtt/tsv) goes to stdout; with it, "
                "one file per input and format (default: all formats).")
    p.add_argument("audio", nargs="+", help="audio files or directories")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="training checkpoint (.ckpt)")
    model.add_argument("--model", help="exported model (.onnx, TorchScript) or a checkpoint")
    p.add_argument("--format", choices=FORMATS,
                   help="output format (default: txt to stdout, all with --output-dir)")
    p.add_argument("--output-dir", help="write <output-dir>/<audio name>.<format>")
    p.add_argument("--json", action="store_true", help="same as --format json (to stdout)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_fields(p, WindowConfig)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: library default)")
    add_decoder_args(p)
