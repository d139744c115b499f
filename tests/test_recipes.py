"""Smoke tests: every stage of the mini, digits, LJSpeech and LibriSpeech recipes on a few seconds
of audio with a tiny model (marked slow). Mini synthesizes its speech with espeak-ng. Digits and
LJSpeech use the real clips in ../shared/data when present (a handful of them, via --data-dir and
--limit), otherwise corpora built by the tests; LibriSpeech downloads fake subsets the test serves
over loopback HTTP. Also (fast): every recipe's --help names all of its options, and the shared
shell helpers pick the checkpoint `asr train` names best."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, WORDS, make_librispeech
from test_corpora import make_fsdd, make_ljspeech
from test_download import Server, make_archive

from asr.checkpoint import BEST_CHECKPOINT, best_checkpoint
from asr.config import load_config
from asr.data.manifest import read_manifest
from asr.decode import lm_vocabulary
from asr.model import count_parameters
from asr.train import build_module

TINY = [
    "model.hidden=16",
    "model.layers=1",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.num_workers=0",
]


def shared_data(name: str) -> Path | None:
    """``shared/data/<name>`` beside the checkout (or above it), where CI keeps real corpora."""
    for parent in REPO.parents:
        if (parent / "shared" / "data" / name).is_dir():
            return parent / "shared" / "data" / name
    return None


RECIPES = sorted(p.parent.name for p in (REPO / "recipes").glob("*/run.sh"))
ENV = {**os.environ, "ASR_VENV": str(Path(sys.executable).parent.parent), "OMP_NUM_THREADS": "1"}


def run_recipe(name: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / name / "run.sh"), *args, *TINY],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def declared_options(name: str) -> set[str]:
    """The options recipe `name` takes: common.sh's (its `declare -A options=` line) and the
    recipe's own (`options[--x]=var`)."""
    common = next(line for line in (REPO / "recipes" / "common.sh").read_text().splitlines()
                  if line.startswith("declare -A options="))
    own = (REPO / "recipes" / name / "run.sh").read_text()
    return {*re.findall(r"\[(--[a-z-]+)\]=", common), *re.findall(r"options\[(--[a-z-]+)\]=", own)}


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_help_names_every_option_and_refuses_unknown_ones(name):
    """--help prints the header comment, whose synopsis and text name every option; an unknown
    option, or an option without its value, ends the recipe at once with one line on stderr."""
    script = str(REPO / "recipes" / name / "run.sh")
    declared = declared_options(name)
    assert {"--stage", "--stop-stage", "--dir"} <= declared and len(declared) > 3
    for flag in ("--help", "-h"):
        proc = subprocess.run(["bash", script, flag], capture_output=True, text=True, env=ENV)
        assert proc.returncode == 0 and proc.stderr == "" and proc.stdout.startswith("# ")
        assert "\n# Stages: 0 " in proc.stdout  # what --stage and --stop-stage select
        for option in declared:  # in the synopsis ([--x ...]), and described below it
            assert re.search(rf"\[{option}[ \]]", proc.stdout), f"{name}: {option} not in synopsis"
            mentions = re.findall(rf"(?<![\w-]){option}(?![\w-])", proc.stdout)
            assert option in ("--stage", "--stop-stage") or len(mentions) >= 2, f"{name}: {option}"
    for args, message in ((["--no-such-option", "1"], "unknown argument: --no-such-option"),
                          (["--stage"], "--stage needs a value"),
                          (["--stage", "9", "N_TRAIN"], "unknown argument: N_TRAIN")):
        proc = subprocess.run(["bash", script, *args], capture_output=True, text=True, env=ENV)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(message), proc.stderr


@pytest.mark.parametrize("name, stage, other", [("ljspeech", "5", "synthetic"),
                                               ("digits", "6", "none")])
