"""Results that reproduce across x86-64 CPUs. On one machine a run is deterministic, but the
kernels torch picks depend on the CPU (AVX2 or AVX-512 paths in ATen, MKL and oneDNN) and sum in
other orders, so weights, answers and scores move on another machine. Pinning every library to
its portable code path and one thread makes the arithmetic the same on every x86-64 CPU, at a
cost in time (docs/demo-world.md gives the measurement). The variables are read when torch loads."""

from __future__ import annotations

import os
import sys

from instructscale.errors import ConfigError

PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "default",  # torch's own kernels: no AVX2/AVX-512 variants
    "MKL_CBWR": "COMPATIBLE",  # MKL's conditional numerical reproducibility: one code path on every CPU
    "ONEDNN_MAX_CPU_ISA": "SSE41",  # oneDNN (mkldnn) kernels limited to an ISA every x86-64 CPU has
    "OMP_NUM_THREADS": "1",  # a fixed thread count, so reductions sum in one order
    "MKL_NUM_THREADS": "1",
}


def pin_cpu_kernels() -> None:
    """Set PORTABLE_ENV for this process and its children; torch must not be loaded yet."""
    if "torch" in sys.modules:
        raise ConfigError("portable CPU kernels must be chosen before torch loads; start a new process")
    os.environ.update(PORTABLE_ENV)
