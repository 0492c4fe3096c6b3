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


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _with_teacher(tmp_path, url, **changes):
    return write_study(tmp_path, teacher={"offline_demo": False, "base_url": url, "model": "m", "concurrency": 2,
                                          "timeout_s": 5, "max_attempts": 5}, **changes)


def _invoke(path, *args):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    return CliRunner().invoke(app, ["study", "run", str(path), *args])


def test_a_closed_teacher_port_fails_the_preflight_naming_server_setting_and_unit_before_any_work(tmp_path):
    url = _closed_port_url()
    path = _with_teacher(tmp_path, url)
    result = _invoke(path)
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert f"{path}: teacher (unit pool): server {url} does not answer" in flat
    assert f"judges.0 (unit judge:teacher): server {url} does not answer" not in flat  # one line per server
    assert not (tmp_path / "run" / "manifests").exists()  # not even the eval set was built


def test_without_preflight_a_server_that_never_answers_stops_the_pool_before_10_requests(fake_server, tmp_path):
    from instructscale.llm.fake_server import Fault

    srv = fake_server(["never sent"])
    srv.always(Fault.drop())  # every connection closed unanswered
    path = _with_teacher(tmp_path, srv.base_url)
    result = _invoke(path, "--no-preflight")
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert f"pool: server {srv.base_url} (model m) did not answer 8 attempts in a row" in flat
    assert srv.request_count < 10  # 6 generation requests x 5 attempts would be 30, a 2M pool's 1M
    study = Study(load_study(path), source=str(path))
    pool = next(u for u in study.units() if u.name == "pool")
    assert study.ledger.state(pool) == "partial" and "did not answer" in study.ledger.read(pool)["summary"]["incomplete"]


def test_a_base_model_typo_fails_before_the_eval_set_and_pool_naming_the_setting(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    from huggingface_hub import constants

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
    from fake_hub import FakeHub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # an empty cache
    with FakeHub() as hub:
        hub.repos[("model", "bigscience/bloomz-7b1-mt")] = {}
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        typo = write_study(tmp_path, base_model={"path": "bigscence/bloomz-7b1-mt"})
        result = _invoke(typo)
        assert result.exit_code != 0
        assert (f"{typo}: base_model.path: 'bigscence/bloomz-7b1-mt' is not a model on the Hub ({hub.url}), or it "
                "is private: a typo?") in " ".join(result.output.split())
        assert not (tmp_path / "run" / "manifests").exists()
        from instructscale.study.preflight import check_base_model

        assert check_base_model("bigscience/bloomz-7b1-mt", network=True) is None
        assert "no such file or folder" in check_base_model(str(tmp_path / "models" / "mine"), network=True)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        assert "HF_HUB_OFFLINE is set" in check_base_model("bigscience/bloomz-7b1-mt", network=True)


def test_a_missing_eval_set_is_named_with_where_it_comes_from_by_run_and_status(tmp_path):
    from typer.testing import CliRunner

    from instructscale.cli.main import app

    path = write_study(tmp_path, eval={"path": str(tmp_path / "eval_set.jsonl")})
    status = CliRunner().invoke(app, ["study", "status", str(path)])
    assert status.exit_code == 0, status.output
    for output in (status.output, _invoke(path).output):
        flat = " ".join(output.split())
        assert f"eval.path: {tmp_path / 'eval_set.jsonl'} does not exist; get the study's public release" in flat
        assert "evalset build" in flat
