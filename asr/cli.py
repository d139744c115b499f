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
        pause_share=args.pause_share,
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


def cmd_validate(args: argparse.Namespace) -> int:
    from asr.validate import summary, validate_manifest

    max_duration, rate = None, 16000
    if args.config:
        from asr.config import load_config

        cfg = load_config(args.config, args.overrides)
        max_duration, rate = cfg.data.get("max_duration"), cfg.features.sample_rate
    report, total = validate_manifest(
        args.manifest,
        output_frames=_output_frames(args),
        max_duration=max_duration,
        decode=not args.header_only,
        sample_rate=rate,
        jobs=args.jobs,
        clean_out=args.write_clean,
    )
    print(summary(report, args.manifest, total))
    if args.write_clean and report.kept:
        print(f"usable records: {args.write_clean}")
    return 1 if report.dropped else 0


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
    from asr.provenance import checkpoint_info

    model = load_model(args.checkpoint, args.device)
    s = evaluate(
        model,
        args.manifest,
        args.out_dir,
        metadata={"checkpoint": checkpoint_info(args.checkpoint)},
        decoder=decoder_from_args(args, ["", *model.vocab]),
    )
    w = s["words"]
    print(
        f"WER {100 * s['wer']:.2f} % [{w['errors']} / {w['ref_len']}: S={w['substitutions']} "
        f"D={w['deletions']} I={w['insertions']}]  CER {100 * s['cer']:.2f} %  "
        f"SER {100 * s['sentence_error_rate']:.1f} %  ({s['utterances']} utterances, "
        f"RTF {s['rtf']:.4f})"
    )
    out = Path(args.out_dir)
    print(f"summary: {out / 'wer.json'}\nhypotheses: {out / 'hyps.jsonl'}")
    if args.report:
        _write_report(out, args.report, args.train_log)
    return 1 if s["failed"] else 0


def _write_report(eval_dir: Path, out: str, train_log: str | None) -> None:
    """Report of an evaluation directory; prints where it is."""
    from asr.report import report_from_eval_dir

    _, paths = report_from_eval_dir(eval_dir, out, train_log)
    print(f"report: {paths['html']} (also {paths['md'].name}, {paths['json'].name})")


def cmd_report(args: argparse.Namespace) -> int:
    _write_report(Path(args.eval_dir), args.out, args.train_log)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from asr.compare import compare_reports, format_text, load_report, write_compare

    cmp = compare_reports(load_report(args.report_a), load_report(args.report_b))
    print(format_text(cmp), end="")
    if args.out:
        paths = write_compare(cmp, args.out)
        print(f"comparison: {paths['html']} (also {paths['md'].name})")
    return 0


def _expand(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
            out.extend(found or [p])  # a directory without audio is reported as a bad input
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
        decoder=decoder_from_args(args, ["", *recognizer.vocab]),
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


def cmd_download(args: argparse.Namespace) -> int:
    if args.corpus == "librispeech":
        from asr.data.download import DownloadError
        from asr.data.librispeech import BASE_URL, download_librispeech

        checksums = {}
        if args.checksums:  # sha256sum format: "<sha256>  <subset>.tar.gz"
            lines = Path(args.checksums).read_text().splitlines()
            for lineno, line in enumerate(lines, 1):
                fields = line.split()
                if len(fields) != 2:
                    if fields:
                        raise DownloadError(
                            f"{args.checksums}:{lineno}: expected '<sha256>  <subset>.tar.gz'"
                        )
                    continue
                checksums[fields[1].lstrip("*").removesuffix(".tar.gz")] = fields[0]
        dirs = download_librispeech(
            args.target_dir, args.subsets or ["dev-clean"], args.base_url or BASE_URL, checksums
        )
        for subset, path in dirs.items():
            print(f"{subset}: {path}")
        return 0
    if args.corpus == "ljspeech":
        from asr.data.ljspeech import SHA256, URL
        from asr.data.ljspeech import download_ljspeech as download
    else:
        from asr.data.fsdd import URL
        from asr.data.fsdd import download_fsdd as download

        SHA256 = None
    # the published checksum belongs to the published archive; --url takes --sha256 (or none)
    sha256 = args.sha256 if args.url else args.sha256 or SHA256
    print(f"{args.corpus}: {download(args.target_dir, args.url or URL, sha256)}")
    return 0


def cmd_prepare_corpus(args: argparse.Namespace) -> int:
    from asr.data.manifest import ManifestError

    frames = _output_frames(args)
    if args.corpus == "librispeech":
        from asr.data.librispeech import prepare_librispeech

        root = Path(args.data_dir)
        if not root.is_dir():
            raise ManifestError(f"{root}: not a directory")
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != ".")
        subsets = args.subsets or found
        reports = {s: prepare_librispeech(root / s, Path(args.out_dir) / f"{s}.jsonl", frames)
                   for s in subsets}
    elif args.corpus == "ljspeech":
        from asr.data.ljspeech import prepare_ljspeech

        reports = prepare_ljspeech(args.data_dir, args.out_dir, frames, limit=args.limit)
        if args.sentences:
            from asr.data.ljspeech import write_training_sentences

            out = Path(args.out_dir) / "train_sentences.txt"
            n = write_training_sentences(args.sentences, Path(args.out_dir) / "heldout.txt", out)
            print(f"{out}: {n} sentences of {args.sentences} (held-out sentences left out)")
    else:
        from asr.data.fsdd import prepare_fsdd

        reports = prepare_fsdd(args.data_dir, args.out_dir, frames, limit=args.limit)
    for name, report in reports.items():
        print(f"{name}: " + report.summary().replace("\n", f"\n{name}: "))
        print(f"{name}: manifest {Path(args.out_dir) / name}.jsonl")


