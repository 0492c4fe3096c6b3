"""The registry's record of which architectures have LoRA support (as in vLLM 0.34)."""
from dataclasses import dataclass


@dataclass
class _ModelInfo:
    supports_lora: bool


class _Registry:
    models = {"LlamaForCausalLM": True, "GPT2LMHeadModel": False, "BloomForCausalLM": False}

    def _try_inspect_model_cls(self, arch):
        return _ModelInfo(self.models[arch]) if arch in self.models else None


ModelRegistry = _Registry()
