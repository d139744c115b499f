"""`asr compare`: two WER reports side by side (overall and per-speaker deltas, utterances that
got better or worse), as text, compare.md and compare.html (with a player per utterance:
`asr.report.players`)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from asr.report.build import SCHEMA_VERSION
from asr.report.format import md_table, pct, text_alignment
from asr.report.html import diff_html, page, table, utt_label
from asr.report.inputs import ReportError, read_json
from asr.report.players import Players

EXAMPLES = 20  # better / worse utterances listed in compare.md and compare.html


def load_report(path: str | Path) -> dict:
    """A report.json, or a directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    report = read_json(path, "give a report directory or its report.json")
    if not isinstance(report, dict) or report.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(f"{path}: not an asr report (schema_version {SCHEMA_VERSION} expected)")
    report["path"] = str(path)
    return report


def _delta(a: float, b: float) -> dict:
    return {"a": a, "b": b, "delta": b - a, "relative": (b - a) / a if a else None}


def compare_reports(a: dict, b: dict) -> dict:
    """Run B against run A. Deltas are B - A (negative: B makes fewer errors); utterances are
    matched by id and compared by word errors."""
    sa, sb = a["summary"], b["summary"]
    overall = {
        "wer": _delta(sa["wer"], sb["wer"]),
        "cer": _delta(sa["cer"], sb["cer"]),
        "sentence_error_rate": _delta(sa["sentence_error_rate"], sb["sentence_error_rate"]),
    }
    for key in ("substitutions", "deletions", "insertions", "errors"):
        overall[key] = _delta(sa["words"][key], sb["words"][key])
    speakers_b = {s["speaker"]: s for s in b["by_speaker"]}
    by_speaker = [
        {
            "speaker": s["speaker"],
            "words": s["words"],
            **_delta(s["wer"], speakers_b[s["speaker"]]["wer"]),
        }
        for s in a["by_speaker"]
        if s["speaker"] in speakers_b
    ]
    by_speaker.sort(key=lambda s: (s["delta"], s["speaker"]))
    utts_b = {u["id"]: u for u in b["utterances"]}
    ids_a = {u["id"] for u in a["utterances"]}
    better, worse, same = [], [], 0
    for ua in a["utterances"]:
        ub = utts_b.get(ua["id"])
        if ub is None:
            continue
        change = ub["errors"] - ua["errors"]
        if change == 0:
            same += 1
            continue
        item = {
            "id": ua["id"],
            "speaker": ua["speaker"],
            "ref": ua["ref"],
            "errors_a": ua["errors"],
            "errors_b": ub["errors"],
            "change": change,
            "alignment_a": ua["alignment"],
            "alignment_b": ub["alignment"],
            "audio": ua.get("audio") or ub.get("audio"),
            "times_a": ua.get("times"),
            "times_b": ub.get("times"),
        }
        (better if change < 0 else worse).append(item)
    better.sort(key=lambda u: (u["change"], u["id"]))
    worse.sort(key=lambda u: (-u["change"], u["id"]))
    return {
        "a": {"title": a["title"], "path": a.get("path"), "run": a["run"]},
        "b": {"title": b["title"], "path": b.get("path"), "run": b["run"]},
        "overall": overall,
        "by_speaker": by_speaker,
        "utterances": {
            "common": len(better) + len(worse) + same,
            "better": len(better),
            "worse": len(worse),
            "same": same,
            "only_a": len(ids_a - utts_b.keys()),
            "only_b": len(utts_b.keys() - ids_a),
        },
        "better": better,
        "worse": worse,
    }


RATES = (("WER", "wer"), ("CER", "cer"), ("SER", "sentence_error_rate"))
COUNTS = ("substitutions", "deletions", "insertions", "errors")


def _rate_row(label: str, d: dict) -> list[str]:
    rel = "" if d["relative"] is None else f" ({100 * d['relative']:+.1f} % rel.)"
    return [label, pct(d["a"]), pct(d["b"]), f"{100 * d['delta']:+.2f} pts{rel}"]


def describe(side: dict) -> str:
    """'test: best-epoch07.ckpt (sha256 1a2b3c4d5e6f), decoder beam_size=8' for a compared run."""
    run, out = side["run"], side["title"]
    ckpt = run.get("checkpoint") or {}
    if ckpt.get("path"):
        out += f": {Path(ckpt['path']).name} (sha256 {ckpt['sha256'][:12]})"
    decoder = run.get("decoder")
    if decoder:
        items = decoder.items() if isinstance(decoder, dict) else [("", decoder)]
        out += ", decoder " + " ".join(f"{k}={v}" if k else str(v) for k, v in items)
    return out


def _overall_rows(cmp: dict) -> list[list[str]]:
    o = cmp["overall"]
    rows = [_rate_row(label, o[key]) for label, key in RATES]
    rows += [[k, str(o[k]["a"]), str(o[k]["b"]), f"{o[k]['delta']:+d}"] for k in COUNTS]
    return rows


