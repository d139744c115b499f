"""Writers of a report dict (`asr.report.build_report`), one class per file: report.json and
report.md (+ its PNG figures next to it); report.html is `asr.report.html.HTMLWriter`."""

from __future__ import annotations

import json
from pathlib import Path

from asr.report.format import (
    GROUP_HEAD,
    MAX_UTTERANCES,
    Figures,
    group_rows,
    md_table,
    pct,
    run_facts,
    text_alignment,
    training_table,
)


class ReportWriter:
    """Writes ``<out_dir>/report.<extension>``."""

    extension = ""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)

    def __call__(self, report: dict, figures: Figures) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"report.{self.extension}"
        path.write_text(self.render(report, figures), encoding="utf-8")
        return path

    def render(self, report: dict, figures: Figures) -> str:
        raise NotImplementedError


class JsonWriter(ReportWriter):
    """The whole report, every utterance included (the stable machine-readable schema)."""

    extension = "json"

    def render(self, report: dict, figures: Figures) -> str:
        return json.dumps(report, indent=1, ensure_ascii=False) + "\n"


class MarkdownWriter(ReportWriter):
    """report.md, with the figures written as PNG files next to it."""

    extension = "md"

    def __call__(self, report: dict, figures: Figures) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, (_, png) in figures.items():
            (self.out_dir / f"{name}.png").write_bytes(png)
        return super().__call__(report, figures)

    def render(self, report: dict, figures: Figures) -> str:
        s, words = report["summary"], report["summary"]["words"]
        fig = {n: f"![{cap}]({n}.png)\n" for n, (cap, _) in figures.items()}
        out = [f"# WER report: {report['title']}\n", "```", s["kaldi"]["wer"], s["kaldi"]["cer"]]
        out += ["```\n", md_table(["run", ""], [[k, v] for k, v in run_facts(report)])]
        out.append("## Summary\n")
        out.append(
            md_table(
                ["WER", "CER", "SER", "utterances", "words", "sub", "del", "ins", "correct"],
                [
                    [
                        pct(s["wer"]),
                        pct(s["cer"]),
                        pct(s["sentence_error_rate"], 1),
                        s["utterances"],
                        words["ref_len"],
                        words["substitutions"],
                        words["deletions"],
                        words["insertions"],
                        words["hits"],
                    ]
                ],
            )
        )
        out.append(fig.get("errors", ""))
        if report["by_duration"]:
            out.append("## WER by utterance duration\n")
            out.append(
                md_table(["duration", *GROUP_HEAD], group_rows(report["by_duration"], "bucket"))
            )
            out.append(fig.get("wer_by_duration", ""))
        out.append("## WER by speaker\n")
        out.append(md_table(["speaker", *GROUP_HEAD], group_rows(report["by_speaker"], "speaker")))
        out.append("## Most frequent errors\n")
        out.append("Confusion pairs (reference -> hypothesis):\n")
        out.append(
            md_table(
                ["ref", "hyp", "count"],
                [[c["ref"], c["hyp"], c["count"]] for c in report["confusions"]],
            )
        )
        for key, title in (("deletions", "Most deleted"), ("insertions", "Most inserted")):
            out.append(f"\n{title} words:\n")
            out.append(md_table(["word", "count"], [[d["word"], d["count"]] for d in report[key]]))
        if report.get("training"):
            out.append("\n## Training\n")
            out.append(fig.get("training", ""))
            out.append(md_table(*training_table(report["training"]["epochs"])))
        utts = report["utterances"]
        shown = utts[:MAX_UTTERANCES]
        out.append(f"\n## Utterances by errors ({len(shown)} of {len(utts)})\n")
        for i, u in enumerate(shown, 1):
            dur = "" if u["duration"] is None else f", {u['duration']:.1f} s"
            out.append(
                f"{i}. `{u['id']}` ({u['speaker']}{dur}): {u['errors']} errors "
                f"(S={u['substitutions']} D={u['deletions']} I={u['insertions']}), "
                f"WER {pct(u['wer'], 1)}\n"
            )
            out.append("```\n" + text_alignment(u["alignment"]) + "\n```\n")
        return "\n".join(out)
