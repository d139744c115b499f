"""Benchmark: greedy WER on the same test utterances one by one and several in a row.

    python scripts/bench_in_a_row.py --checkpoint CKPT --manifest TEST.jsonl \
        [--minutes 5] [--gap-seconds 0] [--chunk-seconds 30] [--overlap-seconds 5] \
        [--batch-size 8] [--threads N] [--json OUT.json]

The utterances are the manifest's first ones (in file order) up to ``--minutes`` of audio
(0: all of them). Every condition decodes exactly these, greedily, through the long-audio path
(`asr.recognizer.Recognizer.transcribe`: windows of ``--chunk-seconds`` with
``--overlap-seconds``, stitched):

- ``one by one``: each utterance is its own file;
- ``groups of 2``, ``groups of 4``: consecutive utterances joined into one file each (the last
  group may be shorter);
- ``one file``: all of them joined into one long file.

Files are joined from the utterances' own audio as it is (their own silence included), with
``--gap-seconds`` of digital silence between two utterances (default none). The reference of
a joined file is its utterances' texts joined by a space. Deterministic: no random draw.
Prints one table: per condition the files, reference words, WER and S/D/I (corpus-level counts,
`asr.score.word_errors`). "one by one" goes through the same path as the joined files, so it
can differ slightly from ``asr evaluate`` on the same utterances (other batching and padding).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asr.audio import load_audio
from asr.cli.common import add_fields
from asr.data.manifest import read_manifest
from asr.recognizer import load_model
from asr.score import word_errors
from asr.transcription import WindowConfig

GROUP_SIZES = (2, 4)


def select(records: Sequence[dict], minutes: float) -> list[dict]:
    """The first records up to `minutes` of audio (at least one; 0: all)."""
    if minutes <= 0:
        return list(records)
    chosen, total = [], 0.0
    for rec in records:
        if chosen and total + rec["duration"] > minutes * 60:
            break
        chosen.append(rec)
        total += rec["duration"]
    return chosen


def join(waves: Sequence[np.ndarray], gap: int) -> np.ndarray:
    """Waveforms (N_k,) joined with `gap` samples of zeros between two: (N,) float32."""
    pieces = []
    for k, wave in enumerate(waves):
        if k and gap:
            pieces.append(np.zeros(gap, np.float32))
        pieces.append(wave)
    return np.concatenate(pieces).astype(np.float32, copy=False)


def conditions(
    waves: Sequence[np.ndarray], texts: Sequence[str], gap: int
) -> list[tuple[str, list[np.ndarray], list[str]]]:
    """(name, files, references) per condition, over the same utterances."""
    out = [("one by one", list(waves), list(texts))]
    for size in GROUP_SIZES:
        starts = range(0, len(waves), size)
        out.append((
            f"groups of {size}",
            [join(waves[s : s + size], gap) for s in starts],
            [" ".join(texts[s : s + size]) for s in starts],
        ))
    out.append(("one file", [join(waves, gap)], [" ".join(texts)]))
    return out


def measure(args: argparse.Namespace) -> dict:
    """Decode every condition; returns {"utterances", "seconds", "rows": [...]}."""
    model = load_model(args.checkpoint, args.device, args.threads)
    records = select(read_manifest(args.manifest), args.minutes)
    rate = model.sample_rate
    waves = [load_audio(r["audio"], rate) for r in records]
    texts = [r["text"] for r in records]
    gap = int(round(args.gap_seconds * rate))
    rows = []
    for name, files, refs in conditions(waves, texts, gap):
        found = model.transcribe(
            files,
            chunk_seconds=args.chunk_seconds,
            overlap_seconds=args.overlap_seconds,
            batch_size=args.batch_size,
            progress=False,
        )
        counts = word_errors(refs, [t.text for t in found])
        rows.append({
            "condition": name,
            "files": len(files),
            "seconds": round(sum(f.size for f in files) / rate, 2),
            "words": counts.ref_len,
            "wer": counts.rate,
            "substitutions": counts.substitutions,
            "deletions": counts.deletions,
            "insertions": counts.insertions,
        })
    seconds = sum(w.size for w in waves) / rate
    return {"utterances": len(records), "seconds": round(seconds, 2), "rows": rows}


def table(result: dict) -> str:
    lines = [
        "| condition | files | words | WER % | S | D | I |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['condition']} | {r['files']} | {r['words']} | {100 * r['wer']:.2f} | "
            f"{r['substitutions']} | {r['deletions']} | {r['insertions']} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="checkpoint (or exported model)")
    ap.add_argument("--manifest", required=True, help="JSONL test manifest")
    ap.add_argument("--minutes", type=float, default=5.0,
                    help="the first utterances up to this much audio (0: all)")
    ap.add_argument("--gap-seconds", type=float, default=0.0,
                    help="silence added between two joined utterances")
    add_fields(ap, WindowConfig)  # --chunk-seconds, --overlap-seconds, --batch-size
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="also write the table as JSON here")
    args = ap.parse_args(argv)
    if args.gap_seconds < 0:
        ap.error(f"--gap-seconds must be at least 0, got {args.gap_seconds}")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    result = measure(args)
    print(
        f"{result['utterances']} utterances, {result['seconds'] / 60:.2f} min, "
        f"{args.manifest}, {args.checkpoint}; greedy, {args.chunk_seconds:g} s windows with "
        f"{args.overlap_seconds:g} s overlap, {args.gap_seconds:g} s added between utterances"
    )
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
