"""Formats other trainers read (Alpaca, ShareGPT, OpenAI messages, LLaMA-Factory), and
conversations imported as a pool (multi-turn: split per assistant turn, or rejected and counted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_records, write_jsonl
from instructscale.errors import InputError
from instructscale.export.formats import read_conversations
from instructscale.records import EvalItem, InstructionExample


def _export(source, out, fmt):
    result = CliRunner().invoke(app, ["export", str(source), "--out", str(out), "--format", fmt])
    assert result.exit_code == 0, result.output


def test_sharegpt_export_then_import_round_trips(tiny_pool_path, tmp_path):
    pool = read_records(tiny_pool_path, InstructionExample)
    _export(tiny_pool_path, tmp_path / "a", "sharegpt")
    rows = [json.loads(line) for line in (tmp_path / "a" / "pool.jsonl").read_text().splitlines()]
    assert [t["from"] for t in rows[1]["conversations"]] == ["human", "gpt"]
    assert rows[1]["conversations"][0]["value"] == pool[1].prompt  # instruction, then input on a new line

    result = CliRunner().invoke(app, ["import", str(tmp_path / "a" / "pool.jsonl"), "--out", str(tmp_path / "back.jsonl")])
    assert result.exit_code == 0, result.output
    assert "48 conversations -> 48 examples" in " ".join(result.output.split())
    back = read_records(tmp_path / "back.jsonl", InstructionExample)
    assert [(b.id, b.prompt, b.output, b.category) for b in back] == [(p.id, p.prompt, p.output, p.category)
                                                                      for p in pool]
    _export(tmp_path / "back.jsonl", tmp_path / "b", "sharegpt")
    assert (tmp_path / "b" / "back.jsonl").read_bytes() == (tmp_path / "a" / "pool.jsonl").read_bytes()


def test_messages_multi_turn_split_per_assistant_turn_or_rejected_with_a_count(tmp_path):
    path = tmp_path / "chats.jsonl"
    write_jsonl(path, [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
                      {"role": "assistant", "content": "4"}, {"role": "user", "content": "times 3?"},
                      {"role": "assistant", "content": "12"}], "id": "c1"},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "unanswered"}]},
    ])
    examples, counts = read_conversations(path)
    assert [(e.id, e.instruction, e.input, e.output) for e in examples[:2]] == [
        ("c1-0", "2+2?", "System: Be brief.", "4"),
        ("c1-1", "times 3?", "System: Be brief.\nUser: 2+2?\nAssistant: 4", "12")]
    assert examples[2].instruction == "Hi" and examples[2].id.startswith("ex-")
    assert counts["examples"] == 3 and counts["no_reply"] == 1

    kept, counts = read_conversations(path, multi_turn="reject")
    assert [e.output for e in kept] == ["Hello"] and counts["rejected_multi_turn"] == 1

    _export(_as_pool(examples, tmp_path), tmp_path / "m", "messages")
    rows = [json.loads(line) for line in (tmp_path / "m" / "pool.jsonl").read_text().splitlines()]
    assert rows[0] == {"messages": [{"role": "user", "content": "2+2?\nSystem: Be brief."},
                                    {"role": "assistant", "content": "4"}]}


def _as_pool(examples, tmp_path):
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, examples)
    return path


def test_alpaca_and_llamafactory_files_of_every_split_of_a_run(tiny_study_run, tmp_path):
    _export(tiny_study_run, tmp_path / "alpaca", "alpaca")
    subset = read_records(tiny_study_run / "subsets" / "subset_20.jsonl", InstructionExample)
    rows = json.loads((tmp_path / "alpaca" / "subset_20.json").read_text())
    assert rows == [{"instruction": e.instruction, "input": e.input, "output": e.output} for e in subset]
    assert [e.id for e in read_records(tmp_path / "alpaca" / "subset_20.json", InstructionExample)] == \
        [e.id for e in subset]  # an Alpaca file is a pool again (ids are content hashes)

    _export(tiny_study_run, tmp_path / "lf", "llamafactory")
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert set(info) == {"tiny_study_pool", "tiny_study_subset_20", "tiny_study_subset_50", "tiny_study_eval"}
    entry = info["tiny_study_subset_50"]
    assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    assert len(json.loads((tmp_path / "lf" / entry["file_name"]).read_text())) == 50
    items = [i for i in read_records(tiny_study_run / "eval" / "eval.jsonl", EvalItem) if i.reference]
    assert json.loads((tmp_path / "lf" / "eval.json").read_text()) == [
        {"instruction": i.question, "input": "", "output": i.reference} for i in items] and items
    import yaml

    meta = json.loads((tiny_study_run / "models" / "scale_20" / "instructscale.json").read_text())
    train = yaml.safe_load((tmp_path / "lf" / "train_subset_50.yaml").read_text())
    assert train["dataset"] == "tiny_study_subset_50" and train["eval_dataset"] == "tiny_study_eval"
    assert (train["stage"], train["finetuning_type"], train["dataset_dir"]) == ("sft", "full", ".")
    assert (train["learning_rate"], train["num_train_epochs"], train["cutoff_len"]) == (
        meta["train"]["learning_rate"], meta["train"]["epochs"], meta["train"]["max_length"])
    assert train["per_device_train_batch_size"] * train["gradient_accumulation_steps"] == \
        meta["train"]["effective_batch_size"]
    assert (Path(train["model_name_or_path"]) / "config.json").is_file()


def test_bad_conversation_rows_name_the_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}\n'
                    '{"conversations": [{"from": "narrator", "value": "x"}]}\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_conversations(path)
    assert "bad.jsonl" in str(err.value) and "2" in str(err.value) and "conversations.0.from" in str(err.value)
    path.write_text('{"text": "no turns"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="'conversations' \\(ShareGPT\\) or 'messages'"):
        read_conversations(path)
