"""llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) serving the packaged
SmolLM2 as a real peer: slow, rambling, and a judge that rarely writes a valid score.
`respond --backend openai` and `judge` run against it, and a study whose teacher is that
server (the demo's tiny student) completes. Slow: `pytest -m slow tests/realmodel`; CI runs it."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from llama_server import SERVED, WATCHED, LlamaServer, ServerDied, needs_llama_server
from smollm2 import needs_smollm2
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_records, write_jsonl
from instructscale.records import EvalItem, InstructionExample, Judgement, Response

pytestmark = [pytest.mark.slow, pytest.mark.realmodel, pytest.mark.timeout(1800), needs_smollm2(), needs_llama_server()]
QUESTIONS = ["What is the capital of France?", "Name three fruits.", "把下面的句子翻译成英文：我喜欢读书。",
             "Write one sentence about the sea.", "What is 12 + 30?", "Give an antonym of 'hot'."]


@pytest.fixture(scope="module")
def llama_server(smollm2, tmp_path_factory):
    """`python -m llama_cpp.server` on a free loopback port, stopped after the module; a death
    at any point fails the test it happened in with the signal and the log's tail (conftest)."""
    server = LlamaServer(smollm2, tmp_path_factory.mktemp("llama") / "server.log")
    WATCHED.append(server)
    try:
        try:
            server.wait_ready()
        except ServerDied as e:
            pytest.fail(str(e), pytrace=False)
        yield server.url
    finally:
        server.stop()
        WATCHED.remove(server)


@pytest.fixture(scope="module")
def eval_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "eval.jsonl"
    write_jsonl(path, [EvalItem(id=f"q{i}", question=q, category="open_qa") for i, q in enumerate(QUESTIONS)])
    return path


