"""The hf backend on a tiny gpt2 model: batching, templates from metadata, stops, sampling
seeds, several models and samples, adapters, and resuming."""

from __future__ import annotations

import json

import pytest

from instructscale.datafiles import read_jsonl_resumable
from instructscale.respond import ModelSpec, RespondConfig, run_respond
from instructscale.train.data import encode_prompt
from instructscale.templates import get_template



def _cfg(eval_path, out, *models, **kw) -> RespondConfig:
    specs = [ModelSpec(name=name, path=str(path)) for name, path in models]
    return RespondConfig(models=specs, eval=eval_path, out=out, **{"preset": "greedy", "max_new_tokens": 12, **kw})


def _rows(path) -> dict[tuple, dict]:
    return {(r["model"], r["item_id"], r["sample"]): r for r in read_jsonl_resumable(path)[0]}


def test_batched_greedy_equals_one_at_a_time(tiny_base_model, eval_path, tmp_path):
    base = tiny_base_model("gpt2")
    run_respond(_cfg(eval_path, tmp_path / "b.jsonl", ("m", base), batch_size=4))
    run_respond(_cfg(eval_path, tmp_path / "s.jsonl", ("m", base), batch_size=1))
    batched, single = _rows(tmp_path / "b.jsonl"), _rows(tmp_path / "s.jsonl")
    assert len(batched) == 6 and batched.keys() == single.keys()
    for key, row in batched.items():
        assert row["response"] == single[key]["response"]
        assert row["completion_tokens"] == single[key]["completion_tokens"]
        assert 1 <= row["completion_tokens"] <= 12 and row["prompt_tokens"] > 5
        assert not row["truncated"] or row["completion_tokens"] == 12


def test_template_and_stops_come_from_metadata(trained_like_model, eval_path, eval_items, tmp_path):
    from transformers import AutoTokenizer

    out = tmp_path / "out.jsonl"
    summary = run_respond(_cfg(eval_path, out, ("t", trained_like_model)))
    rows = _rows(out)
    assert summary.new == 6 and all(r["settings"]["template"] == "qa" for r in rows.values())
    assert all(r["settings"]["stop"] == ["Q:"] for r in rows.values())
    tok = AutoTokenizer.from_pretrained(trained_like_model)
    item = eval_items(6)[3]
    qa = get_template("belle").model_copy(update={"name": "qa", "prompt": "Q: {instruction}{input}\nA: "})
    assert rows[("t", item.id, 0)]["prompt_tokens"] == len(encode_prompt(tok, qa, item.question, ""))

    # an explicit template wins over the metadata
    out2 = tmp_path / "explicit.jsonl"
    run_respond(_cfg(eval_path, out2, ("t", trained_like_model), template="belle"))
    row = _rows(out2)[("t", item.id, 0)]
    assert row["settings"]["template"] == "belle"
    assert row["prompt_tokens"] == len(encode_prompt(tok, get_template("belle"), item.question, ""))


