"""Typed configs: defaults from the schema, composition, one-line errors naming key and file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from asr.cli import main
from asr.config import ConfigError, TrainConfig, load_config, trainer_args
from asr.model import ModelDims

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_come_from_the_schema_and_files_state_only_differences(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "model:\n  hidden: 64\n"))
    assert cfg.model.hidden == 64
    assert cfg.model.layers == ModelDims().layers  # the dataclass default, written nowhere else
    assert cfg.optim.lr == TrainConfig().optim.lr
    assert cfg.trainer.gradient_clip_val == 5.0 and cfg.decode.type == "greedy"


def test_defaults_list_then_file_then_overrides(tmp_path):
    write(tmp_path / "parent.yaml", "model:\n  hidden: 32\n  layers: 4\n")
    child = write(tmp_path / "child.yaml", "defaults: [parent]\nmodel:\n  hidden: 48\n")
    cfg = load_config(child, ["model.layers=2"])
    assert (cfg.model.hidden, cfg.model.layers) == (48, 2)


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("optim:\n  lerning_rate: 0.1\n", [], "c.yaml: optim.lerning_rate: unknown key"),
        ("modle:\n  hidden: 3\n", [], "c.yaml: modle: unknown key"),
        ("model:\n  hidden: many\n", [], "c.yaml: model.hidden: Value 'many'"),
        ("{}\n", ["data.max_batch_secs=3"], "command line: data.max_batch_secs: unknown key"),
        ("model:\n  rnn_type: transformer\n", [], "c.yaml: model.rnn_type: must be one of"),
        ("decode:\n  type: viterbi\n", [], "c.yaml: decode.type: unknown decoder type 'viterbi'"),
        ("- a\n- b\n", [], "c.yaml: expected a mapping"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(tmp_path, text, overrides, message):
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


# one or more bad values per section: (override, the key named, the problem)
BAD_VALUES = [
    ("data.max_batch_seconds=-5", "data.max_batch_seconds", "must be > 0, got -5"),
    ("data.max_batch_size=0", "data.max_batch_size", ">= 1 or null"),
    ("data.num_workers=-1", "data.num_workers", ">= 0"),
    ("data.speed_perturb=[0.9,0]", "data.speed_perturb", "> 0"),
    ("data.cmvn_utterances=0", "data.cmvn_utterances", ">= 1"),
    ("data.max_duration=0", "data.max_duration", "> 0 or null"),
    ("data.concat.max_utterances=0", "data.concat.max_utterances", ">= 1"),
    ("optim.lr=-0.001", "optim.lr", ">= 0"),
    ("optim.weight_decay=-1", "optim.weight_decay", ">= 0"),
    ("optim.betas=[0.9,1.0]", "optim.betas", "two values in [0, 1)"),
    ("optim.betas=[0.9]", "optim.betas", "two values in [0, 1)"),
    ("optim.warmup_steps=-1", "optim.warmup_steps", ">= 0"),
    ("optim.min_lr_ratio=1.5", "optim.min_lr_ratio", "[0, 1]"),
    ("optim.max_bad_steps=0", "optim.max_bad_steps", ">= 1"),
    ("checkpoint.every_n_steps=0", "checkpoint.every_n_steps", ">= 1 or null"),
    ("checkpoint.keep_epochs=-1", "checkpoint.keep_epochs", ">= 0"),
    ("freeze.layers=-1", "freeze.layers", ">= 0"),
    ("freeze.steps=-1", "freeze.steps", ">= 0"),
    ("freeze.layers=4", "freeze.layers", "<= model.layers (3)"),
    ("model.hidden=0", "model.hidden", ">= 1"),
    ("model.layers=0", "model.layers", ">= 1"),
    ("model.stack=0", "model.stack", ">= 1"),
    ("model.dropout=1.0", "model.dropout", "[0, 1)"),
    ("model.frontend=mlp", "model.frontend", "'stack' or 'conv'"),
    ("model.conv_time_strides=[2,0]", "model.conv_time_strides", "strides >= 1"),
    ("features.sample_rate=0", "features.sample_rate", "> 0"),
    ("features.n_mels=0", "features.n_mels", "> 0"),
    ("features.hop_ms=0.01", "features.hop_ms", "one sample"),
    ("features.n_fft=256", "features.n_fft", "window (400 samples)"),
    ("features.f_min=-1", "features.f_min", ">= 0"),
    ("features.f_max=9000", "features.f_max", "sample_rate/2"),
    ("features.normalize=batch", "features.normalize", "must be one of"),
    ("specaug.freq_masks=-1", "specaug.freq_masks", ">= 0"),
    ("specaug.time_width_ratio=1.5", "specaug.time_width_ratio", "[0, 1]"),
    ("augment.p_noise=1.5", "augment.p_noise", "[0, 1]"),
    ("augment.snr_min=30", "augment.snr_min", "<= snr_max"),
    ("decode.beam_size=0", "decode.beam_size", ">= 1"),
    ("decode.backend=kenlm", "decode.backend", "unknown beam search backend"),
    ("tokenizer.type=wordpiece", "tokenizer.type", "char or bpe"),
    ("tokenizer.type=bpe", "tokenizer.bpe_model", "needed by type bpe"),
    ("trainer.max_epochs=0", "trainer.max_epochs", ">= 1, -1"),
    ("trainer.max_epochs=ten", "trainer.max_epochs", "got 'ten'"),
    ("trainer.devices=0", "trainer.devices", "a count >= 1"),
    ("trainer.num_nodes=0", "trainer.num_nodes", ">= 1"),
    ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val", ">= 0 or null"),
    ("trainer.precision=fp8", "trainer.precision", "Lightning precision"),
    ("trainer.accelerator=abacus", "trainer.accelerator", "one of auto, cpu"),
    ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps", ">= 1"),
    ("seed=-1", "seed", "[0, 2**32)"),
]


@pytest.mark.parametrize("override, key, problem", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_every_section_checks_its_values_at_load_time(tmp_path, override, key, problem):
    path = write(tmp_path / "c.yaml", "{}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, [override])
    message = str(err.value)
    assert message.startswith(f"{path} + command line: {key}: "), message
    assert problem in message and "\n" not in message


def test_values_at_the_edges_of_the_rules_are_accepted(tmp_path):
    ckpt = write(tmp_path / "last.ckpt", "")
    edges = ["optim.lr=0", "optim.betas=[0,0.999]", "optim.min_lr_ratio=1", "optim.warmup_steps=0",
             "data.max_batch_size=null", "data.num_workers=0", "data.speed_perturb=null",
             "checkpoint.every_n_steps=null", "freeze.layers=3", "model.dropout=0",
             "features.f_max=8000", "specaug.time_width_ratio=null", "trainer.max_epochs=-1",
             "trainer.devices=auto", "trainer.devices=[0]", "trainer.gradient_clip_val=null",
             "trainer.precision=bf16-mixed", "trainer.accelerator=gpu", f"resume={ckpt}",
             f"init_from={ckpt}", "decode.beam_size=1", "seed=4294967295"]
    cfg = load_config(write(tmp_path / "c.yaml", "{}\n"), edges)
    assert cfg.optim.lr == 0 and cfg.trainer.max_epochs == -1 and cfg.resume == str(ckpt)


def test_training_also_needs_the_manifests_and_known_trainer_arguments(tmp_path):
    path = write(tmp_path / "c.yaml", "{}\n")
    load_config(path)  # `asr config` may show a config whose manifests do not exist yet
    with pytest.raises(ConfigError, match=r"c.yaml: data.train_manifest: not set$"):
        load_config(path, training=True)
    train, val = write(tmp_path / "train.jsonl", ""), tmp_path / "val.jsonl"
    data = [f"data.train_manifest={train}", f"data.val_manifest={val}"]
    with pytest.raises(ConfigError, match=r"command line: data.val_manifest: no such file: "):
        load_config(path, data, training=True)
    write(val, "")
    load_config(path, data, training=True)
    with pytest.raises(ConfigError, match=r"command line: tokenizer.bpe_model: no such file"):
        load_config(path, [*data, "tokenizer.type=bpe", "tokenizer.bpe_model=x.model"],
                    training=True)
    with pytest.raises(ConfigError, match=r"c.yaml \+ command line: trainer.max_epoch: not an"):
        load_config(path, [*data, "trainer.max_epoch=3"], training=True)
    for key in ("resume", "init_from"):  # a saved config may name a checkpoint since deleted
        load_config(path, [f"{key}=no/last.ckpt"])
        with pytest.raises(ConfigError, match=rf"command line: {key}: no such checkpoint: no/"):
            load_config(path, [*data, f"{key}=no/last.ckpt"], training=True)


def test_asr_train_with_a_bad_value_stops_before_any_work(tmp_path):
    """The issue's case: the sampler used to refuse it after training had started."""
    train, val = write(tmp_path / "train.jsonl", ""), write(tmp_path / "val.jsonl", "")
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "asr.cli", "train", "--config", str(REPO / "conf" / "mini.yaml"),
           f"data.train_manifest={train}", f"data.val_manifest={val}", f"exp_dir={exp}",
           "data.max_batch_seconds=-5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "mini.yaml + command line: data.max_batch_seconds: must be > 0" in proc.stderr
    assert not exp.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "train.jsonl", "val.jsonl"]