def test_recipes_say_how_to_get_the_mini_librispeech_model(tmp_path, name, stage, other):
    """Their default start, the Mini LibriSpeech recipe's model: one line when it is not there."""
    if (REPO / "recipes" / "mini_librispeech" / "exp" / "checkpoints").exists():
        pytest.skip("recipes/mini_librispeech/exp holds a model here")
    proc = subprocess.run(["bash", str(REPO / "recipes" / name / "run.sh"), "--stage", stage,
                           "--dir", str(tmp_path)], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "run bash recipes/mini_librispeech/run.sh first" in proc.stderr
    assert f"--pretrained {other}" in proc.stderr and not (tmp_path / "exp" / "loso").exists()


def test_shell_best_checkpoint_is_the_python_one(tmp_path):
    """common.sh's best_checkpoint finds the file `asr train` names best (asr.checkpoint), and
    falls back to last.ckpt."""
    helper = tmp_path / "pick.sh"
    helper.write_text(f'source {REPO}/recipes/common.sh\nbest_checkpoint "$1"\n')
    checkpoints = tmp_path / "exp" / "checkpoints"
    checkpoints.mkdir(parents=True)

    def pick() -> str:
        proc = subprocess.run(["bash", str(helper), str(tmp_path / "exp")], capture_output=True,
                              text=True, env=ENV, check=True)
        return proc.stdout.strip()

    assert pick() == str(checkpoints / "last.ckpt") == str(best_checkpoint(tmp_path / "exp"))
    best = checkpoints / (BEST_CHECKPOINT.format(epoch=7, val_wer=0.2345) + ".ckpt")
    for name in (best.name, "last.ckpt", "epoch07.ckpt", "averaged.ckpt"):
        (checkpoints / name).touch()
    assert pick() == str(best) == str(best_checkpoint(tmp_path / "exp"))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_mini_recipe_smoke(tmp_path):
    """Every stage of recipes/mini/run.sh on a few seconds of synthetic speech."""
    proc = run_recipe(
        "mini", "--stage", "1", "--dir", str(tmp_path), "--n-train", "16", "--n-dev", "4",
        "--n-test", "4"
    )
    for stage in range(1, 7):
        assert f"stage {stage}:" in proc.stdout
    assert len(read_manifest(tmp_path / "data" / "train.jsonl")) == 16
    summary = json.loads((tmp_path / "exp" / "eval_test" / "wer.json").read_text())
    assert summary["utterances"] == 4
    assert f"WER summary: {tmp_path}/exp/eval_test/wer.json" in proc.stdout
    assert_report(tmp_path / "exp" / "eval_test" / "report", utterances=4)
    lm_summary = json.loads((tmp_path / "exp" / "eval_test_lm" / "wer.json").read_text())
    assert lm_summary["decoder"]["type"] == "beam" and lm_summary["utterances"] == 4
    assert (tmp_path / "exp" / "compare_greedy_lm" / "compare.html").is_file()


@pytest.mark.slow
def test_digits_recipe_smoke(tmp_path):
    data = shared_data("fsdd") or make_fsdd(tmp_path / "fsdd", indices=range(11))
    proc = run_recipe(
        "digits", "--stage", "1", "--dir", str(tmp_path), "--data-dir", str(data), "--limit", "20",
        "--pretrained", "none",
    )
    for stage in range(1, 7):
        assert f"stage {stage}:" in proc.stdout
    assert f"stage 1: using {data}" in proc.stdout
    train = read_manifest(tmp_path / "data" / "train.jsonl")
    assert len(train) == 20 and {r["text"] for r in train} <= {
        "ZERO",
        "ONE",
        "TWO",
        "THREE",
        "FOUR",
        "FIVE",
        "SIX",
        "SEVEN",
        "EIGHT",
        "NINE",
    }
    wer = json.loads((tmp_path / "exp" / "eval_test" / "wer.json").read_text())
    acc = json.loads((tmp_path / "exp" / "eval_test" / "accuracy.json").read_text())
    assert wer["utterances"] == acc["utterances"] == 20
    assert acc["correct"] == round(acc["accuracy"] * 20)
    assert "digit accuracy" in proc.stdout
    assert_report(tmp_path / "exp" / "eval_test" / "report", utterances=20)
    # the lexicon-constrained beam search can only output the ten digit words
    words = {"ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"}
    lexicon_hyps = tmp_path / "exp" / "eval_test_lexicon" / "hyps.jsonl"
    rows = [json.loads(line) for line in lexicon_hyps.open()]
    assert len(rows) == 20 and all(set(r["hyp"].split()) <= words for r in rows)
    # stage 6: one fold per speaker, each tested on that speaker alone, and the summary
    speakers = sorted({p.name.split("_")[1] for p in (data / "recordings").glob("*.wav")})
    for spk in speakers:
        fold = tmp_path / "data" / "loso" / spk
        assert {r["speaker"] for r in read_manifest(fold / "test.jsonl")} == {spk}
        assert spk not in {r["speaker"] for r in read_manifest(fold / "train.jsonl")}
    loso = json.loads((tmp_path / "exp" / "loso" / "loso.json").read_text())
    assert sorted(loso["folds"]) == speakers
    greedy = [f["greedy"] for f in loso["folds"].values()]
    assert loso["greedy"]["mean"] == pytest.approx(sum(greedy) / len(greedy))
    assert loso["greedy"]["worst"] == min(greedy)
    # stage 6 again, every fold fine-tuned from the stage-3 model (--pretrained)
    pretrained = best_checkpoint(tmp_path / "exp")
    assert pretrained.name != "last.ckpt"
    proc = run_recipe("digits", "--stage", "6", "--stop-stage", "6", "--dir", str(tmp_path / "ft"),
                      "--data-dir", str(data), "--pretrained", str(pretrained), "--limit", "20")
    assert f"every fold fine-tunes from {pretrained}" in proc.stdout
    for spk in speakers:
        config = (tmp_path / "ft" / "exp" / "loso" / spk / "config.yaml").read_text()
        assert f"init_from: {pretrained}" in config and "max_epochs: 1" in config
    assert (tmp_path / "ft" / "exp" / "loso" / "loso.json").is_file()


def assert_report(report_dir, utterances: int) -> None:
    """The recipe's evaluate stage wrote the WER report in its three forms, with training curves."""
    report = json.loads((report_dir / "report.json").read_text())
    assert report["summary"]["utterances"] == utterances
    assert report["training"]["epochs"]
    assert (report_dir / "report.md").is_file()
    assert "data:image/png;base64," in (report_dir / "report.html").read_text()


@pytest.mark.slow
def test_ljspeech_recipe_smoke(tmp_path):
    """prepare -> synthesize -> pretrain -> fine-tune from it -> average -> evaluate -> a 4-gram
    of --lm-text and the training sentences, without the held-out ones."""
    data = shared_data("ljspeech") or make_ljspeech(tmp_path / "LJSpeech-1.1", n=12)
    lm_text = tmp_path / "books.txt"  # every sentence of the corpus, held-out ones included
    lm_text.write_text("".join(line.rsplit("|", 1)[1] + "\n" for line in
                               (data / "metadata.csv").read_text().splitlines()) + "zyzzyva\n")
    proc = run_recipe(
        "ljspeech",
        "--stage",
        "1",
        "--dir",
        str(tmp_path),
        "--data-dir",
        str(data),
        "--limit",
        "10",
        "--pretrained",
        "synthetic",
        "--synth",
        "3",
        "--real-repeat",
        "2",
        "--ft-synth",
        "1",
        "--average",
        "3",
        "--lm-text",
        str(lm_text),
    )
    for stage in range(1, 10):
        assert f"stage {stage}:" in proc.stdout
    heldout = (tmp_path / "data" / "heldout.txt").read_text().splitlines()
    held_ids = {line.split("|")[0] for line in heldout}
    train = read_manifest(tmp_path / "data" / "train.jsonl")
    assert len(heldout) == 2 and len(train) == 8 and not held_ids & {r["id"] for r in train}
    sentences = (tmp_path / "data" / "train_sentences.txt").read_text().splitlines()
    assert not held_ids & {line.split("|")[0] for line in sentences}
    synth = read_manifest(tmp_path / "data" / "synth.jsonl")
    assert len(synth) == 3 and not {r["text"] for r in synth} & {
        line.split("|")[1] for line in heldout
    }
    finetune = read_manifest(tmp_path / "data" / "train_finetune.jsonl")
    assert len(finetune) == 2 * len(train) + 1  # the real clips twice, one synthetic sentence
    assert len({r["id"] for r in finetune}) == len(finetune)  # copies keep their own ids
    # the fine-tuning started from the pretraining's checkpoint
    pretrained = best_checkpoint(tmp_path / "exp_pretrain")
    config = (tmp_path / "exp" / "config.yaml").read_text()
    assert pretrained.name != "last.ckpt" and f"init_from: {pretrained}" in config
    assert (tmp_path / "exp" / "checkpoints" / "averaged.ckpt").is_file()
    for split in ("dev", "test"):
        summary = json.loads((tmp_path / "exp" / f"eval_{split}" / "wer.json").read_text())
        assert summary["utterances"] == 1
        assert summary["checkpoint"]["path"].endswith("averaged.ckpt")
        assert_report(tmp_path / "exp" / f"eval_{split}" / "report", utterances=1)
    build = json.loads((tmp_path / "exp" / "lm" / "build.json").read_text())
    assert build["order"] == 4 and build["excluded"] == len(heldout)
    lm_summary = json.loads((tmp_path / "exp" / "eval_test_lm" / "wer.json").read_text())
    assert lm_summary["decoder"]["type"] == "beam"
    assert lm_summary["decoder"]["beam_size"] == 500  # the recipe's --beam, not asr's 50
    assert lm_summary["decoder"]["lm"].startswith(str(tmp_path / "exp" / "lm" / "4gram."))
    assert "ZYZZYVA" in lm_vocabulary(lm_summary["decoder"]["lm"])
    assert (tmp_path / "exp" / "compare_greedy_lm" / "compare.md").is_file()


@pytest.mark.slow
def test_mini_librispeech_recipe_smoke(tmp_path):
    """A tiny train-clean-5 (6 speakers) -> speaker split -> synthetic pretraining (espeak-ng
    present) -> training from it -> greedy and LM evaluation -> ONNX; the printed model and LM
    transcribe a file."""
    root = tmp_path / "LibriSpeech"
    make_librispeech(root / "train-clean-5", speakers=6, utts=3)
    (root / "SPEAKERS.TXT").write_text("".join(
        f"{100 + s} | {'FM'[s % 2]} | train-clean-5 | 10.0 | Reader {s}\n" for s in range(1, 7)))
    text = tmp_path / "lm.txt"
    text.write_text("".join(f"{a} {b} {c} {d}\n" for a, b, c, d in
                            itertools.permutations(WORDS[:6], 4)))
    synth = shutil.which("espeak-ng") is not None
    proc = run_recipe("mini_librispeech", "--stage", "1", "--dir", str(tmp_path / "r"),
                      "--data-dir", str(root), "--lm-text", str(text), "--dev-speakers", "1",
                      "--test-speakers", "2", "--synth", "4" if synth else "0",
                      "--engines", "espeak-ng", "--beam", "7")
    for stage in (1, 2, 5, 7, 8, 9, 10, *((3, 4) if synth else ())):
        assert f"stage {stage}:" in proc.stdout
    r = tmp_path / "r"
    speakers = {s: {x["speaker"] for x in read_manifest(r / "data" / f"{s}.jsonl")}
                for s in ("train", "dev", "test")}
    assert [len(speakers[s]) for s in ("train", "dev", "test")] == [3, 1, 2]
    assert not (speakers["train"] & speakers["test"] or speakers["dev"] & speakers["test"])
    if synth:
        assert len(read_manifest(r / "data" / "synth.jsonl")) == 4
        assert "init_from: " in (r / "exp" / "config.yaml").read_text()
    for name, decoder in (("eval_test", "greedy"), ("eval_test_lm", "beam")):
        summary = json.loads((r / "exp" / name / "wer.json").read_text())
        assert summary["utterances"] == 6 and summary["decoder"]["type"] == decoder
        if decoder == "beam":
            assert summary["decoder"]["beam_size"] == 7  # --beam
    build = json.loads((r / "exp" / "lm" / "build.json").read_text())
    assert build["order"] == 4 and build["dev"]["perplexity"] > 1
    model, lm = (line.split(": ", 1)[1] for line in proc.stdout.strip().splitlines()[-2:])
    assert proc.stdout.strip().splitlines()[-2].startswith("model: ") and model.endswith(".onnx")
    assert f"asr transcribe FILE --model {model} --lm {lm} --beam-size 7" in proc.stdout
    wav = read_manifest(r / "data" / "test.jsonl")[0]["audio"]
    for exported in (model, model.replace(".onnx", ".int8.onnx")):
        out = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", wav, "--model",
                              exported, "--lm", lm], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert set(out.stdout.split()) <= set(lm_vocabulary(lm))  # LM words only


