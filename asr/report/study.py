"""The RNN study's report (recipes/rnn-study): report.json, report.md and a self-contained
report.html in the WER report's look, drawn from a study folder (``asr study``): plan.json, each
run's status.json, training logs (metrics.csv), measures.json and eval_test/, and speed.json.
Drawing never trains or measures: a redraw takes seconds.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from html import escape
from pathlib import Path

from asr.provenance import now, toolkit_info
from asr.report.claims import CLAIM_RULES, judge, noise_level
from asr.report.format import md_table, pct
from asr.report.html import cards, image, page, table
from asr.report.inputs import ReportError, read_json, read_step_log, read_training_log
from asr.report.study_plots import study_figures

BUCKETS = (0.0, 2.0, 3.0, 4.0)  # test utterance durations (s): <2, 2-3, 3-4, >=4
FACTOR_ORDER = ("cell", "seed", "bidirectional", "layers", "clip", "dropout", "lr", "batch",
                "max_duration")
LABELS = {"bidirectional": "direction", "clip": "clip at", "lr": "peak lr",
          "batch": "batch (s)", "max_duration": "training utterances"}
VERDICT_COLORS = {"holds": "#2f7d32", "does not hold": "#b83227", "mixed": "#a86b00"}


@dataclass
class Comparison:
    """Runs that differ from the base run in `factors` only (and, for `per_cell`, the cell)."""

    id: str
    title: str
    factors: tuple[str, ...]
    note: str = ""


COMPARISONS = (
    Comparison("cells", "Cells at an equal parameter budget", ("cell", "seed")),
    Comparison("direction", "Unidirectional vs bidirectional", ("cell", "bidirectional")),
    Comparison("depth", "Depth at about equal parameters", ("cell", "layers")),
    Comparison("clipping", "Gradient clipping", ("cell", "clip"),
               "explosions: steps whose gradient norm exceeded 10x the run's median; loss "
               "spikes: steps whose loss exceeded 2x the median of the 20 steps before"),
    Comparison("dropout", "Dropout", ("dropout",),
               "gap: dev loss minus training loss (with dropout, SpecAugment and speed "
               "perturbation on) at the last epoch"),
    Comparison("lr", "Peak learning rate", ("lr",)),
    Comparison("batch", "Batch size (padded audio seconds per batch)", ("batch",)),
    Comparison("length", "Sequence length: training utterances capped vs full length",
               ("max_duration",), "test WER per test-utterance duration bucket"),
)


def _steps_summary(steps: list[dict], clip: float | None) -> dict:
    norms = [s["grad_norm"] for s in steps if s["grad_norm"] is not None]
    losses = [s["train_loss"] for s in steps if s["train_loss"] is not None]
    median = statistics.median(norms) if norms else None
    spikes = sum(
        losses[i] > 2 * statistics.median(losses[i - 20:i]) for i in range(20, len(losses))
    )
    skipped = max((s["skipped_steps"] or 0 for s in steps), default=0)
    return {
        "steps": len(steps),
        "median_grad_norm": median,
        "max_grad_norm": max(norms, default=None),
        "explosions": sum(n > 10 * median for n in norms) if median else 0,
        "clipped_share": sum(n > clip for n in norms) / len(norms) if clip and norms else 0.0,
        "loss_spikes": spikes,
        "skipped_steps": int(skipped),
    }


def _buckets(eval_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (eval_dir / "hyps.jsonl").read_text().splitlines()
            if line.strip()]
    out = []
    for lo, hi in zip(BUCKETS, (*BUCKETS[1:], float("inf"))):
        part = [r for r in rows if lo <= (r.get("duration") or 0.0) < hi]
        words = sum(r["ref_words"] for r in part)
        label = f">= {lo:g} s" if hi == float("inf") else f"{lo:g}-{hi:g} s"
        out.append({"bucket": label, "utterances": len(part), "words": words,
                    "wer": sum(r["errors"] for r in part) / words if words else None})
    return out


def collect_run(exp: Path, run: dict) -> tuple[dict, list[dict]]:
    """One run's results (for report.json) and its per-step log (for the figures)."""
    folder = exp / "runs" / run["name"]
    status = read_json(folder / "status.json", "not trained yet: asr study train")
    out = {k: run[k] for k in ("name", "factors", "hidden", "params")}
    out.update(status=status["status"], train_seconds=status.get("seconds"),
               error=status.get("error"), test_wer=None, epochs=[], steps=None)
    steps: list[dict] = []
    try:
        out["epochs"] = read_training_log(folder)["epochs"]
        steps = read_step_log(folder)
        out["steps"] = _steps_summary(steps, run["factors"]["clip"])
    except ReportError:  # a run that failed before logging anything
        pass
    measures = folder / "measures.json"
    if status["status"] == "finished" and measures.is_file():
        m = json.loads(measures.read_text())
        out.update(test_wer=m["test_wer"], test_words=m["test_words"],
                   buckets=_buckets(folder / "eval_test"))
        for e in out["epochs"]:
            e["test_wer"] = next((c["wer"] for c in m["epochs"] if c["epoch"] == e["epoch"]),
                                 None)
        out["reach"], out["layer_grads"] = m.get("reach"), m.get("layer_grads")
    last = out["epochs"][-1] if out["epochs"] else {}
    if last.get("val_loss") is not None and last.get("train_loss") is not None:
        out["loss_gap"] = last["val_loss"] - last["train_loss"]
    return out, steps


