"""The `asr` command: thin argument parsing around the library functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from asr.audio import AudioError
from asr.writers import FORMATS

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus"}


def _output_frames(args: argparse.Namespace):
    """duration (s) -> model output frames, from the training config (defaults if none)."""
    from asr.features import FeatureConfig
    from asr.model import ModelDims

    if args.config:
        from omegaconf import OmegaConf

        from asr.config import load_config

        cfg = load_config(args.config, args.overrides)
        dims = ModelDims(**OmegaConf.to_container(cfg.model, resolve=True))
        feats = FeatureConfig(**OmegaConf.to_container(cfg.features, resolve=True))
    else:
        dims, feats = ModelDims(), FeatureConfig()
    return lambda seconds: dims.output_length(feats.num_frames(int(seconds * feats.sample_rate)))


def cmd_synth(args: argparse.Namespace) -> int:
    from asr.data.synth import synthesize_corpus

    subsets = {"train": args.train, "dev": args.dev, "test": args.test}
    subsets = {name: n for name, n in subsets.items() if n > 0}
    dirs = synthesize_corpus(
        args.out_dir,
        subsets=subsets,
        seed=args.seed,
        text_file=args.text,
        n_test_variants=args.test_variants,
        jobs=args.jobs,
    )
    for name, path in dirs.items():
        print(f"{name}: {path}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from asr.data.librispeech import prepare_librispeech
    from asr.data.manifest import build_manifest, read_listing

    src = Path(args.source)
    if src.is_dir():
        report = prepare_librispeech(src, args.manifest, _output_frames(args))
    else:
        report = build_manifest(read_listing(src), args.manifest, _output_frames(args))
    print(report.summary())
    print(f"manifest: {args.manifest}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.train import fit

    trainer = fit(load_config(args.config, args.overrides))
    if trainer.is_global_zero:
        best = trainer.checkpoint_callback
        print(
            f"best checkpoint: {best.best_model_path} (val_wer {float(best.best_model_score):.4f})"
        )
        print(f"last checkpoint: {Path(best.dirpath) / 'last.ckpt'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from asr.checkpoint import load_model
    from asr.inference import evaluate

    model = load_model(args.checkpoint, args.device)
    s = evaluate(model, args.manifest, args.out_dir)
    w = s["words"]
    print(
        f"WER {100 * s['wer']:.2f} % [{w['errors']} / {w['ref_len']}: S={w['substitutions']} "
        f"D={w['deletions']} I={w['insertions']}]  CER {100 * s['cer']:.2f} %  "
        f"SER {100 * s['sentence_error_rate']:.1f} %  ({s['utterances']} utterances, "
        f"RTF {s['rtf']:.4f})"
    )
    out = Path(args.out_dir)
    print(f"summary: {out / 'wer.json'}\nhypotheses: {out / 'hyps.jsonl'}")
    return 1 if s["failed"] else 0


def _expand(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES))
        else:
            out.append(p)
    return out


def cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.transcribe import load_recognizer, transcribe_files
    from asr.writers import WRITERS, write_transcript

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    files = _expand(args.audio)
    fmt = args.format or ("json" if args.json else "all" if args.output_dir else "txt")
    out_dir = args.output_dir or ("." if fmt == "all" else None)
    if out_dir is None and fmt in ("srt", "vtt", "tsv") and len(files) > 1:
        print(f"asr transcribe: error: --format {fmt} with several inputs needs --output-dir",
              file=sys.stderr)
        return 2
    model_path = args.model or args.checkpoint
    recognizer = load_recognizer(model_path, args.device, args.threads or None)
    results = transcribe_files(
        recognizer,
        files,
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        batch_size=args.batch_size,
        model_name=str(model_path),
    )
    failed, as_json, stems = 0, [], set()
    for empty in (d for d in args.audio if Path(d).is_dir() and not _expand([d])):
        print(f"asr transcribe: error: {empty}: no audio files in directory", file=sys.stderr)
        failed += 1
    for path, result in results:
        if isinstance(result, AudioError):
            print(f"asr transcribe: error: {result}", file=sys.stderr)
            failed += 1
        elif out_dir is not None:
            stem, n = path.stem, 1
            while stem in stems:  # the same file name in two input directories
                n, stem = n + 1, f"{path.stem}-{n + 1}"
            stems.add(stem)
            written = write_transcript(result, fmt, out_dir, stem)
            logging.getLogger("asr").info("%s -> %s", path, ", ".join(map(str, written)))
        elif fmt == "json":
            as_json.append(result.to_dict())
        elif fmt == "txt":
            print(result.text if len(files) == 1 else f"{path}\t{result.text}", flush=True)
        else:
            WRITERS[fmt]().write(result, sys.stdout)
    if fmt == "json" and out_dir is None:
        print(json.dumps(as_json, indent=2, ensure_ascii=False))
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    from asr.checkpoint import load_model
    from asr.export import export_model, parity

    model = load_model(args.checkpoint, "cpu")
    out = export_model(model, args.out, args.format)
    print(f"exported: {out} ({args.format}); max |log-prob difference| to PyTorch on a "
          f"padded batch: {parity(model, out):.2e}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="synthesize a LibriSpeech-layout corpus with espeak-ng")
    p.add_argument("out_dir")
    p.add_argument("--train", type=int, default=3000, help="training sentences")
    p.add_argument("--dev", type=int, default=100, help="dev sentences (training voices)")
    p.add_argument("--test", type=int, default=200, help="test sentences (unseen voices)")
    p.add_argument("--test-variants", type=int, default=2, help="voice variants held out for test")
    p.add_argument("--text", help="sentences from this file (one per line) instead of the grammar")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("prepare", help="corpus -> JSONL manifest")
    p.add_argument(
        "source",
        help="a LibriSpeech-layout subset directory, or a TSV listing "
        "(audio<TAB>text[<TAB>speaker])",
    )
    p.add_argument("manifest", help="output JSONL manifest")
    p.add_argument("--config", help="training config: drop utterances too short for its model")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train a model from a config")
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. model.rnn_type=gru")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="decode a manifest, write WER/CER and hypotheses")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "transcribe",
        help="audio files (or directories) -> text, JSON, subtitles (any length)",
        description="Transcribe audio files or directories (wav/flac/ogg, any sample rate and "
        "channel count, any length). Without --output-dir, the text (or --format json/srt/vtt/"
        "tsv) goes to stdout; with it, one file per input and format (default: all formats).",
    )
    p.add_argument("audio", nargs="+", help="audio files or directories")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="training checkpoint (.ckpt)")
    model.add_argument("--model", help="exported model (.onnx, TorchScript) or a checkpoint")
    p.add_argument("--format", choices=FORMATS, help="output format (default: txt to stdout, "
                   "all with --output-dir)")
    p.add_argument("--output-dir", help="write <output-dir>/<audio name>.<format>")
    p.add_argument("--json", action="store_true", help="same as --format json (to stdout)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--chunk-seconds", type=float, default=30.0,
                   help="window length for long audio (0: whole files)")
    p.add_argument("--overlap-seconds", type=float, default=5.0,
                   help="overlap of consecutive windows")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: library default)")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("export", help="checkpoint -> ONNX or TorchScript (waveform -> log-probs)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    p.set_defaults(func=cmd_export)
    return parser


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
    log = logging.getLogger("asr")
    if not log.handlers:  # main() may run more than once in a process (tests, notebooks)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    from asr.checkpoint import CheckpointError
    from asr.config import ConfigError
    from asr.data.manifest import ManifestError

    try:
        return args.func(args)
    except (AudioError, CheckpointError, ConfigError, ManifestError, RuntimeError) as err:
        if args.verbose:
            raise
        print(f"asr {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