@pytest.mark.slow
def test_librispeech_recipe_smoke_over_loopback_http(tmp_path):
    """Download (loopback HTTP, checksums) -> prepare -> train -> evaluate -> transcribe."""
    server = Server()
    try:
        sums = []
        for subset in ("train-clean-100", "dev-clean", "test-clean"):
            data = make_archive(tmp_path / f"src-{subset}", subset)
            server.files[f"/12/{subset}.tar.gz"] = data
            sums.append(f"{hashlib.sha256(data).hexdigest()}  {subset}.tar.gz\n")
        (tmp_path / "SHA256SUMS").write_text("".join(sums))
        args = [
            "--dir",
            str(tmp_path / "r"),
            "--config",
            "conf/librispeech_cpu.yaml",
            "--base-url",
            f"{server.url}/12",
            "--checksums",
            str(tmp_path / "SHA256SUMS"),
        ]
        args += ["--eval-subsets", "dev-clean test-clean"]
        proc = run_recipe("librispeech", "--stage", "1", *args)
        n_requests = len(server.requests)
        # everything is in place: a second download stage fetches nothing
        again = run_recipe("librispeech", "--stage", "1", "--stop-stage", "1", *args)
    finally:
        server.close()
    assert n_requests == 3 and len(server.requests) == 3
    assert "stage 1: using" in again.stdout
    for stage in range(1, 6):
        assert f"stage {stage}:" in proc.stdout
    r = tmp_path / "r"
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        assert (r / "downloads" / "LibriSpeech" / subset / ".complete").is_file()
        assert len(read_manifest(r / "data" / f"{subset}.jsonl")) == 4
    for subset in ("dev-clean", "test-clean"):
        wer = json.loads((r / "exp" / f"eval_{subset}" / "wer.json").read_text())
        assert wer["utterances"] == 4 and wer["words"]["ref_len"] > 0
        assert_report(r / "exp" / f"eval_{subset}" / "report", utterances=4)


def test_librispeech_gpu_config_is_deepspeech2_sized():
    cfg = load_config(REPO / "conf" / "librispeech_100.yaml")
    module = build_module(cfg)
    assert cfg.trainer.precision == "bf16-mixed" and cfg.model.frontend == "conv"
    assert cfg.model.layers == 5 and cfg.model.bidirectional
    assert 30e6 <= count_parameters(module.model) <= 90e6
