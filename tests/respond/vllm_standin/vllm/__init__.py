"""A stand-in for the `vllm` package, put on sys.path by tests that have no GPU: it records
every engine argument and request, and answers with text that is a function of each
request's seed, so tests can see which requests shared a seed. tests/respond/
test_respond_vllm.py checks the recorded argument names against the real vLLM wheel's
source (slow test)."""

from __future__ import annotations

from dataclasses import dataclass, field

__version__ = "0.34.0-standin"
ENGINES: list[dict] = []  # kwargs of every LLM(...)
REQUESTS: list[dict] = []  # one per prompt: its SamplingParams fields and lora request


@dataclass
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    stop: list[str] | None = None
    seed: int | None = None


@dataclass
class _Completion:
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"


@dataclass
class _Output:
    prompt_token_ids: list[int]
    outputs: list[_Completion] = field(default_factory=list)


class LLM:
    def __init__(self, model: str, tokenizer: str | None = None, **kwargs):
        from transformers import AutoTokenizer

        self.kwargs = {"model": model, "tokenizer": tokenizer, **kwargs}
        ENGINES.append(self.kwargs)
        self._tokenizer = AutoTokenizer.from_pretrained(tokenizer or model)

    def get_tokenizer(self):
        return self._tokenizer

    def generate(self, prompts, sampling_params, lora_request=None, use_tqdm=True):
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        outputs = []
        for prompt, p in zip(prompts, params, strict=True):
            REQUESTS.append({**vars(p), "lora": lora_request})
            text = "greedy" if p.temperature == 0 else f"sample-{p.seed}"
            outputs.append(_Output(prompt["prompt_token_ids"], [_Completion(text, [1, 2])]))
        return outputs
