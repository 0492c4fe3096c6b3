import json

import pytest
import torch
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.subsets import SubsetsConfig, make_subsets
from instructscale.datafiles import file_sha256
from instructscale.train import is_finished, resolve_config, run_train
from instructscale.train.callbacks import TrainingDiverged
from instructscale.train.packing import packing_isolates


def _cfg(pool, base, out, **kw):
    kw = {"max_steps": 3, "max_length": 96, **kw}
    return resolve_config("demo", data=pool, base_model=str(base), out=out, **kw)


def _weights(path):
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()}


def test_full_fine_tune_saves_model_metadata_and_step_log(tiny_pool_path, tiny_base_model, tmp_path):
    base, out = tiny_base_model("gpt2"), tmp_path / "full"
    result = run_train(_cfg(tiny_pool_path, base, out, max_length=40))
    assert result.steps == 3 and not result.skipped and result.n_truncated > 0
    meta = json.loads((out / "instructscale.json").read_text())
    assert meta["template"]["prompt"].startswith("Human: ") and "Human:" in meta["template"]["stop"]
    assert meta["base_model"] == str(base) and meta["adapter"] is False and meta["complete"] is True
    assert meta["data_sha256"] == file_sha256(tiny_pool_path) and meta["n_examples"] == 48
    assert meta["train"]["lr_scheduler"] == "constant" and meta["metrics"]["n_truncated"] == result.n_truncated
    assert {"torch", "transformers", "trl", "peft"} <= set(meta["versions"])
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and all(r["learning_rate"] == 3e-3 for r in log)
    trained, before = _weights(out), _weights(base)
    assert any(not torch.equal(trained[k], before[k]) for k in before)
    assert is_finished(out) and run_train(_cfg(tiny_pool_path, base, out)).skipped
    assert not list(out.glob("checkpoint-*"))


def test_lora_with_packing_saves_only_an_adapter(tiny_pool_path, tiny_base_model, tmp_path):
    from peft import AutoPeftModelForCausalLM

    out = tmp_path / "lora"
    result = run_train(_cfg(tiny_pool_path, tiny_base_model("gpt2"), out, lora=True, packing=True))
    assert result.packing and result.steps == 3
    meta = json.loads((out / "instructscale.json").read_text())
    assert meta["adapter"] is True and meta["train"]["lora"] is True
    assert (out / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    model = AutoPeftModelForCausalLM.from_pretrained(out)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero; training moved it


@pytest.mark.parametrize("arch,isolated", [("gpt2", True), ("llama", True), ("bloom", False)])
def test_packing_isolation_is_measured_per_architecture(tiny_base_model, arch, isolated):
    """Measured with transformers 5.x: gpt2/llama build a block-diagonal mask from position ids;
    Bloom's ALiBi ignores them, so packed Bloom examples see each other."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_base_model(arch))
    assert packing_isolates(model, pad_token_id=0) is isolated


def test_bloom_packing_falls_back_to_length_grouping(tiny_pool_path, tiny_base_model, tmp_path, capsys):
    out = tmp_path / "bloom"
    result = run_train(_cfg(tiny_pool_path, tiny_base_model("bloom"), out, packing=True, max_steps=2))
    assert result.packing is False and result.steps == 2
    assert json.loads((out / "instructscale.json").read_text())["metrics"]["group_by_length"] is True
    assert "length-grouped" in capsys.readouterr().err


def test_nan_loss_stops_the_run(tiny_pool_path, tiny_base_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    broken = tmp_path / "broken"
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model("gpt2"))
    with torch.no_grad():
        model.transformer.wte.weight[:] = float("nan")
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny_base_model("gpt2")).save_pretrained(broken)
    with pytest.raises(TrainingDiverged, match="nan"):
        run_train(_cfg(tiny_pool_path, broken, tmp_path / "out"))
    assert not is_finished(tmp_path / "out")


def test_cli_trains_every_subset_of_a_manifest_and_skips_finished_ones(tiny_pool_path, tiny_base_model, tmp_path):
    make_subsets(SubsetsConfig(pool=tiny_pool_path, sizes=[16, 32], out=tmp_path / "subsets", seed=1))
    args = ["train", "--manifest", str(tmp_path / "subsets" / "manifest.json"), "--out-root", str(tmp_path / "runs"),
            "--base-model", str(tiny_base_model("gpt2")), "--preset", "demo", "--max-steps", "2",
            "--effective-batch-size", "4", "--per-device-batch-size", "2"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    for name, n in (("16", 16), ("32", 32)):
        meta = json.loads((tmp_path / "runs" / name / "instructscale.json").read_text())
        assert meta["n_examples"] == n and meta["metrics"]["gradient_accumulation"] == 2
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and second.output.count("skipped") == 2


def test_cli_takes_data_base_model_and_out_from_the_config_file_alone(tiny_pool_path, tiny_base_model, tmp_path):
    """What a study's launched training runs: `train --preset "" --config FILE`, everything in FILE."""
    import yaml

    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"train": {"data": str(tiny_pool_path), "base_model": str(tiny_base_model("gpt2")),
                                                  "out": str(tmp_path / "out"), "max_steps": 1,
                                                  "effective_batch_size": 2, "per_device_batch_size": 2}}))
    done = CliRunner().invoke(app, ["train", "--preset", "", "--config", str(settings)])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "out" / "instructscale.json").read_text())["metrics"]["steps"] == 1
    for args, message in ((["--config", str(settings), "--manifest", "m.json", "--data", "d.jsonl"], "not both"),
                          (["--base-model", "b", "--out", "o"], "give either --data")):
        failed = CliRunner().invoke(app, ["train", "--preset", "demo", *args])
        assert failed.exit_code != 0 and message in failed.output, failed.output
