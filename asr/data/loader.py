"""The LightningDataModule: train/validation loaders from manifests, on the datasets and the
duration-bucketing sampler of `asr.data.dataset` (which evaluation uses without Lightning).

Its state (saved in every checkpoint) is the training sampler's position, so a resumed run
continues mid-epoch exactly (see `asr.data.dataset` for the seeded draws).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import lightning as L
from torch.utils.data import DataLoader

from asr.augment import AugmentConfig, Augmenter
from asr.config import ConcatConfig
from asr.data.dataset import AudioDataset, DurationBucketSampler, collate, group_records
from asr.data.manifest import ManifestError, PrepareReport, check_records, read_manifest
from asr.text import CharVocab

log = logging.getLogger(__name__)


class ASRDataModule(L.LightningDataModule):
    """Train/validation data from JSONL manifests, batched by duration, DDP-aware.

    Manifest lines and records training cannot use (malformed lines, duplicate ids, empty or
    out-of-vocabulary transcripts, audio longer than `max_duration` seconds, transcripts too
    long for CTC under `output_frames(seconds) -> T'`) are counted, logged and skipped before
    the first step; audio that fails to decode is skipped (and logged) when its batch is built.

    Its ``state_dict`` (saved by Lightning in every checkpoint, restored before the loaders are
    built) is the training sampler's position, so a resumed run continues mid-epoch exactly
    where the checkpoint was taken. `augment` (fields of `asr.augment.AugmentConfig`) applies to
    the training set only, and so does `concat` (fields of `asr.config.ConcatConfig`: training
    items of several utterances in a row, `group_records`; off by default). (Lightning's own
    stateful-loader support cannot be used:
    it restores after ``estimated_stepping_batches`` has already started iterating.)
    """

    def __init__(
        self,
        train_manifest: str | None,
        val_manifest: str | None,
        vocab: list[str] | CharVocab,  # characters, or a vocabulary (CharVocab, asr.bpe.BpeVocab)
        sample_rate: int = 16000,
        max_batch_seconds: float = 60.0,
        max_batch_size: int | None = None,
        num_workers: int = 1,
        speed_perturb: Sequence[float] | None = None,
        sortagrad: bool = False,
        seed: int = 0,
        max_duration: float | None = None,
        output_frames: Callable[[float], int] | None = None,
        augment: dict | None = None,
        concat: dict | None = None,
    ) -> None:
        super().__init__()
        self.train_manifest, self.val_manifest = train_manifest, val_manifest
        self.vocab = vocab if hasattr(vocab, "encode") else CharVocab(vocab)
        self.sample_rate, self.seed = sample_rate, seed
        self.max_batch_seconds, self.max_batch_size = max_batch_seconds, max_batch_size
        self.num_workers, self.speed_perturb = num_workers, speed_perturb
        self.sortagrad = sortagrad
        self.max_duration, self.output_frames = max_duration, output_frames
        self.augment = AugmentConfig(**(augment or {}))
        self.concat = ConcatConfig(**(concat or {}))
        self._train_sampler: DurationBucketSampler | None = None
        self._resume: dict | None = None

    def _records(self, manifest: str) -> list[dict]:
        report = PrepareReport()
        records = read_manifest(manifest, report)
        records = check_records(
            records, self.vocab, self.output_frames, self.max_duration, report=report
        )
        if report.dropped:
            log.warning("%s: %s", manifest, report.summary().replace("\n", "; "))
        if not records:
            raise ManifestError(f"{manifest}: no usable utterance\n{report.summary()}")
        return records

    def _loader(self, manifest: str, train: bool) -> DataLoader:
        records = self._records(manifest)
        if train and self.concat.enabled:
            n = len(records)
            records = group_records(records, self.concat, self.seed, self.vocab.encode,
                                    self.output_frames, self.max_duration)
            log.info("%s: %d utterances in %d groups of 1-%d (data.concat)", manifest, n,
                     len(records), self.concat.max_utterances)
        rank, world = (
            (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        )
        sampler = DurationBucketSampler(
            [r["duration"] for r in records],
            self.max_batch_seconds,
            self.max_batch_size,
            shuffle=train,
            sortagrad=train and self.sortagrad,
            seed=self.seed,
            num_replicas=world,
            rank=rank,
            drop_uneven=train,
            with_epoch=train,
        )
        augmenter = None
        if train and self.augment.enabled:  # the RIR bank is built (or read) here, once
            sources = [r["audio"] for r in records]
            augmenter = Augmenter(self.augment, self.seed, self.sample_rate, sources)
        dataset = AudioDataset(
            records,
            self.vocab,
            self.sample_rate,
            self.speed_perturb if train else None,
            self.seed,
            augmenter,
            self.concat if train else None,
        )
        if train:
            self._train_sampler = sampler
            if self._resume:
                sampler.load_state_dict(self._resume)
                self._resume = None
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_manifest, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_manifest, train=False)

    def state_dict(self) -> dict:
        """``{"train_sampler": {"epoch", "start"}}``: where training stands in the data."""
        if self._train_sampler is None or self.trainer is None:
            return {}
        # the batches fetched so far this epoch: Lightning's own count, not public API, hence
        # the tested range of lightning pinned in pyproject.toml (the exact-resume test checks it)
        consumed = self.trainer.fit_loop.epoch_loop.batch_progress.current.ready
        return {"train_sampler": self._train_sampler.state_dict(consumed)}

    def load_state_dict(self, state: dict) -> None:
        self._resume = state.get("train_sampler")
