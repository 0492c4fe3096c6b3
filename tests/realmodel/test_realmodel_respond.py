"""The packaged SmolLM2 through `respond` (hf backend): a raw instruct model is asked through
its chat template, batched greedy answers equal one-by-one answers, and an answer cut at the
token limit inside a multi-byte character keeps no broken tail."""

from __future__ import annotations

import pytest
from smollm2 import needs_smollm2

from instructscale.datafiles import read_records, write_jsonl
from instructscale.records import EvalItem, Response
from instructscale.respond import ModelSpec, RespondConfig, run_respond

pytestmark = [pytest.mark.realmodel, needs_smollm2(), pytest.mark.timeout(1800)]

QUESTIONS = ["What is the capital of France?", "Name three colours.", "写一句关于春天的诗。",
             "Explain in one sentence why the sky is blue.", "2 + 3 = ?", "请把下面的句子翻译成英文：今天天气很好。"]


@pytest.fixture(scope="module")
def eval_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "eval.jsonl"
    write_jsonl(path, [EvalItem(id=f"q{i}", question=q, category="generation") for i, q in enumerate(QUESTIONS)])
    return path


def _respond(model, eval_path, out, **kw) -> dict[str, Response]:
    run_respond(RespondConfig(models=[ModelSpec(name="smol", path=str(model))], eval=eval_path, out=out,
                              preset="greedy", max_new_tokens=24, **kw))
    return {r.item_id: r for r in read_records(out, Response)}


@pytest.fixture(scope="module")
def batched(smollm2, eval_path, tmp_path_factory):
    """All questions in one batch, the raw GGUF file as the model (no --template)."""
    return _respond(smollm2, eval_path, tmp_path_factory.mktemp("batched") / "r.jsonl", batch_size=8)


def test_raw_gguf_model_is_asked_through_its_chat_template(batched):
    assert {r.settings["template"] for r in batched.values()} == {"chat"}
    assert "Paris" in batched["q0"].response
    assert all(r.response and r.error is None for r in batched.values())


def test_batched_greedy_answers_equal_one_by_one(smollm2, eval_path, batched, tmp_path):
    one = _respond(smollm2, eval_path, tmp_path / "one.jsonl", batch_size=1)
    assert {k: r.response for k, r in batched.items()} == {k: r.response for k, r in one.items()}
    assert sum(r.truncated for r in one.values()) >= 1  # long answers were cut: the comparison covers the limit


def test_answer_cut_inside_a_multibyte_character_drops_the_broken_tail(smollm2_dir, eval_path):
    from instructscale.respond.hf_backend import HFBackend

    text = "春天来了，花儿开了。"
    cfg = RespondConfig(models=[], eval=eval_path, out="unused.jsonl", preset="greedy")
    backend = HFBackend(cfg.model_copy(update={"max_new_tokens": 1}), ModelSpec(name="smol", path=smollm2_dir))
    ids = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    broken = 0
    for k in range(1, len(ids) + 1):
        backend.gen = backend.gen.model_copy(update={"max_new_tokens": k})
        raw = backend.tokenizer.decode(ids[:k], skip_special_tokens=True)
        answer = backend._decode(ids[:k], prompt_tokens=0)
        broken += raw.endswith("\ufffd")
        assert answer.truncated and "\ufffd" not in answer.text and text.startswith(answer.text), (k, answer.text)
    assert broken > 0  # the tokenizer does split characters, so the cut was really exercised
