"""report.html (`HTMLWriter`) and the HTML pieces `asr compare` reuses (tables, word-aligned
diffs, the page around them). report.html is one page: inline CSS, figures as
``data:image/png;base64`` URIs, no fonts, scripts or links to fetch; readable offline. Its
audio players (`asr.report.players`; one inline script) play the audio files beside it, or,
written with ``embed_audio``, audio held in the page, which is then attachable to an e-mail."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

import yaml

from asr.report.format import (
    GROUP_HEAD,
    MAX_UTTERANCES,
    Figures,
    group_rows,
    pct,
    run_facts,
    training_table,
)
from asr.report.players import Players
from asr.report.writers import ReportWriter

CSS = """
body{margin:0;background:#f4f5f7;color:#1f2933;font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;padding-bottom:4px;
border-bottom:2px solid #dde1e6}
.sub{color:#616e7c;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border-radius:8px;padding:12px 18px;min-width:120px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:26px;font-weight:650}.card .k{color:#616e7c;font-size:12px;
text-transform:uppercase;letter-spacing:.04em}.card.main .v{color:#b83227}
pre{background:#fff;border-radius:6px;padding:10px 14px;overflow-x:auto;
box-shadow:0 1px 2px rgba(0,0,0,.08);font:13px/1.4 ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);
border-radius:6px;overflow:hidden;margin:6px 0 12px}
th,td{padding:5px 10px;text-align:left;border-bottom:1px solid #eef0f2;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:12px;text-transform:uppercase;
letter-spacing:.03em;color:#3e4c59}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.facts th{text-transform:none;font-size:13px;letter-spacing:0;width:140px}
.row{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
.row>div{flex:1 1 300px}
figure{margin:6px 0;background:#fff;border-radius:6px;padding:8px;
box-shadow:0 1px 2px rgba(0,0,0,.08);display:inline-block}
figure img{display:block;max-width:100%}
figcaption{color:#616e7c;font-size:12px;text-align:center}
.note{color:#616e7c;font-size:13px}
.legend .w{margin:0 6px 0 18px}.legend .w:first-child{margin-left:0}
div.al{line-height:1.15;min-width:420px}
.w{display:inline-flex;flex-direction:column;vertical-align:middle;text-align:center;
margin:2px 1px;padding:1px 4px;border-radius:4px}
.w.c{color:#1f2933}
.w.s{background:#fdecc8}.w.s .r{color:#8d5d00;text-decoration:line-through}
.w.s .h{color:#a04a00;font-weight:650}
.w.d{background:#f9d7d5}.w.d .r{color:#a51d16;text-decoration:line-through;font-weight:650}
.w.i{background:#d7e7f7}.w.i .h{color:#134f8c;font-weight:650}
.w .gap{color:#9aa5b1}
.w[data-s]{cursor:pointer}.w.now{outline:2px solid #e8a200;background:#fff1bf}
audio.utt{display:block;width:210px;height:30px;margin-top:4px}
.uid{font:12px ui-monospace,Menlo,Consolas,monospace}
.small{color:#616e7c;font-size:12px}
details{margin:6px 0}summary{cursor:pointer;color:#3e4c59}
footer{margin-top:36px;color:#9aa5b1;font-size:12px}
"""


def table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), cls="") -> str:
    """An HTML table of already-escaped cells; columns in `numeric` are right-aligned."""

    def cells(tag: str, values: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=n' if i in numeric else ''}>{v}</{tag}>" for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    if not rows:
        body = f'<tr><td class="note" colspan="{max(len(head), 1)}">none</td></tr>'
    return (
        f'<table class="{cls}"><thead><tr>{cells("th", head)}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def page(title: str, body: str, script: str = "") -> str:
    """The whole page around `body`; `script` (a ``<script>`` element) goes at its end."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>\n{body}\n</main>{script}</body></html>\n"
    )


def image(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def diff_html(alignment: list[list], times: list[list[float]] | None = None) -> str:
    """Word-aligned diff: correct words plain; substitutions (class ``s``), deletions (``d``)
    and insertions (``i``) as two-line boxes, reference on top, hypothesis below. `times`:
    [start, end] seconds of each hypothesis word, written on its box as ``data-s``/``data-e``
    (for the players)."""
    out = []
    gap = '<span class="gap">***</span>'
    spans = iter(times or ())
    for op, ref, hyp in alignment:
        span = next(spans, None) if hyp is not None else None
        at = f' data-s="{span[0]:.2f}" data-e="{span[1]:.2f}"' if span else ""
        if op == "C":
            out.append(f'<span class="w c"{at}>{escape(ref)}</span>')
            continue
        top = f'<span class="r">{escape(ref)}</span>' if ref else gap
        bottom = f'<span class="h">{escape(hyp)}</span>' if hyp else gap
        out.append(f'<span class="w {op.lower()}"{at}>{top}{bottom}</span>')
    return " ".join(out)


def utt_label(uid: str, speaker: str, extra: str = "", player: str = "") -> str:
    """Utterance id over its speaker (and `extra`, already escaped) in small print, over its
    `player`."""
    return (
        f'<span class="uid">{escape(uid)}</span><br>'
        f'<span class="small">{escape(speaker)}{extra}</span>{player}'
    )


def cards(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card{" main" if i == 0 else ""}"><div class="v">{escape(v)}</div>'
            f'<div class="k">{escape(k)}</div></div>'
            for i, (k, v) in enumerate(items)
        )
        + "</div>"
    )


class HTMLWriter(ReportWriter):
    """report.html (see the module docstring)."""

    extension = "html"

    def __init__(self, out_dir: str | Path, embed_audio: bool = False) -> None:
        super().__init__(out_dir)
        self.embed_audio = embed_audio

    def render(self, report: dict, figures: Figures) -> str:
        s, w, run = report["summary"], report["summary"]["words"], report["run"]
        fig = {n: image(cap, png) for n, (cap, png) in figures.items()}
        e = escape
        ckpt = (run.get("checkpoint") or {}).get("path")
        ckpt = f" \u00b7 {Path(ckpt).name}" if ckpt else ""
        parts = [
            f"<h1>WER report: {e(report['title'])}</h1>",
            f'<p class="sub">{s["utterances"]} utterances, {w["ref_len"]} words{e(ckpt)} '
            f"&middot; report written {e(report['created'])}</p>",
            cards(
                [
                    ("WER", pct(s["wer"])),
                    ("CER", pct(s["cer"])),
                    ("sentence error rate", pct(s["sentence_error_rate"], 1)),
                    ("utterances", str(s["utterances"])),
                    ("reference words", str(w["ref_len"])),
                    ("real-time factor", "n/a" if run.get("rtf") is None else f"{run['rtf']:.4f}"),
                ]
            ),
            f"<pre>{e(s['kaldi']['wer'])}\n{e(s['kaldi']['cer'])}</pre>",
            "<h2>Run</h2>",
            self._facts(report),
        ]
        parts += [self._errors(w, fig["errors"]), self._groups(report, fig)]
        parts.append("<h2>Most frequent errors</h2>")
        parts.append(self._top_errors(report))
        if report.get("training"):
            head, rows = training_table(report["training"]["epochs"])
            parts.append("<h2>Training</h2>")
            parts.append(fig.get("training", ""))
            parts.append(table(head, rows, numeric=set(range(6))))
        players = Players(self.out_dir, self.embed_audio)
        parts.append(self._utterances(report["utterances"], players))
        toolkit = run.get("toolkit") or {}
        parts.append(
            f"<footer>asr report schema {report['schema_version']} &middot; toolkit revision "
            f"{e(str(toolkit.get('git_revision')))}</footer>"
        )
        return page(f"WER report: {report['title']}", "\n".join(parts), players.script)

    @staticmethod
    def _errors(w: dict, figure: str) -> str:
        ref = max(w["ref_len"], 1)
        rows = [
            [label, str(w[key]), pct(w[key] / ref)]
            for label, key in (
                ("correct", "hits"),
                ("substitutions", "substitutions"),
                ("deletions", "deletions"),
                ("insertions", "insertions"),
                ("errors", "errors"),
            )
        ]
        breakdown = table(["", "words", "% of reference"], rows, numeric={1, 2})
        return f'<h2>Errors</h2><div class="row"><div>{breakdown}</div><div>{figure}</div></div>'

    @staticmethod
    def _groups(report: dict, fig: dict[str, str]) -> str:
        """WER by duration bucket (table and figure) and by speaker."""
        out = []
        for key, label, title in (
            ("by_duration", "bucket", "WER by utterance duration"),
            ("by_speaker", "speaker", "WER by speaker"),
        ):
            if not report[key]:
                continue
            head = ["duration" if key == "by_duration" else "speaker", *GROUP_HEAD]
            rows = [[escape(c) for c in r] for r in group_rows(report[key], label)]
            t = table(head, rows, numeric=set(range(1, 9)))
            plot = fig.get("wer_by_duration", "") if key == "by_duration" else ""
            out.append(f'<h2>{title}</h2><div class="row"><div>{t}</div><div>{plot}</div></div>')
        return "\n".join(out)

    @staticmethod
    def _facts(report: dict) -> str:
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in run_facts(report)
        )
        out = f'<table class="facts"><tbody>{rows}</tbody></table>'
        config = report["run"].get("config")
        if config:
            text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
            out += f"<details><summary>training config</summary><pre>{escape(text)}</pre></details>"
        return out

    @staticmethod
    def _top_errors(report: dict) -> str:
        e = escape
        conf = table(
            ["reference", "hypothesis", "count"],
            [[e(c["ref"]), e(c["hyp"]), str(c["count"])] for c in report["confusions"]],
            numeric={2},
        )
        dels = table(
            ["deleted word", "count"],
            [[e(d["word"]), str(d["count"])] for d in report["deletions"]],
            numeric={1},
        )
        ins = table(
            ["inserted word", "count"],
            [[e(d["word"]), str(d["count"])] for d in report["insertions"]],
            numeric={1},
        )
        return f'<div class="row"><div>{conf}</div><div>{dels}</div><div>{ins}</div></div>'

    @staticmethod
    def _utterances(utts: list[dict], players: Players) -> str:
        shown = utts[:MAX_UTTERANCES]
        note = (
            f"The {len(shown)} utterances with the most errors of {len(utts)}; "
            "report.json lists all."
            if len(shown) < len(utts)
            else f"All {len(utts)} utterances, most errors first."
        )
        legend = (
            '<p class="legend note"><span class="w s"><span class="r">REF</span>'
            '<span class="h">HYP</span></span> substitution '
            '<span class="w d"><span class="r">REF</span><span class="gap">***</span></span>'
            ' deletion <span class="w i"><span class="gap">***</span><span class="h">HYP</span>'
            "</span> insertion</p>"
        )
        rows = []
        for i, u in enumerate(shown, 1):
            dur = "" if u["duration"] is None else f" &middot; {u['duration']:.1f} s"
            rows.append(
                [
                    str(i),
                    utt_label(u["id"], u["speaker"], dur, players(u.get("audio"))),
                    f'{u["errors"]}<br><span class="small">{u["substitutions"]}/'
                    f"{u['deletions']}/{u['insertions']}</span>",
                    pct(u["wer"], 1),
                    f'<div class="al">{diff_html(u["alignment"], u.get("times"))}</div>',
                ]
            )
        head = ["#", "utterance", "errors<br>S/D/I", "WER", "alignment (reference / hypothesis)"]
        return f"<h2>Utterances by errors</h2><p class=note>{note}</p>{legend}" + table(
            head, rows, numeric={0, 2, 3}, cls="utts"
        )
