"""The WER report: one dict with a stable JSON schema, built from an evaluation directory
(``wer.json`` + ``hyps.jsonl``, see `asr.evaluation.evaluate`; read by `asr.report.inputs`) and
optionally a training log, then written as report.json, report.md and report.html
(`asr.report.writers`, `asr.report.html`).

The report only reads files and scores text: it never imports the model or the decoder.

report.json (``schema_version`` 1; rates are fractions, durations seconds):
  title, created, schema_version
  run           manifest, date, checkpoint {path, sha256, size_bytes, config}, model {dims,
                features, parameters}, config (training config or null), decoder (or null),
                toolkit {name, version, git_revision}, hardware {device, cpu, cpu_cores, gpu,
                torch, ...}, device, audio_seconds, decode_seconds, rtf, failed [ids]
  summary       utterances, wer, cer, sentence_error_rate, sentences_with_errors,
                words / chars {substitutions, deletions, insertions, hits, errors, ref_len,
                rate}, kaldi {wer, cer} ("%WER 15.55 [ 252 / 1621, 7 ins, 29 del, 216 sub ]")
  by_duration   [{bucket, min_s, max_s (null: open), utterances, audio_seconds, words, errors,
                substitutions, deletions, insertions, wer, sentence_error_rate}]
  by_speaker    [{speaker, ...the same counts}], highest WER first
  confusions    [{ref, hyp, count}]; deletions, insertions [{word, count}] (most frequent)
  utterances    [{id, speaker, duration, audio, ref, hyp, ref_words, errors, substitutions,
                deletions, insertions, wer, alignment [[op, ref word, hyp word]], times}], most
                errors first; op is C, S, D or I (a missing word is null); audio: the audio
                file's path (null if hyps.jsonl has none); times: [start, end] seconds of each
                hypothesis word, in order (null if hyps.jsonl has no word times)
  training      null or {source [metrics.csv paths], epochs [{epoch, step, train_loss,
                val_loss, val_wer, val_cer}]}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from asr.provenance import now
from asr.report.inputs import load_evaluation, read_run_config, read_training_log
from asr.score import ErrorCounts, ErrorTally, align_words, char_errors, kaldi_line

SCHEMA_VERSION = 1
# (label, lower bound, upper bound or None) in seconds; an utterance falls in [lower, upper)
DURATION_BUCKETS = [
    ("< 2 s", 0.0, 2.0),
    ("2-5 s", 2.0, 5.0),
    ("5-10 s", 5.0, 10.0),
    ("10-20 s", 10.0, 20.0),
    ("> 20 s", 20.0, None),
]
TOP_WORDS = 20  # entries in the confusion / deletion / insertion lists
# what of wer.json describes the run (everything else in it is recomputed from the rows)
RUN_KEYS = (
    "manifest",
    "date",
    "checkpoint",
    "model",
    "decoder",
    "toolkit",
    "hardware",
    "device",
    "audio_seconds",
    "decode_seconds",
    "rtf",
    "failed",
)


def _group_stats(rows: Iterable[dict]) -> dict:
    rows = list(rows)
    c = ErrorCounts(
        sum(r["substitutions"] for r in rows),
        sum(r["deletions"] for r in rows),
        sum(r["insertions"] for r in rows),
        sum(r["ref_words"] - r["substitutions"] - r["deletions"] for r in rows),
    )
    return {
        "utterances": len(rows),
        "audio_seconds": sum(r["duration"] or 0.0 for r in rows),
        "words": c.ref_len,
        "errors": c.errors,
        "substitutions": c.substitutions,
        "deletions": c.deletions,
        "insertions": c.insertions,
        "wer": c.rate,
        "sentence_error_rate": sum(r["errors"] > 0 for r in rows) / max(len(rows), 1),
    }


def hyp_times(row: dict) -> list[list[float]] | None:
    """[start, end] seconds of each hypothesis word of a hyps.jsonl row (its ``words``), or None
    when it has none or they are not the hypothesis' words."""
    words = row.get("words")
    if not words or [w["word"] for w in words] != row["hyp"].split():
        return None
    return [[w["start"], w["end"]] for w in words]


