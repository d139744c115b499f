"""Typed configs: defaults from the schema, composition, one-line errors naming key and file."""

from __future__ import annotations

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
        ("model:\n  rnn_type: transformer\n", [], "model: rnn_type must be one of"),
        ("decode:\n  type: viterbi\n", [], "decode: unknown decoder type 'viterbi'"),
        ("- a\n- b\n", [], "c.yaml: expected a mapping"),
    ],
)
def test_bad_keys_and_values_are_one_line_errors(tmp_path, text, overrides, message):
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_trainer_argument_is_named(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "trainer:\n  max_epoch: 3\n"))
    with pytest.raises(ConfigError, match=r"trainer.max_epoch: not an argument of lightning"):
        trainer_args(cfg)


@pytest.mark.parametrize(
    ("accelerator", "amx", "cuda", "expected"),
    [("cpu", True, False, "bf16-mixed"), ("cpu", False, False, "32-true"),
     ("auto", True, False, "bf16-mixed"), ("auto", False, True, "bf16-mixed"),
     ("gpu", True, False, "32-true"), ("mps", True, False, "32-true")],
)
def test_auto_precision_is_bf16_only_on_native_bf16_hardware(
    tmp_path, monkeypatch, accelerator, amx, cuda, expected
):
    import torch

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
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


def test_asr_config_prints_the_resolved_config(capsys):
    mini = REPO / "conf" / "mini.yaml"
    assert main(["config", str(mini), "model.hidden=64"]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    assert printed.model.hidden == 64  # the override
    assert printed.optim.lr == OmegaConf.load(mini).optim.lr  # the file
    assert printed.model.layers == ModelDims().layers  # the schema's default
