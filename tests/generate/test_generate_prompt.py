import pytest

from instructscale.demo import make_teacher
from instructscale.errors import ConfigError
from instructscale.generate.parse import parse_tasks
from instructscale.generate.prompt import load_prompt
from instructscale.records import InstructionExample

EXAMPLES = [InstructionExample(instruction="把句子翻译成英文。", input="我爱你", output="I love you"),
            InstructionExample(instruction="写一首短诗。", output="春风吹绿柳。")]


@pytest.mark.parametrize("name,label,noinput", [("zh", "指令", "<无输入>"), ("en", "Instruction", "<noinput>")])
def test_builtin_prompts_render_alpaca_blocks_the_demo_teacher_continues(name, label, noinput):
    messages, start = load_prompt(name).render(EXAMPLES, 6)
    text = messages[0]["content"]
    assert start == 3 and text.endswith(f"###\n3. {label}:")
    assert f"2. {label}: 写一首短诗。" in text and noinput in text and text.count("###") == 3
    tasks = parse_tasks(make_teacher(0)({"messages": messages}), start).tasks
    assert [t.number for t in tasks] == list(range(3, 9))  # exactly the 6 new tasks asked for


def test_custom_prompt_file_and_errors(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("language: zh\nlabels: {instruction: 指令, input: 输入, output: 输出, noinput: 无}\n"
                    "header: 请写{total}个任务。\n", encoding="utf-8")
    assert load_prompt(str(good)).render(EXAMPLES, 1)[0][0]["content"].startswith("请写3个任务。")
    bad = tmp_path / "bad.yaml"
    bad.write_text("language: zh\nlabels: {instruction: 指令, input: 输入, output: 输出, noinput: 无}\nheader: 写任务\n",
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="total"):
        load_prompt(str(bad))
    with pytest.raises(ConfigError, match="zh, en"):
        load_prompt("fr")
