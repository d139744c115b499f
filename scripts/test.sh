#!/usr/bin/env bash
# The README's test command (and CI's): installs what it needs (scripts/setup.sh), lints, runs ALL
# the tests, fast and slow.
#   bash scripts/test.sh [pytest arguments]      e.g. -k resume, -m slow, -x
# Plain `pytest` runs only the fast tests (pyproject.toml adds -m "not slow"); `pytest -m slow` the
# slow ones (end to end: training, recipes, beam search; over ~10 s each, a few minutes in all).
# Here -m "slow or not slow" selects both; a -m among the arguments replaces it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ASR_TEST_TOOLS=1 bash scripts/setup.sh  # also the encoders and browser the tests use
venv="${ASR_VENV:-$root/.venv}"
"$venv/bin/ruff" check asr tests scripts
# librosa's numba gufuncs (compiled when these modules are imported, cached in the venv) are
# compiled once here, in one process: two processes compiling them at the same time can leave a
# cache that crashes the next process that loads it (numba issue #10128; seen once in a fresh
# clone, a segfault in librosa.pyin of test_synth_engines). About 30 s once, then cached.
"$venv/bin/python" -c "import librosa.util.utils, librosa.beat, librosa.core.audio, librosa.core.pitch"
"$venv/bin/python" -m pytest -q -m "slow or not slow" "$@"
