#!/usr/bin/env bash
# The README's test command: installs what it needs (scripts/setup.sh), lints, runs the tests.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
venv="${ASR_VENV:-$root/.venv}"
"$venv/bin/ruff" check asr tests scripts
"$venv/bin/python" -m pytest -q "$@"