def _speaker_rows(cmp: dict) -> list[list[str]]:
    return [
        [s["speaker"], str(s["words"]), pct(s["a"]), pct(s["b"]), f"{100 * s['delta']:+.2f}"]
        for s in cmp["by_speaker"]
    ]


def _counts_line(cmp: dict) -> str:
    u = cmp["utterances"]
    line = f"{u['common']} utterances in both: {u['better']} better, {u['worse']} worse, "
    line += f"{u['same']} unchanged"
    if u["only_a"] or u["only_b"]:
        line += f" ({u['only_a']} only in A, {u['only_b']} only in B)"
    return line


def format_text(cmp: dict, examples: int = 5) -> str:
    """The side-by-side printed by `asr compare`."""

    def columns(rows: list[list[str]]) -> list[str]:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return [
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in rows
        ]

    out = [
        f"A: {describe(cmp['a'])}\n   {cmp['a']['path']}",
        f"B: {describe(cmp['b'])}\n   {cmp['b']['path']}",
        "",
    ]
    out += columns([["", "A", "B", "B - A"], *_overall_rows(cmp)])
    if cmp["by_speaker"]:
        out += ["", "WER by speaker (most improved first):"]
        out += columns([["speaker", "words", "A", "B", "B - A"], *_speaker_rows(cmp)])
    out += ["", _counts_line(cmp)]
    for key in ("better", "worse"):
        for u in cmp[key][:examples]:
            out.append(f"  {key}: {u['id']} errors {u['errors_a']} -> {u['errors_b']}")
    return "\n".join(out) + "\n"


def _examples_md(items: list[dict]) -> str:
    out = []
    for u in items[:EXAMPLES]:
        out.append(f"- `{u['id']}` ({u['speaker']}): errors {u['errors_a']} -> {u['errors_b']}\n")
        out.append("```\nA " + text_alignment(u["alignment_a"]).replace("\n", "\nA "))
        out.append("B " + text_alignment(u["alignment_b"]).replace("\n", "\nB ") + "\n```\n")
    return "\n".join(out)


def write_compare(cmp: dict, out_dir: str | Path, embed_audio: bool = False) -> dict[str, Path]:
    """compare.md and compare.html in `out_dir` (its players link to the audio files, or hold
    them with `embed_audio`); returns {format: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{cmp['a']['title']} vs {cmp['b']['title']}"
    md = [
        f"# WER comparison: {title}\n",
        f"A: {describe(cmp['a'])} (`{cmp['a']['path']}`)  ",
        f"B: {describe(cmp['b'])} (`{cmp['b']['path']}`)\n",
        md_table(["", "A", "B", "B - A"], _overall_rows(cmp)),
        "## WER by speaker\n",
        md_table(["speaker", "words", "A", "B", "B - A"], _speaker_rows(cmp)),
        f"## Utterances\n\n{_counts_line(cmp)}\n",
    ]
    for key in ("better", "worse"):
        md += [f"### {key.capitalize()} in B\n", _examples_md(cmp[key])]
    paths = {"md": out_dir / "compare.md", "html": out_dir / "compare.html"}
    paths["md"].write_text("\n".join(md), encoding="utf-8")
    paths["html"].write_text(_html(cmp, title, Players(out_dir, embed_audio)), encoding="utf-8")
    return paths


def _html(cmp: dict, title: str, players: Players) -> str:
    e = escape
    parts = [
        f"<h1>WER comparison: {e(title)}</h1>",
        f'<p class="sub">A: {e(describe(cmp["a"]))} ({e(str(cmp["a"]["path"]))})<br>'
        f"B: {e(describe(cmp['b']))} ({e(str(cmp['b']['path']))})</p>",
        table(["", "A", "B", "B - A"], [[e(c) for c in r] for r in _overall_rows(cmp)], {1, 2, 3}),
        "<h2>WER by speaker</h2>",
        table(
            ["speaker", "words", "A", "B", "B - A"],
            [[e(c) for c in r] for r in _speaker_rows(cmp)],
            {1, 2, 3, 4},
        ),
        f"<h2>Utterances</h2><p>{e(_counts_line(cmp))}</p>",
    ]
    for key in ("better", "worse"):
        rows = [
            [
                utt_label(u["id"], u["speaker"], player=players(u.get("audio"))),
                f"{u['errors_a']} &rarr; {u['errors_b']}",
                f'<div class="al">A: {diff_html(u["alignment_a"], u.get("times_a"))}</div>'
                f'<div class="al">B: {diff_html(u["alignment_b"], u.get("times_b"))}</div>',
            ]
            for u in cmp[key][:EXAMPLES]
        ]
        shown = min(len(cmp[key]), EXAMPLES)
        parts.append(f"<h2>{key.capitalize()} in B ({shown} of {len(cmp[key])})</h2>")
        parts.append(table(["utterance", "errors", "alignment"], rows, {1}, cls="utts"))
    return page(f"WER comparison: {title}", "\n".join(parts), players.script)