def _members(runs: list[dict], base: dict, comp: Comparison) -> list[dict]:
    def differs(f: dict) -> set[str]:
        return {k for k in FACTOR_ORDER if f[k] != base[k]}

    chosen = [r for r in runs if differs(r["factors"]) <= set(comp.factors)]
    if "seed" not in comp.factors:
        chosen = [r for r in chosen if r["factors"]["seed"] == base["seed"]]
    varied = set(comp.factors) - {"cell", "seed"}
    if "cell" in comp.factors and varied:  # only the cells whose factor was varied
        cells = {r["factors"]["cell"] for r in chosen if differs(r["factors"]) & varied}
        chosen = [r for r in chosen if r["factors"]["cell"] in cells]
    return sorted(chosen, key=lambda r: tuple(str(r["factors"][k]) for k in FACTOR_ORDER))


def _wer(run: dict) -> str:
    if run["status"] != "finished":
        return run["status"]
    return pct(run["test_wer"]) if run["test_wer"] is not None else "not measured"


def _value(factor: str, v) -> str:
    if factor == "clip":
        return "off" if v is None else f"{v:g}"
    if factor == "max_duration":
        return "full length" if v is None else f"<= {v:g} s"
    if factor == "bidirectional":
        return "bi" if v else "uni"
    return f"{v:g}" if isinstance(v, float) else str(v)


