"""Lightning wiring: CTC loss, AdamW with warm-up + cosine decay, WER/CER metrics, `fit(cfg)`.

The maths is in `asr.model`; this module only connects it to Lightning. Trainer options
(devices, nodes, strategy, precision, clipping, epochs...) come straight from ``cfg.trainer``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import Metric

from asr.audio import load_audio
from asr.data.loader import ASRDataModule
from asr.data.manifest import read_manifest
from asr.decode import greedy_decode
from asr.features import FeatureConfig, compute_cmvn
from asr.model import ModelDims, SpeechRecognizer, count_parameters
from asr.score import char_errors, word_errors
from asr.text import LIBRISPEECH_CHARS

log = logging.getLogger(__name__)


class ErrorRate(Metric):
    """Corpus error rate, summed over batches and (under DDP) over ranks.

    ``compute()`` returns tensor([errors, reference length]).
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("errors", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, errors: int, total: int) -> None:
        self.errors += errors
        self.total += total

    def compute(self) -> torch.Tensor:
        return torch.stack([self.errors, self.total])


class CTCModule(L.LightningModule):
    """LightningModule around `SpeechRecognizer`: loss, optimizer, schedule and metrics.

    All constructor arguments are plain dicts/lists, saved as hyper-parameters, so a
    checkpoint rebuilds the model on its own (see `asr.checkpoint.load_model`).
    """

    def __init__(
        self,
        dims: dict,
        features: dict,
        vocab: list[str],
        specaug: dict | None = None,
        optim: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = SpeechRecognizer(ModelDims(**dims), FeatureConfig(**features), vocab, specaug)
        self.tokens = ["", *vocab]
        self.ctc = nn.CTCLoss(blank=0, zero_infinity=True)
        self.optim = {
            "lr": 1e-3,
            "weight_decay": 1e-2,
            "betas": (0.9, 0.98),
            "warmup_steps": 100,
            "min_lr_ratio": 0.02,
            **(optim or {}),
        }
        self.val_wer, self.val_cer = ErrorRate(), ErrorRate()

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs, lengths = self.model(batch["wave"], batch["wave_lengths"])
        loss = self.ctc(
            log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"]
        )
        return loss, log_probs, lengths

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, log_probs, lengths = self._loss(batch)
        hyps = greedy_decode(log_probs, lengths, self.tokens)
        w, c = word_errors(batch["texts"], hyps), char_errors(batch["texts"], hyps)
        self.val_wer.update(w.errors, w.ref_len)
        self.val_cer.update(c.errors, c.ref_len)
        self.log("val_loss", loss, sync_dist=True, batch_size=len(batch["ids"]))

    def on_validation_epoch_end(self) -> None:
        (w_err, words), (c_err, chars) = self.val_wer.compute(), self.val_cer.compute()
        self.log_dict(
            {
                "val_wer": w_err / words.clamp(min=1),
                "val_cer": c_err / chars.clamp(min=1),
                "val_words": words.float(),
            },
            prog_bar=True,
        )
        self.val_wer.reset()
        self.val_cer.reset()

    def on_train_epoch_start(self) -> None:
        sampler = getattr(self.trainer.train_dataloader, "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.current_epoch)

    def configure_optimizers(self):
        o = self.optim
        opt = torch.optim.AdamW(
            self.parameters(), lr=o["lr"], betas=tuple(o["betas"]), weight_decay=o["weight_decay"]
        )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = min(o["warmup_steps"], total // 2)

        def factor(step: int) -> float:  # linear warm-up, then cosine decay to min_lr_ratio
            if step < warmup:
                return (step + 1) / warmup
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return o["min_lr_ratio"] + (1 - o["min_lr_ratio"]) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _global_cmvn(module: CTCModule, manifest: str, max_utterances: int) -> None:
    """Global mean/std of log-mel over (up to `max_utterances` of) the training manifest."""
    records = read_manifest(manifest)[:max_utterances]
    rate = module.model.feature_config.sample_rate
    mean, std = compute_cmvn(module.model.features, (load_audio(r["audio"], rate) for r in records))
    module.model.features.set_cmvn(mean, std)
    log.info("global CMVN from %d utterances of %s", len(records), manifest)


def build_module(cfg: DictConfig) -> CTCModule:
    """The LightningModule described by a config (model, features, specaug, optim sections)."""
    vocab = list(LIBRISPEECH_CHARS)
    features = OmegaConf.to_container(cfg.features, resolve=True)
    dims = {
        **OmegaConf.to_container(cfg.model, resolve=True),
        "n_input": features["n_mels"],
        "vocab_size": len(vocab) + 1,
    }
    return CTCModule(
        dims,
        features,
        vocab,
        specaug=OmegaConf.to_container(cfg.specaug, resolve=True),
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
    )


def fit(cfg: DictConfig) -> L.Trainer:
    """Train from a config (see conf/). Returns the finished Trainer.

    Writes to ``cfg.exp_dir``: checkpoints/{best-*.ckpt,last.ckpt}, logs/version_N/metrics.csv,
    tb/version_N/ (TensorBoard) and config.yaml (the resolved config).
    """
    L.seed_everything(cfg.seed, workers=True)
    exp = Path(cfg.exp_dir)
    module = build_module(cfg)
    if cfg.features.normalize == "global" and not cfg.get("resume"):
        _global_cmvn(module, cfg.data.train_manifest, cfg.data.get("cmvn_utterances", 500))
    data_args = OmegaConf.to_container(cfg.data, resolve=True)
    data_args.pop("cmvn_utterances", None)
    data = ASRDataModule(
        vocab=module.model.vocab, sample_rate=cfg.features.sample_rate, seed=cfg.seed, **data_args
    )
    best = ModelCheckpoint(
        dirpath=exp / "checkpoints",
        filename="best-epoch{epoch:02d}-wer{val_wer:.4f}",
        auto_insert_metric_name=False,
        monitor="val_wer",
        mode="min",
        save_top_k=1,
    )
    # Lightning's save_last only writes when the monitored metric improves: keep our own
    # last.ckpt, rewritten after every validation, for resuming.
    last = ModelCheckpoint(
        dirpath=exp / "checkpoints", filename="last", save_top_k=1, enable_version_counter=False
    )
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=exp,
        callbacks=[best, last, LearningRateMonitor(logging_interval="step")],
        # one version_N folder per run, so a resumed run never overwrites earlier logs
        logger=[CSVLogger(exp, name="logs"), TensorBoardLogger(exp, name="tb")],
        use_distributed_sampler=False,  # DurationBucketSampler shards batches across ranks itself
    )
    if trainer.is_global_zero:
        exp.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, exp / "config.yaml")
        log.info(
            "model: %s, %.2fM parameters", module.model.dims, count_parameters(module.model) / 1e6
        )
    trainer.fit(module, datamodule=data, ckpt_path=cfg.get("resume"))
    return trainer
