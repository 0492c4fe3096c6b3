"""The trainer `run_train` builds, inspected directly (`prepare_training` returns that same
trainer): its learning-rate schedule, batch arithmetic, loss mask, packed batches and
length-grouped batches, and its precision choice."""

import random

import pytest
import torch

from instructscale.datafiles import write_jsonl
from instructscale.errors import ConfigError
from instructscale.train import prepare_training, resolve_config, run_train
from instructscale.train.run import _mixed_precision


def _prepare(pool, base, out, preset="demo", **kw):
    return prepare_training(resolve_config(preset, data=pool, base_model=str(base), out=out, **kw))


def _scheduled_lrs(trainer, steps: int) -> list[float]:
    """Learning rate the trainer's own optimizer/scheduler pair applies at each of `steps` steps."""
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    lrs = []
    for _ in range(steps):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()  # no gradients yet: the weights stay, the schedule advances
        trainer.lr_scheduler.step()
    return lrs


def test_replica_schedule_is_truly_constant_and_batch_is_64(tiny_pool_path, tiny_base_model, tmp_path):
    run = _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "r", preset="replica", max_length=96)
    args = run.trainer.args
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.world_size) == (4, 16, 1)
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size == 64
    assert set(_scheduled_lrs(run.trainer, 300)) == {3e-6}  # no warmup at the start, no decay at the end
    decays = sorted({g["weight_decay"] for g in run.trainer.optimizer.param_groups})
    assert decays == [0.0, 0.001]  # 0.001 on weights; transformers exempts biases and norms


def test_schedule_inspection_sees_warmup_and_decay(tiny_pool_path, tiny_base_model, tmp_path):
    """The same inspection on a warmup + cosine setting shows a changing rate, so the check above can fail."""
    run = _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "c", preset="replica", max_length=96,
                   lr_scheduler="cosine", warmup_steps=10)
    lrs = _scheduled_lrs(run.trainer, 100)
    assert lrs[0] == 0 and max(lrs) == pytest.approx(3e-6) and lrs[-1] < 1e-7


def test_replica_run_logs_the_constant_rate_at_every_step(tiny_pool_path, tiny_base_model, tmp_path):
    import json

    out = tmp_path / "replica"
    result = run_train(resolve_config("replica", data=tiny_pool_path, base_model=str(tiny_base_model("gpt2")),
                                      out=out, max_length=96, max_steps=3))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert result.steps == 3 and [r["learning_rate"] for r in log] == [3e-6] * 3
    assert json.loads((out / "instructscale.json").read_text())["metrics"]["gradient_accumulation"] == 16


@pytest.mark.parametrize("loss_on", ["completion", "full"])
def test_trainer_batches_carry_the_response_only_loss_mask(tiny_pool_path, tiny_base_model, tmp_path, loss_on):
    run = _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "m", max_length=96, loss_on=loss_on,
                   effective_batch_size=4, per_device_batch_size=4)
    expected = {tuple(r["input_ids"]): r["labels"] for r in run.tokenized.rows}
    masked_prompt_tokens = 0
    for batch in run.trainer.get_train_dataloader():
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
            n = int(mask.sum())
            want = expected[tuple(ids[:n].tolist())]
            assert labels[:n].tolist() == want and set(labels[n:].tolist()) <= {-100}
            masked_prompt_tokens += want.count(-100)
    assert (masked_prompt_tokens > 0) is (loss_on == "completion")


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_packed_examples_get_the_same_logits_as_alone(tiny_pool_path, tiny_base_model, tmp_path, arch):
    """The trainer's own packed batch: each example's logits inside the pack equal its logits
    computed on its own, so packed examples do not attend to each other."""
    run = _prepare(tiny_pool_path, tiny_base_model(arch), tmp_path / "p", max_length=384, packing=True,
                   effective_batch_size=1, per_device_batch_size=1)
    assert run.packing
    batch = next(iter(run.trainer.get_train_dataloader()))
    ids, pos = batch["input_ids"][0], batch["position_ids"][0]
    starts = (pos == 0).nonzero().flatten().tolist() + [len(ids)]
    assert len(starts) >= 4  # at least three examples share the row
    model = run.trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        for a, b in zip(starts, starts[1:]):
            alone = model(input_ids=ids[a:b].unsqueeze(0)).logits[0]
            torch.testing.assert_close(packed[a:b], alone, atol=1e-4, rtol=1e-3)
        # the same row without position ids (plain concatenation) does mix examples: the check has teeth
        mixed = model(input_ids=batch["input_ids"]).logits[0]
        b0, b1 = starts[1], starts[2]
        assert not torch.allclose(mixed[b0:b1], model(input_ids=ids[b0:b1].unsqueeze(0)).logits[0], atol=1e-3)


def test_bloom_packing_request_becomes_length_grouping(tiny_pool_path, tiny_base_model, tmp_path):
    run = _prepare(tiny_pool_path, tiny_base_model("bloom"), tmp_path / "b", max_length=96, packing=True)
    assert (run.packing, run.group_by_length) == (False, True)
    assert run.trainer.args.train_sampling_strategy == "group_by_length"