@pytest.fixture(scope="module")
def responses(llama_server, eval_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("respond") / "responses.jsonl"
    started = time.monotonic()
    result = CliRunner().invoke(app, ["respond", "--backend", "openai", "--base-url", llama_server,
                                      "--model", f"smol={SERVED}", "--eval", str(eval_path), "--out", str(out),
                                      "--preset", "greedy", "--max-new-tokens", "64", "--concurrency", "2"])
    assert result.exit_code == 0, result.output
    print(f"\nllama.cpp respond: {len(QUESTIONS)} answers in {time.monotonic() - started:.1f} s")
    return out


def test_respond_through_the_llama_cpp_server(responses):
    rows = read_records(responses, Response)
    assert len(rows) == len(QUESTIONS) and all(r.error is None and r.response for r in rows)
    assert all(r.settings["backend"] == "openai" and r.completion_tokens for r in rows)
    assert "Paris" in next(r.response for r in rows if r.item_id == "q0")
    assert not any(r.response.endswith("\ufffd") for r in rows)


def test_judge_against_the_llama_cpp_server_counts_unscored_never_as_zero(llama_server, eval_path, responses,
                                                                          tmp_path):
    from instructscale.judge import JudgeConfig, run_judge
    from instructscale.judge.run import REPLY_SEP
    from instructscale.llm import ClientConfig

    out = tmp_path / "judgements.jsonl"
    cfg = JudgeConfig(eval=eval_path, responses=[responses], out=out, prompts="en", repeats=2, reasks=1,
                      client=ClientConfig(base_url=llama_server, model=SERVED, concurrency=2, timeout_s=300,
                                          max_attempts=2))
    started = time.monotonic()
    summary = run_judge(cfg)
    seconds = time.monotonic() - started
    rows = read_records(out, Judgement)
    scored = [j for j in rows if j.score is not None]
    unscored = [j for j in rows if j.score is None]
    overflow = [j for j in unscored if (j.error or "").startswith("context overflow")]
    print(f"\nllama.cpp judge: {len(rows)} judgements in {seconds:.1f} s: {len(scored)} scored, "
          f"{len(unscored)} unscored ({len(overflow)} context overflows), {summary.api_failures} API failures, "
          f"{summary.requests} requests")
    assert len(rows) == 2 * len(QUESTIONS) == summary.judgements
    assert summary.unscored == len(unscored) and summary.api_failures == 0
    for j in unscored:  # never a 0: no score, a reason, and (when the reply had no score) a re-ask
        assert j.error
        if j.error.startswith("no valid score"):
            assert j.raw.count(REPLY_SEP) == cfg.reasks
    means = [row.mean for row in summary.rows if row.mean is not None]
    assert all(0.0 <= m <= 1.0 for m in means)
    if scored:  # item means come from scored judgements only
        assert means


# What a 135M teacher can follow (measured, tests/realmodel): Alpaca's long English header
# makes it comment on the requirements or copy the shown tasks, so this prompt is one line;
# the seeds are short English tasks for an English prompt (the built-in seeds are Chinese).
SMALL_TEACHER_PROMPT = {
    "language": "en", "labels": {"instruction": "Instruction", "input": "Input", "output": "Output",
                                 "noinput": "<noinput>"},
    "header": "Continue this list of {total} tasks. Each task has an instruction, an input and an output, "
              "in the same format."}
SMALL_TEACHER_SEEDS = [("What is the capital of Italy?", "", "The capital of Italy is Rome."),
                       ("Give the opposite of the word.", "happy", "sad"), ("Add the two numbers.", "7 and 5", "12"),
                       ("Name two colors.", "", "Red and blue.")]


def test_study_with_the_llama_cpp_server_as_teacher_completes_on_its_messy_output(llama_server, tmp_path):
    """Generation parses and filters what a 135M teacher really writes (most replies have no
    usable task: commentary, copied examples, a label without output), counts every drop,
    keeps a small pool, and the study completes with the demo's tiny student."""
    prompt, seeds = tmp_path / "prompt.yaml", tmp_path / "seeds.jsonl"
    prompt.write_text(yaml.safe_dump(SMALL_TEACHER_PROMPT), encoding="utf-8")
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "instruction": ins, "instances": [{"input": inp, "output": out}]})
                             + "\n" for i, (ins, inp, out) in enumerate(SMALL_TEACHER_SEEDS)), encoding="utf-8")
    study = {
        "name": "llama.cpp teacher", "run_dir": str(tmp_path / "run"), "seed": 0,
        "teacher": {"offline_demo": False, "base_url": llama_server, "model": SERVED, "concurrency": 1,
                    "timeout_s": 300, "max_attempts": 2},
        # the server's context is 2048 tokens and a small model rambles: generation's default
        # max_tokens (3072) is cut for this teacher, and it is asked for 2 tasks at a time.
        # Measured: about 1 kept task per 8-9 requests (7 of 60; 3 of 24), so 3 need ~25 requests
        # (~1 min) and the cap of 80 leaves a shortfall a chance well under 1%
        "data": {"generate": {"target": 3, "num_new_tasks": 2, "num_seed_examples": 3, "prompt": str(prompt),
                              "seeds": str(seeds), "max_requests": 80,
                              "client": {"params": {"max_tokens": 200, "temperature": 0.7}}}},
        "eval": {"demo_world_per_category": 1},
        "subsets": {"sizes": [2, 3]},
        "base_model": {"tiny": {"arch": "gpt2", "vocab_size": 300, "hidden_size": 32, "num_layers": 1,
                                "num_heads": 2, "max_positions": 128}},
        "train": {"preset": "demo", "max_steps": 2, "max_length": 96},
        "respond": {"preset": "greedy", "max_new_tokens": 8, "batch_size": 16},
        "judges": [{"name": "reference", "kind": "reference"}],
        "report": {"bootstrap_samples": 100},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, allow_unicode=True), encoding="utf-8")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["study", "run", str(path)])
    run = tmp_path / "run"
    gen = json.loads((run / "manifests" / "pool.json").read_text())
    assert gen["status"] == "done"
    summary = gen["summary"]
    print(f"\nllama.cpp teacher: {summary['requests']} requests, {summary['parsed']} parsed, kept {summary['kept']}, "
          f"filtered {summary['filtered']}; study exit code {result.exit_code} in {time.monotonic() - started:.0f} s")
    assert result.exit_code == 0, result.output
    assert summary["requests"] > 0 and summary["usage"]["successes"] > 0
    assert summary["kept"] == 3 and summary["reached_target"]
    assert summary["parsed"] >= summary["kept"] and sum(summary["filtered"].values()) > 0
    pool = read_records(run / "data" / "pool.jsonl", InstructionExample)
    assert len(pool) == 3 and all(ex.source == "self-instruct" and ex.instruction and ex.output for ex in pool)
    seed_instructions = {ins for ins, _, _ in SMALL_TEACHER_SEEDS}
    assert not seed_instructions & {ex.instruction for ex in pool}  # copied examples are duplicates, dropped
    assert (run / "report" / "report.html").is_file()
