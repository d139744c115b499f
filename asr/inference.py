"""Batched recognition with a loaded model: manifest evaluation and file transcription."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from asr.data.loader import AudioDataset, DurationBucketSampler, collate
from asr.data.manifest import read_manifest, write_manifest
from asr.decode import GreedyDecoder
from asr.model import SpeechRecognizer, count_parameters
from asr.provenance import hardware_info, now, toolkit_info
from asr.score import char_errors, word_errors
from asr.text import CharVocab


@torch.inference_mode()
def forward_log_probs(
    model: SpeechRecognizer,
    records: Sequence[dict],
    max_batch_seconds: float = 120.0,
    num_workers: int = 0,
) -> Iterator[tuple[list[str], Tensor, Tensor]]:
    """Yield (ids, log_probs (B, T, V), lengths (B,)) for manifest-like records (``id``,
    ``audio``, ``duration``), batching utterances of similar duration on the model's device."""
    device = next(model.parameters()).device
    sampler = DurationBucketSampler(
        [r["duration"] for r in records], max_batch_seconds, shuffle=False
    )
    dataset = AudioDataset(
        [{**r, "text": ""} for r in records],
        CharVocab(model.vocab),
        model.feature_config.sample_rate,
    )
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers)
    for batch in loader:
        if not batch["ids"]:
            continue
        log_probs, lengths = model(batch["wave"].to(device), batch["wave_lengths"].to(device))
        yield batch["ids"], log_probs, lengths


def recognize(
    model: SpeechRecognizer,
    records: Sequence[dict],
    max_batch_seconds: float = 120.0,
    num_workers: int = 0,
    decoder: Callable[[Tensor, Tensor], list[str]] | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield (id, hypothesis) for manifest-like records (``id``, ``audio``, ``duration``),
    batching utterances of similar duration; the model's device is used. `decoder`:
    ``decoder(log_probs (B, T, V), lengths (B,)) -> list[str]`` (asr.decode; default greedy)."""
    decoder = decoder or GreedyDecoder(["", *model.vocab])
    batches = forward_log_probs(model, records, max_batch_seconds, num_workers)
    for ids, log_probs, lengths in batches:
        yield from zip(ids, decoder(log_probs, lengths))


def evaluate(
    model: SpeechRecognizer,
    manifest: str | Path,
    out_dir: str | Path,
    max_batch_seconds: float = 120.0,
    metadata: dict | None = None,
    decoder: Callable[[Tensor, Tensor], list[str]] | None = None,
) -> dict:
    """Decode a manifest and score it.

    Writes ``<out_dir>/hyps.jsonl`` (one line per utterance: id, ref, hyp, word errors, ...) and
    ``<out_dir>/wer.json`` (corpus WER/CER with S/D/I/hits, sentence error rate, real-time
    factor, the decoder's settings under ``decoder``). Returns the wer.json content. Utterances
    whose audio fails to load count as empty hypotheses (all deletions) and are listed under
    ``failed``. For reports, wer.json also records the model (dims, parameters), toolkit
    revision, hardware and date, and the `metadata` given (e.g.
    ``{"checkpoint": checkpoint_info(path)}``).
    """
    records = read_manifest(manifest)
    start = time.perf_counter()
    decoder = decoder or GreedyDecoder(["", *model.vocab])
    hyps = dict(recognize(model, records, max_batch_seconds, decoder=decoder))
    elapsed = time.perf_counter() - start
    rows, refs, outs = [], [], []
    for r in records:
        hyp = hyps.get(r["id"], "")
        w = word_errors([r["text"]], [hyp])
        rows.append(
            {
                "id": r["id"],
                "speaker": r["speaker"],
                "duration": r["duration"],
                "ref": r["text"],
                "hyp": hyp,
                "errors": w.errors,
                "ref_words": w.ref_len,
                "substitutions": w.substitutions,
                "deletions": w.deletions,
                "insertions": w.insertions,
            }
        )
        refs.append(r["text"])
        outs.append(hyp)
    words, chars = word_errors(refs, outs), char_errors(refs, outs)
    audio_seconds = sum(r["duration"] for r in records)
    summary = {
        "manifest": str(manifest),
        "utterances": len(records),
        "wer": words.rate,
        "cer": chars.rate,
        "words": words.as_dict(),
        "chars": chars.as_dict(),
        "sentence_error_rate": sum(r["errors"] > 0 for r in rows) / max(len(rows), 1),
        "failed": [r["id"] for r in records if r["id"] not in hyps],
        "audio_seconds": audio_seconds,
        "decode_seconds": elapsed,
        "rtf": elapsed / max(audio_seconds, 1e-9),
        "device": str(next(model.parameters()).device),
        "model": {
            "dims": asdict(model.dims),
            "features": asdict(model.feature_config),
            "parameters": count_parameters(model),
        },
        "toolkit": toolkit_info(),
        "hardware": hardware_info(next(model.parameters()).device),
        "date": now(),
        **(metadata or {}),
        "decoder": getattr(decoder, "config", {"type": type(decoder).__name__}),
    }
    out_dir = Path(out_dir)
    write_manifest(sorted(rows, key=lambda r: -r["errors"]), out_dir / "hyps.jsonl")
    (out_dir / "wer.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
