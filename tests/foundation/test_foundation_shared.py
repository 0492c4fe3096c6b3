"""Shared helpers: text similarity on Chinese, tiny offline models, the CLI entry points."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from instructscale import __version__
from instructscale.cli.main import app
from instructscale.models.tiny import TinyModelConfig, build_tiny_model, train_tokenizer
from instructscale.textsim import char_f1, char_ngrams, jaccard, normalize_text, rouge_l


def test_text_similarity_works_on_chinese_characters():
    assert rouge_l("今天天气很好", "今天天气很好") == 1.0
    assert rouge_l("今天天气很好", "明天天气不好") == pytest.approx(2 * 4 / 12)
    assert rouge_l("", "x") == 0.0
    assert char_f1("张三、李四", "李四、张三") == 1.0 and char_f1("王五", "张三") == 0.0
    assert normalize_text("Ｈｅｌｌｏ\u00a0 World！") == "hello world！".replace("！", "!")
    assert normalize_text("Ｈｅｌｌｏ\u00a0 World！", strip_punct=True) == "helloworld"
    assert char_ngrams("你好吗", 2) == {"你好", "好吗"} and jaccard({"a"}, {"a", "b"}) == 0.5


@pytest.mark.parametrize("arch", ["gpt2", "bloom", "llama"])
def test_tiny_models_build_offline_and_run(arch):
    tok = train_tokenizer(["你好，世界。", "今天天气很好。", "Hello world."] * 10, vocab_size=300)
    model = build_tiny_model(tok, TinyModelConfig(arch=arch, vocab_size=300, hidden_size=32, num_layers=1,
                                                  num_heads=2, max_positions=64))
    ids = torch.tensor([tok("你好，世界。")["input_ids"]])
    out = model(input_ids=ids, labels=ids)
    assert out.logits.shape == (1, ids.shape[1], model.config.vocab_size) and torch.isfinite(out.loss)
    assert tok.decode(ids[0], skip_special_tokens=True) == "你好，世界。"


def test_cli_help_version_and_module_entry_point():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("evalset", "generate", "subsets", "train", "respond", "judge", "report", "study", "demo"):
        assert group in result.output
    assert CliRunner().invoke(app, ["--version"]).output.strip() == f"instructscale {__version__}"
    proc = subprocess.run([sys.executable, "-m", "instructscale", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "study" in proc.stdout
