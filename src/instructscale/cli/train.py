"""CLI for the train stage: `instructscale train --data SUBSET --base-model M --out DIR`,
`instructscale train --manifest DIR/manifest.json --out-root DIR` and
`instructscale train init-tiny --texts POOL --out DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _presets_say(key: str) -> str:
    """`[default: replica 2, demo 3]`: these options default to the --preset's value, so
    help shows each preset's (read from the data file; the train package imports torch)."""
    import yaml
    from importlib import resources

    presets = yaml.safe_load(resources.files("instructscale").joinpath("data/train_presets.yaml").read_text("utf-8"))
    values = {name: preset[key] for name, preset in presets.items() if key in preset}
    if len(set(values.values())) == 1:
        return f"[default: {next(iter(values.values()))}]"
    return "[default: " + ", ".join(f"{name} {value}" for name, value in values.items()) + "]"


train_app = typer.Typer(help="Fine-tune a base model on a subset (full or LoRA), or on every subset of a manifest.",
                        no_args_is_help=True)


@train_app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    data: Optional[Path] = typer.Option(None, "--data", help="Subset file (JSON Lines of instruction examples)."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="Subsets manifest: train every subset in turn."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Hub id or local folder of the base model."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder of one run (with --data)."),
    out_root: Optional[Path] = typer.Option(None, "--out-root", help="Parent folder of per-subset runs (with --manifest)."),
    preset: str = typer.Option("replica", "--preset", help="Settings preset: replica (the study) or demo (tiny, CPU)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML of training settings (a `train:` section or top level)."),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt template: belle, alpaca or chat (tokenizer's). " + _presets_say("template")),
    loss_on: Optional[str] = typer.Option(None, "--loss-on", help="completion or full. " + _presets_say("loss_on")),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Max tokens per example (inputs are shortened first). " + _presets_say("max_length")),
    effective_batch_size: Optional[int] = typer.Option(None, "--effective-batch-size", help="Per-device batch x grad. accumulation x processes. " + _presets_say("effective_batch_size")),
    per_device_batch_size: Optional[int] = typer.Option(None, "--per-device-batch-size", help=_presets_say("per_device_batch_size")),
    epochs: Optional[float] = typer.Option(None, "--epochs", help=_presets_say("epochs")),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps (overrides epochs)."),
    min_steps: Optional[int] = typer.Option(None, "--min-steps", help="Train at least this many optimizer steps."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help=_presets_say("learning_rate")),
    lr_scheduler: Optional[str] = typer.Option(None, "--lr-scheduler", help="transformers scheduler name (constant, cosine, ...). " + _presets_say("lr_scheduler")),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help=_presets_say("warmup_steps")),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help=_presets_say("weight_decay")),
    packing: Optional[bool] = typer.Option(None, "--packing/--no-packing", help="Pack examples into max-length rows."),
    group_by_length: Optional[bool] = typer.Option(None, "--group-by-length/--no-group-by-length"),
    lora: Optional[bool] = typer.Option(None, "--lora/--full", help="Train a LoRA adapter instead of all weights."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r"),
    lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha"),
    lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout"),
    lora_target_modules: Optional[str] = typer.Option(None, "--lora-target-modules", help="Comma-separated module names."),
    qlora: Optional[bool] = typer.Option(None, "--qlora", help="4-bit base weights + LoRA (CUDA, needs the qlora extra)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto, fp32, bf16 or fp16."),
    gradient_checkpointing: Optional[bool] = typer.Option(
        None, "--gradient-checkpointing/--no-gradient-checkpointing", help="Recompute activations to save memory."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", help="Checkpoint every N optimizer steps."),
    resume: Optional[bool] = typer.Option(None, "--resume", help="Continue from the last checkpoint in --out."),
    keep_checkpoints: Optional[bool] = typer.Option(None, "--keep-checkpoints",
                                                    help="Keep OUT/checkpoint-* after the run finishes."),
    report_to: Optional[str] = typer.Option(None, "--report-to", help="Trackers: tensorboard (default), wandb, mlflow, a comma list, or none."),
):
    """Fine-tune BASE_MODEL on a subset; settings from --preset, then --config, then flags."""
    if ctx.invoked_subcommand is not None:
        return
    from instructscale.console import stdout
    from instructscale.errors import ConfigError
    from instructscale.train import resolve_config, run_train, train_manifest

    if data is not None and manifest is not None:
        raise ConfigError("give either --data (one run) or --manifest (every subset), not both")
    cfg = resolve_config(
        preset, config, data=data, base_model=base_model, out=out, template=template, loss_on=loss_on,
        max_length=max_length, effective_batch_size=effective_batch_size,
        per_device_batch_size=per_device_batch_size, epochs=epochs, max_steps=max_steps, min_steps=min_steps,
        learning_rate=learning_rate, lr_scheduler=lr_scheduler, warmup_steps=warmup_steps,
        weight_decay=weight_decay, packing=packing, group_by_length=group_by_length, lora=lora, lora_r=lora_r,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, qlora=qlora, precision=precision,
        gradient_checkpointing=gradient_checkpointing, seed=seed, save_steps=save_steps, resume=resume,
        keep_checkpoints=keep_checkpoints, report_to=report_to,
        lora_target_modules=lora_target_modules.split(",") if lora_target_modules else None)
    if manifest is None and cfg.data is None:
        raise ConfigError("give either --data (one run; or `data` in --config) or --manifest (every subset)")
    if cfg.base_model is None:
        raise ConfigError("--base-model is required (a Hub id or a local folder, e.g. from `train init-tiny`)")
    if manifest is not None:
        if out_root is None:
            raise ConfigError("--manifest needs --out-root")
        results = train_manifest(manifest, out_root, cfg)
    else:
        if cfg.out is None:
            raise ConfigError("--data needs --out")
        results = [run_train(cfg)]
    for r in results:
        state = "skipped (finished before)" if r.skipped else f"{r.steps} steps, loss {r.train_loss:.4f}"
        stdout.print(f"{r.out}: {state}")


@train_app.command("init-tiny")
def init_tiny(
    texts: Path = typer.Option(..., "--texts", help="Pool whose texts train the tokenizer (JSON Lines etc.)."),
    out: Path = typer.Option(..., "--out", help="Folder for the base model and tokenizer."),
    arch: str = typer.Option("gpt2", "--arch", help="gpt2, bloom or llama."),
    vocab_size: int = typer.Option(2000, "--vocab-size"),
    hidden_size: int = typer.Option(64, "--hidden-size"),
    num_layers: int = typer.Option(2, "--num-layers"),
    num_heads: int = typer.Option(4, "--num-heads"),
    max_positions: int = typer.Option(512, "--max-positions"),
    seed: int = typer.Option(0, "--seed"),
):
    """Create a tiny, randomly initialised base model offline (scale 0 of a study)."""
    from instructscale.console import stdout
    from instructscale.models.tiny import TinyModelConfig
    from instructscale.train import init_tiny as make_tiny

    cfg = TinyModelConfig(arch=arch, vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                          num_heads=num_heads, max_positions=max_positions, seed=seed)
    stdout.print(f"base model: {make_tiny(texts, out, cfg, vocab_size=vocab_size)}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.add_typer(train_app, name="train")
