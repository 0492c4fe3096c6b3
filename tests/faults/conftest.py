"""Fixtures for the fault-injection suite: a secret API key in the environment, small
stage inputs, and a check that no file under a folder holds the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from instructscale.datafiles import write_jsonl
from instructscale.records import EvalItem, Response

KEY_ENV = "INSTRUCTSCALE_FAULTS_KEY"
SECRET = "tk_live_9f8e7d6c5b4a3f2e1d"  # not sk- shaped: only the env-value redaction can catch it

QUESTIONS = [("math", "3加5等于几？"), ("open_qa", "天空为什么是蓝色的？"), ("translation", "把'你好'翻译成英文"),
             ("classification", "判断情感：太好看了！")]
ITEMS = [EvalItem(id=f"q{i}", category=cat, question=f"第 {i} 题：{text}") for i, (cat, text) in enumerate(QUESTIONS)]
FAILING_ITEMS = ("第 1 题", "第 3 题")  # the requests about these items fail in a first run


@pytest.fixture
def secret_key(monkeypatch):
    """The API key environment variable (name, value) every stage of the suite uses."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    return KEY_ENV, SECRET


@pytest.fixture
def fault_inputs(tmp_path):
    """(eval path, responses path): 4 items, answered by two models (8 answers)."""
    eval_path, resp_path = tmp_path / "eval.jsonl", tmp_path / "responses.jsonl"
    write_jsonl(eval_path, ITEMS)
    write_jsonl(resp_path, [Response(item_id=i.id, model=m, response=f"{m} 的回答") for m in ("small", "large")
                            for i in ITEMS])
    return eval_path, resp_path


def mentions_failing_item(body: dict) -> bool:
    return any(tag in str(m.get("content")) for m in body["messages"] for tag in FAILING_ITEMS)


def files_holding(root: Path, secret: str) -> list[Path]:
    """Every file under `root` (outputs, caches, manifests, lock files) that contains `secret`."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def small_disk(tmp_path):
    """Factory: `small_disk(kib) -> folder` on a real file system of that size (a tmpfs, so
    writes past it fail with a real 'No space left on device'); skipped where mounting is
    not allowed (not root, or no CAP_SYS_ADMIN in a container)."""
    import subprocess

    mounted = []

    def make(kib: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)