def test_generation_stops_at_a_stop_string(tiny_base_model, eval_path, tmp_path):
    base = tiny_base_model("gpt2")
    free = _rows(run_respond(_cfg(eval_path, tmp_path / "free.jsonl", ("m", base), stop=[],
                                  max_new_tokens=24)).out)
    text = max((r["response"] for r in free.values()), key=len)
    stop = text[len(text) // 2:len(text) // 2 + 2]  # a string this model does produce
    assert stop.strip()
    stopped = _rows(run_respond(_cfg(eval_path, tmp_path / "stop.jsonl", ("m", base), stop=[stop],
                                     max_new_tokens=24)).out)
    assert all(stop not in r["response"] for r in stopped.values())
    cut = [k for k, r in free.items() if stop in r["response"]]
    assert cut and all(stopped[k]["response"] == free[k]["response"].split(stop)[0].strip() for k in cut)
    assert all(not stopped[k]["truncated"] and stopped[k]["completion_tokens"] < 24 for k in cut)


def test_sampling_is_seeded_and_several_models_share_one_file(tiny_base_model, eval_path, tmp_path):
    gpt2, llama = tiny_base_model("gpt2"), tiny_base_model("llama")
    kw = dict(preset="study", max_new_tokens=10, n=2, batch_size=4)
    first = run_respond(_cfg(eval_path, tmp_path / "a.jsonl", ("g", gpt2), ("l", llama), seed=7, **kw))
    assert first.new == 2 * 6 * 2 and [m.responses for m in first.models] == [12, 12]
    a = _rows(tmp_path / "a.jsonl")
    assert all(r["settings"]["do_sample"] and r["settings"]["top_k"] == 30 for r in a.values())
    again = _rows(run_respond(_cfg(eval_path, tmp_path / "b.jsonl", ("g", gpt2), ("l", llama), seed=7, **kw)).out)
    other = _rows(run_respond(_cfg(eval_path, tmp_path / "c.jsonl", ("g", gpt2), seed=8, **kw)).out)
    assert {k: r["response"] for k, r in a.items()} == {k: r["response"] for k, r in again.items()}
    assert sum(a[k]["response"] != other[k]["response"] for k in other) >= 6
    assert sum(a[("g", f"q{i}", 0)]["response"] != a[("g", f"q{i}", 1)]["response"] for i in range(6)) >= 3


def test_rerun_skips_finished_and_redoes_failed_and_torn(tiny_base_model, eval_items, tmp_path):
    from instructscale.datafiles import write_jsonl

    base = tiny_base_model("gpt2")
    eval_path, out = tmp_path / "eval.jsonl", tmp_path / "out.jsonl"
    write_jsonl(eval_path, eval_items(4))
    assert run_respond(_cfg(eval_path, out, ("m", base))).new == 4
    rows = read_jsonl_resumable(out)[0]
    failed = dict(rows[1], error="api: http 500", response="")
    with out.open("a") as f:
        f.write(json.dumps(rows[0]) + "\n")  # a duplicate
    write_jsonl(out, [rows[0], failed, *rows[2:], rows[0]])
    with out.open("ab") as f:
        f.write(b'{"item_id": "q3", "model": "m", "sam')  # torn by a kill
    write_jsonl(eval_path, eval_items(6))  # two more items since the first run

    summary = run_respond(_cfg(eval_path, out, ("m", base)))
    assert (summary.new, summary.resumed, summary.torn) == (3, 3, 1)
    final, torn = read_jsonl_resumable(out)
    keys = [(r["item_id"], r["sample"]) for r in final]
    assert torn == 0 and len(keys) == len(set(keys)) == 6 and all(r["error"] is None for r in final)
    assert next(r for r in final if r["item_id"] == rows[1]["item_id"])["response"] == rows[1]["response"]


def test_peft_adapter_answers_like_its_merged_model(tiny_base_model, eval_path, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = tiny_base_model("gpt2")
    model = AutoModelForCausalLM.from_pretrained(base)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=32, target_modules=["c_attn"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")  # no tokenizer here: it comes from the base
    merged = lora.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    AutoTokenizer.from_pretrained(base).save_pretrained(tmp_path / "merged")
    out = tmp_path / "out.jsonl"
    run_respond(_cfg(eval_path, out, ("adapter", tmp_path / "adapter"), ("merged", tmp_path / "merged"),
                     ("base", base)))
    rows = _rows(out)
    adapter = [rows[("adapter", f"q{i}", 0)]["response"] for i in range(6)]
    assert adapter == [rows[("merged", f"q{i}", 0)]["response"] for i in range(6)]
    assert adapter != [rows[("base", f"q{i}", 0)]["response"] for i in range(6)]  # the adapter changes answers


def test_config_presets_and_overrides(tmp_path):
    from instructscale.errors import ConfigError

    cfg = RespondConfig(eval=tmp_path / "e.jsonl", out=tmp_path / "o.jsonl")
    assert cfg.generation().model_dump() == {"do_sample": True, "temperature": 0.9, "top_p": 0.6, "top_k": 30,
                                             "repetition_penalty": 1.2, "max_new_tokens": 128}
    greedy = RespondConfig(eval="e", out="o", preset="greedy", max_new_tokens=5).generation()
    assert not greedy.do_sample and greedy.max_new_tokens == 5
    with pytest.raises(ValueError, match="unknown generation preset"):
        RespondConfig(eval="e", out="o", preset="nope")
    with pytest.raises(ConfigError, match="no models"):
        run_respond(cfg)
    with pytest.raises(ConfigError, match="unique"):
        RespondConfig(eval="e", out="o", models=[ModelSpec(name="a", path="x"), ModelSpec(name="a", path="y")])
