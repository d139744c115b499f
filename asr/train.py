"""Lightning wiring: CTC loss, AdamW with warm-up + cosine decay, WER/CER metrics, `fit(cfg)`.

The maths is in `asr.model`; this module only connects it to Lightning. Trainer options
(devices, nodes, strategy, precision, clipping, epochs...) come straight from ``cfg.trainer``;
fault handling and per-step reseeding are callbacks (`asr.callbacks`). Checkpoints are written
atomically (`AtomicCheckpointIO`) and read with ``weights_only=True``. A resumed run continues
exactly where the checkpoint was taken: the data position travels in the checkpoint
(`asr.data.loader.ASRDataModule.state_dict`) and the torch generator is re-seeded before every
step (`asr.callbacks.ReseedPerStep`).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import Metric

from asr.audio import AudioError, load_audio
from asr.bpe import load_vocab
from asr.callbacks import (
    ElapsedTime,
    FlushDenormals,
    FreezeLayers,
    GradNormMonitor,
    ReseedPerStep,
    SkipBadSteps,
    TrainingError,
)
from asr.checkpoint import (
    BEST_CHECKPOINT,
    init_weights,
    model_description,
    read_checkpoint,
    save_atomic,
)
from asr.config import OptimConfig, model_dims, section, trainer_args, vocabulary
from asr.data.loader import ASRDataModule
from asr.data.manifest import PrepareReport, read_manifest
from asr.decode import greedy_decode
from asr.dims import FeatureConfig, ModelDims
from asr.features import compute_cmvn
from asr.model import SpeechRecognizer, count_parameters
from asr.score import char_errors, word_errors

__all__ = ["AtomicCheckpointIO", "CTCModule", "TrainingError", "build_module", "fit"]

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O: atomic writes (`save_atomic`), code-free reads (`read_checkpoint`).

    A kill during a save leaves the previous ``last.ckpt`` intact.
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        save_atomic(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return read_checkpoint(path)


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
    checkpoint rebuilds the model on its own (see `asr.checkpoint.load_network`). `optim` holds
    fields of `asr.config.OptimConfig`. A step that runs out of GPU memory sets `skip_reason`
    and is skipped by `asr.callbacks.SkipBadSteps`.
    """

    def __init__(
        self,
        dims: dict,
        features: dict,
        vocab: list[str],
        specaug: dict | None = None,
        optim: dict | None = None,
        bpe_model: str | None = None,
    ) -> None:
        super().__init__()
        # character models' checkpoints stay as they were: no bpe_model entry
        self.save_hyperparameters(ignore=[] if bpe_model else ["bpe_model"])
        self.model = SpeechRecognizer(ModelDims(**dims), FeatureConfig(**features), vocab, specaug,
                                      bpe_model)
        self.ctc = nn.CTCLoss(blank=0, zero_infinity=True)
        self.optim = OptimConfig(**(optim or {}))
        self.val_wer, self.val_cer = ErrorRate(), ErrorRate()
        self.skip_reason: str | None = None  # why the current step must be skipped

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_probs, lengths = self.model(batch["wave"], batch["wave_lengths"])
        loss = self.ctc(
            log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lengths"]
        )
        return loss, log_probs, lengths

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        try:
            loss, _, _ = self._loss(batch)
        except torch.cuda.OutOfMemoryError:
            return self._skip_batch("out of memory in the forward pass")
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def _skip_batch(self, reason: str) -> torch.Tensor:
        """Mark the step as skipped; return a zero loss that still reaches every parameter
        (so backward and DDP's gradient all-reduce run as on any other step)."""
        self.skip_reason = reason
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return sum(p.sum() for p in self.parameters()) * 0.0

    def backward(self, loss: torch.Tensor, *args, **kwargs) -> None:
        try:
            super().backward(loss, *args, **kwargs)
        except torch.cuda.OutOfMemoryError:
            self.zero_grad(set_to_none=True)
            self._skip_batch("out of memory in the backward pass")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, log_probs, lengths = self._loss(batch)
        hyps = greedy_decode(log_probs, lengths, self.model.tokens)
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
            self.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
        )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = min(o.warmup_steps, total // 2)

        def factor(step: int) -> float:  # linear warm-up, then cosine decay to min_lr_ratio
            if step < warmup:
                return (step + 1) / warmup
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _global_cmvn(module: CTCModule, manifest: str, max_utterances: int) -> None:
    """Global mean/std of log-mel over (up to `max_utterances` of) the training manifest."""
    records = read_manifest(manifest, PrepareReport())[:max_utterances]
    rate = module.model.feature_config.sample_rate
    used = []

    def waves():  # files that fail to load are skipped here as in training
        for r in records:
            try:
                yield load_audio(r["audio"], rate)
                used.append(r["id"])
            except AudioError as err:
                log.warning("CMVN: skipping utterance %s: %s", r["id"], err)

    mean, std = compute_cmvn(module.model.features, waves())
    module.model.features.set_cmvn(mean, std)
    log.info("global CMVN from %d utterances of %s", len(used), manifest)


def build_module(cfg: DictConfig) -> CTCModule:
    """The LightningModule described by a config (model, features, specaug, optim sections);
    the model's input size and vocabulary follow from the features and the tokenizer section
    (characters, or the pieces of a BPE model, which the module then carries)."""
    vocab = vocabulary(cfg)
    return CTCModule(
        asdict(model_dims(cfg, len(vocab))),
        section(cfg, "features"),
        vocab.tokens[1:],
        specaug=section(cfg, "specaug"),
        optim=section(cfg, "optim"),
        bpe_model=vocab.to_base64() if hasattr(vocab, "to_base64") else None,
    )


def _follow_checkpoint(cfg: DictConfig, ckpt: dict) -> None:
    """Fine-tuning: the model dimensions that `cfg` leaves at their defaults take the values of
    `ckpt`, the ``init_from`` checkpoint, so one fine-tuning config serves pretrained models of
    any size, as ``from_pretrained`` does elsewhere. Dropout stays the config's. An explicit
    value that differs is left for `init_weights` to refuse."""
    found = model_description(cfg.init_from, ckpt)["dims"]
    default = asdict(ModelDims())
    follow = {k: v for k, v in found.items()
              if k in default and k not in ("n_input", "vocab_size", "dropout")
              and cfg.model[k] == default[k] and v != default[k]}
    if follow:
        log.info("model dimensions of %s: %s", cfg.init_from,
                 ", ".join(f"{k}={v}" for k, v in follow.items()))
        for k, v in follow.items():
            cfg.model[k] = v


def fit(cfg: DictConfig, callbacks: list[Callback] | None = None) -> L.Trainer:
    """Train from a config (`asr.config.load_config`). Returns the finished Trainer.

    Writes to ``cfg.exp_dir``: checkpoints/{best-*.ckpt,last.ckpt}, logs/version_N/metrics.csv,
    tb/version_N/ (TensorBoard) and config.yaml (the resolved config). ``last.ckpt`` is rewritten
    after every validation and every ``checkpoint.every_n_steps`` training steps;
    ``checkpoint.keep_epochs`` keeps epochNN.ckpt of the last epochs too. ``init_from`` starts
    from a checkpoint's weights and dimensions (`_follow_checkpoint`; ``freeze``: parts kept
    fixed for the first steps). `callbacks` are added to the Trainer's.
    """
    L.seed_everything(cfg.seed, workers=True)
    exp = Path(cfg.exp_dir)
    pretrained = read_checkpoint(cfg.init_from) if cfg.init_from else None
    if pretrained:
        _follow_checkpoint(cfg, pretrained)
    module = build_module(cfg)
    if pretrained and not cfg.resume:  # fine-tuning: the weights (and CMVN) of a checkpoint
        init_weights(module.model, cfg.init_from, pretrained)
        log.info("weights from %s", cfg.init_from)
    elif cfg.features.normalize == "global" and not cfg.resume:
        _global_cmvn(module, cfg.data.train_manifest, cfg.data.cmvn_utterances)
    del pretrained  # its optimizer state too: not held through the training
    data_args = section(cfg, "data")
    del data_args["cmvn_utterances"]
    rate = cfg.features.sample_rate
    data = ASRDataModule(
        vocab=load_vocab(module.model.vocab, module.model.bpe_model),
        sample_rate=rate,
        seed=cfg.seed,
        output_frames=lambda seconds: module.model.output_frames(int(seconds * rate)),
        augment=section(cfg, "augment"),
        **data_args,
    )
    checkpoints = exp / "checkpoints"
    best = ModelCheckpoint(
        dirpath=checkpoints,
        filename=BEST_CHECKPOINT,
        auto_insert_metric_name=False,
        monitor="val_wer",
        mode="min",
        save_top_k=1,
    )
    # Lightning's save_last only writes when the monitored metric improves: keep our own
    # last.ckpt, rewritten after every validation (and every N steps), for resuming.
    every = cfg.checkpoint.every_n_steps
    saving = [
        ModelCheckpoint(dirpath=checkpoints, filename="last", enable_version_counter=False,
                        every_n_train_steps=n)
        for n in ([None, every] if every else [None])
    ]
    if cfg.checkpoint.keep_epochs:  # epochNN.ckpt of the last N epochs, for `asr average`
        saving.append(ModelCheckpoint(dirpath=checkpoints, filename="epoch{epoch:02d}",
                                      auto_insert_metric_name=False, monitor="epoch", mode="max",
                                      save_top_k=cfg.checkpoint.keep_epochs))
    extra = [  # the gradient norm is read before a bad step's gradients are dropped
        GradNormMonitor(cfg.trainer.get("gradient_clip_val")),
        SkipBadSteps(cfg.optim.max_bad_steps),
        ReseedPerStep(cfg.seed),
        ElapsedTime(),
        FlushDenormals(),
    ]
    if cfg.freeze.steps:
        extra.append(FreezeLayers(cfg.freeze.frontend, cfg.freeze.layers, cfg.freeze.steps))
    trainer = L.Trainer(
        **trainer_args(cfg),
        default_root_dir=exp,
        callbacks=[
            best, *saving, LearningRateMonitor(logging_interval="step"), *extra, *(callbacks or [])
        ],
        plugins=[AtomicCheckpointIO()],
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
    # the data position is restored by ASRDataModule.load_state_dict, which Lightning cannot see
    warnings.filterwarnings("ignore", ".*your dataloader is not resumable.*")
    trainer.fit(module, datamodule=data, ckpt_path=cfg.resume)
    return trainer
