"""Commands that run a model: evaluate, transcribe; and the decoding options they share."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from asr.cli.common import command, log
from asr.cli.report import write_report
from asr.decode import BACKENDS, DEFAULT_ALPHA, DEFAULT_BETA, DecodeConfig
from asr.writers import FORMATS

_DECODE_HELP = {  # DecodeConfig field -> help; the defaults are DecodeConfig's
    "lm": "KenLM n-gram LM (ARPA or binary) for beam search",
    "lexicon": "word list restricting the output words (default: the LM's)",
    "beam_size": "beams kept",
    "beam_threshold": "prune hypotheses this far (log-prob) below the best",
    "alpha": f"LM weight (default: <lm>.tuned.json, else {DEFAULT_ALPHA})",
    "beta": f"word bonus (default: <lm>.tuned.json, else {DEFAULT_BETA})",
}
_TYPES = {"beam_size": int, "beam_threshold": float, "alpha": float, "beta": float}


def add_decoder_args(parser: argparse.ArgumentParser, tuning: bool = False) -> None:
    """The options of `DecodeConfig`. For evaluate/transcribe their defaults are None, so the
    ``decode:`` section of ``--decode-config`` fills what is not given; `asr lm tune`
    (``tuning``) takes the beam's size, lexicon and backend, with their defaults."""
    g = parser.add_argument_group("decoding (greedy, or beam search with an n-gram LM)")
    if not tuning:
        g.add_argument("--decode-config", metavar="CFG",
                       help="config whose `decode:` section sets the defaults of these options")
        g.add_argument("--decoder", choices=["greedy", "beam"],
                       help="default: beam if --lm or --lexicon is given, else greedy")
    defaults = DecodeConfig()
    for name, help in _DECODE_HELP.items():
        if tuning and name not in ("beam_size", "lexicon"):
            continue
        default = getattr(defaults, name)
        g.add_argument(f"--{name.replace('_', '-')}", type=_TYPES.get(name, str),
                       default=default if tuning else None,
                       help=help + (f" (default {default})" if default is not None else ""))
    g.add_argument("--lm-backend", choices=BACKENDS, default=defaults.backend if tuning else None,
                   help=f"beam search library (default {defaults.backend})")


def decoder_from_args(args: argparse.Namespace, tokens: list[str]):
    """The decoder asked for: the ``decode:`` section of --decode-config, then the options."""
    from omegaconf import OmegaConf

    from asr.config import load_config
    from asr.decode import build_decoder

    cfg = DecodeConfig()
    if args.decode_config:
        cfg = OmegaConf.to_object(load_config(args.decode_config).decode)
    given = {name: getattr(args, name) for name in _DECODE_HELP}
    given["backend"] = args.lm_backend
    cfg = replace(cfg, **{k: v for k, v in given.items() if v is not None})
    cfg = replace(cfg, type=args.decoder or ("beam" if args.lm or args.lexicon else cfg.type))
    decoder = build_decoder(tokens, cfg)
    if cfg.type == "beam":
        log.info("beam search: %s (LM loaded in %.2f s)", decoder.config, decoder.load_seconds)
    return decoder


def cmd_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluation import evaluate
    from asr.recognizer import load_model

    model = load_model(args.checkpoint, args.device)
    s = evaluate(model, args.manifest, args.out_dir, decoder=decoder_from_args(args, model.tokens))
    w, out = s["words"], Path(args.out_dir)
    print(f"WER {100 * s['wer']:.2f} % [{w['errors']} / {w['ref_len']}: S={w['substitutions']} "
          f"D={w['deletions']} I={w['insertions']}]  CER {100 * s['cer']:.2f} %  SER "
          f"{100 * s['sentence_error_rate']:.1f} %  ({s['utterances']} utterances, RTF "
          f"{s['rtf']:.4f})\nsummary: {out / 'wer.json'}\nhypotheses: {out / 'hyps.jsonl'}")
    if args.report:
        write_report(out, args.report, args.train_log)
    return 1 if s["failed"] else 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.audio import AudioError, find_audio
    from asr.recognizer import load_model
    from asr.transcribe import transcribe_files
    from asr.writers import WRITERS, unique_stems, write_transcript

    files, empty = find_audio(args.audio)
    fmt = args.format or ("json" if args.json else "all" if args.output_dir else "txt")
    out_dir = args.output_dir or ("." if fmt == "all" else None)
    if out_dir is None and fmt in ("srt", "vtt", "tsv") and len(files) > 1:
        print(f"asr transcribe: error: --format {fmt} with several inputs needs --output-dir",
              file=sys.stderr)
        return 2
    model_path = args.model or args.checkpoint
    recognizer = load_model(model_path, args.device, args.threads or None)
    results = transcribe_files(
        recognizer, files, decoder=decoder_from_args(args, recognizer.tokens),
        chunk_seconds=args.chunk_seconds, overlap_seconds=args.overlap_seconds,
        batch_size=args.batch_size, model_name=str(model_path),
    )
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
    p.add_argument("--chunk-seconds", type=float, default=30.0,
                   help="window length for long audio (0: whole files)")
    p.add_argument("--overlap-seconds", type=float, default=5.0,
                   help="overlap of consecutive windows")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: library default)")
    add_decoder_args(p)
