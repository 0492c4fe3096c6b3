"""`instructscale respond` through the real typer app."""

from __future__ import annotations

from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_jsonl_resumable


def test_cli_answers_with_named_models_and_resumes(tiny_base_model, eval_path, tmp_path):
    out = tmp_path / "out.jsonl"
    base = tiny_base_model("gpt2")
    args = ["respond", "--model", f"tiny={base}", "--model", str(base), "--eval", str(eval_path), "--out", str(out),
            "--preset", "greedy", "--max-new-tokens", "6", "--batch-size", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_jsonl_resumable(out)[0]
    assert {r["model"] for r in rows} == {"tiny", base.name} and len(rows) == 12
    assert all(r["settings"]["max_new_tokens"] == 6 and not r["settings"]["do_sample"] for r in rows)
    assert "12 new, 0 resumed" in result.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "0 new, 12 resumed" in again.output


def test_cli_reports_user_errors_without_traceback(tiny_base_model, eval_path, tmp_path):
    base = str(tiny_base_model("gpt2"))
    common = ["respond", "--eval", str(eval_path), "--out", str(tmp_path / "o.jsonl")]
    for extra, message in [(["--model", base, "--preset", "hot"], "unknown generation preset"),
                           (["--model", base, "--backend", "tgi"], "backend"),
                           (["--model", str(tmp_path / "missing")], "missing: no such file or folder"),
                           (["--model", base, "--template", "{instruction} {answer}"], "not a valid format string")]:
        result = CliRunner().invoke(app, common + extra)
        assert result.exit_code == 2, (extra, result.output)
        text = " ".join(result.output.replace("│", " ").split())  # the error may be drawn in a box
        assert message in text and "Traceback" not in text
