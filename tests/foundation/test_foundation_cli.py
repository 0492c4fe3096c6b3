"""The command line: help, version, the module entry point, and errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from instructscale import __version__
from instructscale.cli.main import app

def flat(text: str) -> str:
    """Output without the error panel's frame and line wrapping, for substring checks."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")


GROUPS = ("evalset", "generate", "subsets", "train", "respond", "judge", "report", "study", "demo")


def test_help_lists_every_stage_and_version_prints():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in GROUPS:
        assert group in result.output
    assert CliRunner().invoke(app, ["--version"]).output.strip() == f"instructscale {__version__}"


@pytest.mark.parametrize("group", GROUPS)
def test_every_stage_has_help(group):
    result = CliRunner().invoke(app, [group, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_user_errors_exit_2_without_a_traceback(tmp_path):
    missing = tmp_path / "nope.jsonl"
    result = CliRunner().invoke(app, ["evalset", "stats", str(missing)])
    assert result.exit_code == 2 and flat(f"{missing}: file not found") in flat(result.output) and "Traceback" not in result.output


def test_module_entry_point_runs_in_a_fresh_interpreter(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "instructscale", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "study" in proc.stdout
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "instructscale", "evalset", "stats", str(tmp_path / "empty.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and flat("empty.jsonl: file is empty") in flat(proc.stderr) and "Traceback" not in proc.stderr
