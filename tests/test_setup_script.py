"""scripts/setup.sh: which extras and synthesizers it installs, and when it installs again.

The venv is a fake one whose pip and python only log their arguments, so nothing is installed."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("pip", "python"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/calls.log"\n')
        script.chmod(0o755)
    return tmp_path / "venv"


def run_setup(venv: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Runs setup.sh on the fake venv; returns the process and what each pip install of the
    package installed besides torch (the project and its extras)."""
    log = venv.parent / "calls.log"
    log.unlink(missing_ok=True)
    environ = {"PATH": os.environ["PATH"], "HOME": str(venv.parent), "ASR_VENV": str(venv), **env}
    proc = subprocess.run(["bash", str(ROOT / "scripts/setup.sh")], env=environ,
                          capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    prefix = "pip install -q --no-compile torch==2.13.0 -e "
    return proc, [c[len(prefix):] for c in calls if c.startswith(prefix)]


def test_extras_are_installed_once_and_added_to(venv: Path) -> None:
    # the main job's set-up: no extras, no synthesizer asked for here
    proc, installs = run_setup(venv, ASR_EXTRAS="", ASR_ENGINES="")
    assert proc.returncode == 0, proc.stderr
    assert installs == [f"{ROOT}"]
    assert "extras: none" in proc.stdout
    # the same again: nothing to do
    assert run_setup(venv, ASR_EXTRAS="", ASR_ENGINES="")[1] == []
    # the tests' set-up (the default extras) installs them on top
    proc, installs = run_setup(venv, ASR_ENGINES="")
    assert installs == [f"{ROOT}[dev,augment,bpe]"]
    assert (venv / ".asr-installed").read_text().strip() == "dev,augment,bpe"
    # asking for fewer than are there installs nothing; one more installs the union
    assert run_setup(venv, ASR_EXTRAS="bpe", ASR_ENGINES="")[1] == []
    proc, installs = run_setup(venv, ASR_EXTRAS="export", ASR_ENGINES="")
    assert installs == [f"{ROOT}[dev,augment,bpe,export]"]


def test_a_stale_stamp_installs_again(venv: Path) -> None:
    assert run_setup(venv, ASR_EXTRAS="bpe", ASR_ENGINES="")[1]
    stamp = venv / ".asr-installed"
    old = (ROOT / "pyproject.toml").stat().st_mtime - 10
    os.utime(stamp, (old, old))  # pyproject.toml is newer than the install
    assert run_setup(venv, ASR_EXTRAS="bpe", ASR_ENGINES="")[1] == [f"{ROOT}[bpe]"]


def test_an_unknown_engine_is_refused_by_name(venv: Path) -> None:
    proc, _ = run_setup(venv, ASR_EXTRAS="", ASR_ENGINES="espeak-ng nosuch")
    assert proc.returncode == 1
    assert "ASR_ENGINES: unknown engine 'nosuch'" in proc.stderr
