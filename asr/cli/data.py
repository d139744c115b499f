"""Commands for corpora and manifests: synth, prepare, validate, download, prepare-corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.cli.common import command, config, output_frames, with_config
from asr.data.corpora import CORPORA


def cmd_synth(args: argparse.Namespace) -> int:
    from asr.data.synth import synthesize_corpus

    subsets = {"train": args.train, "dev": args.dev, "test": args.test}
    dirs = synthesize_corpus(
        args.out_dir, {name: n for name, n in subsets.items() if n > 0}, seed=args.seed,
        text_file=args.text, n_test_variants=args.test_variants, jobs=args.jobs,
        pause_share=args.pause_share, engines=args.engines.split(","),
    )
    for name, path in dirs.items():
        print(f"{name}: {path}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from asr.data.librispeech import prepare_librispeech
    from asr.data.manifest import build_manifest, read_listing

    src, frames = Path(args.source), output_frames(args)
    if src.is_dir():
        report = prepare_librispeech(src, args.manifest, frames)
    else:
        report = build_manifest(read_listing(src), args.manifest, frames)
    print(f"{report.summary()}\nmanifest: {args.manifest}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from asr.config import output_frames as frames_of
    from asr.data.validate import summary, validate_manifest

    cfg = config(args)
    report, total = validate_manifest(
        args.manifest, output_frames=frames_of(cfg), decode=not args.header_only,
        max_duration=cfg.data.max_duration if cfg else None,
        sample_rate=cfg.features.sample_rate if cfg else 16000,
        jobs=args.jobs, clean_out=args.write_clean,
    )
    print(summary(report, args.manifest, total))
    if args.write_clean and report.kept:
        print(f"usable records: {args.write_clean}")
    return 1 if report.dropped else 0


def cmd_download(args: argparse.Namespace) -> int:
    from asr.data.corpora import download_corpus

    dirs = download_corpus(args.corpus, args.target_dir, args.url, args.sha256, args.subsets,
                           args.checksums)
    for part, path in dirs.items():
        print(f"{part}: {path}")
    return 0


def cmd_prepare_corpus(args: argparse.Namespace) -> int:
    from asr.data.corpora import prepare_corpus

    out = Path(args.out_dir)
    reports = prepare_corpus(args.corpus, args.data_dir, out, output_frames(args), args.subsets,
                             args.limit, args.test_speaker, args.dev_speakers, args.test_speakers)
    if args.sentences:
        from asr.data.ljspeech import write_training_sentences

        n = write_training_sentences(args.sentences, out / "heldout.txt",
                                     out / "train_sentences.txt")
        print(f"{out / 'train_sentences.txt'}: {n} sentences of {args.sentences} (held-out "
              "sentences left out)")
    for name, report in reports.items():
        print(f"{name}: " + report.summary().replace("\n", f"\n{name}: "))
        print(f"{name}: manifest {out / name}.jsonl")
    if args.dev_speakers or args.test_speakers:
        _print_split(out)
    return 0


def _print_split(out: Path) -> None:
    from asr.data.manifest import read_manifest

    for split in ("train", "dev", "test"):
        path = out / f"{split}.jsonl"
        if path.is_file():
            recs = read_manifest(path)
            n_spk = len({r["speaker"] for r in recs})
            hours = sum(r["duration"] for r in recs) / 3600
            print(f"{split}: {len(recs)} utterances ({hours:.2f} h), {n_spk} speakers: {path}")
    print(f"speakers: {out / 'speakers.txt'}")


def cmd_split(args: argparse.Namespace) -> int:
    from asr.data.split import read_speaker_genders, split_manifest

    genders = read_speaker_genders(args.speakers_file) if args.speakers_file else None
    split_manifest(args.manifests, args.out_dir, args.dev_speakers, args.test_speakers, genders,
                   args.seed)
    _print_split(Path(args.out_dir))
    return 0


def _speaker_counts(p: argparse.ArgumentParser) -> None:
    for split in ("dev", "test"):
        p.add_argument(f"--{split}-speakers", type=int, default=0, metavar="N",
                       help=f"hold out N speakers as {split} (gender-balanced, deterministic)")


def add_commands(sub) -> None:
    p = command(sub, "synth", cmd_synth, "synthesize a LibriSpeech-layout corpus (espeak-ng, "
                "flite, piper)")
    p.add_argument("out_dir")
    for name, n, what in [("train", 3000, "training sentences"),
                          ("dev", 100, "dev sentences (training voices)"),
                          ("test", 200, "test sentences (unseen voices)")]:
        p.add_argument(f"--{name}", type=int, default=n, help=what)
    p.add_argument("--test-variants", type=int, default=2,
                   help="espeak-ng voice variants held out for test (flite holds out one voice, "
                   "festival two)")
    p.add_argument("--engines", default="espeak-ng",
                   help="comma-separated synthesizers: espeak-ng, flite, piper, festival, "
                   "rhvoice, pico (each voice is a speaker; each engine speaks an equal share; "
                   "missing ones are skipped)")
    p.add_argument("--text", help="sentences from this file (one per line) instead of the grammar")
    p.add_argument("--pause-share", type=float, default=0.5,
                   help="share of sentences with pauses at 1-3 word boundaries")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None)

    p = command(sub, "prepare", cmd_prepare, "corpus -> JSONL manifest")
    p.add_argument("source", help="a LibriSpeech-layout subset directory, or a TSV listing "
                   "(audio<TAB>text[<TAB>speaker])")
    p.add_argument("manifest", help="output JSONL manifest")
    with_config(p, "drop utterances too short for its model")

    p = command(sub, "validate", cmd_validate, "check a manifest before training (exit 1 on "
                "problems)")
    p.add_argument("manifest")
    p.add_argument("--header-only", action="store_true", help="read headers, do not decode")
    p.add_argument("--jobs", type=int, default=None, help="threads (default: CPU count)")
    p.add_argument("--write-clean", metavar="OUT", help="write the usable records here")
    with_config(p, "check CTC lengths for its model")

    p = command(sub, "download", cmd_download, "download and extract a public corpus (resumable)")
    p.add_argument("corpus", choices=CORPORA)
    p.add_argument("target_dir")
    p.add_argument("--subsets", nargs="+", help="LibriSpeech subsets (default: dev-clean); "
                   "Mini LibriSpeech: train-clean-5 dev-clean-2 (OpenSLR 31)")
    p.add_argument("--url", "--base-url", help="archive URL instead of the public one "
                   "(LibriSpeech: the base URL holding <subset>.tar.gz, a mirror or a folder)")
    p.add_argument("--sha256", help="expected SHA-256 of the archive (ljspeech, fsdd)")
    p.add_argument("--checksums", help="LibriSpeech: sha256sum-style file replacing the "
                   "published values")

    p = command(sub, "prepare-corpus", cmd_prepare_corpus, "downloaded corpus -> manifests")
    p.add_argument("corpus", choices=CORPORA)
    p.add_argument("data_dir", help="LibriSpeech/ (with subsets), LJSpeech-1.1/, or fsdd/")
    p.add_argument("out_dir", help="where <split>.jsonl go")
    p.add_argument("--subsets", nargs="+", help="LibriSpeech subsets (default: all present)")
    p.add_argument("--limit", type=int, help="at most this many utterances (smoke tests)")
    p.add_argument("--test-speaker", help="fsdd: leave this speaker out: all of their "
                   "recordings are test, train and dev come from the others")
    p.add_argument("--sentences", help="ljspeech: id|text sentence file; writes OUT_DIR/"
                   "train_sentences.txt without the held-out sentences (for `asr synth --text` "
                   "or a language model)")
    with_config(p, "drop utterances too short for its model")
    _speaker_counts(p)

    p = command(sub, "split", cmd_split, "split manifests by speaker into OUT_DIR/{train,dev,"
                "test}.jsonl (no speaker in two splits)")
    p.add_argument("manifests", nargs="+", help="JSONL manifests (their speaker field)")
    p.add_argument("out_dir")
    _speaker_counts(p)
    p.add_argument("--speakers-file", help="LibriSpeech SPEAKERS.TXT: balance the genders")
    p.add_argument("--seed", type=int, default=0, help="another seed, other speakers")