def comparison_table(comp: Comparison, runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(head, rows) of plain-text cells for one comparison."""
    head = [*(LABELS.get(k, k) for k in comp.factors), "hidden", "params", "test WER", "dev WER",
            "train min"]
    if comp.id == "clipping":
        head += ["median |g|", "max |g|", "steps clipped", "explosions", "loss spikes",
                 "skipped"]
    if comp.id == "dropout":
        head += ["train loss", "dev loss", "gap"]
    if comp.id == "length":
        head += [b["bucket"] for b in next((r["buckets"] for r in runs if r.get("buckets")), [])]
    rows = []
    for r in runs:
        dev = r["epochs"][-1].get("val_wer") if r["epochs"] else None
        row = [_value(k, r["factors"][k]) for k in comp.factors]
        row += [str(r["hidden"]), f"{r['params']:,}", _wer(r), pct(dev),
                f"{r['train_seconds'] / 60:.1f}" if r["train_seconds"] else "-"]
        s = r["steps"] or {}
        if comp.id == "clipping":
            row += [f"{s.get('median_grad_norm') or 0:.2f}", f"{s.get('max_grad_norm') or 0:.1f}",
                    pct(s.get("clipped_share"), 1),
                    *(str(s.get(k, "-")) for k in ("explosions", "loss_spikes", "skipped_steps"))]
        if comp.id == "dropout":
            last = r["epochs"][-1] if r["epochs"] else {}
            row += [f"{last.get('train_loss') or float('nan'):.3f}",
                    f"{last.get('val_loss') or float('nan'):.3f}",
                    f"{r['loss_gap']:+.3f}" if "loss_gap" in r else "-"]
        if comp.id == "length":
            row += [pct(b["wer"]) for b in r.get("buckets") or []]
        rows.append(row)
    return head, rows


def build_study(exp_dir: str | Path) -> tuple[dict, dict[str, list[dict]]]:
    """The report dict and each run's per-step log (for the figures)."""
    exp = Path(exp_dir)
    plan = read_json(exp / "plan.json", "run `asr study plan` first")
    base = plan["base"]
    runs, steps = [], {}
    for run in plan["runs"]:
        result, steps[run["name"]] = collect_run(exp, run)
        runs.append(result)
    speed_path = exp / "speed.json"
    speed = json.loads(speed_path.read_text()) if speed_path.is_file() else None
    groups = {comp.id: _members(runs, base, comp) for comp in COMPARISONS}
    tables = []
    for comp in COMPARISONS:
        head, rows = comparison_table(comp, groups[comp.id])
        tables.append({"id": comp.id, "title": comp.title, "note": comp.note, "head": head,
                       "rows": rows, "runs": [r["name"] for r in groups[comp.id]]})
    noise = noise_level(groups["cells"])
    report = {
        "title": f"RNN study ({plan['profile']['name']} profile)",
        "profile": plan["profile"], "config": plan["config"], "base": base,
        "date": now(), "toolkit": toolkit_info(), "noise": noise,
        "runs": runs, "speed": speed, "tables": tables,
        "claims": [judge(rule, groups, speed, noise) for rule in CLAIM_RULES],
    }
    return report, steps


def _facts(report: dict) -> list[tuple[str, str]]:
    p, runs = report["profile"], report["runs"]
    done = sum(r["status"] == "finished" for r in runs)
    params = [r["params"] for r in runs]
    minutes = sum(r["train_seconds"] or 0 for r in runs) / 60
    return [
        ("runs finished", f"{done} / {len(runs)}"),
        ("parameters", f"{min(params):,}-{max(params):,}"),
        ("corpus", f"{p['train']} / {p['dev']} / {p['test']} sentences"),
        ("epochs", str(p["epochs"])),
        ("training", f"{minutes:.1f} process-min"),
        ("noise level", f"{100 * report['noise']:.1f} WER pts"),
    ]


def _speed_rows(speed: dict | None) -> tuple[list[str], list[list[str]]]:
    head = ["budget", "cell", "hidden", "params", "train audio-s/s", "step (s)", "RTF"]
    rows = [[r["budget"], r["cell"], str(r["hidden"]), f"{r['parameters']:,}",
             f"{r['train_audio_per_second']:.0f}", f"{r['train_step_seconds']:.3f}",
             f"{r['rtf']:.4f}"] for r in (speed or {}).get("rows", [])]
    return head, rows


INTRO = (
    "Every run is an ordinary <code>asr train</code> run of {config} with one factor changed "
    "from the base run ({base}); hidden sizes give every run the base model's parameter count "
    "(within {spread:.1f} %). WERs are greedy, on test voices never seen in training. The noise "
    "level is the largest WER spread between seeds of one cell (at least 1 point): differences "
    "below it are not read as effects."
)


def render_html(report: dict, figures: dict[str, tuple[str, bytes]]) -> str:
    params = [r["params"] for r in report["runs"]]
    base = ", ".join(f"{k} {_value(k, v)}" for k, v in report["base"].items())
    intro = INTRO.format(config=escape(report["config"]), base=escape(base),
                         spread=100 * (max(params) / min(params) - 1))
    claims = table(["claim", "evidence", "verdict"], [
        [escape(c["claim"]), escape(c["evidence"]),
         f'<b style="color:{VERDICT_COLORS.get(c["verdict"], "#616e7c")}">'
         f'{escape(c["verdict"])}</b>'] for c in report["claims"]])
    hw = (report["speed"] or {}).get("hardware") or {}
    sub = (f"{report['date']} · asr {report['toolkit'].get('version')} "
           f"({str(report['toolkit'].get('git_revision'))[:10]}) · {hw.get('cpu', '')}, "
           f"{hw.get('cpu_cores', '?')} cores")
    parts = [f"<h1>{escape(report['title'])}</h1>", f'<p class="sub">{escape(sub)}</p>',
             cards(_facts(report)), f"<p class=note>{intro}</p>", "<h2>Claims</h2>", claims]
    figs = {k: image(cap, png) for k, (cap, png) in figures.items()}
    sections = {"cells": ["wer_epoch", "wer_time"], "clipping": ["grad_norm"],
                "length": ["buckets"]}
    parts += ["<h2>Gradient flow</h2>", figs.get("reach", ""), figs.get("layer_grads", "")]
    for t in report["tables"]:
        parts.append(f"<h2>{escape(t['title'])}</h2>")
        if t["note"]:
            parts.append(f"<p class=note>{escape(t['note'])}</p>")
        numeric = set(range(len(t["head"]))) - {0}
        parts.append(table([escape(h) for h in t["head"]],
                           [[escape(c) for c in row] for row in t["rows"]], numeric))
        parts += [figs[k] for k in sections.get(t["id"], []) if k in figs]
    head, rows = _speed_rows(report["speed"])
    parts += ["<h2>Speed per cell (this machine)</h2>", table(head, rows, {2, 3, 4, 5, 6})]
    return page(report["title"], "\n".join(parts))


def render_md(report: dict, figure_files: dict[str, str]) -> str:
    out = [f"# {report['title']}\n", "\n".join(f"- {k}: {v}" for k, v in _facts(report)), "",
           "## Claims\n",
           md_table(["claim", "evidence", "verdict"],
                    [[c["claim"], c["evidence"], c["verdict"]] for c in report["claims"]])]
    out += [f"![{k}]({f})\n" for k, f in figure_files.items()]
    for t in report["tables"]:
        out += [f"## {t['title']}\n", *([t["note"] + "\n"] if t["note"] else []),
                md_table(t["head"], t["rows"])]
    out += ["## Speed per cell (this machine)\n", md_table(*_speed_rows(report["speed"]))]
    return "\n".join(out)


def write_study_report(exp_dir: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.md (+ PNG figures) and report.html into `out_dir`."""
    report, steps = build_study(exp_dir)
    figures = study_figures(report, steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, (_, png) in figures.items():
        (out / f"{name}.png").write_bytes(png)
        files[name] = f"{name}.png"
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=1) + "\n")
    paths["md"].write_text(render_md(report, files))
    paths["html"].write_text(render_html(report, figures))
    return paths
