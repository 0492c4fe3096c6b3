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


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from _commands(sub, (*path, name))


def _option_block(help_text: str, option: str) -> str:
    """The lines of `option`'s entry in plain help: its first line up to the next option."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(option + " ")
                 or line.lstrip().startswith(option + ",") or line.strip() == option)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("-")), len(lines))
    return " ".join(" ".join(lines[start:end]).split())


def test_every_help_shows_defaults_and_readable_placeholders():
    """Each option with a default shows it; `[default: ...]` and `[extra]` written in help strings
    survive; placeholders are <int>, <path>, ARG, never Python types."""
    import typer.main

    root = typer.main.get_command(app)
    checked = 0
    for path, command in _commands(root):
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        text = result.output
        assert not any(leak in text for leak in ("range>", "list[", "<bool>")), (path, text)
        assert "{" not in text.splitlines()[0], (path, text)
        for param in command.params:
            if param.param_type_name != "option" or param.hidden or "--help" in param.opts:
                continue
            block = _option_block(text, param.opts[0])
            help_string = " ".join((param.help or "").split())
            assert help_string.split(" [default:")[0].split(" (")[0] in block, (path, param.opts, block)
            if "[default:" in help_string or (param.default not in (None, False, (), []) and param.show_default
                                              is not False and not param.is_flag):
                assert "[default: " in block, (path, param.opts, block)
                checked += 1
    assert checked > 50
    bench = " ".join(CliRunner().invoke(app, ["benchmark", "--help"]).output.split())
    assert "pip install 'instructscale[lmeval]'" in bench
    train = " ".join(CliRunner().invoke(app, ["train", "--help"]).output.split())
    assert "--epochs <float> [default: replica 2, demo 3]" in train
    assert "Usage: instructscale report [OPTIONS] RUN_DIR" in " ".join(
        CliRunner().invoke(app, ["report", "--help"], prog_name="instructscale").output.split())
