"""Property: any byte string given as an input file (evaluation set, instruction pool, study
file, judgement file of a run) either loads or fails with a one-line InstructscaleError,
never a traceback. Many examples at the loader level, a few through the CLI."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_records
from instructscale.errors import InstructscaleError
from instructscale.evalset import read_eval_items
from instructscale.records import InstructionExample
from instructscale.study import load_study

EVAL_LINE = json.dumps({"id": "a", "category": "math", "question": "一加一？", "reference": "二"},
                       ensure_ascii=False).encode()
POOL_LINE = json.dumps({"instruction": "写一首诗", "output": "春眠不觉晓"}, ensure_ascii=False).encode()
STUDY = "name: s\nrun_dir: r\neval: {path: e.jsonl}\nbase_model: {path: m}\njudges: [{name: t}]\n".encode()


def near(valid: bytes):
    """Bytes close to a valid file: cut, spliced with random bytes, repeated, or random."""
    cut = st.integers(0, len(valid)).map(lambda n: valid[:n])
    spliced = st.tuples(st.integers(0, len(valid)), st.binary(max_size=12)).map(
        lambda t: valid[:t[0]] + t[1] + valid[t[0]:])
    return st.one_of(st.binary(max_size=300), cut, spliced,
                     st.lists(st.sampled_from([valid, b"\n", b",", b"\xe4\xb8", b"\xff", b"[", b"{}", b"null",
                                               b'{"id": ' + b"1" * 4400 + b"}", b"[" * 3000]),
                              max_size=6).map(b"".join))


def loads_or_one_line_error(load, data: bytes, suffix: str) -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / f"input{suffix}"
        path.write_bytes(data)
        try:
            load(path)
        except InstructscaleError as exc:
            assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))
    finally:
        shutil.rmtree(folder)


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=near(EVAL_LINE + b"\n" + EVAL_LINE.replace(b'"a"', b'"b"')), suffix=st.sampled_from([".jsonl", ".json", ".csv"]))
def test_any_bytes_as_an_evaluation_set(data, suffix):
    loads_or_one_line_error(read_eval_items, data, suffix)


@FAST
@given(data=near(POOL_LINE + b"\n"), suffix=st.sampled_from([".jsonl", ".json", ".csv", ".parquet"]))
def test_any_bytes_as_an_instruction_pool(data, suffix):
    loads_or_one_line_error(lambda p: read_records(p, InstructionExample), data, suffix)


@FAST
@given(data=near(STUDY))
def test_any_bytes_as_a_study_file(data):
    loads_or_one_line_error(load_study, data, ".yaml")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from tests.report.report_synth import make_run

    return make_run(tmp_path_factory.mktemp("anybytes") / "run")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=near(json.dumps({"item_id": "x", "model": "base-model", "judge": "judge-llm", "score": 0.5}).encode()
                 + b"\n"))
def test_any_bytes_as_a_judgement_file_of_a_run(run_dir, data):
    from instructscale.report.load import load_run
    from instructscale.runindex import load_index

    index = load_index(run_dir)
    path = index.resolve(next(iter(index.judgements.values())))
    original = path.read_bytes()
    try:
        path.write_bytes(data)
        try:
            load_run(run_dir)
        except InstructscaleError as exc:
            assert "\n" not in str(exc), repr(str(exc))
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize("command, data, suffix", [
    (["evalset", "stats"], EVAL_LINE[:-7] + b"\xe4\xb8", ".jsonl"),
    (["evalset", "stats"], b"\xff\xfe" + "id,question\n".encode("utf-16-le"), ".csv"),
    (["evalset", "stats"], b"[" * 100_000, ".json"),
    (["study", "status"], b"name: [\x00", ".yaml"),
    (["study", "status"], b"- 1\n- 2\n", ".yaml"),
    (["study", "status"], STUDY.replace(b"judges", b"jugdes"), ".yaml"),
])
def test_the_cli_answers_bad_bytes_with_one_line_and_exit_2(tmp_path, command, data, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    result = CliRunner().invoke(app, [*command, str(path)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), result.output


@pytest.mark.parametrize("data", [b'{"item_id": "x"\n' + b"\xff" * 3 + b"\n{}\n", b"\xe5\x88" + b'{"a": 1}\n' * 3])
def test_the_report_cli_answers_a_broken_judgement_file_with_one_line(run_dir, data):
    from instructscale.runindex import load_index

    index = load_index(run_dir)
    path = index.resolve(next(iter(index.judgements.values())))
    original = path.read_bytes()
    try:
        path.write_bytes(data)
        result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(run_dir / "report_bad")])
    finally:
        path.write_bytes(original)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and str(path) in lines[0], result.output
    assert not (run_dir / "report_bad").exists()
