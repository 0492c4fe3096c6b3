"""The vllm backend: a clear error without the extra; real generation only with vLLM and a GPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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


# The stand-in vLLM (tests/respond/vllm_standin) records engine arguments and requests; it lets
# the backend's own logic run without CUDA. The slow test below checks the recorded argument
# names against the real vLLM wheel's source.
STANDIN = Path(__file__).parent / "vllm_standin"


@pytest.fixture
def standin_vllm(monkeypatch):
    monkeypatch.syspath_prepend(str(STANDIN))
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    import vllm

    vllm.ENGINES.clear()
    vllm.REQUESTS.clear()
    yield vllm
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)


def _adapter(base, out, rank):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    targets = {"llama": ["q_proj", "v_proj"], "bloom": ["query_key_value"]}[model.config.model_type]
    get_peft_model(model, LoraConfig(r=rank, lora_alpha=16, target_modules=targets)).save_pretrained(out)
    return out


def test_each_request_gets_its_own_seed_so_samples_of_an_item_differ(standin_vllm, tiny_base_model, eval_path,
                                                                       tmp_path):
    spec = [ModelSpec(name="m", path=str(tiny_base_model("llama")))]
    cfg = dict(models=spec, eval=eval_path, backend="vllm", n=2, batch_size=16, seed=3)
    run_respond(RespondConfig(out=tmp_path / "a.jsonl", **cfg))
    seeds = [r["seed"] for r in standin_vllm.REQUESTS]
    assert len(seeds) == 12 and len(set(seeds)) == 12  # 6 items x 2 samples, all in one chunk
    rows = read_jsonl_resumable(tmp_path / "a.jsonl")[0]
    by_item = {}
    for row in rows:
        by_item.setdefault(row["item_id"], set()).add(row["response"])
    assert all(len(answers) == 2 for answers in by_item.values())
    engine = standin_vllm.ENGINES[0]
    assert "device" not in engine and engine["seed"] == 3
    standin_vllm.REQUESTS.clear()  # a rerun into a new file draws the same seeds
    run_respond(RespondConfig(out=tmp_path / "b.jsonl", **cfg))
    assert [r["seed"] for r in standin_vllm.REQUESTS] == seeds


def test_a_device_other_than_auto_or_cuda_is_refused(standin_vllm, tiny_base_model, eval_path, tmp_path):
    from instructscale.errors import ConfigError

    cfg = RespondConfig(models=[ModelSpec(name="m", path=str(tiny_base_model("llama")))], eval=eval_path,
                        out=tmp_path / "o.jsonl", backend="vllm", device="cpu")
    with pytest.raises(ConfigError, match="--backend hf"):
        run_respond(cfg)


def test_a_lora_adapter_is_served_with_a_rank_vllm_accepts(standin_vllm, tiny_base_model, eval_path, tmp_path):
    adapter = _adapter(tiny_base_model("llama"), tmp_path / "adapter", rank=24)
    run_respond(RespondConfig(models=[ModelSpec(name="a", path=str(adapter))], eval=eval_path,
                              out=tmp_path / "o.jsonl", backend="vllm", preset="greedy"))
    engine = standin_vllm.ENGINES[0]
    assert engine["enable_lora"] is True and engine["max_lora_rank"] == 32  # the smallest allowed value >= 24
    assert engine["model"] == str(tiny_base_model("llama"))
    assert {r["lora"].lora_path for r in standin_vllm.REQUESTS} == {str(adapter)}


def test_an_adapter_vllm_cannot_serve_is_merged_into_its_base_once(standin_vllm, tiny_base_model, eval_path,
                                                                  tmp_path, monkeypatch, capsys):
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    adapter = _adapter(tiny_base_model("bloom"), tmp_path / "adapter", rank=4)  # Bloom: no LoRA in vLLM
    for out in ("a.jsonl", "b.jsonl"):
        run_respond(RespondConfig(models=[ModelSpec(name="a", path=str(adapter))], eval=eval_path,
                                  out=tmp_path / out, backend="vllm", preset="greedy"))
    first, second = standin_vllm.ENGINES
    assert "enable_lora" not in first and first["model"] == second["model"]  # merged once, reused
    merged = Path(first["model"])
    assert merged.parent == tmp_path / "cache" / "instructscale" / "merged-adapters"
    assert AutoModelForCausalLM.from_pretrained(merged).config.model_type == "bloom"
    assert all(r["lora"] is None for r in standin_vllm.REQUESTS)
    assert "no LoRA support for BloomForCausalLM" in " ".join(capsys.readouterr().err.split())


@pytest.mark.slow
def test_backend_arguments_exist_in_the_real_vllm_wheel(standin_vllm, tiny_base_model, eval_path, tmp_path):
    """Downloads the vLLM wheel (about 240 MB, no dependencies, no CUDA needed) and reads the
    fields of EngineArgs, SamplingParams and LoRARequest and the registry hook from its source."""
    import ast
    import subprocess
    import zipfile

    version = "0.34.0"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"vllm=={version}", "-d",
                    str(tmp_path)], check=True, timeout=900)
    wheel = zipfile.ZipFile(next(tmp_path.glob("vllm-*.whl")))

    def fields(path: str, cls: str) -> set[str]:
        tree = ast.parse(wheel.read(path).decode())
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
        return {s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)} \
            | {s.name for s in node.body if isinstance(s, ast.FunctionDef)}

    adapter = _adapter(tiny_base_model("llama"), tmp_path / "adapter", rank=8)
    run_respond(RespondConfig(models=[ModelSpec(name="m", path=str(tiny_base_model("llama"))),
                                      ModelSpec(name="a", path=str(adapter))], eval=eval_path,
                              out=tmp_path / "o.jsonl", backend="vllm", n=2))
    engine_fields = fields("vllm/engine/arg_utils.py", "EngineArgs")
    for engine in standin_vllm.ENGINES:
        assert set(engine) <= engine_fields, set(engine) - engine_fields
    sampling = fields("vllm/sampling_params.py", "SamplingParams")
    used = set().union(*(set(r) - {"lora"} for r in standin_vllm.REQUESTS))
    assert used <= sampling, used - sampling
    lora = [n.target.id for n in ast.walk(ast.parse(wheel.read("vllm/lora/request.py").decode()))
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    assert lora[:3] == ["lora_name", "lora_int_id", "lora_path"]  # LoRARequest(name, 1, path) is positional
    assert "_try_inspect_model_cls" in fields("vllm/model_executor/models/registry.py", "_ModelRegistry")
    assert "supports_lora" in fields("vllm/model_executor/models/registry.py", "_ModelInfo")
    ranks = wheel.read("vllm/config/lora.py").decode()
    assert "MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]" in ranks