def test_length_grouped_batches_need_less_padding(tiny_base_model, tmp_path):
    rng = random.Random(0)
    rows = [{"instruction": "问题 " * rng.randint(1, 4), "output": "答案 " * int(rng.lognormvariate(2.0, 0.9))}
            for _ in range(256)]
    write_jsonl(tmp_path / "skewed.jsonl", rows)
    pads = {}
    for grouped in (False, True):
        run = _prepare(tmp_path / "skewed.jsonl", tiny_base_model("gpt2"), tmp_path / str(grouped), max_length=128,
                       group_by_length=grouped, effective_batch_size=8, per_device_batch_size=8)
        pads[grouped] = sum(int((b["attention_mask"] == 0).sum()) for b in run.trainer.get_train_dataloader())
    assert pads[True] < 0.5 * pads[False]


def test_precision_auto_is_fp32_on_cpu_and_explicit_choices_pass_through(tiny_pool_path, tiny_base_model, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this test covers the CPU choice")
    run = _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "a", max_length=96)
    assert (run.trainer.args.bf16, run.trainer.args.fp16) == (False, False)
    assert _mixed_precision("bf16") == (True, False) and _mixed_precision("fp16") == (False, True)
    assert _mixed_precision("fp32") == (False, False)


@pytest.mark.gpu
def test_precision_auto_uses_the_gpus_half_precision():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    assert _mixed_precision("auto") == ((True, False) if torch.cuda.is_bf16_supported() else (False, True))


def test_chat_template_option_needs_a_tokenizer_chat_template(tiny_pool_path, tiny_base_model, tmp_path):
    with pytest.raises(ConfigError, match="chat template"):
        _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "x", template="chat")


def test_constant_schedule_with_warmup_steps_is_refused_not_silently_dropped(tiny_pool_path, tiny_base_model,
                                                                            tmp_path):
    with pytest.raises(ConfigError, match="constant_with_warmup"):
        resolve_config("replica", warmup_steps=10)
    run = _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "w", preset="replica", max_length=96,
                   lr_scheduler="constant_with_warmup", warmup_steps=10)
    lrs = _scheduled_lrs(run.trainer, 30)
    assert lrs[0] == 0 and lrs[5] == pytest.approx(1.5e-6) and set(lrs[10:]) == {3e-6}


@pytest.mark.parametrize("arch,isolated", [("gpt2", True), ("llama", True), ("bloom", False)])
def test_packing_check_holds_in_half_precision(tiny_base_model, arch, isolated):
    """A bf16 model (e.g. QLoRA's compute dtype) rounds packed and alone runs differently; the
    check must still tell isolation from leakage instead of always disabling packing."""
    from transformers import AutoModelForCausalLM

    from instructscale.train.packing import packing_isolates

    model = AutoModelForCausalLM.from_pretrained(tiny_base_model(arch)).to(torch.bfloat16)
    assert packing_isolates(model, pad_token_id=0) is isolated


@pytest.mark.parametrize(("epochs", "min_steps", "max_steps", "expected"), [
    (1, 20, -1, 20),   # 48 examples / batch 8 = 6 steps per epoch: the floor wins
    (4, 20, -1, -1),   # 24 steps from the epochs: no override
    (1, 20, 7, 7),     # an explicit max_steps always wins
    (1, 0, -1, -1),
])
def test_min_steps_sets_a_floor_under_the_epochs(tiny_pool_path, tiny_base_model, tmp_path, epochs, min_steps,
                                                 max_steps, expected):
    run = _prepare(tiny_pool_path, tiny_base_model("gpt2"), tmp_path / "m", max_length=96, epochs=epochs,
                   min_steps=min_steps, max_steps=max_steps, effective_batch_size=8, per_device_batch_size=8)
    assert run.trainer.args.max_steps == expected


def test_the_launchers_mixed_precision_is_the_one_source_for_auto(monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what `accelerate launch` sets from its YAML
    assert _mixed_precision("auto") == (True, False) and _mixed_precision("bf16") == (True, False)
    with pytest.raises(ConfigError, match="precision is fp32 but the launcher's accelerate config says "
                                          "mixed_precision: bf16"):
        _mixed_precision("fp32")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert _mixed_precision("fp32") == (False, False)


def test_a_lora_base_stays_frozen_in_the_training_half_precision(tiny_pool_path, tiny_base_model, tmp_path):
    run = _prepare(tiny_pool_path, tiny_base_model("llama"), tmp_path / "l", lora=True, precision="bf16",
                   max_length=64)
    dtypes = {(("lora_" in name), p.dtype) for name, p in run.trainer.model.named_parameters()}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}  # frozen base bf16, adapter fp32
    full = _prepare(tiny_pool_path, tiny_base_model("llama"), tmp_path / "f", precision="bf16", max_length=64)
    assert {p.dtype for p in full.trainer.model.parameters()} == {torch.float32}  # trained weights: fp32 masters


def test_a_quantized_base_is_placed_on_its_ranks_own_gpu(monkeypatch):
    from instructscale.train.base import rank_device_map

    monkeypatch.setenv("LOCAL_RANK", "3")
    assert rank_device_map() == {"": 3}
    monkeypatch.delenv("LOCAL_RANK")
    assert rank_device_map() == {"": 0}
