"""The RNN study's figures (matplotlib, PNG bytes), in the WER report's style."""

from __future__ import annotations

import numpy as np

from asr.report.plots import _png, _style, plt

CELL_COLORS = {"rnn": "#d9534f", "gru": "#3b82c4", "lstm": "#5cb85c"}
SEED_STYLES = ["-", "--", ":", "-."]


def _group(report: dict, table: str) -> list[dict]:
    """The runs of one comparison table (``cells``, ``clipping``, ...), in its order."""
    names = next(t["runs"] for t in report["tables"] if t["id"] == table)
    by_name = {r["name"]: r for r in report["runs"]}
    return [by_name[n] for n in names]


def _label(run: dict) -> str:
    return f"{run['factors']['cell']} seed {run['factors']['seed']}"


def _line(ax, run: dict, xs, ys) -> None:
    f = run["factors"]
    ax.plot(xs, ys, SEED_STYLES[f["seed"] % 4], color=CELL_COLORS[f["cell"]], marker="o",
            markersize=3, label=_label(run))


def _wer_panels(runs: list[dict], x: str, xlabel: str, title: str) -> bytes:
    """Dev and test WER per epoch of each run, against `x` (``epoch`` or ``minutes``)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, key, what in ((axes[0], "val_wer", "dev"), (axes[1], "test_wer", "test")):
        for r in runs:
            pts = [(e["epoch"] + 1 if x == "epoch" else e.get("elapsed_s", 0) / 60, 100 * e[key])
                   for e in r["epochs"] if e.get(key) is not None
                   and (x == "epoch" or e.get("elapsed_s") is not None)]
            if pts:
                _line(ax, r, *zip(*pts))
        ax.set_title(f"{what} WER {title}")
        ax.set_xlabel(xlabel)
        if x == "epoch":
            ax.xaxis.get_major_locator().set_params(integer=True)
        _style(ax)
    axes[0].set_ylabel("WER (%)")
    axes[1].legend(fontsize=7, frameon=False, ncols=2)
    fig.tight_layout()
    return _png(fig)


def reach(runs: list[dict]) -> bytes:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for r in runs:
        cell, m = r["factors"]["cell"], r["reach"]
        for when, style in (("init", "--"), ("trained", "-")):
            curve = m[when]
            lags = np.asarray(curve["lags"]) * m.get("frame_seconds", 1.0)
            med = np.asarray(curve["median"], dtype=float)
            ax.plot(lags, med / med[0], style, color=CELL_COLORS[cell], label=f"{cell}, {when}")
            if when == "trained":
                ax.fill_between(lags, np.asarray(curve["q1"], dtype=float) / med[0],
                                np.asarray(curve["q3"], dtype=float) / med[0],
                                color=CELL_COLORS[cell], alpha=0.12, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("lag (s)")
    ax.set_ylabel("|d h_top(tau) / d x(tau - lag)|, / lag 0")
    ax.set_title("Temporal reach (unidirectional runs; median, quartiles trained)")
    ax.legend(fontsize=7, frameon=False, ncols=3)
    _style(ax)
    return _png(fig)


def layer_grads(runs: list[dict]) -> bytes:
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.2), sharey=True,
                             squeeze=False)
    for ax, r in zip(axes[0], runs):
        g = r["layer_grads"]
        for when, style in (("init", "--"), ("trained", "-")):
            for i, curve in enumerate(g[when]):
                color = plt.cm.viridis(i / max(len(g[when]) - 1, 1))
                ax.plot(curve, style, color=color, linewidth=1,
                        label=f"layer {i + 1}, {when}")
        ax.set_yscale("log")
        ax.set_title(f"{r['factors']['cell']}: |dLoss/dh_t| per layer")
        ax.set_xlabel("output frame t")
        _style(ax)
    axes[0][0].set_ylabel("norm (summed over 16 utterances)")
    axes[0][-1].legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return _png(fig)


def grad_norms(runs: list[dict], steps: dict[str, list[dict]]) -> bytes:
    """Every step's gradient norm of the clipping comparison's runs, one panel per cell."""
    cells = sorted({r["factors"]["cell"] for r in runs})
    fig, axes = plt.subplots(1, len(cells), figsize=(5 * len(cells), 3.2), squeeze=False)
    for ax, cell in zip(axes[0], cells):
        for r in (r for r in runs if r["factors"]["cell"] == cell):
            clip = r["factors"]["clip"]
            pts = [(s["step"], s["grad_norm"]) for s in steps[r["name"]] if s["grad_norm"]]
            label = "no clipping" if clip is None else f"clip at {clip:g}"
            (line,) = ax.plot(*zip(*pts), linewidth=0.6, alpha=0.8, label=label)
            if clip is not None:
                ax.axhline(clip, color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(f"{cell}: gradient norm before clipping (dotted: thresholds)")
        ax.set_xlabel("step")
        ax.legend(fontsize=7, frameon=False)
        _style(ax)
    fig.tight_layout()
    return _png(fig)


def buckets(runs: list[dict]) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = [b["bucket"] for b in runs[0]["buckets"]]
    width = 0.8 / len(runs)
    for i, r in enumerate(runs):
        cap = r["factors"]["max_duration"]
        ys = [100 * (b["wer"] or 0) for b in r["buckets"]]
        ax.bar(np.arange(len(labels)) + i * width, ys, width,
               label="full length" if cap is None else f"trained on <= {cap:g} s")
    ax.set_xticks(np.arange(len(labels)) + width * (len(runs) - 1) / 2, labels)
    ax.set_ylim(0, 100 * max((b["wer"] or 0) for r in runs for b in r["buckets"]) * 1.3 + 1)
    ax.set_xlabel("test utterance duration")
    ax.set_ylabel("WER (%)")
    ax.set_title("WER by test duration")
    ax.legend(fontsize=8, frameon=False)
    _style(ax)
    return _png(fig)


def study_figures(report: dict, steps: dict[str, list[dict]]) -> dict[str, tuple[str, bytes]]:
    """{name: (caption, PNG)} of what the runs measured (figures without data are left out)."""
    out = {}
    cells = [r for r in _group(report, "cells") if r["epochs"]]
    if cells:
        out["wer_epoch"] = ("WER per epoch, per cell (test: voices unseen in training)",
                            _wer_panels(cells, "epoch", "epoch", "per epoch"))
        out["wer_time"] = ("WER against wall-clock training time",
                           _wer_panels(cells, "minutes", "training minutes", "against time"))
    with_reach = [r for r in report["runs"] if r.get("reach")]
    if with_reach:
        out["reach"] = ("Temporal reach, at initialisation and trained", reach(with_reach))
    with_grads = [r for r in report["runs"] if r.get("layer_grads")]
    if with_grads:
        out["layer_grads"] = ("dLoss/dh_t per layer", layer_grads(with_grads))
    clipping = [r for r in _group(report, "clipping") if steps.get(r["name"])]
    if len(clipping) > 1:
        out["grad_norm"] = ("Gradient norm per step", grad_norms(clipping, steps))
    length = [r for r in _group(report, "length") if r.get("buckets")]
    if len(length) > 1:
        out["buckets"] = ("WER by test duration: capped vs full-length training", buckets(length))
    return out
