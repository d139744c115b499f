"""Report figures with matplotlib (Agg backend, no display), returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

COLORS = {"S": "#e8a33d", "D": "#d9534f", "I": "#3b82c4", "C": "#5cb85c", "line": "#34495e"}
DPI = 96


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def error_breakdown(words: dict) -> bytes:
    """Bars of substitutions, deletions and insertions (word counts, % of reference words)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    labels = ["substitutions", "deletions", "insertions"]
    counts = [words[k] for k in labels]
    bars = ax.bar(labels, counts, color=[COLORS["S"], COLORS["D"], COLORS["I"]])
    ref = max(words["ref_len"], 1)
    for bar, n in zip(bars, counts):
        ax.annotate(
            f"{n}\n({100 * n / ref:.1f} %)",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_ylabel("words")
    ax.set_ylim(0, max(max(counts), 1) * 1.3)
    ax.set_title(f"Word errors ({words['errors']} of {words['ref_len']} reference words)")
    _style(ax)
    return _png(fig)


def wer_by_duration(buckets: list[dict]) -> bytes:
    """WER per utterance-duration bucket, stacked by error type, with utterance counts."""
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    labels = [b["bucket"] for b in buckets]
    bottom = [0.0] * len(buckets)
    for key, name in (("substitutions", "S"), ("deletions", "D"), ("insertions", "I")):
        part = [100 * b[key] / max(b["words"], 1) for b in buckets]
        ax.bar(labels, part, bottom=bottom, color=COLORS[name], label=key)
        bottom = [a + b for a, b in zip(bottom, part)]
    for x, (b, top) in enumerate(zip(buckets, bottom)):
        ax.annotate(
            f"{top:.1f} %\nn={b['utterances']}", (x, top), ha="center", va="bottom", fontsize=8
        )
    ax.set_ylabel("WER (%)")
    ax.set_xlabel("utterance duration")
    ax.set_ylim(0, max(max(bottom, default=0), 1) * 1.35)
    ax.legend(fontsize=8, frameon=False, loc="upper left", ncols=3)
    ax.set_title("WER by utterance duration")
    _style(ax)
    return _png(fig)


def training_curves(epochs: list[dict]) -> bytes:
    """Train/validation loss and validation WER per epoch."""
    fig, (loss_ax, wer_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, style in (("train_loss", "-o"), ("val_loss", "--s")):
        points = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None]
        if points:
            loss_ax.plot(*zip(*points), style, label=key.replace("_", " "), markersize=4)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("CTC loss")
    loss_ax.set_title("Loss per epoch")
    loss_ax.legend(fontsize=8, frameon=False)
    for key, style in (("val_wer", "-o"), ("val_cer", "--s")):
        points = [(e["epoch"], 100 * e[key]) for e in epochs if e.get(key) is not None]
        if points:
            wer_ax.plot(*zip(*points), style, label=key.replace("_", " ").upper(), markersize=4)
    wer_ax.set_xlabel("epoch")
    wer_ax.set_ylabel("%")
    wer_ax.set_title("Validation WER / CER per epoch")
    wer_ax.legend(fontsize=8, frameon=False)
    for ax in (loss_ax, wer_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        _style(ax)
    fig.tight_layout()
    return _png(fig)


def report_figures(report: dict) -> dict[str, tuple[str, bytes]]:
    """{name: (caption, PNG bytes)} for a report dict (see `asr.report.build.build_report`)."""
    figures = {
        "errors": ("Error breakdown", error_breakdown(report["summary"]["words"])),
    }
    if report["by_duration"]:
        figures["wer_by_duration"] = ("WER by duration", wer_by_duration(report["by_duration"]))
    if report.get("training") and report["training"]["epochs"]:
        figures["training"] = ("Training curves", training_curves(report["training"]["epochs"]))
    return figures
