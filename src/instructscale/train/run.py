"""`run_train`: fine-tune one base model on one subset, and `train_manifest` for every
subset of a study. The story: resolve settings -> load base and data -> check packing ->
train (TRL SFTTrainer on accelerate) -> save model, tokenizer and instructscale.json.

instructscale.json is written last; a run is finished exactly when it says "complete".
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from instructscale.console import console
from instructscale.datafiles import read_records, write_json
from instructscale.errors import ConfigError
from instructscale.records import InstructionExample
from instructscale.subsets.make import source_sha256
from instructscale.subsets.manifest import load_manifest
from instructscale.templates import PromptTemplate, get_template
from instructscale.train.base import load_model, load_tokenizer, lora_targets
from instructscale.train.callbacks import NonFiniteLossGuard, StepLog, TokenRate, TrainProgress
from instructscale.train.config import TrainConfig
from instructscale.train.data import Tokenized, tokenize_examples
from instructscale.train.packing import packing_isolates
from instructscale.tracking import check_trackers

METADATA = "instructscale.json"
STEP_LOG = "train_log.jsonl"


class TrainResult(BaseModel):
    out: Path
    skipped: bool = False  # already finished before this call
    steps: int = 0
    train_loss: float | None = None
    n_examples: int = 0
    n_truncated: int = 0
    packing: bool = False


@dataclass
class PreparedRun:
    """Everything `run_train` trains with: tests inspect this same trainer (its LR schedule,
    batches and collator) instead of a look-alike."""

    trainer: Any
    tokenizer: Any
    template: PromptTemplate
    tokenized: Tokenized
    n_examples: int
    packing: bool  # after the isolation check (False when the model would let packed examples mix)
    group_by_length: bool
    grad_accum: int
    num_processes: int
    load: dict  # how the model was loaded and sharded: zero3_init, load_dtype, sharding, load_peak_rss_mb per rank


def prepare_training(cfg: TrainConfig) -> PreparedRun:
    """Load base model and data, apply the length policy, check packing, build the trainer."""
    # the launcher's world size (torchrun, accelerate launch, deepspeed all set WORLD_SIZE); asking
    # accelerate's state here would initialise it before the Trainer picks the CPU/GPU backend
    num_processes = int(os.environ.get("WORLD_SIZE", "1"))
    grad_accum = cfg.gradient_accumulation(num_processes)
    template = get_template(cfg.template)

    tokenizer = load_tokenizer(cfg.base_model)
    examples = read_records(cfg.data, InstructionExample)
    tokenized = tokenize_examples(examples, tokenizer, template, max_length=cfg.max_length, loss_on=cfg.loss_on)
    if tokenized.truncated:
        console.print(f"[yellow]{tokenized.truncated} of {len(examples)} examples exceed max_length="
                      f"{cfg.max_length}: inputs shortened first, response starts kept")

    loaded = {}

    def load(args):
        """Called by `_build_trainer` once the training arguments exist (see there)."""
        model = load_model(cfg.base_model, quantize_4bit=cfg.qlora, dtype=_load_dtype(cfg, args))
        loaded.update(_load_facts(model))
        if args.packing and not packing_isolates(model, tokenizer.pad_token_id):
            console.print(f"[yellow]warning: packed examples of this {model.config.model_type} model can attend to "
                          "each other (it ignores position ids); using length-grouped batches instead of packing")
            args.packing, args.train_sampling_strategy = False, "group_by_length"
        return model

    train_rows, eval_rows = held_out(tokenized.rows, cfg.eval_share, cfg.seed)
    trainer = _build_trainer(cfg, load, tokenizer, train_rows, eval_rows, cfg.packing, cfg.group_by_length, grad_accum,
                             is_main=int(os.environ.get("RANK", "0")) == 0)
    if trainer.args.world_size != num_processes:
        raise ConfigError(f"launcher reports {num_processes} processes but training runs on {trainer.args.world_size}")
    loaded.update(_sharding(trainer), load_peak_rss_mb=_per_rank(loaded.pop("load_peak_rss_mb")))
    packing, group_by_length = trainer.args.packing, trainer.args.train_sampling_strategy == "group_by_length"
    return PreparedRun(trainer, tokenizer, template, tokenized, len(examples), packing, group_by_length,
                       grad_accum, num_processes, loaded)


def run_train(cfg: TrainConfig) -> TrainResult:
    if cfg.data is None or cfg.base_model is None or cfg.out is None:
        raise ConfigError("training needs data, base_model and out")
    out = Path(cfg.out)
    if is_finished(out):
        console.print(f"{out} is already trained; skipping")
        return _result_from_metadata(out)
    checkpoint = last_checkpoint(out)
    if checkpoint is not None and not cfg.resume:
        raise ConfigError(f"{out} holds checkpoints of an unfinished run: pass --resume to continue it, "
                          "or choose another output folder")
    run = prepare_training(cfg)
    trainer, tokenized = run.trainer, run.tokenized
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final_eval = trainer.evaluate() if trainer.eval_dataset is not None else {}  # the last point of the eval curve

    trainer.save_model(str(out))
    peak_rss_mb = _per_rank(_peak_rss_mb())  # every rank takes part
    result = TrainResult(out=out, steps=trainer.state.global_step, train_loss=output.training_loss,
                         n_examples=run.n_examples, n_truncated=tokenized.truncated, packing=run.packing)
    if trainer.is_world_process_zero():
        run.tokenizer.save_pretrained(out)
        metrics = {**output.metrics, **final_eval, "steps": result.steps, "tokens": tokenized.tokens,
                   "n_truncated": tokenized.truncated, "packing": run.packing,
                   "group_by_length": run.group_by_length, "gradient_accumulation": run.grad_accum,
                   "num_processes": run.num_processes, **run.load, "peak_rss_mb": peak_rss_mb}
        _write_metadata(out, cfg, run.template, run.n_examples, metrics)
        if not cfg.keep_checkpoints:
            for ckpt in out.glob("checkpoint-*"):
                shutil.rmtree(ckpt, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return result


def train_manifest(manifest_path: Path, out_root: Path, cfg: TrainConfig) -> list[TrainResult]:
    """Train every subset of a manifest in turn (smallest first); finished ones are skipped,
    an interrupted one resumes from its last checkpoint."""
    manifest = load_manifest(manifest_path)
    results = []
    for entry in manifest.subsets:
        run_cfg = cfg.model_copy(update={"data": manifest.subset_path(entry), "out": Path(out_root) / entry.name,
                                         "resume": True})
        console.print(f"[bold]subset {entry.name}[/] ({entry.size} examples) -> {run_cfg.out}")
        results.append(run_train(run_cfg))
    return results


def is_finished(out: Path) -> bool:
    try:
        return json.loads((Path(out) / METADATA).read_text(encoding="utf-8")).get("complete") is True
    except (OSError, json.JSONDecodeError):
        return False


def last_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes trainer_state.json last, so a folder
    without it was cut short by the crash and is ignored."""
    ckpts = [p for p in Path(out).glob("checkpoint-*")
             if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)


