"""Portable CPU kernels (`demo run --portable`): every library on its portable code path and one
thread, so a run gives the same numbers on every x86-64 CPU. Another CPU is simulated on this one
by limiting MKL to AVX2 (MKL_ENABLE_INSTRUCTIONS), which without pinning changes the weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _python(code: str, env: dict[str, str], cwd: Path) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=900,
                         env={**os.environ, "PYTHONPATH": SRC, **env})
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1]


def test_pinning_reaches_torch_in_a_fresh_process(tmp_path):
    out = _python("from instructscale.reproducible import pin_cpu_kernels; pin_cpu_kernels(); import torch; "
                  "print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())", {}, tmp_path)
    assert out == "DEFAULT 1"


def test_pinning_after_torch_loaded_is_refused():
    import torch  # noqa: F401

    from instructscale.errors import ConfigError
    from instructscale.reproducible import pin_cpu_kernels

    with pytest.raises(ConfigError, match="before torch loads"):
        pin_cpu_kernels()


TRAIN = """
import hashlib, json
from instructscale.reproducible import pin_cpu_kernels
if PIN:
    pin_cpu_kernels()
from instructscale.train import resolve_config, run_train
run_train(resolve_config("demo", data=POOL, base_model=BASE, out=OUT, max_steps=6, max_length=64, report_to="none"))
print(hashlib.sha256(open(OUT + "/model.safetensors", "rb").read()).hexdigest())
"""


@pytest.mark.slow
def test_portable_training_is_bitwise_the_same_on_a_simulated_older_cpu(tiny_pool_path, tiny_base_model, tmp_path):
    def weights(pin: bool, cpu: dict[str, str], name: str) -> str:
        code = (f"PIN, POOL, BASE, OUT = {pin}, {json.dumps(str(tiny_pool_path))}, "
                f"{json.dumps(str(tiny_base_model('gpt2')))}, {json.dumps(str(tmp_path / name))}\n" + TRAIN)
        return _python(code, cpu, tmp_path)

    older = {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert weights(True, {}, "pinned") == weights(True, older, "pinned_older")
    if "avx512f" in Path("/proc/cpuinfo").read_text():  # here the simulation is a real change of kernels
        assert weights(False, {}, "plain") != weights(False, older, "plain_older")
