"""What the study measures on its trained runs, written beside them as JSON.

Per run (``<run>/measures.json``): test WER of the best checkpoint (an `asr evaluate` folder,
``eval_test/``); test WER of every epoch's checkpoint where they were kept (the cells);
temporal reach at initialisation and trained (unidirectional runs); dLoss/dh_t per layer at
initialisation and trained (the cells, seed 0). Study-wide (``speed.json``): training
throughput and transcription real-time factor per cell, at the equal parameter budget and at
the base model's hidden size. The initial weights are rebuilt from the run's config and seed
exactly as `asr.train.fit` drew them.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor

from asr.checkpoint import best_checkpoint, load_network
from asr.config import load_config
from asr.data.dataset import AudioDataset, collate
from asr.data.manifest import read_manifest
from asr.diagnostics import layer_gradients, temporal_reach
from asr.evaluation import evaluate
from asr.model import SpeechRecognizer, count_parameters, hidden_for_parameters
from asr.provenance import hardware_info
from asr.study.plan import CELLS, Factors, Run
from asr.study.runner import read_status, run_dir
from asr.text import CharVocab
from asr.train import build_module

MAX_LAG = 50  # output frames (2 s at 40 ms)


def initial_model(folder: Path) -> SpeechRecognizer:
    """The run's model as training started: its config and seed, drawn as `fit` draws them."""
    cfg = load_config(folder / "config.yaml")
    L.seed_everything(cfg.seed, verbose=False)
    return build_module(cfg).model.eval()


def longest(records: list[dict], n: int) -> list[dict]:
    """The n longest utterances (ties by id): the same batch for every run."""
    return sorted(records, key=lambda r: (-r["duration"], r["id"]))[:n]


def make_batch(model: SpeechRecognizer, records: list[dict]) -> dict:
    data = AudioDataset(records, CharVocab(model.vocab), model.feature_config.sample_rate)
    return collate([data[i] for i in range(len(data))])


def _features(model: SpeechRecognizer, batch: dict) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        return model.features(batch["wave"], batch["wave_lengths"])


