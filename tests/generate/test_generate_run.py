import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from instructscale.datafiles import read_jsonl_resumable
from instructscale.demo import make_teacher
from instructscale.errors import InputError
from instructscale.generate import GenerateConfig, load_seed_tasks, run_generate
from instructscale.llm import ClientConfig
from instructscale.llm.fake_server import Fault


def _cfg(srv, out, **kw):
    client = ClientConfig(base_url=srv.base_url, model="teacher", concurrency=kw.pop("concurrency", 8),
                          max_attempts=kw.pop("max_attempts", 3), backoff_base_s=0.01, timeout_s=2.0)
    return GenerateConfig(out=out, client=client, **kw)


def _keys(path):
    rows, _ = read_jsonl_resumable(path)
    return [(r["instruction"], r["input"]) for r in rows]


def test_demo_teacher_reaches_target_with_the_demo_dedup_settings(fake_server, tmp_path):
    srv = fake_server(make_teacher(0))
    out = tmp_path / "pool.jsonl"
    s = run_generate(_cfg(srv, out, target=150, dedup_fields="instruction+input", rouge_threshold=0.9))
    assert s.kept == 150 and s.new == 150 and s.reached_target
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 150
    rows, _ = read_jsonl_resumable(out)
    assert {r["source"] for r in rows} == {"self-instruct"}
    assert len(s.categories) >= 8 and sum(s.categories.values()) == 150
    assert not any("图片" in r["instruction"] for r in rows)  # the teacher's image tasks are filtered
    first = srv.requests[0]["messages"][0]["content"]
    assert first.rstrip().endswith("4. 指令:") and "23个" in first  # 3 examples + 20 new tasks


def test_the_pool_does_not_depend_on_which_reply_arrives_first(fake_server, tmp_path):
    """Replies come back out of order (random delays); they are used in request order, so two
    runs with the same seed write the same pool."""
    import random

    def slow_teacher(seed):
        teacher, jitter = make_teacher(0), random.Random(seed)  # a fresh teacher, other delays

        def reply(body):
            time.sleep(jitter.uniform(0, 0.03))
            return teacher(body)
        return reply

    pools = []
    for run in range(2):
        srv = fake_server(slow_teacher(run))
        out = tmp_path / f"pool{run}.jsonl"
        run_generate(_cfg(srv, out, target=60, num_new_tasks=5, dedup_fields="instruction+input",
                          rouge_threshold=0.9))
        pools.append(out.read_bytes())
    assert pools[0] == pools[1] and pools[0].count(b"\n") == 60


SCRIPTED = ("4. 指令: 写一首关于大海的短诗。\n4. 输入: <无输入>\n4. 输出: 大海蓝又蓝。\n###\n"
            "5. 指令: 写一首关于大海的短诗吧。\n5. 输入: <无输入>\n5. 输出: 海浪轻轻唱。\n###\n"
            "6. 输入: 缺少指令\n6. 输出: x\n###\n"
            "7. 指令: 请描述这张图片里的人物。\n7. 输出: 一个人。\n###\n"
            "8. 指令: 列举三种常见的鸟。\n8. 输出: 麻雀、燕子、喜鹊")


def test_scripted_replies_and_faults_are_counted(fake_server, tmp_path):
    srv = fake_server([SCRIPTED])
    srv.push_faults([Fault.server_error(), Fault.rate_limit(retry_after=0.01), Fault.malformed()])
    s = run_generate(_cfg(srv, tmp_path / "o.jsonl", target=5, concurrency=1, max_requests=6, max_attempts=4))
    assert s.kept == 2 and not s.reached_target  # the same two good tasks come back every time
    assert s.incomplete == "2/5 examples at the request cap of 6 requests; the next run goes on from the kept ones"
    assert s.filtered == {"exact_duplicate": 10, "near_duplicate": 6, "missing_instruction": 6, "blacklisted_word": 6}
    assert s.usage["retries"] == 3 and s.failed_requests == 0 and srv.request_count == 9


def test_failed_requests_are_counted_and_the_run_stops_at_the_cap(fake_server, tmp_path):
    srv = fake_server([SCRIPTED])
    srv.push_faults([Fault.server_error()] * 4)
    s = run_generate(_cfg(srv, tmp_path / "o.jsonl", target=50, concurrency=1, max_requests=3, max_attempts=2))
    assert s.failed_requests == 2 and s.kept == 2 and srv.request_count == 5


def test_restart_continues_without_loss_or_duplicates_and_drops_a_torn_line(fake_server, tmp_path):
    srv = fake_server(make_teacher(1))
    out = tmp_path / "pool.jsonl"
    cfg = _cfg(srv, out, target=60, dedup_fields="instruction+input", rouge_threshold=0.9)
    run_generate(cfg)
    before = _keys(out)
    with out.open("a", encoding="utf-8") as f:
        f.write('{"instruction": "半行')  # a crash mid-write
    s = run_generate(cfg.model_copy(update={"target": 120}))
    after = _keys(out)
    assert s.torn == 1 and s.resumed == 60 and s.new == 60 and s.kept == 120
    assert after[:60] == before and len(set(after)) == 120


