"""The RNN study: equal-parameter planning, the runner, the measurements and the report drawn
from two tiny runs, and the claims' verdict rules."""

import json
from dataclasses import replace

import pytest
import torch
from conftest import REPO, tiny_run

from asr.config import load_config
from asr.report.claims import CLAIM_RULES, judge, noise_level
from asr.report.study import write_study_report
from asr.study.measure import MAX_LAG, initial_model, measure_runs, speed
from asr.study.plan import PROFILES, base_factors, load_plan, plan, save_plan
from asr.study.runner import read_status, train_runs
from asr.train import fit


def test_the_quick_plan_changes_one_factor_at_an_equal_parameter_budget():
    cfg = load_config(REPO / "conf" / "rnn-study.yaml")
    base = base_factors(cfg)
    runs = plan(cfg, PROFILES["quick"], "exp")
    budget = next(r.params for r in runs if r.factors == base)
    assert all(abs(r.params / budget - 1) <= 0.05 for r in runs)
    assert len({r.name for r in runs}) == len(runs) == len({r.factors for r in runs})
    for r in runs:  # one factor (or the cell and one more) differs from the base run
        assert len(set(r.factors.differs(base)) - {"cell"}) <= 1, r.name
    cells = {r.factors.cell: r.hidden for r in runs if set(r.factors.differs(base)) <= {"cell"}}
    assert cells["lstm"] == cfg.model.hidden and cells["rnn"] > cells["gru"] > cells["lstm"]


def test_the_plan_survives_its_file(tmp_path):
    cfg = load_config(REPO / "conf" / "rnn-study.yaml")
    runs = plan(cfg, PROFILES["quick"], "exp", ["data.num_workers=0"])
    save_plan(tmp_path / "plan.json", "c.yaml", PROFILES["quick"], runs, base_factors(cfg))
    config, profile, base, loaded = load_plan(tmp_path / "plan.json")
    assert (config, profile, base, loaded) == ("c.yaml", PROFILES["quick"], base_factors(cfg),
                                               runs)
    assert all(r.overrides[0] == "data.num_workers=0" for r in loaded)


