"""Supervised fine-tuning of a base model on one subset (full or LoRA), one CPU to many GPUs."""

from instructscale.train.config import TrainConfig, presets, resolve_config

# torch and transformers load when training or a base model is used, not for the config: a study
# unit that only reads TrainConfig (judging, the report) starts in its own process without them
_LAZY = {"init_tiny": "base", "load_base": "base", "PreparedRun": "run", "TrainResult": "run",
         "is_finished": "run", "prepare_training": "run", "run_train": "run", "train_manifest": "run"}

__all__ = ["PreparedRun", "TrainConfig", "TrainResult", "init_tiny", "is_finished", "load_base", "prepare_training",
           "presets", "resolve_config", "run_train", "train_manifest"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"instructscale.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'instructscale.train' has no attribute '{name}'")