def add_decoder_args(parser: argparse.ArgumentParser) -> None:
    """Decoding options shared by the commands that decode (evaluate, transcribe)."""
    g = parser.add_argument_group("decoding (greedy, or beam search with an n-gram LM)")
    g.add_argument("--decode-config", metavar="CFG",
                   help="YAML config whose `decode:` section sets the defaults of these options")
    g.add_argument("--decoder", choices=["greedy", "beam"], help="default: beam if --lm is given")
    g.add_argument("--lm", help="KenLM n-gram LM (ARPA or binary) for beam search")
    g.add_argument("--lexicon", help="word list restricting the output words (default: the LM's)")
    g.add_argument("--beam-size", type=int, help="default 50")
    g.add_argument("--alpha", type=float, help="LM weight (default: <lm>.tuned.json, else 0.5)")
    g.add_argument("--beta", type=float, help="word bonus (default: <lm>.tuned.json, else 1.0)")
    g.add_argument("--lm-backend", choices=["flashlight", "pyctcdecode"],
                   help="default flashlight")


def decoder_from_args(args: argparse.Namespace, tokens: list[str]):
    """The decoder the options of `add_decoder_args` ask for: the config's `decode:` section
    (if `--decode-config`), overridden by the options given."""
    from asr.decode import build_decoder

    cfg: dict = {"type": "greedy"}
    if args.decode_config:
        from omegaconf import OmegaConf

        from asr.config import load_config

        section = load_config(args.decode_config).get("decode") or {}
        cfg.update(OmegaConf.to_container(section, resolve=True))
    given = {"lm": args.lm, "lexicon": args.lexicon, "beam_size": args.beam_size,
             "alpha": args.alpha, "beta": args.beta, "backend": args.lm_backend}
    cfg.update({k: v for k, v in given.items() if v is not None})
    if args.decoder:
        cfg["type"] = args.decoder
    elif args.lm or args.lexicon:
        cfg["type"] = "beam"
    if cfg["type"] == "greedy":
        return build_decoder(tokens, {"type": "greedy"})
    decoder = build_decoder(tokens, cfg)
    logging.getLogger("asr").info("beam search: %s (LM loaded in %.2f s)", decoder.config,
                                  decoder.load_seconds)
    return decoder


def cmd_lm_build(args: argparse.Namespace) -> int:
    from asr.lm import build_lm

    info = build_lm(args.text, args.out, args.order, args.exclude or (), args.estimator,
                    args.binary)
    print(json.dumps(info, indent=2))
    return 0


def cmd_lm_download(args: argparse.Namespace) -> int:
    from asr.lm import download_librispeech_lm

    print(download_librispeech_lm(args.out_dir, args.name))
    return 0


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text}") from None