def test_unknown_trainer_argument_is_named(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "trainer:\n  max_epoch: 3\n"))
    with pytest.raises(ConfigError, match=r"trainer.max_epoch: not an argument of lightning"):
        trainer_args(cfg)


@pytest.mark.parametrize(
    ("accelerator", "avx512_bf16", "cuda", "expected"),
    [("cpu", True, False, "bf16-mixed"), ("cpu", False, False, "32-true"),
     ("auto", True, False, "bf16-mixed"), ("auto", False, True, "bf16-mixed"),
     ("gpu", True, False, "32-true"), ("mps", True, False, "32-true")],
)
def test_auto_precision_is_bf16_only_on_native_bf16_hardware(
    tmp_path, monkeypatch, accelerator, avx512_bf16, cuda, expected
):
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    text = f"trainer:\n  accelerator: {accelerator}\n  precision: auto\n"
    args = trainer_args(load_config(write(tmp_path / "c.yaml", text)))
    assert args["precision"] == expected and args["accelerator"] == accelerator


def test_misspelled_key_through_the_cli_is_one_line(tmp_path, capsys):
    path = write(tmp_path / "c.yaml", "optim:\n  lerning_rate: 0.1\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "optim.lerning_rate: unknown key" in err
    assert str(path) in err and "Traceback" not in err


def test_every_shipped_config_loads(capsys):
    for path in sorted((REPO / "conf").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.exp_dir.startswith("recipes/"), path
        trainer_args(cfg)
    ds2 = load_config(REPO / "conf" / "librispeech_100.yaml")
    # the recipe takes its model from model/deepspeech2.yaml as it is, overriding none of it
    model = OmegaConf.load(REPO / "conf" / "model" / "deepspeech2.yaml").model
    assert {k: ds2.model[k] for k in model} == dict(model)
    assert "model" not in OmegaConf.load(REPO / "conf" / "librispeech_100.yaml")
    # Mini LibriSpeech's training starts from its pretraining: one model for both
    mini, pre = (load_config(REPO / "conf" / f"mini_librispeech{s}.yaml")
                 for s in ("", "_pretrain"))
    assert mini.model == pre.model and (mini.model.layers, mini.model.hidden) == (4, 320)


def test_asr_config_prints_the_resolved_config(capsys):
    mini = REPO / "conf" / "mini.yaml"
    assert main(["config", str(mini), "model.hidden=64"]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    assert printed.model.hidden == 64  # the override
    assert printed.optim.lr == OmegaConf.load(mini).optim.lr  # the file
    assert printed.model.layers == ModelDims().layers  # the schema's default
