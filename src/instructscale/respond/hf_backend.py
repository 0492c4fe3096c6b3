"""Local generation with transformers: batches of similar-length prompts, left padding,
KV cache, greedy or sampling, stop strings. A PEFT adapter folder is merged into its base
once at load time, so generation runs at the speed of a plain model."""

from __future__ import annotations

from pathlib import Path

from instructscale.errors import ConfigError, first_line
from instructscale.models.gguf import resolve_model_path
from instructscale.respond.backend import Answer, Emit, Job, batch_seed
from instructscale.respond.prompts import adapter_base, cut_at_stop, drop_broken_tail, resolve_template
from instructscale.train.data import encode_prompt


class HFBackend:
    def __init__(self, cfg, spec):
        self.cfg, self.gen = cfg, cfg.generation()
        self.device = pick_device(cfg.device)
        self.tokenizer, self.model = load_model(spec.path, self.device, pick_dtype(cfg.dtype, self.device))
        self.template = resolve_template(spec.path, cfg.template, cfg.stop, tokenizer=self.tokenizer)
        self.settings = {"template": self.template.name, "stop": self.template.stop, "device": self.device,
                         "dtype": str(self.model.dtype).removeprefix("torch.")}

    def generate(self, jobs: list[Job], emit: Emit) -> None:
        prompts = [self._fit(encode_prompt(self.tokenizer, self.template, job.item.question, "")) for job in jobs]
        # longest first: similar lengths share a batch (little padding), and a batch too big
        # for the device fails at the start of a run, not at its end
        order = sorted(range(len(jobs)), key=lambda i: -len(prompts[i]))
        size = self.cfg.batch_size
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            batch = [jobs[i] for i in idx]
            for job, out in zip(batch, self._generate_batch([prompts[i] for i in idx], batch)):
                emit(job, out)

    def close(self) -> None:
        del self.model

    def _fit(self, ids: list[int]) -> list[int]:
        """Keep the prompt's end (the turn marker the answer follows) when prompt plus answer
        would not fit the model's positions."""
        limit = getattr(self.model.config, "max_position_embeddings", None) or \
            getattr(self.model.config, "n_positions", None)
        if limit is None or len(ids) + self.gen.max_new_tokens <= limit:
            return ids
        room = limit - self.gen.max_new_tokens
        if room < 1:
            raise ConfigError(f"max_new_tokens={self.gen.max_new_tokens} leaves no room for a prompt in this "
                              f"model's {limit} positions")
        return ids[-room:]

    def _generate_batch(self, prompts: list[list[int]], jobs: list[Job]) -> list[Answer]:
        import torch

        tok, g = self.tokenizer, self.gen
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        kwargs = dict(max_new_tokens=g.max_new_tokens, do_sample=g.do_sample, repetition_penalty=g.repetition_penalty,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, use_cache=True)
        if g.do_sample:
            kwargs.update(temperature=g.temperature, top_p=g.top_p, top_k=g.top_k)
            torch.manual_seed(batch_seed(self.cfg.seed, jobs))
        else:  # the model's own generation_config may hold sampling values that greedy ignores
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self.template.stop:
            kwargs.update(stop_strings=self.template.stop, tokenizer=tok)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        return [self._decode(row, len(p)) for row, p in zip(out[:, width:].tolist(), prompts)]

    def _decode(self, new: list[int], prompt_tokens: int) -> Answer:
        eos = self.tokenizer.eos_token_id
        hit_eos = eos in new
        ids = new[:new.index(eos)] if hit_eos else [t for t in new if t != self.tokenizer.pad_token_id]
        text, hit_stop = cut_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), self.template.stop)
        generated = len(ids) + hit_eos
        truncated = not hit_eos and not hit_stop and generated >= self.gen.max_new_tokens
        if truncated:
            text = drop_broken_tail(text)
        return Answer(text=text.strip(), prompt_tokens=prompt_tokens, completion_tokens=generated,
                      truncated=truncated)


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # CPU half precision is slow and lossy for generation


def load_model(path: str, device: str, dtype):
    """(tokenizer, model) for a full model folder, Hub id or `.gguf` file, or a base model plus
    a PEFT adapter (the adapter folder's adapter_config.json names the base)."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(path)
    base = adapter_base(path)
    base = resolve_model_path(base) if base else None
    tok_source = path if base is None or Path(path, "tokenizer_config.json").is_file() else base
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_source)
        model = AutoModelForCausalLM.from_pretrained(base or path, dtype=dtype)
        if base is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, path).merge_and_unload()
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: a truncated or damaged weights file
        raise ConfigError(f"cannot load model '{path}': {first_line(exc)}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:  # padding is masked, so any id will do
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"tokenizer of '{path}' has no EOS token: answers could only end at the length limit")
    return tokenizer, model.to(device).eval()
