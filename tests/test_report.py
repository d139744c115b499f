"""The WER report: word alignment and error tallies, the JSON schema, the HTML and Markdown
content (checked without a browser), `asr compare`, and `asr evaluate --report` end to end."""

import base64
import hashlib
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from asr.cli import main
from asr.report import (
    SCHEMA_VERSION,
    ReportError,
    build_report,
    compare_reports,
    load_evaluation,
    load_report,
    read_training_log,
    write_report,
)
from asr.report.writers import JsonWriter
from asr.score import ErrorTally, align_words, kaldi_line, word_errors

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# hand-checked: S=1 (B->X) I=1 (E) | D=1 (B) | correct | S=2 (B->X twice)
ROWS = [
    {"id": "s1-1", "speaker": "s1", "duration": 1.5, "ref": "A B C D", "hyp": "A X C D E"},
    {"id": "s1-2", "speaker": "s1", "duration": 3.0, "ref": "A B C D", "hyp": "A C D"},
    {"id": "s2-1", "speaker": "s2", "duration": 6.0, "ref": "HELLO WORLD", "hyp": "HELLO WORLD"},
    {"id": "s2-2", "speaker": "s2", "duration": 25.0, "ref": "B B", "hyp": "X X"},
]


def test_alignment_and_error_tally():
    assert align_words("A B C D", "A X C D E") == [
        ("C", "A", "A"),
        ("S", "B", "X"),
        ("C", "C", "C"),
        ("C", "D", "D"),
        ("I", None, "E"),
    ]
    assert align_words("A B C D", "A C D") == [
        ("C", "A", "A"),
        ("D", "B", None),
        ("C", "C", "C"),
        ("C", "D", "D"),
    ]
    assert align_words("", "UM UH") == [("I", None, "UM"), ("I", None, "UH")]
    assert align_words("A B", "") == [("D", "A", None), ("D", "B", None)]
    tally = ErrorTally()
    for r in ROWS:
        tally.add(align_words(r["ref"], r["hyp"]))
    assert tally.confusions == {("B", "X"): 3}
    assert tally.deleted == {"B": 1} and tally.inserted == {"E": 1}
    counts = word_errors([r["ref"] for r in ROWS], [r["hyp"] for r in ROWS])
    assert kaldi_line(counts) == "%WER 41.67 [ 5 / 12, 1 ins, 1 del, 3 sub ]"


def write_training_log(exp: Path) -> None:
    """Two CSV logs as Lightning writes them; version_1 resumed and repeats epoch 1."""
    v0, v1 = exp / "logs" / "version_0", exp / "logs" / "version_1"
    v0.mkdir(parents=True)
    v1.mkdir(parents=True)
    (v0 / "metrics.csv").write_text(
        "epoch,lr-AdamW,step,train_loss,val_cer,val_loss,val_wer,val_words\n"
        ",0.001,0,,,,,\n0,,0,3.0,,,,\n0,,1,2.0,,,,\n0,,1,,0.5,2.2,0.9,10\n"
        "1,,2,1.0,,,,\n1,,3,,0.3,1.5,0.6,10\n"
    )
    (v1 / "metrics.csv").write_text(
        "epoch,step,train_loss,val_loss,val_wer,val_cer\n"
        "1,2,0.8,,,\n1,3,,1.4,0.55,0.25\n2,4,0.6,,,\n2,5,,1.2,0.5,0.2\n"
    )


def test_training_log(tmp_path):
    write_training_log(tmp_path)
    log = read_training_log(tmp_path)
    assert [e["epoch"] for e in log["epochs"]] == [0, 1, 2]
    assert [e["train_loss"] for e in log["epochs"]] == pytest.approx([2.5, 0.8, 0.6])
    assert [e["val_wer"] for e in log["epochs"]] == pytest.approx([0.9, 0.55, 0.5])
    assert log["epochs"][2]["step"] == 5 and log["epochs"][1]["val_cer"] == 0.25
    assert read_training_log(tmp_path / "logs" / "version_0")["epochs"][1]["val_wer"] == 0.6
    with pytest.raises(ReportError, match="no training log"):
        read_training_log(tmp_path / "logs")


def make_report(rows=ROWS, **summary) -> dict:
    summary = {"manifest": "test.jsonl", "rtf": 0.05, "decode_seconds": 1.0, **summary}
    return build_report({"audio_seconds": 35.5, "failed": [], **summary}, rows)


