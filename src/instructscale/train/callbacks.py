"""Trainer callbacks: a per-step loss log (JSON Lines, resumable), a NaN/inf guard, the
training token rate (which the trainer's tracker integrations then log) and the progress bar (the project's rich bar with the latest loss, instead of transformers' tqdm bar
and its printed log dictionaries)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from transformers import TrainerCallback

from instructscale.console import console, progress
from instructscale.datafiles import JsonlAppender, read_jsonl_resumable, write_jsonl
from instructscale.errors import InstructscaleError


class TrainingDiverged(InstructscaleError):
    """The loss became NaN or infinite; continuing would only train on garbage."""


class NonFiniteLossGuard(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "grad_norm"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                raise TrainingDiverged(
                    f"{key} is {value} at step {state.global_step}; stopping. Lower the learning rate, check "
                    "the data, or use fp32/bf16 instead of fp16.")


class TokenRate(TrainerCallback):
    """Adds `tokens_per_second` to each log: real (non-padding) training tokens over all
    processes, from TRL's running `num_tokens`, per wall-clock second since the previous log;
    on a GPU also `peak_gpu_memory_gb`, this process's peak allocation so far (what decides
    whether a setting fits). It must run before the tracker callbacks, which log the same dictionary."""

    def on_train_begin(self, args, state, control, **kwargs):
        self._time, self._tokens = time.monotonic(), None

    def on_log(self, args, state, control, logs=None, **kwargs):
        tokens = (logs or {}).get("num_tokens")
        if tokens is None:
            return
        now = time.monotonic()
        if self._tokens is not None and tokens > self._tokens and now > self._time:
            logs["tokens_per_second"] = (tokens - self._tokens) / (now - self._time)
        elif self._tokens is None and tokens > 0 and now > self._time:  # first log: since training began
            logs["tokens_per_second"] = tokens / (now - self._time)
        self._time, self._tokens = now, tokens
        import torch

        if torch.cuda.is_available():
            logs["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)


class StepLog(TrainerCallback):
    """Appends {"step", "epoch", "loss", "learning_rate", ...} per logging step to `path`.
    On resume, entries past the checkpoint's step are dropped: those steps run again."""

    def __init__(self, path: Path, is_main: bool):
        self.path, self.is_main, self._out = Path(path), is_main, None

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.is_main:
            return
        rows, _ = read_jsonl_resumable(self.path)
        kept = [r for r in rows if r.get("step", 0) <= state.global_step]
        if len(kept) != len(rows) or not rows:
            write_jsonl(self.path, kept)
        self._out = JsonlAppender(self.path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._out is None or not logs or "loss" not in logs:
            return
        self._out.write({"step": state.global_step, "epoch": state.epoch,
                         **{k: v for k, v in logs.items() if isinstance(v, (int, float))}})

    def on_train_end(self, args, state, control, **kwargs):
        if self._out is not None:
            self._out.close()
            self._out = None


class TrainProgress(TrainerCallback):
    """One bar per run on the main process: steps done / total, time left, latest loss."""

    def __init__(self, description: str):
        self.description, self.bar, self.task, self.loss = description, None, None, None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from rich.progress import TextColumn

        self.bar = progress(TextColumn("loss {task.fields[loss]}"))
        self.bar.start()
        self.task = self.bar.add_task(self.description, total=state.max_steps, completed=state.global_step, loss="-")

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.loss = logs["loss"]
            self.bar.update(self.task, loss=f"{self.loss:.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is None:
            return
        self.bar.stop()
        self.bar = None
        loss = "" if self.loss is None else f", last logged loss {self.loss:.4f}"
        console.print(f"{self.description}: {state.global_step} optimizer steps{loss}")
