# The two commands a new user types: `make demo` and `make test`. Each one sets itself up.
.PHONY: setup demo test test-slow clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/instructscale demo run

test: setup
	.venv/bin/python -m pytest -q

test-slow: setup
	.venv/bin/python -m pytest -q -m slow

clean:
	rm -rf .venv runs/demo
