"""Bad input files and file-system problems give one line naming the file (and line),
exit code 2 and nothing written: non-UTF-8 bytes in every reader, torn multi-byte tails
in the project's own outputs, folders where files belong, parents that are files,
places that cannot be written, mistyped local paths that are no Hub ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import JsonlAppender, final_records, iter_rows, read_jsonl_resumable, read_yaml
from instructscale.errors import InputError
from instructscale.judge.prompts import load_prompt_set
from instructscale.records import Judgement
from instructscale.train.config import resolve_config

GBK = "问题".encode("gbk")  # bytes that are not UTF-8
ROW = {"id": "a", "category": "math", "question": "一加一？", "reference": "二"}


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code, lines


@pytest.mark.parametrize("suffix, content", [
    (".jsonl", json.dumps(ROW, ensure_ascii=False).encode() + b"\n" + b'{"id": "' + GBK + b'"}\n'),
    (".json", b'[\n' + json.dumps(ROW, ensure_ascii=False).encode() + b',\n{"id": "' + GBK + b'"}]\n'),
    (".csv", "id,category,question\na,math,一\n".encode() + b"b,math," + GBK + b"\n"),
])
def test_every_reader_names_the_line_with_bytes_that_are_not_utf8(tmp_path, suffix, content):
    path = tmp_path / f"eval{suffix}"
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"^{path}, line (2|3): not valid UTF-8$"):
        list(iter_rows(path))
    code, lines = cli("evalset", "stats", path)
    assert code == 2 and len(lines) == 1 and "not valid UTF-8" in lines[0]


def test_yaml_readers_name_the_file_and_line(tmp_path):
    bad = tmp_path / "prompts.yaml"
    bad.write_bytes(b"language: zh\nprompts:\n  math: " + GBK + b"\n")
    with pytest.raises(InputError, match=rf"^{bad}, line 3: not valid UTF-8$"):
        load_prompt_set(bad)
    broken = tmp_path / "train.yaml"
    broken.write_text("train:\n  lr: [1, 2\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{broken}, line \d: not valid YAML") as info:
        resolve_config("demo", broken)
    assert "<unicode string>" not in str(info.value)
    typo = tmp_path / "typo.yaml"
    typo.write_text("train:\n  learning_rat: 0.1\n", encoding="utf-8")
    with pytest.raises(Exception, match=rf"^{typo}: learning_rat: unknown key; did you mean 'learning_rate'\?$"):
        resolve_config("demo", typo)


def test_own_outputs_resume_past_a_last_line_cut_inside_a_character(tmp_path):
    path = tmp_path / "j.jsonl"
    whole = json.dumps({"item_id": "a", "model": "m", "judge": "j", "raw": "得分"}, ensure_ascii=False).encode()
    torn = json.dumps({"item_id": "b", "model": "m", "judge": "j", "raw": "得分"}, ensure_ascii=False).encode()
    path.write_bytes(whole + b"\n" + torn[:torn.index("分".encode()) + 1])  # cut inside 分
    rows, cut = read_jsonl_resumable(path)
    assert cut == 1 and [r["item_id"] for r in rows] == ["a"]
    kept, cut = final_records(path, Judgement, lambda j: j.item_id, lambda j: True)
    assert cut == 1 and [j.item_id for j in kept] == ["a"]
    assert [json.loads(line)["item_id"] for line in path.read_text(encoding="utf-8").splitlines()] == ["a"]
    path.write_bytes(whole + b"\n" + torn[:-3])
    with JsonlAppender(path) as writer:
        writer.write({"item_id": "c"})
    assert writer.torn == 1 and path.read_text(encoding="utf-8").splitlines()[-1] == '{"item_id": "c"}'


def test_bytes_that_are_not_utf8_inside_an_own_output_are_corruption_with_a_line(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "' + GBK + b'"}\n{"a": 3}\n')
    with pytest.raises(InputError, match=rf"^{path}, line 2: not valid UTF-8$"):
        read_jsonl_resumable(path)


def test_a_bad_record_in_an_output_is_one_line_with_its_line_number(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"item_id": "a", "model": "m", "judge": "j"}\n\n'
                    '{"item_id": "b", "model": "m", "judge": "j", "score": 7}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        final_records(path, Judgement, lambda j: j.item_id, lambda j: True)
    assert str(info.value).startswith(f"{path}, line 3, field 'score': ") and "\n" not in str(info.value)


def test_json_errors_do_not_say_at_at(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"id": "unterminated\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(iter_rows(path))
    assert "at at" not in str(info.value) and "Unterminated string starting at" in str(info.value)


@pytest.fixture
def judge_files(tmp_path):
    eval_path, resp = tmp_path / "e.jsonl", tmp_path / "r.jsonl"
    eval_path.write_text(json.dumps(ROW, ensure_ascii=False) + "\n", encoding="utf-8")
    resp.write_text(json.dumps({"item_id": "a", "model": "m", "response": "二"}) + "\n", encoding="utf-8")
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    return eval_path, resp


@pytest.mark.parametrize("out, extra, message", [
    ("adir", [], "adir: is a folder, expected a file"),
    ("afile/j.jsonl", [], "'{tmp}/afile' is a file, so it cannot hold 'j.jsonl'"),
    ("/sys/instructscale-test/j.jsonl", [], "/sys/instructscale-test: permission denied"),  # fails even as root
    ("j.jsonl", ["--scorer", "llm", "--cache", "{tmp}/afile/c.sqlite"], "is a file, so it cannot hold 'c.sqlite'"),
    ("j.jsonl", ["--scorer", "llm", "--cache", "{tmp}/e.jsonl"], "cannot use as the reply cache: file is not a"),
    ("j.jsonl", ["--scorer", "llm", "--cache", "{tmp}/adir"], "adir: is a folder, expected a file"),
    ("j.jsonl", ["--max-input-tokens", "3"], "max_input_tokens: Input should be greater than or equal to 64"),
])
def test_file_system_errors_are_one_line_and_write_nothing(tmp_path, judge_files, out, extra, message):
    eval_path, resp = judge_files
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = out if out.startswith("/") else tmp_path / out
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    code, lines = cli("judge", "--eval", eval_path, "--responses", resp, "--out", out, "--scorer", "reference",
                      "--base-url", "http://127.0.0.1:9/v1", *extra)
    assert code == 2 and len(lines) == 1 and message.replace("{tmp}", str(tmp_path)) in lines[0], lines
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_report_given_a_file_is_one_line(tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    code, lines = cli("report", path)
    assert code == 2 and len(lines) == 1 and "is a file: give a study run directory" in lines[0]
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_folder_given_as_an_input_file_is_clear_and_leaves_nothing(tmp_path):
    folder = tmp_path / "evalset"
    folder.mkdir()
    (folder / "eval.jsonl").write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="is a folder, not a data file or a dataset saved with save_to_disk"):
        list(iter_rows(folder))
    assert [p.name for p in folder.iterdir()] == ["eval.jsonl"]  # no datasets cache left behind


@pytest.mark.parametrize("typo", ["data/evalx.jsonl", "data/evalx", "./models/nope", "models/nope"])
def test_a_mistyped_local_path_is_no_such_file_not_a_hub_lookup(tmp_path, monkeypatch, typo):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    with pytest.raises(InputError, match=rf"^{typo}: file not found$"):
        list(iter_rows(typo))


def test_an_owner_name_id_that_the_hub_cannot_give_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError) as info:
        list(iter_rows("someone/evalset"))
    assert str(info.value).startswith("someone/evalset: no such local file, and no Hub dataset of that name")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("typo", ["models/nope", "./scale_200", "out/a/b", "base.safetensors"])
def test_a_mistyped_local_model_path_is_no_such_file(tmp_path, monkeypatch, typo):
    from instructscale.models.gguf import resolve_model_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(InputError, match=rf"^{typo}: no such file or folder$"):
        resolve_model_path(typo)
    assert resolve_model_path("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"  # a Hub id is left to from_pretrained
    assert resolve_model_path("gpt2") == "gpt2"


def test_read_yaml_of_a_folder_and_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="is a folder, expected a file"):
        read_yaml(tmp_path)
    with pytest.raises(InputError, match="file not found"):
        read_yaml(tmp_path / "nope.yaml")


def test_a_wrong_respond_preset_in_a_study_names_file_and_key(tmp_path):
    # the study path (file and key) is in tests/study/test_study_validation.py; the CLI says the key
    code, lines = cli("respond", "--eval", tmp_path / "e.jsonl", "--out", tmp_path / "r.jsonl",
                      "--model", tmp_path, "--preset", "hot")
    assert code == 2 and len(lines) == 1 and "preset: unknown generation preset 'hot'" in lines[0]
    assert not Path(tmp_path / "r.jsonl").exists()


def test_the_report_names_the_line_of_an_out_of_range_score(tmp_path):
    from instructscale.report.load import load_run
    from instructscale.runindex import load_index
    from tests.report.report_synth import make_run

    run_dir = make_run(tmp_path / "run")
    index = load_index(run_dir)
    path = index.resolve(next(iter(index.judgements.values())))
    lines = path.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[0])
    bad["score"] = 8
    lines[4] = json.dumps(bad)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{path}, line 5, field 'score': Input should be less than or equal to 1$"):
        load_run(run_dir)


def test_subsets_manifests_model_metadata_and_rating_prompts_name_the_line_of_non_utf8_bytes(tmp_path):
    from instructscale.respond.prompts import read_metadata
    from instructscale.subsets.manifest import load_manifest
    from instructscale.subsets.quality import load_rating_prompt

    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(b'{\n"pool": "' + GBK + b'"}\n')
    with pytest.raises(InputError, match=rf"^{manifest}, line 2: not valid UTF-8$"):
        load_manifest(manifest)
    model = tmp_path / "model"
    model.mkdir()
    (model / "instructscale.json").write_bytes(b'{"template": "' + GBK + b'"}')
    with pytest.raises(InputError, match=r"instructscale.json, line 1: not valid UTF-8$"):
        read_metadata(str(model))
    rating = tmp_path / "rating.yaml"
    rating.write_bytes(b"system: x\nuser: " + GBK + b"\n")
    with pytest.raises(InputError, match=rf"^{rating}, line 2: not valid UTF-8$"):
        load_rating_prompt(str(rating))


def test_a_duplicated_yaml_key_is_refused_in_every_yaml_reader_but_merge_keys_still_work(tmp_path):
    twice = tmp_path / "train.yaml"
    twice.write_text("train:\n  learning_rate: 0.1\n  learning_rate: 0.2\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{twice}, line 3, field 'learning_rate': duplicate key \(first set on "
                                         r"line 2\)"):
        resolve_config("demo", twice)
    flow = tmp_path / "flow.yaml"
    flow.write_text("a: {x: 1, x: 2}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1, field 'x': duplicate key"):
        read_yaml(flow)
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  x: 3\n", encoding="utf-8")
    assert read_yaml(merged)["use"] == {"x": 3, "y": 2}