def held_out(rows: list, share: float, seed: int) -> tuple[list, list]:
    """(train rows, eval rows): a seeded share of the subset held out for eval loss (at least one
    row when share > 0), so overfitting shows as eval loss rising while train loss falls."""
    if share <= 0:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(share * len(rows)))
    held = set(order[:n_eval])
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def _build_trainer(cfg, load_model, tokenizer, rows, eval_rows, packing, group_by_length, grad_accum, *, is_main):
    from datasets import Dataset
    from transformers import PrinterCallback
    from transformers.integrations import TensorBoardCallback
    from trl import SFTConfig, SFTTrainer

    import torch

    bf16, fp16 = _mixed_precision(cfg.precision)
    evaluation = {"eval_strategy": "steps", "eval_steps": cfg.eval_steps,
                  "per_device_eval_batch_size": cfg.per_device_batch_size} if eval_rows else {}
    args = SFTConfig(**{**dict(
        output_dir=str(cfg.out), per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=grad_accum, num_train_epochs=cfg.epochs, max_steps=_max_steps(cfg, len(rows)),
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, bf16=bf16, fp16=fp16, seed=cfg.seed,
        activation_checkpointing=cfg.gradient_checkpointing,  # transformers 5 name of gradient checkpointing
        logging_steps=cfg.logging_steps, logging_nan_inf_filter=False,  # the filter would hide a NaN loss
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        report_to=check_trackers(cfg.report_to) or "none", run_name=Path(cfg.out).name,  # logs in OUT/runs/
        disable_tqdm=True, max_length=cfg.max_length, packing=packing, packing_strategy="bfd",
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),  # without it, CPU processes under torchrun do not form a DDP group
    ), **evaluation, **cfg.trainer_args})
    # only now: the arguments register DeepSpeed's config (so from_pretrained builds the model
    # under ZeRO-3's zero.Init, each rank holding its shard) and start the process group (which
    # FSDP's cpu_ram_efficient_loading needs to load on rank 0 only)
    model = load_model(args)
    peft_config = None
    if cfg.lora or cfg.qlora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules=lora_targets(model, cfg.lora_target_modules), task_type="CAUSAL_LM")
    # rows already carry input_ids and labels (our truncation policy and loss mask), so TRL
    # skips its own tokenization and uses the labels as given.
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None, peft_config=peft_config,
                         callbacks=[NonFiniteLossGuard(), StepLog(Path(cfg.out) / STEP_LOG, is_main),
                                    TrainProgress(f"train {Path(cfg.out).name}")])
    trainer.remove_callback(PrinterCallback)  # with disable_tqdm it would print every log dict
    for callback in trainer.callback_handler.callbacks:  # TensorBoard run named by the model (scale, seed, arm)
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:  # not a timestamp
            callback.logging_dir = str(Path(cfg.out) / "runs" / Path(cfg.out).name)
    trainer.callback_handler.callbacks.insert(0, TokenRate())  # first, so the trackers log its rate too
    return trainer


