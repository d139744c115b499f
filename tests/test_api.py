"""The Python API (`import asr`): the README's "Python" snippet, run as it is written."""

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from asr.cli import main
from asr.data.manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]
# the files the snippet names, relative to the directory it runs in
PLACEHOLDERS = ("exp/checkpoints/best.ckpt", "talk.flac", "data/test.jsonl", "exp/eval_test")


def readme_snippet() -> str:
    """The first ```python block of the README's "## Python" section."""
    section = REPO.joinpath("README.md").read_text().split("\n## Python\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_snippet(trained, tmp_path, monkeypatch, capsys):
    """The snippet runs unchanged in a directory holding the files it names: the trained tiny
    checkpoint as exp/checkpoints/best.ckpt, a validation utterance as talk.flac, the validation
    manifest as data/test.jsonl. Its transcript is the `asr transcribe --format json` object."""
    ckpt, val = trained
    snippet = readme_snippet()
    assert all(f'"{p}"' in snippet for p in PLACEHOLDERS), snippet
    (tmp_path / "exp" / "checkpoints").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    shutil.copy(ckpt, tmp_path / "exp" / "checkpoints" / "best.ckpt")
    shutil.copy(read_manifest(val)[0]["audio"], tmp_path / "talk.flac")
    shutil.copy(val, tmp_path / "data" / "test.jsonl")
    monkeypatch.chdir(tmp_path)

    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md (## Python)", "exec"), scope)
    printed = out.getvalue()
    result, summary = scope["result"], scope["summary"]
    assert printed.startswith(f"{result.text}\n") and "WER " in printed

    capsys.readouterr()
    args = ["transcribe", "talk.flac", "--checkpoint", "exp/checkpoints/best.ckpt", "--json"]
    assert main(args) == 0
    assert [result.to_dict()] == json.loads(capsys.readouterr().out)
    assert scope["beam"].decoder == "beam"

    wer = json.loads((tmp_path / "exp" / "eval_test" / "wer.json").read_text())
    assert summary == wer and summary["utterances"] == len(read_manifest(val))
    assert summary["checkpoint"]["path"] == "exp/checkpoints/best.ckpt"


def test_import_asr_is_light():
    """`import asr` loads neither torch nor Lightning; `asr.load_model` then works."""
    code = (
        "import sys, asr; heavy = [m for m in ('torch', 'lightning') if m in sys.modules]; "
        "assert not heavy, heavy; assert all(callable(f) for f in (asr.load_model, asr.evaluate, "
        "asr.transcribe)); "
        "assert set(asr.__all__) <= set(dir(asr)); print(asr.__version__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr


def test_inference_never_imports_lightning(trained, tmp_path):
    """Loading, transcribing, evaluating and reporting, from Python and through `asr transcribe`
    and `asr evaluate --report`, import no Lightning; ``asr.transcribe`` is a function, also
    once ``asr.recognizer`` is imported."""
    ckpt, val = trained
    audio = read_manifest(val)[0]["audio"]
    code = f"""
import sys, asr, asr.recognizer
model = asr.load_model({str(ckpt)!r})
one = asr.transcribe(model, {audio!r}, chunk_seconds=1.0, overlap_seconds=0.2)
assert one == model.transcribe({audio!r}, chunk_seconds=1.0, overlap_seconds=0.2)
asr.evaluate(model, {str(val)!r}, {str(tmp_path / "eval")!r}, decoder="greedy")
from asr.report import report_from_eval_dir
report_from_eval_dir({str(tmp_path / "eval")!r}, {str(tmp_path / "report")!r}, None)
from asr.cli import main
assert main(["transcribe", {audio!r}, "--checkpoint", {str(ckpt)!r}]) == 0
assert main(["evaluate", "--checkpoint", {str(ckpt)!r}, "--manifest", {str(val)!r},
             "--out-dir", {str(tmp_path / "cli")!r}, "--report", {str(tmp_path / "cli")!r}]) == 0
print(sorted(m for m in sys.modules if "lightning" in m))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