def test_kill_9_mid_run_then_resume(tmp_path):
    """A real subprocess generating against a slow teacher is killed with SIGKILL, then resumed."""
    from instructscale.demo import serve

    srv = serve(seed=2, latency_s=0.05)
    out = tmp_path / "pool.jsonl"
    code = ("import sys; from pathlib import Path; from instructscale.generate import GenerateConfig, run_generate;"
            "from instructscale.llm import ClientConfig;"
            "run_generate(GenerateConfig(out=Path(sys.argv[1]), target=400, num_new_tasks=5, dedup_fields='instruction+input',"
            "rouge_threshold=0.9, client=ClientConfig(base_url=sys.argv[2], model='t', concurrency=2)))")
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, str(out), srv.base_url])
        deadline = time.time() + 30
        while time.time() < deadline and (not out.exists() or len(_keys(out)) < 30):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = _keys(out)
        assert 30 <= len(partial) < 400
        s = run_generate(GenerateConfig(out=out, target=len(partial) + 40, dedup_fields="instruction+input",
                                        rouge_threshold=0.9, client=ClientConfig(base_url=srv.base_url, model="t")))
        final = _keys(out)
        assert s.resumed == len(partial) and final[:len(partial)] == partial
        assert len(final) == len(set(final)) == len(partial) + 40
    finally:
        srv.stop()


def test_cli_summary_and_dry_run(fake_server, tmp_path):
    from instructscale.cli.main import app

    srv = fake_server(make_teacher(3))
    out = tmp_path / "p.jsonl"
    runner = CliRunner()
    dry = runner.invoke(app, ["generate", "--target", "40", "--out", str(out), "--base-url", srv.base_url,
                              "--model", "gpt-4o-mini", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: 40 examples" in dry.output and "$" in dry.output and srv.request_count == 0
    res = runner.invoke(app, ["generate", "--target", "40", "--out", str(out), "--base-url", srv.base_url,
                              "--teacher-model", "t", "--concurrency", "4", "--prompts", "en", "--dedup-fields",
                              "instruction+input", "--rouge-threshold", "0.9"])
    assert res.exit_code == 0, res.output
    assert "40/40 examples" in res.output and "category composition" in res.output
    assert "Instruction:" in srv.requests[0]["messages"][0]["content"] and srv.requests[0]["model"] == "t"


def test_old_flag_spellings_still_work_but_help_shows_one_vocabulary(fake_server, tmp_path):
    """--model/--prompt were generate's names for the teacher and its prompt; --model is now the model
    under test everywhere else, so they are hidden aliases of --teacher-model/--prompts."""
    from instructscale.cli.main import app

    srv = fake_server(make_teacher(3))
    res = CliRunner().invoke(app, ["generate", "--target", "5", "--out", str(tmp_path / "p.jsonl"), "--base-url",
                                   srv.base_url, "--model", "old-name", "--prompt", "en", "--dedup-fields",
                                   "instruction+input", "--rouge-threshold", "0.9"])
    assert res.exit_code == 0, res.output
    assert srv.requests[0]["model"] == "old-name" and "Instruction:" in srv.requests[0]["messages"][0]["content"]
    for command, shown, hidden in (("generate", ("--teacher-model", "--prompts"), ("--model ", "--prompt ")),
                                   ("subsets", ("--rater-model", "--prompts"), ("--model ",)),
                                   ("judge", ("--judge-model", "--prompts"), ("--model ",))):
        text = CliRunner().invoke(app, [command, "--help"]).output
        assert all(s in text for s in shown) and not any(h in text for h in hidden), (command, text)


def test_seed_loader_builtin_set_and_errors(tmp_path):
    seeds = load_seed_tasks()
    assert len(seeds) >= 150 and len({s.category for s in seeds}) == 12
    assert len({s.instruction for s in seeds}) == len(seeds)
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"id": 1, "name": "a", "instruction": "x", "instances": [{"input": "", "output": "y"}]}\n'
                   '{"id": 2, "name": "b", "instruction": "z", "instances": []}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2.*instances"):
        load_seed_tasks(bad)


def test_tag_with_teacher_is_asked_only_when_rules_cannot_tell(fake_server, tmp_path):
    def teacher(body):
        text = body["messages"][0]["content"]
        if "类别：" in text:
            return "brainstorming"
        return "4. 指令: 帮我给新开的咖啡馆取名字\n4. 输出: 晨光咖啡\n###\n5. 指令: 请将杜甫的这句诗译成英语\n5. 输入: 国破山河在\n5. 输出: The state is broken, but mountains and rivers remain."

    srv = fake_server(teacher)
    s = run_generate(_cfg(srv, tmp_path / "t.jsonl", target=2, concurrency=1, tag_with_teacher=True))
    assert s.categories == {"brainstorming": 1, "translation": 1}
    assert srv.request_count == 2  # one generation request, one tagging request


def test_mix_generated_shows_kept_tasks_as_examples(fake_server, tmp_path):
    srv = fake_server(make_teacher(4))
    out = tmp_path / "m.jsonl"
    run_generate(_cfg(srv, out, target=50, concurrency=1, mix_generated=2, dedup_fields="instruction+input",
                      rouge_threshold=0.9))
    kept = {r["instruction"] for r in read_jsonl_resumable(out)[0]}
    first, later = srv.requests[0]["messages"][0]["content"], srv.requests[-1]["messages"][0]["content"]
    shown = [line.split(": ", 1)[1] for line in later.splitlines() if ". 指令: " in line]
    assert len(shown) == 3 and sum(s in kept for s in shown) == 2
    assert not any(line.split(": ", 1)[1] in kept for line in first.splitlines() if ". 指令: " in line)
