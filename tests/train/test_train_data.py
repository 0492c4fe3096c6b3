import pytest

from instructscale.errors import ConfigError
from instructscale.records import InstructionExample
from instructscale.templates import get_template
from instructscale.train import presets, resolve_config
from instructscale.train.data import fit_example, tokenize_examples


@pytest.fixture(scope="module")
def tokenizer(tiny_base_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base_model("gpt2"))


def test_short_example_is_untouched_and_loss_is_on_the_response_only(tokenizer):
    ex = InstructionExample(instruction="请回答", input="一个问题", output="答案是 3。")
    tmpl = get_template("belle")
    tok = tokenize_examples([ex], tokenizer, tmpl, max_length=512)
    row = tok.rows[0]
    prompt = tokenizer(tmpl.render(ex.instruction, ex.input))["input_ids"]
    assert tok.truncated == 0 and row["input_ids"][: len(prompt)] == prompt
    assert row["labels"][: len(prompt)] == [-100] * len(prompt)
    assert row["labels"][len(prompt):] == row["input_ids"][len(prompt):]
    assert row["input_ids"][-1] == tokenizer.eos_token_id
    full = tokenize_examples([ex], tokenizer, tmpl, max_length=512, loss_on="full").rows[0]
    assert full["labels"] == full["input_ids"]


def test_long_input_is_shortened_and_the_response_kept_whole(tokenizer):
    ex = InstructionExample(instruction="总结", input="很长的输入文本 " * 80, output="简短的总结。")
    tmpl = get_template("belle")
    prompt, completion, cut = fit_example(ex, tokenizer, tmpl, max_length=60)
    assert cut and len(prompt) + len(completion) <= 60
    assert tokenizer.decode(completion, skip_special_tokens=True) == "简短的总结。"
    text = tokenizer.decode(prompt)
    assert text.startswith("Human: \n总结\n很长的输入文本") and text.endswith("Assistant: \n")


def test_long_response_keeps_its_start_and_the_turn_marker(tokenizer):
    ex = InstructionExample(instruction="写一篇文章 " * 40, output="第一句话。" + "后面的内容 " * 100)
    prompt, completion, cut = fit_example(ex, tokenizer, get_template("belle"), max_length=64)
    assert cut and len(prompt) + len(completion) == 64
    assert tokenizer.decode(completion).startswith("第一句话。")
    assert tokenizer.decode(prompt).endswith("Assistant: \n")


def test_truncated_examples_are_counted(tokenizer):
    exs = [InstructionExample(instruction="问", input="长 " * (200 if i % 2 else 1), output="答") for i in range(6)]
    assert tokenize_examples(exs, tokenizer, get_template("belle"), max_length=48).truncated == 3


def test_replica_preset_is_the_study_setting():
    cfg = resolve_config("replica")
    assert (cfg.effective_batch_size, cfg.epochs, cfg.learning_rate, cfg.weight_decay) == (64, 2, 3e-6, 0.001)
    assert cfg.lr_scheduler == "constant" and cfg.warmup_steps == 0
    assert cfg.gradient_accumulation(1) == 16 and cfg.gradient_accumulation(4) == 4
    assert "demo" in presets()


def test_effective_batch_must_divide(tmp_path):
    with pytest.raises(ConfigError, match="not divisible"):
        resolve_config("replica", per_device_batch_size=5).gradient_accumulation(1)
    with pytest.raises(ConfigError, match="not divisible"):
        resolve_config("replica").gradient_accumulation(3)


def test_yaml_then_flags_override_the_preset(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("train:\n  learning_rate: 1.0e-5\n  epochs: 3\n")
    cfg = resolve_config("replica", f, epochs=1.0, lora=None)
    assert cfg.learning_rate == 1e-5 and cfg.epochs == 1.0 and cfg.lora is False
    f.write_text("learning_rat: 1\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        resolve_config("replica", f)
