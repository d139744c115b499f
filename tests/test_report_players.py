"""The listenable WER report: a player per listed utterance in report.html and compare.html (the
audio by relative path, or embedded with --embed-audio), hypothesis words carrying their times;
and the same pages loaded in headless Chromium, where the players load and the word played is
marked."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_report import ROWS, Tree, make_report

from asr.cli import main
from asr.report import write_report
from asr.report.writers import JsonWriter

STEP = 0.3  # the fixture's hypothesis words start every 0.3 s and last 0.25 s


def audio_rows(tmp: Path) -> list[dict]:
    """ROWS with audio files of their durations (one 44.1 kHz stereo FLAC, the others 16 kHz
    WAV) in `tmp`/data, and word times as `asr evaluate` stores them."""
    rng = np.random.default_rng(0)
    rows = []
    for i, r in enumerate(ROWS):
        rate, channels, suffix = (44100, 2, "flac") if i == 1 else (16000, 1, "wav")
        n = int(r["duration"] * rate)
        wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / rate) + 0.02 * rng.standard_normal(n)
        path = tmp / "data" / f"{r['id']}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.repeat(wave[:, None], channels, 1).astype(np.float32), rate)
        words = [
            {"word": w, "start": round(STEP * j, 2), "end": round(STEP * j + 0.25, 2)}
            for j, w in enumerate(r["hyp"].split())
        ]
        rows.append({**r, "audio": str(path), "words": words})
    return rows


def players(html: str) -> list[dict]:
    return [attrs for attrs, _ in Tree(html).find("audio")]


def timed_words(html: str) -> list[list[tuple[str, float, float]]]:
    """Per utterance row: (text, data-s, data-e) of the word boxes that carry times."""
    out = []
    for row in html.split("<tr>")[1:]:
        words = [(text, float(a["data-s"]), float(a["data-e"]))
                 for a, text in Tree(f"<div>{row.split('</tr>')[0]}</div>").find("span")
                 if "data-s" in a]
        if words:
            out.append(words)
    return out


def decode_data_uri(src: str) -> tuple[np.ndarray, int]:
    head, data = src.split(",", 1)
    assert head in ("data:audio/ogg;base64", "data:audio/flac;base64")
    return sf.read(io.BytesIO(base64.b64decode(data)))


def test_report_players_by_relative_path(tmp_path):
    report = make_report(audio_rows(tmp_path))
    assert [u["times"][:2] for u in report["utterances"]][0] == [[0.0, 0.25], [0.3, 0.55]]
    html = write_report(report, tmp_path / "exp" / "report")["html"].read_text()
    found = players(html)
    assert len(found) == len(ROWS)  # one per listed utterance, in the table's order
    for attrs, u in zip(found, report["utterances"]):
        assert attrs["src"] == f"../../data/{Path(u['audio']).name}"
        assert attrs["preload"] == "none" and "controls" in attrs and attrs["class"] == "utt"
    assert html.count("<script>") == 1 and "timeupdate" in html and "http" not in html
    # every hypothesis word carries its time, in order; deleted words (no hypothesis) none
    rows = timed_words(html.split('class="utts"')[1])
    for words, u in zip(rows, report["utterances"]):
        assert [s for _, s, _ in words] == [round(STEP * j, 2) for j in range(len(words))]
        assert all(e > s for _, s, e in words) and len(words) == len(u["hyp"].split())
    assert [t for t, _, _ in rows[1]] == ["A", "BX", "C", "D", "***E"]  # s1-1: S and I boxes
    # a report of rows without audio or times (older hyps.jsonl) has neither players nor script
    html = write_report(make_report(), tmp_path / "plain")["html"].read_text()
    assert not players(html) and "<script>" not in html and 'data-s="' not in html


def test_report_players_embedded(tmp_path, capsys):
    rows = audio_rows(tmp_path)
    report = make_report(rows)
    html = write_report(report, tmp_path / "report", embed_audio=True)["html"].read_text()
    found = players(html)
    assert len(found) == len(ROWS)
    for attrs, u in zip(found, report["utterances"]):
        wave, rate = decode_data_uri(attrs["src"])
        assert rate == 16000 and wave.ndim == 1  # resampled, mono
        assert len(wave) / rate == pytest.approx(u["duration"], abs=0.03)
    assert not re.search(r'src="(?!data:)', html)  # nothing outside the page
    assert len(html) < 400_000  # 35.5 s of audio: compressed (16 kHz WAV would be 1.1 MB)

    # the option of `asr report` (and `asr evaluate --report`: the same function)
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "wer.json").write_text(json.dumps({"manifest": "test.jsonl"}))
    (eval_dir / "hyps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(eval_dir), "--out", str(tmp_path / "r2"), "--embed-audio"]) == 0
    capsys.readouterr()
    assert len([a for a in players((tmp_path / "r2" / "report.html").read_text())
                if a["src"].startswith("data:audio/")]) == len(ROWS)


def test_compare_players(tmp_path, capsys):
    rows = audio_rows(tmp_path)
    hyps_b = {"s1-1": "A B C D", "s1-2": "A X D", "s2-1": "HELLO WORLD", "s2-2": "B X"}
    rows_b = [
        {**r, "hyp": hyps_b[r["id"]], "words": [
            {"word": w, "start": STEP * j, "end": STEP * j + 0.25}
            for j, w in enumerate(hyps_b[r["id"]].split())]}
        for r in rows
    ]
    JsonWriter(tmp_path / "a")(make_report(rows), {})
    JsonWriter(tmp_path / "b")(make_report(rows_b), {})
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    html = (out / "compare.html").read_text()
    found = players(html)  # better: s1-1, s2-2; worse: s1-2
    srcs = ["../data/s1-1.wav", "../data/s2-2.wav", "../data/s1-2.flac"]
    assert [a["src"] for a in found] == srcs
    assert len(timed_words(html)[0]) == 5 + 4  # s1-1: A's 5 hypothesis words, then B's 4
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out),
                 "--embed-audio"]) == 0
    capsys.readouterr()
    found = players((out / "compare.html").read_text())
    assert len(found) == 3 and all(a["src"].startswith("data:audio/") for a in found)


# ------------------------------------------------------------------------ in headless Chromium

BROWSERS = ("chromium", "chromium-headless-shell", "chrome-headless-shell", "google-chrome")
# appended to a copy of the page (after its own script): loads each player's audio, then
# clicks the first row's last timed word, and writes what happened into <pre id="result">
PROBE = """<script>(function(){
var out=document.createElement("pre");out.id="result";document.body.appendChild(out);
var as=[].slice.call(document.querySelectorAll("audio")),left=as.length;
var res={players:as.length,durations:[],errors:[]};
function done(){var a=as[0],ws=a.closest("tr").querySelectorAll(".w[data-s]"),w=ws[ws.length-1];
res.clicked=w.textContent;
a.addEventListener("seeked",function(){res.time=a.currentTime;
res.now=[].map.call(a.closest("tr").querySelectorAll(".w.now"),function(x){return x.textContent});
out.textContent=JSON.stringify(res)},{once:true});w.click()}
as.forEach(function(a,i){
a.addEventListener("canplaythrough",function(){res.durations[i]=a.duration;if(!--left)done()},
{once:true});
a.addEventListener("error",function(){res.errors.push(i);if(!--left)done()});
a.preload="auto";a.load()})})();</script>"""


def browser() -> str:
    found = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if found is None:
        pytest.skip("no headless Chromium (scripts/setup.sh installs chromium-headless-shell "
                    "as root; Debian: apt-get install chromium-headless-shell)")
    return found


def run_in_browser(page: Path, tmp: Path) -> dict:
    probe = page.with_name("probe.html")  # beside the page: the same relative paths
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    cmd = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio",
           f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
           probe.as_uri()]
    for _ in range(3):  # headless Chromium now and then ends before the probe writes (1 in 3-5)
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        tree = Tree(dom.split("<body>", 1)[1].split("</body>")[0]) if "<body>" in dom else None
        result = [text for attrs, text in tree.find("pre") if attrs.get("id") == "result"]
        if result and result[0]:
            break
    assert result and result[0], f"the probe did not finish: {dom[-2000:]}"
    return json.loads(result[0])


@pytest.mark.parametrize("embed", [False, True], ids=["relative", "embedded"])
def test_players_in_chromium(tmp_path, embed):
    browser()
    report = make_report(audio_rows(tmp_path))
    page = write_report(report, tmp_path / "report", embed_audio=embed)["html"]
    res = run_in_browser(page, tmp_path)
    assert res["players"] == len(ROWS) and not res["errors"]
    durations = [u["duration"] for u in report["utterances"]]
    assert res["durations"] == pytest.approx(durations, abs=0.05)  # every player's audio loads
    # clicking a word plays from its start, and the page's script marks it
    last = report["utterances"][0]["times"][-1]
    assert res["time"] == pytest.approx(last[0], abs=0.01)
    assert res["now"] == [res["clicked"]] == ["BX"]  # s2-2: B X against X X, the second box
