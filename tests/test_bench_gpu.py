"""scripts/bench_gpu.sh: the GPU benchmark, run here on the CPU at tiny sizes (its figures are
printed, never asserted on: only that every stage ran and reported)."""

import json
import re
import subprocess

import pytest
from conftest import REPO

SCRIPT = REPO / "scripts" / "bench_gpu.sh"
SHARED = REPO.parent / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "bench" / "ds2_baseline" / "baseline.py").is_file(),
    reason="../shared/bench (the baseline and the noise corpus) is not here")


def run(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option --bogus"),
    (["--utterances", "3"], "--utterances: need 8 or more"),
    (["--out"], "--out needs a value"),
    (["--shared", "/nonexistent"], "/nonexistent/bench/noise_corpus.py not found"),
])
def test_bad_options_stop_with_one_line(tmp_path, args, message):
    proc = run(*args, "--out", str(tmp_path / "out")) if args != ["--out"] else run(*args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


@needs_shared
def test_cuda_requested_without_a_gpu_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    proc = run("--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "no CUDA device visible" in proc.stderr


@pytest.mark.slow
@needs_shared
def test_tiny_run_on_the_cpu_measures_every_stage(tmp_path):
    out = tmp_path / "out"
    proc = run("--tiny", "--device", "cpu", "--out", str(out), "--utterances", "8",
               timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for config, baseline in (("librispeech", "small"), ("mini", "small")):
        result = json.loads((out / f"{config}.json").read_text())
        ours = result["ours"]
        assert result["utterances"] == 8 and result["baseline"]["model"] == baseline
        assert ours["audio_seconds_per_second"] > 0 and ours["ceiling_audio_seconds_per_second"] > 0
        assert ours["efficiency"] == pytest.approx(
            ours["audio_seconds_per_second"] / ours["ceiling_audio_seconds_per_second"], rel=0.01)
    assert json.loads((out / "librispeech.json").read_text())["ours"]["precision"] == "bf16-mixed"
    rows = [line for line in (out / "summary.md").read_text().splitlines()
            if re.match(r"\| (librispeech|mini) \|", line)]
    assert len(rows) == 2 and all(" min |" in row for row in rows)
    evaluated = json.loads((out / "roundtrip" / "eval" / "wer.json").read_text())
    assert evaluated["utterances"] == 1  # --utterances 8: 1 for dev, 7 to train on
    assert (out / "roundtrip" / "transcript.txt").is_file()
    assert "Round trip on cpu" in proc.stdout
