"""Datasets and batching, without Lightning (evaluation uses them too; the training
DataModule on top is `asr.data.loader`).

Batches are capped by total (padded) audio seconds, not by a fixed count, and hold utterances of
similar duration (so little compute goes to padding). Under DDP each rank takes its own share of
the batches; training batches are trimmed so every rank runs the same number of steps.

Training resumes exactly, mid-epoch included: the batch order depends only on (seed, epoch), the
training sampler's position is saved in every checkpoint (`asr.data.loader.ASRDataModule`),
speed perturbation draws from (seed, epoch, batch) and waveform augmentation (`asr.augment`)
from (seed, epoch, utterance), not from a process-wide generator; so do the pauses of
``data.concat`` (several utterances in a row, `group_records`), whose groups are fixed for the
run by the seed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence

import numpy as np
import soxr
import torch
from torch.utils.data import Dataset, Sampler

from asr.audio import AudioError, load_audio
from asr.augment import Augmenter
from asr.config import ConcatConfig
from asr.text import CharVocab, ctc_min_frames

log = logging.getLogger(__name__)


class AudioDataset(Dataset):
    """Manifest records -> (waveform float32 (N,), token ids, record).

    `speed_perturb`: factors drawn uniformly (e.g. [0.9, 1.0, 1.1]); training only. The key is
    an ``(index, epoch, batch)`` triple (see `DurationBucketSampler(with_epoch=True)`) and the
    factor a function of (`seed`, epoch, batch): one factor for a whole batch, as SpeechBrain's
    batch-level speed perturbation, so the batch's utterances, sorted by duration, stay about
    the same length (one factor per utterance padded 10 % of the mini recipe's training frames
    against 1.4 %). It is the same in any worker and after a resume; a plain index or an
    ``(index, epoch)`` pair draws per utterance. `augment` (training only) is applied after
    speed perturbation, drawn from (seed, epoch, index) (`asr.augment.Augmenter`). A file
    that fails to load is logged and skipped (the item is None; `collate` drops it), and so is
    a transcript outside the vocabulary.

    A record with ``parts`` (a group from `group_records`, ``data.concat``) is its parts' audio
    joined by `join` (silences drawn from the same key, `concat` sets their ranges); speed
    perturbation and augmentation then apply to the joined waveform. A part that fails to load
    skips the whole group (the warning names the file).
    """

    def __init__(
        self,
        records: Sequence[dict],
        vocab: CharVocab,  # or asr.bpe.BpeVocab: the same interface
        sample_rate: int = 16000,
        speed_perturb: Sequence[float] | None = None,
        seed: int = 0,
        augment: Augmenter | None = None,
        concat: ConcatConfig | None = None,
    ) -> None:
        self.records, self.vocab, self.sample_rate = list(records), vocab, sample_rate
        self.speed_perturb, self.seed, self.augment = list(speed_perturb or []), seed, augment
        self.concat = concat or ConcatConfig()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, ...]) -> tuple[np.ndarray, list[int], dict] | None:
        i, epoch, *batch = key if isinstance(key, tuple) else (key, 0)
        rec = self.records[i]
        try:
            if "parts" in rec:
                wave = self.join(rec["parts"], i, epoch)
            else:
                wave = load_audio(rec["audio"], self.sample_rate)
            tokens = self.vocab.encode(rec["text"])
        except (AudioError, ValueError) as err:
            log.warning("skipping utterance %s: %s", rec["id"], err)
            return None
        if self.speed_perturb:
            draw = f"batch{batch[0]}" if batch else i
            factor = random.Random(f"{self.seed}/{epoch}/{draw}").choice(self.speed_perturb)
            if factor != 1.0:
                wave = soxr.resample(wave, self.sample_rate * factor, self.sample_rate)
        if self.augment is not None:
            wave = self.augment(wave, i, epoch)
        return wave, tokens, rec

    def join(self, parts: Sequence[dict], index: int, epoch: int = 0) -> np.ndarray:
        """The parts' audio joined into one waveform (N,) float32: ``concat.pause_min`` ..
        ``pause_max`` seconds of digital silence between two parts, 0 .. ``edge_max`` before
        the first and after the last, drawn from (seed, `epoch`, `index`) (uniformly, rounded to
        samples). Raises `AudioError` naming the file of a part that fails to load.

        Digital zero, not low-level noise: the features floor at ``log(mel + log_eps)``, which
        noise below about -80 dBFS does not reach (it gives the same features as zeros), and
        noise above it would be a noise floor the corpus does not have. Synthesised corpora
        (``asr synth``) already pad and pause with zeros, so a group looks like their sentences
        played in a row; waveform augmentation (``augment``) fills the pauses with its noise.
        """
        cfg, rate = self.concat, self.sample_rate
        rng = random.Random(f"{self.seed}/{epoch}/{index}/concat")
        gaps = [rng.uniform(0.0, cfg.edge_max)]
        gaps += [rng.uniform(cfg.pause_min, cfg.pause_max) for _ in parts[1:]]
        gaps.append(rng.uniform(0.0, cfg.edge_max))
        pieces = []
        for gap, part in zip(gaps, parts):
            pieces += [np.zeros(round(gap * rate), np.float32), load_audio(part["audio"], rate)]
        pieces.append(np.zeros(round(gaps[-1] * rate), np.float32))
        return np.concatenate(pieces)


def group_records(
    records: Sequence[dict],
    cfg: ConcatConfig,
    seed: int = 0,
    encode: Callable[[str], Sequence[int]] | None = None,
    output_frames: Callable[[float], int] | None = None,
    max_duration: float | None = None,
) -> list[dict]:
    """Training records -> records of groups of 1 .. ``cfg.max_utterances`` of them
    (``data.concat``), each record in exactly one group. Membership and sizes are drawn from
    `seed` alone, so they are fixed for the run (batches by duration, exact resume).

    A group record has ``parts`` (its records, in order), ``id`` (their ids joined by "+"),
    ``text`` (their texts joined by a space), ``speaker`` (their speakers joined by "+"),
    ``audio`` (the first part's: babble augmentation then never mixes in a part of the group
    itself) and ``duration``: the parts' plus the expected pauses and edges (their means), for
    batching. A group is closed before a record that would make it longer than `max_duration`
    with the longest pauses and edges, or make its transcript too long for CTC
    (``encode(text) -> ids``, ``output_frames(seconds) -> T'``) with the shortest pauses;
    such a record starts the next group. A record alone always forms a group: it passed
    those checks alone (`asr.data.manifest.check_records`).
    """
    rng = random.Random(f"{seed}/concat")
    order = list(range(len(records)))
    rng.shuffle(order)
    mean_pause = (cfg.pause_min + cfg.pause_max) / 2

    def fits(parts: list[dict]) -> bool:
        speech = sum(r["duration"] for r in parts)
        longest = speech + (len(parts) - 1) * cfg.pause_max + 2 * cfg.edge_max
        if max_duration is not None and longest > max_duration:
            return False
        if encode is None or output_frames is None:
            return True
        text = " ".join(r["text"] for r in parts)
        shortest = speech + (len(parts) - 1) * cfg.pause_min
        return ctc_min_frames(encode(text)) <= output_frames(shortest)

    groups, pos = [], 0
    while pos < len(order):
        size = rng.randint(1, cfg.max_utterances)
        parts = [records[order[pos]]]
        pos += 1
        while len(parts) < size and pos < len(order) and fits([*parts, records[order[pos]]]):
            parts.append(records[order[pos]])
            pos += 1
        groups.append(
            {
                "id": "+".join(r["id"] for r in parts),
                "audio": parts[0]["audio"],
                "duration": sum(r["duration"] for r in parts)
                + (len(parts) - 1) * mean_pause
                + cfg.edge_max,
                "text": " ".join(r["text"] for r in parts),
                "speaker": "+".join(dict.fromkeys(str(r["speaker"]) for r in parts)),
                "parts": parts,
            }
        )
    return groups


def collate(items: list) -> dict:
    """Pad a list of dataset items into a batch.

    Returns ``wave`` (B, N) float32, ``wave_lengths`` (B,), ``targets`` (B, L) int64 padded with 0,
    ``target_lengths`` (B,), ``ids`` and ``texts`` (lists of B strings).
    """
    items = [it for it in items if it is not None]
    n = len(items)
    max_wave = max((len(w) for w, _, _ in items), default=0)
    max_tgt = max((len(t) for _, t, _ in items), default=0)
    wave = torch.zeros(n, max_wave)
    targets = torch.zeros(n, max_tgt, dtype=torch.long)
    for i, (w, t, _) in enumerate(items):
        wave[i, : len(w)] = torch.from_numpy(w)
        targets[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    return {
        "wave": wave,
        "wave_lengths": torch.tensor([len(w) for w, _, _ in items], dtype=torch.long),
        "targets": targets,
        "target_lengths": torch.tensor([len(t) for _, t, _ in items], dtype=torch.long),
        "ids": [r["id"] for _, _, r in items],
        "texts": [r["text"] for _, _, r in items],
    }


class DurationBucketSampler(Sampler[list[int]]):
    """Yield batches of indices of similar duration whose padded size
    (longest duration x batch size) stays within `max_batch_seconds`.

    Batch composition is fixed (utterances sorted by duration); with `shuffle` the batch order
    is reshuffled every epoch from (seed, epoch), except the first epoch with `sortagrad`, whose
    batches come shortest first (DeepSpeech2's SortaGrad; on the mini recipe it changed
    nothing: docs/benchmarks.md). With `num_replicas` > 1 each rank gets every
    `num_replicas`-th batch; `drop_uneven` trims the list so all ranks get the same count
    (needed for training under DDP, where ranks synchronise every step). With `with_epoch`
    the batches hold ``(index, epoch, batch)`` triples, batch being the batch's fixed position
    (for per-epoch augmentation draws and the per-batch speed factor).

    ``state_dict(consumed)`` / ``load_state_dict`` save and restore the position in the epoch,
    so the next ``iter()`` resumes after the batches already trained on.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        max_batch_size: int | None = None,
        shuffle: bool = True,
        sortagrad: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_uneven: bool = True,
        with_epoch: bool = False,
    ) -> None:
        if max_batch_seconds <= 0:
            raise ValueError("max_batch_seconds must be positive")
        self.shuffle, self.seed, self.epoch, self.start = shuffle, seed, 0, 0
        self.sortagrad = sortagrad
        self.with_epoch = with_epoch
        self.num_replicas, self.rank = num_replicas, rank
        order = sorted(range(len(durations)), key=lambda i: durations[i])
        batches, current, longest = [], [], 0.0
        for i in order:
            longest_if_added = max(longest, durations[i])
            full = max_batch_size is not None and len(current) >= max_batch_size
            if current and (longest_if_added * (len(current) + 1) > max_batch_seconds or full):
                batches.append(current)
                current, longest_if_added = [], durations[i]
            current.append(i)
            longest = longest_if_added
        if current:
            batches.append(current)
        if drop_uneven and num_replicas > 1:
            batches = batches[: len(batches) - len(batches) % num_replicas] or batches[:0]
        self.batches = batches

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.start = 0
        self.epoch = epoch

    def _epoch_order(self) -> list[int]:
        """This rank's batches of this epoch, as positions in `batches`."""
        order = list(range(len(self.batches)))
        if self.shuffle and not (self.sortagrad and self.epoch == 0):
            random.Random(self.seed * 100003 + self.epoch).shuffle(order)
        return order[self.rank :: self.num_replicas]

    def __iter__(self):
        order = self._epoch_order()[self.start :]
        if self.with_epoch:
            return iter([[(i, self.epoch, b) for i in self.batches[b]] for b in order])
        return iter([self.batches[b] for b in order])

    def __len__(self) -> int:
        return len(range(self.rank, len(self.batches), self.num_replicas))

    def state_dict(self, consumed: int) -> dict:
        """The position after `consumed` batches of the current epoch (at its end: the next)."""
        if consumed >= len(self):
            return {"epoch": self.epoch + 1, "start": 0}
        return {"epoch": self.epoch, "start": consumed}

    def load_state_dict(self, state: dict) -> None:
        """``iter()`` yields epoch ``state["epoch"]`` from batch ``state["start"]`` (until
        `set_epoch` moves to another epoch)."""
        self.epoch, self.start = int(state["epoch"]), int(state["start"])