def test_the_initial_model_is_the_one_training_started_from(tmp_path):
    cfg, _ = tiny_run(tmp_path)  # a learning rate of 0: the weights stay as drawn
    fit(load_config(cfg, ["optim.lr=0", "trainer.max_steps=1", "seed=7"]))
    saved = torch.load(tmp_path / "exp" / "checkpoints" / "last.ckpt", weights_only=False)
    encoder = {k.removeprefix("model.encoder."): v for k, v in saved["state_dict"].items()
               if k.startswith("model.encoder.")}
    rebuilt = initial_model(tmp_path / "exp").encoder.state_dict()
    assert encoder.keys() == rebuilt.keys()
    assert all(torch.equal(encoder[k], rebuilt[k]) for k in encoder)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two tiny runs (the base BiLSTM and a unidirectional simple RNN), measured and drawn."""
    tmp = tmp_path_factory.mktemp("study")
    config, val = tiny_run(tmp)
    cfg = load_config(config)
    profile = replace(PROFILES["quick"], epochs=1, hidden=16)
    base = base_factors(cfg)
    exp = tmp / "study"
    runs = [r for r in plan(cfg, profile, str(exp))
            if r.factors in (base, replace(base, cell="rnn", bidirectional=False))]
    save_plan(exp / "plan.json", str(config), profile, runs, base)
    train_runs(runs, str(config), jobs=2, threads=1)
    measure_runs(runs, base, str(val))
    (exp / "speed.json").write_text(json.dumps(speed(str(config), runs[0].overrides, str(val),
                                                     steps=1)))
    return exp, runs, write_study_report(exp, exp / "report")


def test_the_report_is_drawn_from_the_runs(study):
    exp, runs, paths = study
    report = json.loads(paths["json"].read_text())
    assert [r["status"] for r in report["runs"]] == ["finished", "finished"]
    for r in report["runs"]:
        wer = json.loads((exp / "runs" / r["name"] / "eval_test" / "wer.json").read_text())
        assert r["test_wer"] == wer["wer"] and len(r["epochs"]) == 1
    base, uni = (next(r for r in report["runs"] if r["factors"]["bidirectional"] is b)
                 for b in (True, False))
    assert base["epochs"][0]["test_wer"] is not None  # the cells' per-epoch test WER
    assert base["layer_grads"] and len(base["layer_grads"]["trained"]) == 2  # 2 layers
    assert len(uni["reach"]["init"]["median"]) == MAX_LAG + 1
    assert uni["reach"]["init"] != uni["reach"]["trained"]
    claims = {c["claim"]: c["verdict"] for c in report["claims"]}
    assert len(claims) == len(CLAIM_RULES)
    assert claims["The simple RNN's gradient vanishes over time"] != "not measured"
    assert claims["Stacking layers helps (at equal parameters)"] == "not measured"
    rows = {(r["budget"], r["cell"]) for r in report["speed"]["rows"]}
    assert len(rows) == 6


def test_the_html_is_self_contained_and_the_markdown_has_its_figures(study):
    _, _, paths = study
    html = paths["html"].read_text()
    assert "<h2>Claims</h2>" in html and html.count("data:image/png;base64,") >= 3
    assert "http" not in html.replace("http-equiv", "")  # nothing to fetch
    md = paths["md"].read_text()
    figures = [line.split("(")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert figures and all((paths["md"].parent / f).is_file() for f in figures)


def test_finished_runs_are_not_trained_again(study):
    exp, runs, _ = study
    logs = {r.name: (exp / "runs" / r.name / "train.log").stat().st_mtime for r in runs}
    train_runs(runs, "no-such-config.yaml", jobs=1, threads=1)  # would fail if it trained
    assert all(read_status(r)["status"] == "finished" for r in runs)
    assert logs == {r.name: (exp / "runs" / r.name / "train.log").stat().st_mtime for r in runs}


def test_a_run_that_fails_is_kept_with_its_error(tmp_path):
    config, _ = tiny_run(tmp_path)
    cfg = load_config(config)
    run = plan(cfg, replace(PROFILES["quick"], epochs=1, hidden=16), str(tmp_path / "s"))[0]
    run.overrides.append("optim.lr=-1")  # the config check refuses it
    train_runs([run], str(config), jobs=1, threads=1)
    status = read_status(run)
    assert status["status"] == "failed" and "optim.lr: must be >= 0" in status["error"]


def _run(cell, wer, seed=0, **factors):
    base = {"cell": cell, "seed": seed, "bidirectional": True, "layers": 3, "clip": 5.0,
            "dropout": 0.1, "lr": 4e-3, "batch": 20.0, "max_duration": None}
    return {"factors": {**base, **factors}, "test_wer": wer, "status": "finished",
            "steps": {}, "reach": None}


def _reach(decay):
    return {w: {"median": [decay ** k for k in range(MAX_LAG + 1)]} for w in ("init", "trained")}


def test_verdicts_follow_the_noise_level():
    cells = [_run("rnn", 0.60), _run("rnn", 0.56, seed=1), _run("gru", 0.30),
             _run("gru", 0.31, seed=1), _run("lstm", 0.29), _run("lstm", 0.33, seed=1)]
    assert noise_level(cells) == pytest.approx(0.04)
    uni = [{**_run(c, 0.7, bidirectional=False), "reach": _reach(d)}
           for c, d in (("rnn", 0.5), ("gru", 0.95), ("lstm", 0.97))]
    groups = {"cells": cells, "direction": uni}
    rules = dict(CLAIM_RULES)
    gates = ("gates", rules["Gates (LSTM, GRU) fix it: they reach further back and recognise "
                            "better"])
    assert judge(gates, groups, None, 0.04)["verdict"] == "holds"
    assert judge(gates, groups, None, 0.40)["verdict"] == "mixed"  # reach yes, WER within noise
    vanish = ("v", rules["The simple RNN's gradient vanishes over time"])
    assert judge(vanish, groups, None, 0.04)["verdict"] == "holds"  # 0.5 ** 25 < 1e-2
    match = ("m", rules["A GRU is as accurate as an LSTM"])
    assert judge(match, groups, None, 0.04)["verdict"] == "holds"  # 0.305 vs 0.31
    assert judge(match, groups, None, 0.001)["verdict"] == "does not hold"


def test_a_diverged_run_loses_every_comparison():
    runs = [_run("lstm", 0.3, lr=1e-3), {**_run("lstm", None, lr=8e-3), "status": "diverged"}]
    evidence = judge(("lr", dict(CLAIM_RULES)["The learning rate needs tuning"]),
                     {"lr": runs}, None, 0.01)
    assert evidence["verdict"] == "holds" and "diverged" in evidence["evidence"]
