"""`study run --force` of a small study on the same machine reproduces its numbers exactly:
every stage reruns (generation, training, responses, judging, report) and scores.csv and the
CIs in scores_long.csv come out byte-identical."""

import json
import re

from tiny import write_tiny_study
from typer.testing import CliRunner

from instructscale.cli.main import app


# two full study runs: about 30 s on an idle 2-core machine
def test_study_run_force_gives_identical_scores(tmp_path):
    path = write_tiny_study(tmp_path)
    report = tmp_path / "run" / "report"
    first = CliRunner().invoke(app, ["study", "run", str(path)])
    assert first.exit_code == 0, first.output
    before = {name: (report / name).read_bytes() for name in ("scores.csv", "scores_long.csv")}
    again = CliRunner().invoke(app, ["study", "run", str(path), "--force"])
    assert again.exit_code == 0, again.output
    assert re.search(r"\b0 skipped", again.output), again.output  # everything really ran again
    for unit in ("respond__35", "judge__teacher"):  # from scratch, not resumed from the first run's files
        summary = json.loads((tmp_path / "run" / "manifests" / f"{unit}.json").read_text(encoding="utf-8"))["summary"]
        assert summary["resumed"] == 0 and summary["new"] > 0, summary
    assert {name: (report / name).read_bytes() for name in before} == before
