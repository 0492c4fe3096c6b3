"""The packaged SmolLM2 fine-tuned with LoRA, once with its own chat template and once with
the study's belle template: the loss on a small repeated set goes down, and the saved adapter
answers the taught questions differently from the base model (and with what it was taught)."""

from __future__ import annotations

import json

import pytest
from smollm2 import needs_smollm2

from instructscale.datafiles import read_records, write_jsonl
from instructscale.records import EvalItem, InstructionExample, Response
from instructscale.respond import ModelSpec, RespondConfig, run_respond
from instructscale.train import resolve_config, run_train

pytestmark = [pytest.mark.realmodel, needs_smollm2(), pytest.mark.timeout(1800)]


@pytest.mark.parametrize("template", ["chat", "belle"])
def test_lora_fine_tune_learns_and_the_adapter_answers_differently(smollm2, taught_pairs, template, tmp_path):
    out = tmp_path / f"lora_{template}"
    cfg = resolve_config("demo", data=taught_pairs, base_model=str(smollm2), out=out, template=template, lora=True,
                         lora_r=8, learning_rate=3e-3, max_steps=6, effective_batch_size=4,
                         per_device_batch_size=4, max_length=64, report_to=[])
    result = run_train(cfg)
    assert result.steps == 6
    losses = [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    print(f"\nLoRA ({template}) losses: {[round(x, 3) for x in losses]}")
    assert losses[-1] < 0.5 * losses[0], losses
    meta = json.loads((out / "instructscale.json").read_text())
    assert meta["base_model"] == str(smollm2) and meta["template"]["name"] == template

    questions = [row.instruction for row in read_records(taught_pairs, InstructionExample) if not row.input]
    eval_path = tmp_path / "eval.jsonl"
    write_jsonl(eval_path, [EvalItem(id=f"t{i}", question=q, category="open_qa") for i, q in enumerate(questions)])
    responses = tmp_path / "responses.jsonl"
    # both asked with the adapter's template: the difference is the adapter, not the prompt
    run_respond(RespondConfig(models=[ModelSpec(name="base", path=str(smollm2)), ModelSpec(name="tuned", path=str(out))],
                              eval=eval_path, out=responses, preset="greedy", max_new_tokens=16, template=template))
    by = {(r.model, r.item_id): r.response for r in read_records(responses, Response)}
    tuned = [by["tuned", f"t{i}"] for i in range(len(questions))]
    base = [by["base", f"t{i}"] for i in range(len(questions))]
    assert tuned != base
    assert "Velvet pineapple" in tuned[0] or "Quillwater" in tuned[2], tuned
