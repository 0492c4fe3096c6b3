"""Supervised fine-tuning of a base model on one subset (full or LoRA), one CPU to many GPUs."""

from instructscale.train.base import init_tiny, load_base
from instructscale.train.config import TrainConfig, presets, resolve_config
from instructscale.train.run import PreparedRun, TrainResult, is_finished, prepare_training, run_train, train_manifest

__all__ = ["PreparedRun", "TrainConfig", "TrainResult", "init_tiny", "is_finished", "load_base", "prepare_training",
           "presets", "resolve_config", "run_train", "train_manifest"]
