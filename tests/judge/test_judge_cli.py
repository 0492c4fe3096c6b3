"""`instructscale judge` end to end through the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from instructscale.cli.main import app

runner = CliRunner()


def _args(judge_inputs, tmp_path, *extra):
    eval_path, resp_path = judge_inputs
    return ["judge", "--eval", str(eval_path), "--responses", str(resp_path), "--out", str(tmp_path / "out.jsonl"),
            *extra]


def test_llm_judge_prints_table_and_resumes(fake_server, judge_inputs, tmp_path):
    srv = fake_server(lambda body: "不错。得分：0.5" if "天空" not in body["messages"][1]["content"] else "无法评分")
    args = _args(judge_inputs, tmp_path, "--base-url", srv.base_url, "--judge-model", "fake-judge",
                 "--repeats", "2", "--reasks", "1", "--concurrency", "3")
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "translation" in res.output and "0.500" in res.output
    assert "16 judgements" in " ".join(res.output.split()) and "4 unscored" in res.output
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and {r["judge"] for r in rows} == {"fake-judge"}
    first = srv.request_count
    assert first == 12 + 4 * 2  # 12 scored answers + o1's 4 judgements asked twice
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and srv.request_count == first and "16 resumed" in " ".join(res.output.split())


def test_dry_run_and_reference_scorer(fake_server, judge_inputs, tmp_path):
    srv = fake_server(["得分: 1"])
    res = runner.invoke(app, _args(judge_inputs, tmp_path, "--base-url", srv.base_url, "--judge-model", "gpt-4o",
                                   "--dry-run"))
    assert res.exit_code == 0 and srv.request_count == 0
    assert "24 judgements to do" in res.output and "$" in res.output
    res = runner.invoke(app, _args(judge_inputs, tmp_path, "--scorer", "reference"))
    assert res.exit_code == 0 and "judge: reference" in res.output and "2 unscored" in res.output


def test_user_errors_exit_2_without_traceback(judge_inputs, tmp_path):
    res = runner.invoke(app, _args(judge_inputs, tmp_path, "--scorer", "vibes"))
    assert res.exit_code == 2 and "--scorer must be llm or reference" in res.output
    res = runner.invoke(app, _args(judge_inputs, tmp_path, "--prompts", str(tmp_path / "nope.yaml"), "--dry-run"))
    assert res.exit_code == 2 and "nope.yaml" in res.output and "Traceback" not in res.output


def test_two_different_responses_for_one_item_model_and_sample_are_an_error_not_a_silent_pick(judge_inputs,
                                                                                                tmp_path):
    eval_path, resp_path = judge_inputs
    second = tmp_path / "more.jsonl"
    second.write_text(json.dumps({"item_id": "m1", "model": "small", "response": "small 的回答：8个"}) + "\n"
                      + json.dumps({"item_id": "m1", "model": "small", "response": "另一个回答：9个"}) + "\n",
                      encoding="utf-8")  # line 1 repeats resp_path's answer word for word: a harmless copy
    res = runner.invoke(app, [*_args(judge_inputs, tmp_path, "--scorer", "reference"), "--responses", str(second)])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert (f"{second}, line 2, field 'response': a second, different response of model 'small' to item 'm1' "
            f"(sample 0); the first is at {resp_path}, line 1") in text
    assert not (tmp_path / "out.jsonl").exists()
    second.write_text(second.read_text().splitlines()[0] + "\n", encoding="utf-8")  # only the copy is left
    res = runner.invoke(app, [*_args(judge_inputs, tmp_path, "--scorer", "reference"), "--responses", str(second)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and len({(r["model"], r["item_id"]) for r in rows}) == 8
