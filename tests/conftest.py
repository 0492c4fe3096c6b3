"""Shared fixtures: the fake OpenAI-compatible server, tiny models, tiny datasets.
Append new shared fixtures at the end; keep each one small and documented."""

from __future__ import annotations

import pytest


@pytest.fixture
def fake_server():
    """Factory: `srv = fake_server(responder_or_replies, latency_s=0.0)` starts a real HTTP
    server on 127.0.0.1 and stops it after the test."""
    from instructscale.llm.fake_server import FakeServer

    started = []

    def start(responder=None, **kwargs):
        srv = FakeServer(responder, **kwargs).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def _tiny_pool_rows(n: int = 48) -> list[dict]:
    """Instruction examples with lengths skewed like real data (a few long inputs)."""
    cats = ["rewrite", "math", "open_qa", "translation"]
    rows = []
    for i in range(n):
        long_input = "这是一段较长的输入文本 " * (12 if i % 8 == 0 else i % 3)
        rows.append({"instruction": f"请回答第 {i} 个问题: {cats[i % 4]}", "input": long_input.strip(),
                     "output": f"答案是 {i * 7 % 13}。" + " 因为" * (i % 5), "category": cats[i % 4]})
    return rows


@pytest.fixture(scope="session")
def tiny_pool_path(tmp_path_factory):
    """A 48-example training pool (JSON Lines, InstructionExample rows, 4 categories)."""
    from instructscale.datafiles import write_jsonl

    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    write_jsonl(path, _tiny_pool_rows())
    return path


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory, tiny_pool_path):
    """Factory: `tiny_base_model("gpt2"|"bloom"|"llama") -> folder` with a saved tiny model and
    tokenizer (trained on tiny_pool_path), loadable with from_pretrained. Built once per arch."""
    from instructscale.models.tiny import TinyModelConfig
    from instructscale.train import init_tiny

    built = {}

    def get(arch: str = "gpt2"):
        if arch not in built:
            out = tmp_path_factory.mktemp(f"base_{arch}")
            built[arch] = init_tiny(tiny_pool_path, out, TinyModelConfig(arch=arch, hidden_size=32, num_layers=2),
                                    vocab_size=300)
        return built[arch]

    return get


@pytest.fixture(scope="session")
def tiny_study_run(tmp_path_factory):
    """A finished study run directory (about 20 s): offline teacher as teacher and judge, 60 generated
    examples, subsets of 20 and 50, a tiny GPT-2 trained 2 steps per scale (TensorBoard logs on),
    responses, teacher + reference judgements, the lm-eval judge `bench` on the packaged demo task (8 items;
    only when lm-eval is installed) and the report. Treat it as read-only."""
    from instructscale.study import Study, load_study

    root = tmp_path_factory.mktemp("tiny_study")
    study = {
        "name": "tiny study", "run_dir": str(root / "run"), "seed": 0,
        "teacher": {"offline_demo": True, "concurrency": 4},
        "data": {"generate": {"target": 60, "num_new_tasks": 10, "dedup_fields": "instruction+input",
                              "rouge_threshold": 0.9}},
        "eval": {"demo_world_per_category": 1},
        "subsets": {"sizes": [20, 50]},
        "base_model": {"tiny": {"arch": "gpt2", "vocab_size": 400, "hidden_size": 32, "num_layers": 1,
                                "num_heads": 2, "max_positions": 128}},
        "train": {"preset": "demo", "max_steps": 2, "max_length": 96},
        "respond": {"preset": "greedy", "max_new_tokens": 8, "batch_size": 16},
        "judges": [{"name": "teacher", "kind": "llm", "options": {"repeats": 1}},
                   {"name": "reference", "kind": "reference"}],
        "report": {"bootstrap_samples": 100},
    }
    import importlib.util

    if importlib.util.find_spec("lm_eval") is not None:  # the optional extra: benchmark every model too
        study["judges"].append({"name": "bench", "kind": "lm-eval",
                                "options": {"tasks": ["instructscale_demo_mc"], "limit": 8}})
    import yaml

    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study, allow_unicode=True), encoding="utf-8")
    Study(load_study(path), source=str(path)).run()
    return root / "run"


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node SLURM cluster (tests/slurm_cluster.py) for the session, SLURM_CONF set
    for this process and its children; skips where it cannot start (fails under CI's required deps)."""
    import os

    from needs import REQUIRED_ENV
    from slurm_cluster import INSTALL, Cluster, unavailable

    why = unavailable()
    if why is not None:
        if "slurm" in os.environ.get(REQUIRED_ENV, "").split():
            pytest.fail(f"slurm is missing but {REQUIRED_ENV} requires it: {why} ({INSTALL})", pytrace=False)
        pytest.skip(f"needs slurm: {why} ({INSTALL})")
    cluster = Cluster(tmp_path_factory.mktemp("slurm")).start()
    before = os.environ.get("SLURM_CONF")
    os.environ.update(cluster.env)
    yield cluster
    cluster.stop()
    if before is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = before
