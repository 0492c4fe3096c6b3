"""A study with a pairwise judge: the offline teacher compares every scale's answers with the
base model's in both orders; the report writes pairwise.csv; a rerun asks nothing again."""

from __future__ import annotations

import csv
import json

import pytest

from instructscale.errors import ConfigError
from instructscale.study import Study, load_study
from tests.study.test_study_run import TINY_STUDY, write_study

PAIRWISE = {"name": "pairwise", "kind": "pairwise", "options": {"against": "0", "prompts": "en"}}


def test_study_with_a_pairwise_judge_against_the_base_model(tmp_path):
    path = write_study(tmp_path, judges=[*TINY_STUDY["judges"], PAIRWISE])
    first = dict(Study(load_study(path), source=str(path)).run())
    assert first["judge:pairwise"] == "ran" and first["report"] == "ran"
    run_dir = tmp_path / "run"
    index = json.loads((run_dir / "index.json").read_text())
    assert index["pairwise"] == {"pairwise": "pairwise/pairwise.jsonl"} and "pairwise" not in index["judgements"]
    items = len((run_dir / "eval" / "eval.jsonl").read_text().splitlines())
    rows = [json.loads(line) for line in (run_dir / "pairwise" / "pairwise.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * items  # 2 tuned scales x 2 orders x items; scale 0 is the reference
    assert {r["against"] for r in rows} == {"scale_0"} and {r["model"] for r in rows} == {"scale_20", "scale_50"}
    assert all(r["verdict"] in ("win", "loss", "tie") for r in rows)
    with open(run_dir / "report" / "pairwise.csv", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert {(r["category"], r["scale"]) for r in table} >= {("all", "20"), ("all", "50")}
    summary = json.loads((run_dir / "manifests" / "judge__pairwise.json").read_text())["summary"]
    assert summary["judgements"] == len(rows) and summary["unscored"] == 0 and summary["incomplete"] is None
    again = dict(Study(load_study(path), source=str(path)).run())
    assert set(again.values()) == {"skipped"}


def test_a_pairwise_option_typo_is_named_before_any_work(tmp_path):
    path = write_study(tmp_path, judges=[{**PAIRWISE, "options": {"agianst": "0"}}])
    with pytest.raises(ConfigError, match=r"judges\.0\.options\.agianst: unknown key; did you mean 'against'\?"):
        Study(load_study(path), source=str(path)).stage_configs()