def cmd_tune_lm(args: argparse.Namespace) -> int:
    from asr.checkpoint import load_model
    from asr.data.manifest import read_manifest
    from asr.decode import BeamSearchDecoder
    from asr.inference import forward_log_probs
    from asr.lm import tune_weights, write_tuned

    model = load_model(args.checkpoint, args.device)
    records = read_manifest(args.manifest)
    refs = {r["id"]: r["text"] for r in records}
    utterances = [
        (lp[:n].cpu(), refs[i])
        for ids, log_probs, lengths in forward_log_probs(model, records)
        for i, lp, n in zip(ids, log_probs, lengths.tolist())
    ]
    decoder = BeamSearchDecoder(["", *model.vocab], args.lm, args.lexicon, args.beam_size,
                                backend=args.lm_backend)
    result = tune_weights(decoder, utterances, args.alphas, args.betas)
    path = write_tuned(args.lm, args.lm_backend, result, beam_size=args.beam_size,
                       lexicon=args.lexicon, manifest=args.manifest, checkpoint=args.checkpoint,
                       utterances=len(utterances))
    w = result["words"]
    print(f"best alpha {result['alpha']} beta {result['beta']}: dev WER {100 * result['wer']:.2f} "
          f"% [S={w['substitutions']} D={w['deletions']} I={w['insertions']} of {w['ref_len']}]")
    print(f"tuned weights: {path}")
    return 0


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (tests and notebooks replace it between calls)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


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
    p.add_argument("--pause-share", type=float, default=0.5,
                   help="share of sentences with pauses at 1-3 word boundaries")
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

    p = sub.add_parser("validate", help="check a manifest before training (exit 1 on problems)")
    p.add_argument("manifest")
    p.add_argument("--config", help="training config: check CTC lengths for its model")
    p.add_argument("--header-only", action="store_true", help="read headers, do not decode")
    p.add_argument("--jobs", type=int, default=None, help="threads (default: CPU count)")
    p.add_argument("--write-clean", metavar="OUT", help="write the usable records here")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("train", help="train a model from a config")
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. model.rnn_type=gru")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="decode a manifest, write WER/CER and hypotheses")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--report", metavar="DIR", help="also write report.{md,json,html} into DIR")
    p.add_argument(
        "--train-log",
        metavar="PATH",
        help="with --report: training curves from a metrics.csv or an experiment directory",
    )
    add_decoder_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="WER report (md, json, html) of an evaluation directory")
    p.add_argument("eval_dir", help="an `asr evaluate --out-dir` directory (wer.json, hyps.jsonl)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--train-log", metavar="PATH", help="a metrics.csv or an experiment directory")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="two WER reports side by side")
    p.add_argument("report_a", help="report directory or report.json (baseline)")
    p.add_argument("report_b", help="report directory or report.json")
    p.add_argument("--out", metavar="DIR", help="also write compare.md and compare.html")
    p.set_defaults(func=cmd_compare)

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
    add_decoder_args(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("export", help="checkpoint -> ONNX or TorchScript (waveform -> log-probs)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("download", help="download and extract a public corpus (resumable)")
    p.add_argument("corpus", choices=["librispeech", "ljspeech", "fsdd"])
    p.add_argument("target_dir")
    p.add_argument("--subsets", nargs="+", help="LibriSpeech subsets (default: dev-clean)")
    p.add_argument("--base-url", help="LibriSpeech mirror (default: https://www.openslr.org/...)")
    p.add_argument("--url", help="archive URL (ljspeech, fsdd) instead of the public one")
    p.add_argument("--sha256", help="expected SHA-256 of the archive")
    p.add_argument(
        "--checksums", help="LibriSpeech: sha256sum-style file replacing the published values"
    )
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("prepare-corpus", help="downloaded corpus -> train/dev/test manifests")
    p.add_argument("corpus", choices=["librispeech", "ljspeech", "fsdd"])
    p.add_argument("data_dir", help="LibriSpeech/ (with subsets), LJSpeech-1.1/, or fsdd/")
    p.add_argument("out_dir", help="where <split>.jsonl go")
    p.add_argument("--subsets", nargs="+", help="LibriSpeech subsets (default: all present)")
    p.add_argument("--limit", type=int, help="at most this many utterances (smoke tests)")
    p.add_argument(
        "--sentences",
        help="ljspeech: id|text sentence file; writes OUT_DIR/train_sentences.txt without "
        "the held-out sentences (for `asr synth --text` or a language model)",
    )
    p.add_argument("--config", help="training config: drop utterances too short for its model")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    p.set_defaults(func=cmd_prepare_corpus)

    p = sub.add_parser("lm", help="n-gram language models")
    lm_sub = p.add_subparsers(dest="lm_command", required=True)
    p = lm_sub.add_parser("build", help="text -> ARPA n-gram LM (modified Kneser-Ney)")
    p.add_argument("--text", nargs="+", required=True,
                   help="text files: one sentence a line, id|text, or JSONL manifests")
    p.add_argument("--out", required=True, help="output ARPA file (also writes <out>.words)")
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--exclude", nargs="+", help="files of held-out sentences to leave out")
    p.add_argument("--estimator", choices=["auto", "lmplz", "python"], default="auto",
                   help="KenLM's lmplz (auto: when found) or the Python estimator")
    p.add_argument("--binary", action="store_true",
                   help="also write a KenLM binary <out stem>.bin (needs KenLM's build_binary)")
    p.set_defaults(func=cmd_lm_build)
    p = lm_sub.add_parser("download-librispeech", help="an official LibriSpeech LM (openslr 11)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--name", default="3-gram.pruned.1e-7.arpa.gz",
                   help="3-gram.pruned.1e-7.arpa.gz (default), 3-gram.pruned.3e-7.arpa.gz, "
                   "3-gram.arpa.gz, 4-gram.arpa.gz or librispeech-vocab.txt")
    p.set_defaults(func=cmd_lm_download)

    p = sub.add_parser("tune-lm", help="search the beam decoder's LM weight and word bonus")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True, help="dev manifest")
    p.add_argument("--lm", required=True)
    p.add_argument("--lexicon")
    p.add_argument("--alphas", type=_floats, default=[0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
    p.add_argument("--betas", type=_floats, default=[-1.0, 0.0, 1.0, 2.0, 3.0],
                   help="comma-separated; write --betas=-1,0,1 when the first is negative")
    p.add_argument("--beam-size", type=int, default=50)
    p.add_argument("--lm-backend", choices=["flashlight", "pyctcdecode"], default="flashlight")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_tune_lm)
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
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    from asr.checkpoint import CheckpointError
    from asr.config import ConfigError
    from asr.data.manifest import ManifestError
    from asr.report import ReportError

    try:
        return args.func(args)
    except (
        AudioError,
        CheckpointError,
        ConfigError,
        ManifestError,
        ReportError,
        RuntimeError,
    ) as err:
        if args.verbose:
            raise
        print(f"asr {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