def _top_hidden(model: SpeechRecognizer):
    """features (B, T, F) -> the top recurrent layer's output (B, T', H) and lengths."""
    enc = model.encoder

    def forward(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x, lengths = enc.frontend(x, lengths)
        for rnn in enc.rnns:
            x = rnn(x, lengths)
        return x, lengths

    return forward


def reach(trained: SpeechRecognizer, initial: SpeechRecognizer, feats: Tensor,
          lengths: Tensor) -> dict:
    """Temporal reach of the top layer's state, at initialisation and trained, on the same
    features (B, T, F) for both."""
    out: dict = {"frame_seconds": trained.frame_seconds}
    for name, m in (("init", initial), ("trained", trained)):
        curve = temporal_reach(_top_hidden(m), feats, lengths, MAX_LAG, m.dims.subsampling)
        out[name] = {k: v.tolist() for k, v in curve.items()}
    return out


def layer_norms(trained: SpeechRecognizer, initial: SpeechRecognizer, feats: Tensor,
                lengths: Tensor, batch: dict) -> dict:
    """dLoss/dh_t per recurrent layer (norm summed over the batch), at initialisation and
    trained, on the features (B, T, F) of `batch`: ``{"init"|"trained": [[per frame] per
    layer]}``, cut at the shortest utterance."""
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    out = {}
    for name, m in (("init", initial), ("trained", trained)):
        def loss(m=m) -> Tensor:
            log_probs, out_lengths = m.encoder(feats, lengths)
            return ctc(log_probs.transpose(0, 1), batch["targets"], out_lengths,
                       batch["target_lengths"])

        shortest = m.dims.output_length(int(lengths.min()))
        grads = layer_gradients(m, loss, list(m.encoder.rnns))
        out[name] = [g[:shortest].tolist() for g in grads]
    return out


def epoch_curve(folder: Path, manifest: str) -> list[dict]:
    """Test WER of each kept epoch checkpoint (epochNN.ckpt)."""
    curve = []
    for ckpt in sorted((folder / "checkpoints").glob("epoch*.ckpt")):
        summary = evaluate(load_network(ckpt), manifest, folder / "eval_epochs" / ckpt.stem)
        curve.append({"epoch": int(ckpt.stem.removeprefix("epoch")), "wer": summary["wer"]})
    return curve


def measure_run(run: Run, base: Factors, manifest: str, records: list[dict]) -> dict:
    """Measure one finished run (once: ``measures.json`` is kept)."""
    folder = run_dir(run)
    path = folder / "measures.json"
    if path.is_file():
        return json.loads(path.read_text())
    trained = load_network(best_checkpoint(folder))
    summary = evaluate(trained, manifest, folder / "eval_test")
    out: dict = {"test_wer": summary["wer"], "test_words": summary["words"],
                 "epochs": epoch_curve(folder, manifest)}
    is_cell = set(run.factors.differs(base)) <= {"cell", "seed"}
    if not run.factors.bidirectional or (is_cell and run.factors.seed == base.seed):
        initial, batch = initial_model(folder), make_batch(trained, records)
        feats, lengths = _features(trained, batch)  # the trained model's CMVN, for both
        if not run.factors.bidirectional:
            out["reach"] = reach(trained, initial, feats, lengths)
        if is_cell:
            out["layer_grads"] = layer_norms(trained, initial, feats, lengths, batch)
    path.write_text(json.dumps(out) + "\n")
    return out


def measure_runs(runs: list[Run], base: Factors, manifest: str, say=print) -> None:
    records = longest(read_manifest(manifest), 16)
    for run in runs:
        status = read_status(run)
        if status and status["status"] == "finished":
            wer = measure_run(run, base, manifest, records)["test_wer"]
            say(f"{run.name}: test WER {100 * wer:.2f} %")


def _time_training(model: SpeechRecognizer, batch: dict, steps: int) -> float:
    """Seconds per training step (forward, CTC loss, backward, AdamW), after one warm-up."""
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        log_probs, lengths = model(batch["wave"], batch["wave_lengths"])
        loss = ctc(log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def _time_transcription(model: SpeechRecognizer, batches: list[dict]) -> float:
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for b in batches:
            model(b["wave"], b["wave_lengths"])
    return time.perf_counter() - start


def speed(config: str, overrides: list[str], manifest: str, steps: int = 5) -> dict:
    """Training throughput (audio s/s) and transcription RTF per cell, at the parameter budget
    of the config's model (the base run's: `overrides`) and at its hidden size, on this
    machine's threads."""
    cfg = load_config(config, overrides)
    records = sorted(read_manifest(manifest), key=lambda r: r["id"])[:48]
    model = build_module(cfg).model
    batches = [make_batch(model, records[i:i + 8]) for i in range(0, len(records), 8)]
    audio = [float(b["wave_lengths"].sum()) / cfg.features.sample_rate for b in batches]
    params = count_parameters(model.encoder)
    sizes = {
        "equal parameters": {c: hidden_for_parameters(replace(model.dims, rnn_type=c), params)
                             for c in CELLS},
        "equal hidden size": dict.fromkeys(CELLS, model.dims.hidden),
    }
    rows = []
    for budget, hidden in sizes.items():
        for cell in CELLS:
            cfg.model.rnn_type, cfg.model.hidden = cell, hidden[cell]
            torch.manual_seed(0)
            model = build_module(cfg).model
            step = _time_training(model, batches[0], steps)
            rows.append({
                "budget": budget, "cell": cell, "hidden": hidden[cell],
                "parameters": count_parameters(model.encoder),
                "train_audio_per_second": audio[0] / step, "train_step_seconds": step,
                "rtf": _time_transcription(model, batches) / sum(audio),
            })
    return {"threads": torch.get_num_threads(), "batch_utterances": 8,
            "hardware": hardware_info("cpu"), "rows": rows}