def _load_dtype(cfg: TrainConfig, args) -> str | None:
    """The training's half precision where the loaded weights are not the master copy: a
    frozen LoRA base, or under DeepSpeed, which casts the model to half precision itself and
    keeps fp32 master weights in its optimizer. Else None: fp32 (load_model)."""
    if cfg.qlora or not (cfg.lora or args.deepspeed_plugin is not None):
        return None
    return "bfloat16" if args.bf16 else "float16" if args.fp16 else None


def _load_facts(model) -> dict:
    """What the run's metadata records about loading, right after `from_pretrained`: whether
    ZeRO-3's zero.Init built the model partitioned (DeepSpeed tags each parameter it owns
    with a `ds_id`), and this rank's peak host memory so far."""
    return {"zero3_init": any(hasattr(p, "ds_id") for p in model.parameters()),
            "load_dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            "load_peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> int:
    """This process's peak resident host memory so far (weights that transformers maps from
    safetensors count only once touched, so the peak after training is the telling one)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB


def _sharding(trainer) -> dict:
    """How the trainer's accelerator shards the model. accelerate runs FSDP on GPUs (and other
    accelerators) only: on CPU an FSDP launch trains as plain data parallel, which is said
    here and in the metadata rather than left to look like FSDP."""
    from accelerate.utils import DistributedType

    state = trainer.accelerator.state
    if state.distributed_type == DistributedType.DEEPSPEED:
        return {"sharding": f"deepspeed zero-{state.deepspeed_plugin.zero_stage}"}
    if state.distributed_type == DistributedType.FSDP:
        return {"sharding": f"fsdp{state.fsdp_plugin.fsdp_version}"}
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        why = (f"none (FSDP unavailable on CPU: accelerate shards with FSDP on GPUs only; "
               f"ran {state.distributed_type.value} data parallel)")
        console.print(f"[yellow]warning: sharding {why}")
        return {"sharding": why}
    return {"sharding": "none"}


def _per_rank(value) -> list:
    """`value` of every rank, in rank order (a one-item list without a process group)."""
    from accelerate.utils import gather_object

    return gather_object([value])


def _max_steps(cfg: TrainConfig, n_rows: int) -> int:
    """`max_steps`, or `min_steps` when the epochs would give fewer optimizer steps: small
    subsets of a model trained from scratch need a floor, or they measure compute, not data."""
    if cfg.max_steps > 0 or not cfg.min_steps:
        return cfg.max_steps
    epoch_steps = math.ceil(cfg.epochs * math.ceil(n_rows / cfg.effective_batch_size))
    return cfg.min_steps if epoch_steps < cfg.min_steps else -1


def _mixed_precision(precision: str) -> tuple[bool, bool]:
    """(bf16, fp16) of the training. A launcher's own mixed precision (accelerate's YAML sets
    ACCELERATE_MIXED_PRECISION, which DeepSpeed's config follows) is the one source of truth
    for `auto`; an explicit setting that disagrees with it is an error naming both."""
    import torch

    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if launcher in ("bf16", "fp16"):
        if precision not in ("auto", launcher):
            raise ConfigError(f"train.precision is {precision} but the launcher's accelerate config says "
                              f"mixed_precision: {launcher}; set both alike (or precision: auto)")
        return launcher == "bf16", launcher == "fp16"
    if precision == "auto":
        if not torch.cuda.is_available():
            return False, False
        return (True, False) if torch.cuda.is_bf16_supported() else (False, True)
    return precision == "bf16", precision == "fp16"


def _write_metadata(out: Path, cfg: TrainConfig, template, n_examples: int, metrics: dict) -> None:
    import accelerate
    import peft
    import torch
    import transformers
    import trl

    from instructscale import __version__

    write_json(out / METADATA, {
        "template": template.model_dump(),
        "base_model": cfg.base_model,
        "adapter": bool(cfg.lora or cfg.qlora),
        "train": cfg.model_dump(mode="json"),
        "data": str(cfg.data),
        "data_sha256": source_sha256(cfg.data),
        "n_examples": n_examples,
        "versions": {"instructscale": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "trl": trl.__version__, "peft": peft.__version__,
                     "accelerate": accelerate.__version__},
        "metrics": metrics,
        "complete": True,
    })


def _result_from_metadata(out: Path) -> TrainResult:
    meta = json.loads((out / METADATA).read_text(encoding="utf-8"))
    m = meta.get("metrics", {})
    return TrainResult(out=out, skipped=True, steps=m.get("steps", 0), train_loss=m.get("train_loss"),
                       n_examples=meta.get("n_examples", 0), n_truncated=m.get("n_truncated", 0),
                       packing=m.get("packing", False))
