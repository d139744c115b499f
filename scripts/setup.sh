#!/usr/bin/env bash
# Installs the toolkit into .venv (idempotent). Used by the README's two commands and by CI.
#   TORCH_SPEC   torch requirement installed first (default: the CPU build torch==2.13.0;
#                set e.g. TORCH_SPEC="torch" on a GPU machine to get the CUDA build)
#   ASR_VENV     where the virtual environment lives (default: <repo>/.venv)
#   ASR_KENLM=1  also build KenLM's lmplz and build_binary into it (scripts/build_kenlm.sh; off
#                by default: 'asr lm build' has its own estimator)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ASR_VENV:-$root/.venv}"
torch_spec="${TORCH_SPEC:-torch==2.13.0}"
stamp="$venv/.asr-installed"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  echo "[setup] installing into $venv (torch: $torch_spec)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip 2>&1 | grep -v WARNING || true
  "$venv/bin/pip" install -q "$torch_spec" 2>&1 | grep -v WARNING || true
  "$venv/bin/pip" install -q -e "$root[dev]" 2>&1 | grep -v WARNING || true
  "$venv/bin/python" -c "import torch, lightning, librosa, jiwer, soundfile" \
    || { echo "[setup] install failed" >&2; exit 1; }
  touch "$stamp"
fi
if ! command -v espeak-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing espeak-ng (apt-get)"
    (apt-get update -qq && apt-get install -y -qq espeak-ng) >/dev/null 2>&1 \
      || echo "[setup] apt-get install espeak-ng failed" >&2
  fi
  command -v espeak-ng >/dev/null 2>&1 || echo "[setup] espeak-ng is not installed: 'asr synth' needs it." \
    "Install it with your package manager (Debian/Ubuntu: sudo apt-get install espeak-ng;" \
    "macOS: brew install espeak-ng) and run again." >&2
fi
if [ "${ASR_KENLM:-0}" = 1 ]; then
  ASR_VENV="$venv" bash "$root/scripts/build_kenlm.sh"
fi
