"""Fast local generation with vLLM (optional extra: pip install 'instructscale[vllm]', CUDA).
vLLM schedules its own batches; we hand it chunks so answers reach the output file (and a
killed run loses little) long before the whole evaluation set is done. A PEFT adapter is
served on top of its base through vLLM's LoRA support."""

from __future__ import annotations

from instructscale.errors import require_extra
from instructscale.respond.backend import Answer, Emit, Job, batch_seed
from instructscale.respond.hf_backend import pick_device
from instructscale.models.gguf import resolve_model_path
from instructscale.respond.prompts import adapter_base, cut_at_stop, drop_broken_tail, resolve_template
from instructscale.train.data import encode_prompt

CHUNK_BATCHES = 8  # batch_size x this many prompts per vLLM call


class VLLMBackend:
    def __init__(self, cfg, spec):
        vllm = require_extra("vllm", "vllm", "the vllm respond backend")
        self.cfg, self.gen, self._vllm = cfg, cfg.generation(), vllm
        path = resolve_model_path(spec.path)
        base = adapter_base(path)
        base = resolve_model_path(base) if base else None
        dtype = "auto" if cfg.dtype == "auto" else cfg.dtype
        self.llm = vllm.LLM(model=base or path, tokenizer=path, dtype=dtype, seed=cfg.seed,
                            enable_lora=base is not None, device=pick_device(cfg.device))
        self.lora = None
        if base is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(spec.name, 1, path)
        self.tokenizer = self.llm.get_tokenizer()
        self.template = resolve_template(spec.path, cfg.template, cfg.stop, tokenizer=self.tokenizer)
        self.settings = {"template": self.template.name, "stop": self.template.stop, "vllm": vllm.__version__}

    def generate(self, jobs: list[Job], emit: Emit) -> None:
        chunk = self.cfg.batch_size * CHUNK_BATCHES
        for start in range(0, len(jobs), chunk):
            part = jobs[start:start + chunk]
            prompts = [{"prompt_token_ids": encode_prompt(self.tokenizer, self.template, j.item.question, "")}
                       for j in part]
            outputs = self.llm.generate(prompts, self._params(part), lora_request=self.lora, use_tqdm=False)
            for job, out in zip(part, outputs):
                emit(job, self._result(out))

    def _params(self, jobs: list[Job]):
        g = self.gen
        common = dict(max_tokens=g.max_new_tokens, repetition_penalty=g.repetition_penalty,
                      stop=self.template.stop or None, seed=batch_seed(self.cfg.seed, jobs))
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
