"""Plain-text formatting shared by the report writers and `asr compare`: percentages, Markdown
tables, sclite-style text alignments, the run's facts, group and training-curve table rows."""

from __future__ import annotations

MAX_UTTERANCES = 200  # per-utterance rows shown in report.md / report.html (report.json has all)
Figures = dict[str, tuple[str, bytes]]  # name -> (caption, PNG bytes)


def pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def model_summary(model: dict | None) -> str:
    """'3 x 256 BiLSTM, stack frontend, 80 features, 29 tokens, 4.19 M parameters'."""
    if not model:
        return "unknown"
    d = model.get("dims", {})
    parts = []
    if "rnn_type" in d:
        bi = "Bi" if d.get("bidirectional", True) else ""
        parts.append(f"{d.get('layers')} x {d.get('hidden')} {bi}{d['rnn_type'].upper()}")
    if "frontend" in d:
        parts.append(f"{d['frontend']} frontend")
    if "n_input" in d:
        parts.append(f"{d['n_input']} features")
    if "vocab_size" in d:
        parts.append(f"{d['vocab_size']} tokens")
    if model.get("parameters") is not None:
        parts.append(f"{model['parameters'] / 1e6:.2f} M parameters")
    return ", ".join(parts) or "unknown"


def run_facts(report: dict) -> list[tuple[str, str]]:
    """(label, text) lines describing the run, shared by the Markdown and HTML writers."""
    run = report["run"]
    ckpt = run.get("checkpoint") or {}
    toolkit = run.get("toolkit") or {}
    hw = run.get("hardware") or {}
    decoder = run.get("decoder")
    if isinstance(decoder, dict):
        decoder = ", ".join(f"{k}={v}" for k, v in decoder.items())
    git = toolkit.get("git_revision") or "revision unknown"
    machine = hw.get("gpu") or hw.get("cpu")
    if hw.get("cpu_cores"):
        machine = f"{machine} ({hw['cpu_cores']} CPU cores)"
    facts = [
        ("manifest", str(run.get("manifest") or "unknown")),
        ("model", model_summary(run.get("model"))),
        (
            "checkpoint",
            f"{ckpt['path']} (sha256 {ckpt['sha256'][:12]})" if ckpt.get("path") else "unknown",
        ),
        ("training config", str(ckpt.get("config") or ("given" if run.get("config") else "none"))),
        ("decoder", str(decoder or "greedy CTC (default)")),
        ("toolkit", " ".join(filter(None, ["asr", toolkit.get("version"), "git", git]))),
        ("device", f"{run.get('device') or hw.get('device') or 'unknown'}; {machine or 'unknown'}"),
        ("software", f"torch {hw.get('torch', '?')}, Python {hw.get('python', '?')}"),
        ("evaluated", str(run.get("date") or "unknown")),
    ]
    if run.get("rtf") is not None:
        speed = f"RTF {run['rtf']:.4f}"
        if run.get("decode_seconds") is not None and run.get("audio_seconds") is not None:
            speed += (
                f" ({run['decode_seconds']:.1f} s to decode {run['audio_seconds']:.1f} s of audio)"
            )
        facts.append(("speed", speed))
    if run.get("failed"):
        facts.append(("failed audio", f"{len(run['failed'])}: {', '.join(run['failed'][:10])}"))
    return facts


def group_rows(groups: list[dict], key: str) -> list[list[str]]:
    return [
        [
            str(g[key]),
            str(g["utterances"]),
            f"{g['audio_seconds']:.1f}",
            str(g["words"]),
            str(g["substitutions"]),
            str(g["deletions"]),
            str(g["insertions"]),
            pct(g["wer"]),
            pct(g["sentence_error_rate"], 1),
        ]
        for g in groups
    ]


GROUP_HEAD = ["utts", "audio (s)", "words", "sub", "del", "ins", "WER", "SER"]


def md_table(head: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rows = rows or [["none", *[""] * (len(head) - 1)]]
    return "\n".join([line(head), line(["---"] * len(head)), *map(line, rows)]) + "\n"


def text_alignment(alignment: list[list]) -> str:
    """sclite/Kaldi-style aligned REF / HYP / EVAL lines (``***`` marks a gap)."""
    ref, hyp, ev = ["REF:"], ["HYP:"], ["    "]
    for op, r, h in alignment:
        r, h = r or "***", h or "***"
        width = max(len(r), len(h))
        ref.append(r.ljust(width))
        hyp.append(h.ljust(width))
        ev.append(("" if op == "C" else op).ljust(width))
    lines = [" ".join(line).rstrip() for line in (ref, hyp, ev)]
    return "\n".join(line for line in lines if line)


def training_table(epochs: list[dict]) -> tuple[list[str], list[list[str]]]:
    def num(x, fmt):
        return "" if x is None else fmt(x)

    head = ["epoch", "step", "train loss", "val loss", "val WER", "val CER"]
    rows = [
        [
            str(e["epoch"]),
            num(e["step"], str),
            num(e["train_loss"], lambda x: f"{x:.3f}"),
            num(e["val_loss"], lambda x: f"{x:.3f}"),
            num(e["val_wer"], pct),
            num(e["val_cer"], pct),
        ]
        for e in epochs
    ]
    return head, rows
