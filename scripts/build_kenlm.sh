#!/usr/bin/env bash
# Builds KenLM's lmplz, build_binary and query from the kenlm source distribution on PyPI and
# installs them into the venv's bin, where 'asr lm build' finds them (idempotent: skips when
# they are installed and work). Optional: without them 'asr lm build' uses its own estimator.
# Needs cmake, a C++ compiler, Boost and zlib; as root it apt-get installs what is missing.
#   ASR_VENV          the virtual environment (default: <repo>/.venv, made by scripts/setup.sh)
#   KENLM_VERSION     the kenlm sdist taken from PyPI (default: 0.3.0)
#   KENLM_MAX_ORDER   highest n-gram order the binaries handle (default: 6)
#   KENLM_JOBS        parallel compile jobs (default: the number of cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ASR_VENV:-$root/.venv}"
version="${KENLM_VERSION:-0.3.0}"
max_order="${KENLM_MAX_ORDER:-6}"
jobs="${KENLM_JOBS:-$(nproc 2>/dev/null || echo 1)}"
bin="$venv/bin"
tools=(lmplz build_binary query)
stamp="$bin/.kenlm-built"
want="kenlm $version max_order $max_order"
say() { echo "[build_kenlm] $*" >&2; }

[ -x "$venv/bin/python" ] || { say "no venv at $venv: run scripts/setup.sh first"; exit 1; }

works() {  # the installed tools estimate, binarise and query a tiny LM
  local d rc=0
  d="$(mktemp -d)"
  printf 'A B C\nA B\nB C A\nC A\n' >"$d/text"
  "$bin/lmplz" -o 3 --discount_fallback -S 100M -T "$d" <"$d/text" >"$d/lm.arpa" 2>/dev/null \
    && "$bin/build_binary" "$d/lm.arpa" "$d/lm.bin" >/dev/null 2>&1 \
    && echo "A B C" | "$bin/query" "$d/lm.bin" >/dev/null 2>&1 || rc=1
  rm -rf "$d"
  return "$rc"
}

if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && works; then
  say "${tools[*]} ($want) already in $bin"
  exit 0
fi

# build dependencies: tools by command, libraries by Debian package (elsewhere cmake reports them)
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in libboost-program-options-dev libboost-system-dev libboost-thread-dev \
    libboost-test-dev zlib1g-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    say "missing build dependencies: ${missing[*]}" \
      "(Debian/Ubuntu: sudo apt-get install ${missing[*]}); run again"
    exit 1
  fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
say "downloading kenlm $version (PyPI source distribution)"
# --no-binary kenlm: the sdist (the full C++ tree); pip reads its metadata with the venv's
# setuptools if it has one, else in a build environment of wheels
isolation=(--no-build-isolation)
"$venv/bin/python" -c "import setuptools" 2>/dev/null || isolation=()
"$venv/bin/python" -m pip download -q --no-deps --no-binary kenlm \
  ${isolation[@]+"${isolation[@]}"} -d "$tmp" "kenlm==$version" 2>&1 | grep -v WARNING >&2 || true
sdists=("$tmp"/kenlm-*.tar.gz)
sdist="${sdists[0]}"
[ -f "$sdist" ] || { say "pip download kenlm==$version failed"; exit 1; }
tar -xzf "$sdist" -C "$tmp"
src="${sdist%.tar.gz}"
[ -f "$src/lm/builder/lmplz_main.cc" ] || { say "$sdist has no lm/builder sources"; exit 1; }

say "building ${tools[*]} (KENLM_MAX_ORDER=$max_order, $jobs jobs)"
cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER="$max_order" \
  >"$tmp/cmake.log" 2>&1 || { tail -n 20 "$tmp/cmake.log" >&2; say "cmake failed"; exit 1; }
cmake --build "$tmp/build" --target "${tools[@]}" -j "$jobs" >"$tmp/build.log" 2>&1 \
  || { tail -n 20 "$tmp/build.log" >&2; say "build failed"; exit 1; }
for tool in "${tools[@]}"; do
  install -m 755 "$tmp/build/bin/$tool" "$bin/$tool"
done
works || { say "the built tools do not run"; exit 1; }
echo "$want" >"$stamp"
say "installed ${tools[*]} into $bin"