def test_report_schema():
    report = make_report(decoder={"beam_size": 8})
    assert report["schema_version"] == SCHEMA_VERSION
    assert set(report) >= {
        "title", "created", "run", "summary", "by_duration", "by_speaker",
        "confusions", "deletions", "insertions", "utterances", "training",
    }  # fmt: skip
    s = report["summary"]
    assert s["utterances"] == 4 and s["sentences_with_errors"] == 3
    assert s["words"] == {
        "substitutions": 3, "deletions": 1, "insertions": 1, "hits": 8,
        "errors": 5, "ref_len": 12, "rate": pytest.approx(5 / 12),
    }  # fmt: skip
    assert s["wer"] == pytest.approx(5 / 12) and isinstance(s["cer"], float)
    assert s["kaldi"]["wer"] == "%WER 41.67 [ 5 / 12, 1 ins, 1 del, 3 sub ]"
    assert report["run"]["decoder"] == {"beam_size": 8} and report["run"]["rtf"] == 0.05
    # most errors first; ties by WER
    assert [u["id"] for u in report["utterances"]] == ["s2-2", "s1-1", "s1-2", "s2-1"]
    first = report["utterances"][1]
    assert (first["substitutions"], first["deletions"], first["insertions"]) == (1, 0, 1)
    assert first["alignment"][1] == ["S", "B", "X"]
    assert [(b["bucket"], b["wer"]) for b in report["by_duration"]] == [
        ("< 2 s", 0.5),
        ("2-5 s", 0.25),
        ("5-10 s", 0.0),
        ("> 20 s", 1.0),
    ]
    assert report["by_duration"][-1]["max_s"] is None  # valid JSON: no Infinity
    assert [(g["speaker"], g["words"], g["errors"]) for g in report["by_speaker"]] == [
        ("s2", 4, 2),
        ("s1", 8, 3),
    ]
    assert report["confusions"] == [{"ref": "B", "hyp": "X", "count": 3}]
    assert report["deletions"] == [{"word": "B", "count": 1}]
    assert report["insertions"] == [{"word": "E", "count": 1}]
    json.loads(json.dumps(report, allow_nan=False))  # strict JSON


class Tree(HTMLParser):
    """Elements of a page as (tag, attrs, text inside) with a check that tags balance."""

    VOID = {"meta", "img", "br", "link", "input", "hr"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements, self.stack = [], []
        self.feed(html)
        assert not self.stack, f"unclosed tags {[e[0] for e in self.stack]}"

    def handle_starttag(self, tag, attrs):
        el = [tag, dict(attrs), []]
        self.elements.append(el)
        if tag not in self.VOID:
            self.stack.append(el)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1][0] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        for el in self.stack:
            el[2].append(data)

    def find(self, tag: str, cls: str | None = None) -> list[tuple[dict, str]]:
        return [
            (attrs, "".join(text).strip())
            for t, attrs, text in self.elements
            if t == tag and (cls is None or attrs.get("class") == cls)
        ]


def test_html_and_markdown_content(tmp_path):
    report = make_report()
    write_training_log(tmp_path)
    report["training"] = read_training_log(tmp_path)
    paths = write_report(report, tmp_path / "report")
    html = paths["html"].read_text()
    tree = Tree(html)
    tables = tree.find("table")
    assert len(tables) >= 8  # run, errors, duration, speaker, 3 top-error lists, training, utts
    # the word-aligned diff: known substitution, deletion and insertion
    assert [text for _, text in tree.find("span", "w s")][-3:] == ["BX"] * 3
    deletions = [t for _, t in tree.find("span", "w d")]
    insertions = [t for _, t in tree.find("span", "w i")]
    assert "B***" in deletions and "***E" in insertions
    assert len(tree.find("span", "w c")) == 8  # the hits
    assert tree.find("span", "r")[-1][1] == "B" and tree.find("span", "h")[-1][1] == "E"
    # figures: embedded PNGs only, nothing fetched from anywhere
    images = tree.find("img")
    assert len(images) == 3  # errors, WER by duration, training curves
    for attrs, _ in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(attrs["src"].split(",", 1)[1]).startswith(PNG_MAGIC)
    assert not re.search(r"https?://", html)
    assert not tree.find("script") and not tree.find("link")
    assert "%WER 41.67 [ 5 / 12, 1 ins, 1 del, 3 sub ]" in html

    md = paths["md"].read_text()
    assert "%WER 41.67 [ 5 / 12, 1 ins, 1 del, 3 sub ]" in md
    for name in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md):
        assert (paths["md"].parent / name).read_bytes().startswith(PNG_MAGIC)
    assert md.count(".png)") == 3
    assert "REF: A B C D ***\nHYP: A X C D E\n       S     I\n" in md
    assert "REF: HELLO WORLD\nHYP: HELLO WORLD\n```" in md  # no EVAL line without errors
    assert "| s2 | 2 | 31.0 | 4 | 2 | 0 | 0 | 50.00 % | 50.0 % |" in md
    assert json.loads(paths["json"].read_text())["summary"] == report["summary"]


