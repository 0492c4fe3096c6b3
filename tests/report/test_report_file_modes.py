"""Outputs get the mode the umask allows (0644 under 022), not mkstemp's owner-only 0600, so
a report can be shared through a group folder or a web server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.report import ReportConfig, build_report
from report_synth import make_run


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mask, expect", [(0o022, 0o644), (0o027, 0o640)])
def test_report_and_export_files_follow_the_umask(tmp_path, tiny_pool_path, umask, mask, expect):
    umask(mask)
    run = make_run(tmp_path / "run")
    build_report(ReportConfig(run_dir=run, bootstrap_samples=100))
    result = CliRunner().invoke(app, ["export", str(tiny_pool_path), "--out", str(tmp_path / "lf"),
                                      "--format", "llamafactory"])
    assert result.exit_code == 0, result.output
    modes = {**_modes(run), **{f"lf/{k}": v for k, v in _modes(tmp_path / "lf").items()}}
    for name in ("report/report.html", "report/scores.csv", "report/scores.json", "report/scores.md",
                 "eval.jsonl", "lf/dataset_info.json"):
        assert name in modes, sorted(modes)
    assert {k: oct(v) for k, v in modes.items() if v != expect} == {}
