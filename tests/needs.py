"""Tests that need an optional tool or package (Chromium, the packaged SmolLM2, llama.cpp's
server, lm-eval, MLflow, a bubblewrap sandbox) skip with the install command where it is
missing. CI installs them all and lists them in INSTRUCTSCALE_REQUIRED_DEPS, where a
missing one fails instead: a skip there would hide that the test never ran."""

from __future__ import annotations

import importlib.util
import os

import pytest

REQUIRED_ENV = "INSTRUCTSCALE_REQUIRED_DEPS"


def needs(dep: str, available: bool, install: str):
    """A skip mark for use as `pytestmark`; fails the module where `dep` is required."""
    if not available and dep in os.environ.get(REQUIRED_ENV, "").split():
        pytest.fail(f"{dep} is missing but {REQUIRED_ENV} requires it ({install})", pytrace=False)
    return pytest.mark.skipif(not available, reason=f"needs {dep}: {install}")


def needs_module(module: str, install: str):
    """`needs` for an optional Python package, by its import name."""
    return needs(module, importlib.util.find_spec(module) is not None, install)


def needs_sandbox():
    """`needs` for a working bubblewrap sandbox (installed, and allowed by the kernel here)."""
    from instructscale.judge.sandbox import sandbox_problem

    problem = sandbox_problem()
    return needs("bwrap", problem is None, f"apt-get install bubblewrap (as root: make setup-full); here: {problem}")
