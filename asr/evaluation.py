"""Evaluation: a manifest -> batched log-probs -> hypotheses -> WER/CER, ``wer.json`` and
``hyps.jsonl`` (what ``asr evaluate`` writes and ``asr report`` reads).

The model is any ``asr.recognizer.Recognizer`` (``asr.load_model``: a checkpoint, TorchScript
or ONNX file) or a ``asr.model.SpeechRecognizer`` network; utterances of similar duration are
batched together on the model's device. Files of any length: ``asr.transcribe``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from asr.align import AlignmentError, word_timestamps
from asr.data.dataset import AudioDataset, DurationBucketSampler, collate
from asr.data.manifest import read_manifest, write_manifest
from asr.decode import BeamSearchDecoder, DecodeConfig, build_decoder
from asr.lm import tune_weights, write_tuned
from asr.model import SpeechRecognizer
from asr.provenance import checkpoint_info, hardware_info, now, toolkit_info
from asr.recognizer import Recognizer, TorchRecognizer
from asr.score import char_errors, word_errors
from asr.text import CharVocab

Model = Recognizer | SpeechRecognizer


def _recognizer(model: Model) -> Recognizer:
    return model if isinstance(model, Recognizer) else TorchRecognizer(model)


def forward_log_probs(
    model: Model, records: Sequence[dict], max_batch_seconds: float = 120.0
) -> Iterator[tuple[list[str], Tensor, Tensor]]:
    """Yield (ids, log_probs (B, T, V), lengths (B,)), torch tensors whatever the model, for
    manifest-like records (``id``, ``audio``, ``duration``), batching utterances of similar
    duration on the model's device."""
    model = _recognizer(model)
    sampler = DurationBucketSampler(
        [r["duration"] for r in records], max_batch_seconds, shuffle=False
    )
    dataset = AudioDataset(
        [{**r, "text": ""} for r in records], CharVocab(model.vocab), model.sample_rate
    )
    for batch in DataLoader(dataset, batch_sampler=sampler, collate_fn=collate):
        if batch["ids"]:
            log_probs, lengths = model(batch["wave"], batch["wave_lengths"])
            yield batch["ids"], torch.as_tensor(log_probs), torch.as_tensor(lengths)


def _word_times(log_probs: Tensor, text: str, model: Recognizer) -> list[dict] | None:
    """The hypothesis' words with start/end times (s) by forced alignment of its log-probs
    (`asr.align`), or None when the text cannot be aligned. (No confidences: the same model
    run by ONNX or PyTorch writes the same hyps.jsonl.)"""
    try:
        words = word_timestamps(log_probs, text, model.tokens, model.frame_seconds)
    except AlignmentError:
        return None
    return [{"word": w.word, "start": w.start, "end": w.end} for w in words]


def evaluate(
    model: Model,
    manifest: str | Path,
    out_dir: str | Path,
    *,
    decoder=None,
    max_batch_seconds: float = 120.0,
    metadata: dict | None = None,
) -> dict:
    """Decode a manifest and score it.

    Writes ``<out_dir>/hyps.jsonl`` (one line per utterance: id, speaker, duration, ref, hyp, word
    errors, the audio's absolute path, and ``words``: the hypothesis' words with ``start``/``end``
    seconds by CTC forced alignment, or null where it fails) and
    ``<out_dir>/wer.json`` (corpus WER/CER with S/D/I/hits, sentence error rate, real-time
    factor, the decoder's settings under ``decoder``). Returns the wer.json content. Utterances
    whose audio fails to load count as empty hypotheses (all deletions) and are listed under
    ``failed``. `decoder`: a ``decoder(log_probs (B, T, V), lengths (B,)) -> list[str]``, or
    what ``asr.decode.build_decoder`` takes ("greedy", "beam", a ``DecodeConfig`` or a dict of
    its fields); default greedy. For reports, wer.json
    also records the model (dims, parameters), the model file (``checkpoint``: path, sha256,
    size, training config) when it was loaded from one, toolkit revision, hardware and date,
    and the `metadata` given.
    """
    model = _recognizer(model)
    records = read_manifest(manifest)
    if model.path and Path(model.path).is_file():
        metadata = {"checkpoint": checkpoint_info(model.path), **(metadata or {})}
    start = time.perf_counter()
    decoder = build_decoder(model.tokens, decoder)
    hyps, times, aligning = {}, {}, 0.0  # word times for the report, not counted in the RTF
    for ids, log_probs, lengths in forward_log_probs(model, records, max_batch_seconds):
        texts = decoder(log_probs, lengths)
        hyps.update(zip(ids, texts))
        t = time.perf_counter()
        log_probs = log_probs.float().cpu()
        for b, (uid, text) in enumerate(zip(ids, texts)):
            times[uid] = _word_times(log_probs[b, : int(lengths[b])], text, model)
        aligning += time.perf_counter() - t
    elapsed = time.perf_counter() - start - aligning
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
                "audio": os.path.abspath(r["audio"]),
                "words": times.get(r["id"]),
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
        "device": str(model.device),
        "model": {
            "dims": asdict(model.dims) if model.dims is not None else {},
            "features": asdict(model.feature_config),
            "parameters": model.num_parameters,
        },
        "toolkit": toolkit_info(),
        "hardware": hardware_info(model.device),
        "date": now(),
        **(metadata or {}),
        "decoder": getattr(decoder, "config", {"type": type(decoder).__name__}),
    }
    out_dir = Path(out_dir)
    write_manifest(sorted(rows, key=lambda r: -r["errors"]), out_dir / "hyps.jsonl")
    (out_dir / "wer.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def tune_lm(
    model: Model,
    manifest: str | Path,
    lm: str | Path,
    alphas: Sequence[float],
    betas: Sequence[float],
    lexicon: str | Path | None = None,
    beam_size: int = DecodeConfig.beam_size,
    backend: str = DecodeConfig.backend,
) -> tuple[dict, Path]:
    """Grid-search the beam decoder's LM weight (alpha) and word bonus (beta) on a dev
    manifest: the model runs once, then every grid point decodes its log-probs. Stores the
    result in ``<lm>.tuned.json`` (read by beam decoders by default); returns it and the path."""
    model = _recognizer(model)
    records = read_manifest(manifest)
    refs = {r["id"]: r["text"] for r in records}
    utterances = [
        (lp[:n].cpu(), refs[i])
        for ids, log_probs, lengths in forward_log_probs(model, records)
        for i, lp, n in zip(ids, log_probs, lengths.tolist())
    ]
    decoder = BeamSearchDecoder(model.tokens, lm, lexicon, beam_size, backend=backend)
    result = tune_weights(decoder, utterances, alphas, betas)
    path = write_tuned(lm, backend, result, beam_size=beam_size, lexicon=lexicon and str(lexicon),
                       manifest=str(manifest), checkpoint=str(model.path),
                       utterances=len(utterances))
    return result, path
