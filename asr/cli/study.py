"""The RNN study (recipes/rnn-study): plan, train, measure, report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asr.cli.common import command, log


def cmd_plan(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.study.plan import PROFILES, base_factors, plan, save_plan

    cfg = load_config(args.config, args.overrides)
    profile = PROFILES[args.profile]
    runs = plan(cfg, profile, args.exp_dir, args.overrides)
    save_plan(Path(args.exp_dir) / "plan.json", args.config, profile, runs, base_factors(cfg))
    spread = max(r.params for r in runs) / min(r.params for r in runs) - 1
    print(f"{len(runs)} runs, {min(r.params for r in runs):,}-{max(r.params for r in runs):,} "
          f"parameters ({100 * spread:.1f} % apart): {args.exp_dir}/plan.json")
    return 0


def cmd_corpus(args: argparse.Namespace) -> int:
    profile = json.loads((Path(args.exp_dir) / "plan.json").read_text())["profile"]
    print(profile["train"], profile["dev"], profile["test"])
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from asr.study.plan import load_plan
    from asr.study.runner import train_runs

    config, _, _, runs = load_plan(Path(args.exp_dir) / "plan.json")
    train_runs(runs, config, args.jobs, args.threads, log.info)
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from asr.study.measure import measure_runs, speed
    from asr.study.plan import load_plan

    exp = Path(args.exp_dir)
    config, _, base, runs = load_plan(exp / "plan.json")
    measure_runs(runs, base, args.test, log.info)
    if not (exp / "speed.json").is_file():
        base_run = next(r for r in runs if r.factors == base)
        result = speed(config, base_run.overrides, args.test)
        (exp / "speed.json").write_text(json.dumps(result, indent=1) + "\n")
        log.info("speed per cell: %s/speed.json", exp)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from asr.report.study import write_study_report

    paths = write_study_report(args.exp_dir, args.out or Path(args.exp_dir) / "report")
    print(f"study report: {paths['html']}")
    return 0


def add_commands(sub) -> None:
    study = command(sub, "study", None, "the RNN study: plan, train, measure, report")
    study_sub = study.add_subparsers(dest="study_command", required=True)
    p = command(study_sub, "plan", cmd_plan, "write <exp-dir>/plan.json: the runs of a profile")
    p.add_argument("--config", required=True, help="the study's base config")
    p.add_argument("--profile", choices=["quick", "full"], default="quick")
    p.add_argument("--exp-dir", required=True)
    p.add_argument("overrides", nargs="*", help="config overrides key=value, for every run")
    p = command(study_sub, "corpus", cmd_corpus, "print the plan's train, dev, test sentences")
    p.add_argument("exp_dir")
    p = command(study_sub, "train", cmd_train, "train the runs that are not done")
    p.add_argument("exp_dir")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side")
    p.add_argument("--threads", type=int, default=1, help="threads per run")
    p = command(study_sub, "measure", cmd_measure, "test WER, gradient flow and speed")
    p.add_argument("exp_dir")
    p.add_argument("--test", required=True, help="test manifest")
    p = command(study_sub, "report", cmd_report, "report.html, report.md, report.json")
    p.add_argument("exp_dir")
    p.add_argument("--out", help="default: <exp-dir>/report")
