"""The vllm backend: a clear error without the extra; real generation only with vLLM and a GPU."""

from __future__ import annotations

import importlib.util

import pytest

from instructscale.datafiles import read_jsonl_resumable
from instructscale.errors import MissingExtraError
from instructscale.respond import ModelSpec, RespondConfig, run_respond

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed")
def test_missing_vllm_names_the_extra(tiny_base_model, eval_path, tmp_path):
    cfg = RespondConfig(models=[ModelSpec(name="m", path=str(tiny_base_model("gpt2")))], eval=eval_path,
                        out=tmp_path / "o.jsonl", backend="vllm")
    with pytest.raises(MissingExtraError, match=r"pip install 'instructscale\[vllm\]'"):
        run_respond(cfg)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_VLLM, reason="needs vLLM (pip install 'instructscale[vllm]')")
def test_vllm_greedy_matches_hf(tiny_base_model, eval_path, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    spec = [ModelSpec(name="m", path=str(tiny_base_model("llama")))]
    for backend in ("vllm", "hf"):
        run_respond(RespondConfig(models=spec, eval=eval_path, out=tmp_path / f"{backend}.jsonl", backend=backend,
                                  preset="greedy", max_new_tokens=8, dtype="float32"))
    vllm_rows, hf_rows = (read_jsonl_resumable(tmp_path / f"{b}.jsonl")[0] for b in ("vllm", "hf"))
    assert len(vllm_rows) == 6
    by_id = {r["item_id"]: r for r in hf_rows}
    assert sum(r["response"] == by_id[r["item_id"]]["response"] for r in vllm_rows) >= 5
