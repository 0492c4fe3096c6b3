"""Fast local generation with vLLM (optional extra: pip install 'instructscale[vllm]', CUDA).
vLLM schedules its own batches; we hand it chunks so answers reach the output file (and a
killed run loses little) long before the whole evaluation set is done. A PEFT adapter is
served on top of its base through vLLM's LoRA support where vLLM has it for the base's
architecture and rank; otherwise it is merged into its base once (cached) and served as a
plain model, which is what vLLM can do for any architecture."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import get_args

from instructscale.console import console
from instructscale.errors import ConfigError, require_extra
from instructscale.models.gguf import resolve_model_path
from instructscale.respond.backend import Answer, Emit, Job, job_seed
from instructscale.respond.prompts import ADAPTER_CONFIG, adapter_base, cut_at_stop, drop_broken_tail, resolve_template
from instructscale.train.data import encode_prompt

CHUNK_BATCHES = 8  # batch_size x this many prompts per vLLM call
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM 0.34's allowed max_lora_rank values


class VLLMBackend:
    def __init__(self, cfg, spec):
        vllm = require_extra("vllm", "vllm", "the vllm respond backend")
        if cfg.device not in ("auto", "cuda"):  # vLLM's EngineArgs has no device: it runs where it was built for
            raise ConfigError(f"the vllm backend picks its own device; --device {cfg.device} needs --backend hf "
                              "(to choose a GPU, set CUDA_VISIBLE_DEVICES)")
        self.cfg, self.gen, self._vllm = cfg, cfg.generation(), vllm
        path = resolve_model_path(spec.path)
        base = adapter_base(path)
        base = resolve_model_path(base) if base else None
        lora_kwargs, served = {}, None
        if base is not None:
            why, rank = lora_obstacle(base, path)
            if why:
                path, base, served = merged_adapter(path, cfg.dtype), None, "merged"
                console.print(f"[yellow]{why}: serving '{spec.name}' merged into its base ({path}); "
                              "--backend hf serves adapters of any architecture without merging")
            else:
                lora_kwargs = {"enable_lora": True, "max_lora_rank": min(r for r in lora_ranks() if r >= rank)}
                served = "lora"
        dtype = "auto" if cfg.dtype == "auto" else cfg.dtype
        tokenizer = path if base is None or Path(path, "tokenizer_config.json").is_file() else base
        self.llm = vllm.LLM(model=base or path, tokenizer=tokenizer, dtype=dtype, seed=cfg.seed, **lora_kwargs)
        self.lora = None
        if lora_kwargs:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(spec.name, 1, path)
        self.tokenizer = self.llm.get_tokenizer()
        self.template = resolve_template(spec.path, cfg.template, cfg.stop, tokenizer=self.tokenizer)
        self.settings = {"template": self.template.name, "stop": self.template.stop, "vllm": vllm.__version__,
                         "adapter": served}

    def generate(self, jobs: list[Job], emit: Emit) -> None:
        chunk = self.cfg.batch_size * CHUNK_BATCHES
        for start in range(0, len(jobs), chunk):
            part = jobs[start:start + chunk]
            prompts = [{"prompt_token_ids": encode_prompt(self.tokenizer, self.template, j.item.question, "")}
                       for j in part]
            params = [self._params(job) for job in part]  # one seed per request: samples of an item differ
            outputs = self.llm.generate(prompts, params, lora_request=self.lora, use_tqdm=False)
            for job, out in zip(part, outputs):
                emit(job, self._result(out))

    def _params(self, job: Job):
        g = self.gen
        common = dict(max_tokens=g.max_new_tokens, repetition_penalty=g.repetition_penalty,
                      stop=self.template.stop or None, seed=job_seed(self.cfg.seed, job))
        if g.do_sample:
            return self._vllm.SamplingParams(temperature=g.temperature, top_p=g.top_p, top_k=g.top_k or -1, **common)
        return self._vllm.SamplingParams(temperature=0.0, **common)

    def _result(self, out) -> Answer:
        completion = out.outputs[0]
        truncated = completion.finish_reason == "length"
        text, _ = cut_at_stop(completion.text, self.template.stop)
        text = drop_broken_tail(text) if truncated else text
        return Answer(text=text.strip(), prompt_tokens=len(out.prompt_token_ids),
                      completion_tokens=len(completion.token_ids), truncated=truncated)

    def close(self) -> None:
        del self.llm


def adapter_rank(adapter: str | Path) -> int:
    """The largest LoRA rank in an adapter (its `r`, or a larger one in `rank_pattern`)."""
    config = json.loads(Path(adapter, ADAPTER_CONFIG).read_text(encoding="utf-8"))
    return max([int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())])


def lora_ranks() -> tuple[int, ...]:
    """The max_lora_rank values this vLLM accepts (a Literal in its LoRA config)."""
    try:
        from vllm.config.lora import MaxLoRARanks

        return tuple(sorted(get_args(MaxLoRARanks))) or LORA_RANKS
    except (ImportError, AttributeError):
        return LORA_RANKS


def lora_supported(architecture: str) -> bool | None:
    """Whether vLLM's model registry records LoRA support for `architecture`; None: unknown."""
    try:
        from vllm.model_executor.models import ModelRegistry

        info = ModelRegistry._try_inspect_model_cls(architecture)  # noqa: SLF001 (the registry's own record)
    except Exception:  # noqa: BLE001 (another vLLM layout: let vLLM itself decide)
        return None
    return None if info is None else bool(info.supports_lora)


def lora_obstacle(base: str, adapter: str) -> tuple[str | None, int]:
    """(why vLLM cannot serve this adapter on its base, or None; the adapter's rank), decided
    before any weights load."""
    from transformers import AutoConfig

    rank = adapter_rank(adapter)
    architectures = AutoConfig.from_pretrained(base).architectures or []
    for arch in architectures:
        if lora_supported(arch) is False:
            return f"vLLM has no LoRA support for {arch}", rank
    if rank > max(lora_ranks()):
        return f"adapter rank {rank} is above vLLM's largest max_lora_rank {max(lora_ranks())}", rank
    return None, rank


def merged_adapter(adapter: str, dtype: str) -> str:
    """The adapter merged into its base, saved once per adapter content under the user's cache."""
    from instructscale.respond.hf_backend import load_model, pick_dtype

    digest = hashlib.sha256()
    for file in sorted(Path(adapter).glob("adapter_*")):
        digest.update(file.name.encode() + file.read_bytes())
    digest.update(dtype.encode())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "instructscale" / "merged-adapters"
    out = cache / digest.hexdigest()[:16]
    if (out / "config.json").is_file():
        return str(out)
    tokenizer, model = load_model(adapter, "cpu", pick_dtype("bfloat16" if dtype == "auto" else dtype, "cpu"))
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(out)  # whole or absent: a killed merge leaves only a temp folder
    return str(out)
