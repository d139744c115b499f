"""The benchmark scripts run (their figures are printed, never asserted on)."""

import json
import subprocess
import sys

import pytest
from conftest import REPO, make_librispeech

BASELINE = REPO.parent / "shared" / "bench" / "ds2_baseline" / "baseline.py"


@pytest.mark.slow
@pytest.mark.parametrize("baseline", [False, pytest.param(True, marks=pytest.mark.skipif(
    not BASELINE.is_file(), reason="../shared/bench/ds2_baseline is not here"))])
def test_bench_train_measures_both_pipelines_on_the_same_utterances(tmp_path, baseline):
    corpus = make_librispeech(tmp_path / "corpus", speakers=2, utts=6)
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(REPO / "scripts" / "bench_train.py"), "--corpus", str(corpus),
           "--utterances", "10", "--warmup", "1", "--json", str(out), "--baseline-steps", "1",
           "--baseline-batch-size", "2", "model.hidden=16", "model.layers=1",
           "data.max_batch_seconds=6", "data.num_workers=0"]
    proc = subprocess.run(cmd + ([] if baseline else ["--no-baseline"]), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    ours = result["ours"]
    assert result["utterances"] == 10 and ours["steps"] >= 1
    assert 0 < ours["audio_seconds"] <= 10 * 2.5 and ours["audio_seconds_per_second"] > 0
    assert 0 <= ours["data_wait_fraction"] < 1 and 0 <= ours["padding_fraction"] < 1
    assert "asr" in proc.stdout
    if baseline:
        assert result["baseline"]["corpus_utterances"] == 10  # the same utterances
        assert result["ratio"] > 0 and "ours / baseline" in proc.stdout
