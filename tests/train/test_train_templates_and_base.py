"""The chat-template option, the offline `train init-tiny` command and the QLoRA extra check."""

import json

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.records import InstructionExample
from instructscale.templates import get_template
from instructscale.train import resolve_config, run_train
from instructscale.train.data import tokenize_examples

CHAT = ("{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture
def chat_base(tiny_base_model, tmp_path):
    """The tiny gpt2 base with a chat template and a tokenizer that adds BOS, like Llama's."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = tiny_base_model("gpt2")
    tok = AutoTokenizer.from_pretrained(src)
    tok.chat_template = CHAT
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.bos_token_id)])
    out = tmp_path / "chat_base"
    tok.save_pretrained(out)
    AutoModelForCausalLM.from_pretrained(src).save_pretrained(out)
    return out


def test_chat_template_prompt_has_one_bos_and_a_masked_prompt(chat_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(chat_base)
    assert tok("x")["input_ids"][0] == tok.bos_token_id  # this tokenizer adds BOS by itself
    ex = InstructionExample(instruction="把这句话翻译成英文", input="你好", output="Hello")
    row = tokenize_examples([ex], tok, get_template("chat"), max_length=128).rows[0]
    n_prompt = row["labels"].count(-100)
    prompt_text = tok.decode(row["input_ids"][:n_prompt])
    assert prompt_text == "<s><|user|>把这句话翻译成英文\n你好\n<|assistant|>"  # BOS once, from the template
    assert tok.decode(row["input_ids"][n_prompt:], skip_special_tokens=True) == "Hello"
    belle = tokenize_examples([ex], tok, get_template("belle"), max_length=128).rows[0]
    assert belle["input_ids"].count(tok.bos_token_id) == 1  # plain templates get the tokenizer's BOS


def test_training_with_the_chat_template_saves_it_for_respond(chat_base, tiny_pool_path, tmp_path):
    out = tmp_path / "chat_run"
    result = run_train(resolve_config("demo", data=tiny_pool_path, base_model=str(chat_base), out=out,
                                      template="chat", max_steps=2, max_length=96))
    meta = json.loads((out / "instructscale.json").read_text())
    assert result.steps == 2 and meta["template"]["name"] == "chat" and meta["train"]["template"] == "chat"
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(out).chat_template == CHAT


def test_init_tiny_cli_builds_an_offline_base_that_loads(tiny_pool_path, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "bloom_base"
    result = CliRunner().invoke(app, ["train", "init-tiny", "--texts", str(tiny_pool_path), "--out", str(out),
                                      "--arch", "bloom", "--vocab-size", "300", "--hidden-size", "32"])
    assert result.exit_code == 0, result.output
    model, tok = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "bloom" and model.config.hidden_size == 32
    assert len(tok) == model.get_input_embeddings().num_embeddings == 300
    assert tok.decode(tok("答案是 3。")["input_ids"]) == "答案是 3。"  # tokenizer trained on the pool's text


def test_qlora_without_bitsandbytes_is_a_clear_error(tiny_pool_path, tiny_base_model, tmp_path):
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed here")
    result = CliRunner().invoke(app, ["train", "--data", str(tiny_pool_path), "--base-model",
                                      str(tiny_base_model("gpt2")), "--out", str(tmp_path / "q"), "--qlora"])
    assert result.exit_code == 2 and "instructscale[qlora]" in result.output


def test_half_precision_checkpoint_trains_in_fp32_so_small_updates_are_kept(tiny_pool_path, tiny_base_model, tmp_path):
    """transformers 5 keeps a bf16 checkpoint in bf16; there the replica's 3e-6 updates round away."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src, bf16 = tiny_base_model("gpt2"), tmp_path / "bf16_base"
    AutoModelForCausalLM.from_pretrained(src).to(torch.bfloat16).save_pretrained(bf16)
    AutoTokenizer.from_pretrained(src).save_pretrained(bf16)
    out = tmp_path / "replica_from_bf16"
    run_train(resolve_config("replica", data=tiny_pool_path, base_model=str(bf16), out=out, max_length=64,
                             effective_batch_size=8, per_device_batch_size=8, max_steps=2))
    before = AutoModelForCausalLM.from_pretrained(bf16, dtype=torch.float32).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out).state_dict()
    changed = sum(int((before[k] != after[k].float()).sum()) for k in before)
    assert changed > 0.5 * sum(v.numel() for v in before.values())  # most weights moved, not just tiny ones
    assert after["transformer.h.0.attn.c_attn.weight"].dtype == torch.float32