def test_compare(tmp_path, capsys):
    hyps_b = {"s1-1": "A B C D", "s1-2": "A X D", "s2-1": "HELLO WORLD", "s2-2": "B X"}
    rows_b = [{**r, "hyp": hyps_b[r["id"]]} for r in ROWS]
    JsonWriter(tmp_path / "a")(make_report(), {})  # report.json is all compare reads
    JsonWriter(tmp_path / "b")(make_report(rows_b, manifest="other.jsonl"), {})
    cmp = compare_reports(load_report(tmp_path / "a"), load_report(tmp_path / "b"))
    assert cmp["overall"]["wer"]["delta"] == pytest.approx(3 / 12 - 5 / 12)
    assert cmp["overall"]["errors"] == {"a": 5, "b": 3, "delta": -2, "relative": -0.4}
    assert [(u["id"], u["change"]) for u in cmp["better"]] == [("s1-1", -2), ("s2-2", -1)]
    assert [(u["id"], u["change"]) for u in cmp["worse"]] == [("s1-2", 1)]
    assert cmp["utterances"] == {
        "common": 4, "better": 2, "worse": 1, "same": 1, "only_a": 0, "only_b": 0
    }  # fmt: skip
    assert [(s["speaker"], s["delta"]) for s in cmp["by_speaker"]] == [
        ("s2", pytest.approx(-0.25)),
        ("s1", pytest.approx(-0.125)),
    ]

    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"WER\s+41\.67 %\s+25\.00 %\s+-16\.67 pts \(-40\.0 % rel\.\)", out)
    assert "4 utterances in both: 2 better, 1 worse, 1 unchanged" in out
    html = (tmp_path / "compare.html").read_text()
    assert "s1-1" in html and '<span class="w s">' in html and "http" not in html
    assert "2 better, 1 worse" in (tmp_path / "compare.md").read_text()

    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "missing: not found" in capsys.readouterr().err


def test_evaluate_report_cli(trained, tmp_path, capsys):
    ckpt, val = trained
    exp, eval_dir = ckpt.parent.parent, tmp_path / "eval"
    args = ["evaluate", "--checkpoint", str(ckpt), "--manifest", str(val)]
    args += [
        "--out-dir",
        str(eval_dir),
        "--report",
        str(tmp_path / "report"),
        "--train-log",
        str(exp),
    ]
    assert main(args) == 0
    assert f"report: {tmp_path / 'report' / 'report.html'}" in capsys.readouterr().out
    summary, rows = load_evaluation(eval_dir)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["words"] == summary["words"]  # same counts as wer.json
    assert report["summary"]["cer"] == pytest.approx(summary["cer"])
    assert len(report["utterances"]) == len(rows) == summary["utterances"]
    run = report["run"]
    assert run["checkpoint"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert run["model"]["dims"]["hidden"] == 16 and run["model"]["parameters"] > 0
    assert run["config"]["model"]["hidden"] == 16  # the training config.yaml
    assert run["hardware"]["device"] == "cpu" and run["rtf"] > 0
    assert "git_revision" in run["toolkit"]
    assert len(report["training"]["epochs"]) == 1
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    # hyps.jsonl keeps each utterance's audio and its hypothesis' word times; the report
    # has a player per utterance (the audio by relative path) and the times on the words
    for row in rows:
        assert Path(row["audio"]).is_absolute() and Path(row["audio"]).is_file()
        assert [w["word"] for w in row["words"]] == row["hyp"].split()
        starts = [w["start"] for w in row["words"]]
        assert starts == sorted(starts) and all(w["end"] > w["start"] for w in row["words"])
    audio = {u["id"]: u["audio"] for u in report["utterances"]}
    players = [a for a, _ in Tree(html).find("audio")]
    assert [a["src"] for a in players] == [
        os.path.relpath(audio[u["id"]], tmp_path / "report") for u in report["utterances"]
    ]
    assert html.count('data-s="') == sum(len(r["words"]) for r in rows)
    assert any(r["words"] for r in rows), [r["hyp"] for r in rows]

    # re-render without decoding; a missing evaluation is a one-line error
    assert main(["report", str(eval_dir), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["summary"] == report["summary"] and again["training"] is None
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "nope/wer.json: not found" in capsys.readouterr().err
