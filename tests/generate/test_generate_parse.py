from instructscale.generate.parse import parse_tasks


def test_full_blocks_with_separators_and_multiline_fields():
    reply = ("###\n4. 指令: 写一首诗。\n4. 输入: <无输入>\n4. 输出: 床前明月光，\n疑是地上霜。\n###\n"
             "5、指令：计算 1+1。\n5、输入：\n5、输出：2\n###")
    res = parse_tasks(reply, start=4)
    assert [(t.number, t.instruction, t.input, t.output) for t in res.tasks] == [
        (4, "写一首诗。", "", "床前明月光，\n疑是地上霜。"), (5, "计算 1+1。", "", "2")]
    assert not res.errors


def test_reply_continuing_the_open_label_and_english_labels():
    reply = " Write a haiku.\n4. Input: <noinput>\n4. Output: An old pond.\n###\n5. Instruction: Add 2 and 3.\n5. Output: 5"
    res = parse_tasks(reply, start=4)
    assert [t.instruction for t in res.tasks] == ["Write a haiku.", "Add 2 and 3."]
    assert res.tasks[1].input == ""


def test_malformed_blocks_are_dropped_and_counted():
    reply = ("4. 指令: 好的任务\n4. 输出: 好\n###\n5. 输入: 没有指令\n5. 输出: x\n###\n6. 指令: 没有输出\n6. 输入: y\n###\n"
             "7. 指令: 被截断的任务\n7. 输出: 写到一半")
    res = parse_tasks(reply, start=4, truncated=True)
    assert [t.instruction for t in res.tasks] == ["好的任务"]
    assert res.errors == {"missing_instruction": 1, "missing_output": 1, "truncated": 1}


def test_no_blocks_at_all():
    res = parse_tasks("对不起，我无法完成这个请求。")
    assert res.tasks == [] and res.errors == {"no_task_blocks": 1}


def test_labels_numbered_as_lines_make_one_block_in_field_order():
    # SmolLM2-135M's replies (tests/realmodel): each label numbered like a list line
    reply = ("###\n1. Instruction: Provide a list of 5 items.\n2. Input: banana\n3. Output: No item found\n"
             "4. Output: 8\n###\n5. Instruction: Name two colors.\n6. Input: 3 and 8")
    res = parse_tasks(reply, start=4)
    assert [(t.instruction, t.input, t.output) for t in res.tasks] == [
        ("Provide a list of 5 items.", "banana", "No item found")]
    assert res.errors == {"missing_instruction": 1, "missing_output": 1}


def test_a_numbered_field_out_of_order_still_starts_a_new_block():
    reply = "4. Instruction: Add 2 and 3.\n4. Output: 5\n5. Input: x\n6. Output: y"
    res = parse_tasks(reply, start=4)
    assert [t.instruction for t in res.tasks] == ["Add 2 and 3."]
    assert res.errors == {"missing_instruction": 1}