def score_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows (id, ref, hyp, optional speaker, duration, audio and word times) -> scored
    utterances with their word alignment, sorted by errors (most first), then WER, then id."""
    out = []
    for r in rows:
        alignment = align_words(r["ref"], r["hyp"])
        ops = [a[0] for a in alignment]
        ref_words = len(r["ref"].split())
        errors = len(ops) - ops.count("C")
        out.append(
            {
                "id": str(r["id"]),
                "speaker": str(r.get("speaker") or "unknown"),
                "duration": r.get("duration"),
                "audio": r.get("audio"),
                "ref": r["ref"],
                "hyp": r["hyp"],
                "ref_words": ref_words,
                "errors": errors,
                "substitutions": ops.count("S"),
                "deletions": ops.count("D"),
                "insertions": ops.count("I"),
                "wer": errors / max(ref_words, 1),
                "alignment": [list(a) for a in alignment],
                "times": hyp_times(r),
            }
        )
    return sorted(out, key=lambda u: (-u["errors"], -u["wer"], u["id"]))


def build_report(
    summary: dict,
    rows: Sequence[dict],
    training: dict | None = None,
    config: dict | None = None,
    title: str | None = None,
) -> dict:
    """The report dict (schema `SCHEMA_VERSION`, written as report.json).

    summary: wer.json of the evaluation (run metadata: manifest, checkpoint, model, decoder,
    hardware, RTF...); rows: hyps.jsonl rows; training: `read_training_log` output; config:
    the training config. Corpus counts are recomputed from the rows' alignments.
    """
    utts = score_rows(rows)
    words = _group_stats(utts)
    chars = char_errors([u["ref"] for u in utts], [u["hyp"] for u in utts])
    tally = ErrorTally()
    for u in utts:
        tally.add(u["alignment"])
    word_counts = ErrorCounts(
        words["substitutions"],
        words["deletions"],
        words["insertions"],
        words["words"] - words["substitutions"] - words["deletions"],
    )
    by_duration = []
    for label, low, high in DURATION_BUCKETS:
        members = [
            u
            for u in utts
            if u["duration"] is not None and low <= u["duration"] < (high or math.inf)
        ]
        if members:
            stats = _group_stats(members)
            by_duration.append({"bucket": label, "min_s": low, "max_s": high, **stats})
    speakers: dict[str, list[dict]] = defaultdict(list)
    for u in utts:
        speakers[u["speaker"]].append(u)
    by_speaker = [{"speaker": s, **_group_stats(m)} for s, m in speakers.items()]
    by_speaker.sort(key=lambda s: (-s["wer"], s["speaker"]))
    run = {key: summary.get(key) for key in RUN_KEYS}
    run["config"] = config
    return {
        "schema_version": SCHEMA_VERSION,
        "title": title or Path(str(summary.get("manifest") or "evaluation")).stem,
        "created": now(),
        "run": run,
        "summary": {
            "utterances": len(utts),
            "wer": word_counts.rate,
            "cer": chars.rate,
            "sentence_error_rate": words["sentence_error_rate"],
            "sentences_with_errors": sum(u["errors"] > 0 for u in utts),
            "words": word_counts.as_dict(),
            "chars": chars.as_dict(),
            "kaldi": {"wer": kaldi_line(word_counts), "cer": kaldi_line(chars, "CER")},
        },
        "by_duration": by_duration,
        "by_speaker": by_speaker,
        "confusions": [
            {"ref": ref, "hyp": hyp, "count": n}
            for (ref, hyp), n in tally.confusions.most_common(TOP_WORDS)
        ],
        "deletions": [{"word": w, "count": n} for w, n in tally.deleted.most_common(TOP_WORDS)],
        "insertions": [{"word": w, "count": n} for w, n in tally.inserted.most_common(TOP_WORDS)],
        "utterances": utts,
        "training": training,
    }


def write_report(report: dict, out_dir: str | Path, embed_audio: bool = False) -> dict[str, Path]:
    """Write report.json, report.md (+ its PNG figures) and report.html into `out_dir`; the
    HTML's audio players link to the audio files, or hold them with `embed_audio`
    (`asr.report.players`). Returns {format: path}."""
    from asr.report.html import HTMLWriter
    from asr.report.plots import report_figures  # matplotlib: imported only to write
    from asr.report.writers import JsonWriter, MarkdownWriter

    figures = report_figures(report)
    writers = {
        "json": JsonWriter(out_dir),
        "md": MarkdownWriter(out_dir),
        "html": HTMLWriter(out_dir, embed_audio),
    }
    return {name: write(report, figures) for name, write in writers.items()}


def report_from_eval_dir(
    eval_dir: str | Path,
    out_dir: str | Path,
    train_log: str | Path | None = None,
    embed_audio: bool = False,
) -> tuple[dict, dict[str, Path]]:
    """Build the report of an evaluation directory and write it into `out_dir`.

    train_log: a metrics.csv or an experiment directory (its config.yaml is used too);
    embed_audio: see `write_report`. Returns (report, {format: written file}).
    """
    summary, rows = load_evaluation(eval_dir)
    training = read_training_log(train_log) if train_log else None
    config_path = (summary.get("checkpoint") or {}).get("config")
    if train_log and (Path(train_log) / "config.yaml").is_file():
        config_path = Path(train_log) / "config.yaml"
    report = build_report(summary, rows, training, read_run_config(config_path))
    return report, write_report(report, out_dir, embed_audio)
