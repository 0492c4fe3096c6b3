"""Work a study must not start or must not lose: checks before the first unit, a server
that does not answer, a generation stopped at its request cap."""

from __future__ import annotations

import pytest

from instructscale.datafiles import read_jsonl_resumable
from instructscale.study import Study, load_study
from instructscale.study.units import StudyIncompleteError

from test_study_run import TINY_STUDY, write_study


def test_generation_stopped_at_its_request_cap_is_partial_and_the_next_run_continues_it(tmp_path):
    generate = {**TINY_STUDY["data"]["generate"], "max_requests": 2}  # 2 requests x 10 tasks: < 60 per run
    path = write_study(tmp_path, data={"generate": generate})
    kept = []
    for _ in range(8):
        study = Study(load_study(path), source=str(path))
        pool = next(u for u in study.units() if u.name == "pool")
        try:
            study.run(only=["pool"])
        except StudyIncompleteError as exc:
            assert "request cap of 2 requests" in str(exc) and study.ledger.state(pool) == "partial"
        rows, _ = read_jsonl_resumable(study.layout.pool_path)
        kept.append(len(rows))
        if study.ledger.state(pool) == "done":
            break
    assert kept[0] < 60 and kept == sorted(set(kept))  # every rerun went on from the kept examples
    assert kept[-1] == 60 and study.ledger.read(pool)["summary"]["reached_target"]


def test_study_run_writes_its_log_with_plain_progress_lines_to_the_run_directory(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    monkeypatch.setenv("INSTRUCTSCALE_PROGRESS_EVERY", "0")
    path = write_study(tmp_path)
    result = CliRunner().invoke(app, ["study", "run", str(path), "--only", "eval,pool"])
    assert result.exit_code == 0, result.output
    log = (tmp_path / "run" / "study.log").read_text(encoding="utf-8")
    lines = [line for line in log.splitlines() if line.startswith("generate: ")]
    assert len(lines) >= 2 and lines[-1].startswith("generate: 60/60 (100.0%), ") and "kept 60" in lines[-1]
    assert "offline demo teacher on http://127.0.0.1:" in log and "\x1b" not in log


@pytest.mark.parametrize("sizes, message", [
    ([-200, 600], "-200 is not a size"),
    ([0.1, 0.5, 1.5], "1.5 is not a size"),
    ([600, 200], "must increase: the subsets are nested"),
])
def test_bad_subset_sizes_fail_when_the_file_is_loaded_naming_file_line_and_field(tmp_path, sizes, message):
    from instructscale.errors import ConfigError

    path = write_study(tmp_path, subsets={"sizes": sizes})
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("sizes:"))
    with pytest.raises(ConfigError) as info:
        load_study(path)
    assert str(info.value).startswith(f"{path}, line {line}: subsets.sizes: ") and message in str(info.value)
