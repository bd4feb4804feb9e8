"""inferlab.hw.measure: this machine as a Device. Only loose sanity bounds on the figures (no
timing thresholds: those belong in benchmarks/), plus the GPU benchmark's no-CUDA path."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inferlab.errors import InvalidValueError
from inferlab.hw.device import Device
from inferlab.hw.measure import (
    MIN_NBYTES,
    auto_nbytes,
    last_level_cache_bytes,
    measure_bandwidth,
    measure_matmul_flops,
    memory_capacity_bytes,
    this_machine,
)

ROOT = Path(__file__).resolve().parents[1]


def plausible(value: float, low: float, high: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and low < value < high


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_flops_plausible(dtype):
    assert plausible(measure_matmul_flops(128, dtype=dtype, repeat=2), 1e8, 1e14)


def test_matmul_flops_with_one_thread():
    assert plausible(measure_matmul_flops(128, repeat=2, threads=1), 1e8, 1e14)


def test_bandwidth_plausible():
    bw = measure_bandwidth(4 * MIN_NBYTES, repeat=2)
    assert {"copy", "scale", "add", "triad", "triad_traffic"} <= set(bw)
    for value in bw.values():
        assert plausible(value, 1e8, 1e12)
    # Same run, two byte counts: NumPy's two-pass triad moves 5 arrays, STREAM counts 3.
    assert bw["triad_traffic"] == pytest.approx(bw["triad"] * 5 / 3)


def test_auto_size_and_system_facts():
    size = auto_nbytes()
    assert MIN_NBYTES <= size <= 256 * 2**20
    llc = last_level_cache_bytes()
    assert llc is None or llc > 0
    capacity = memory_capacity_bytes()
    assert capacity is None or capacity > size


def test_this_machine_quick_is_a_cpu_device():
    dev = this_machine(quick=True)
    assert isinstance(dev, Device)
    assert dev.kind == "cpu"
    assert dev.name.startswith("this machine (")
    assert plausible(dev.peak_for("fp32"), 1e8, 1e14)
    assert plausible(dev.mem_bw, 1e8, 1e12)
    assert dev.ridge_point("fp32") > 0
    assert "measured" in dev.sources["peak_fp32"] and "measured" in dev.sources["mem_bw"]
    assert "peak_fp32_flops" in dev.notes  # the theoretical peak, for comparison


def test_this_machine_full_is_measured_once(monkeypatch):
    from inferlab.hw import measure

    calls = []

    def fake(quick):
        calls.append(quick)
        return Device("fake", "cpu", peak={"fp32": 1e11}, mem_bw=1e10)

    monkeypatch.setattr(measure, "_measure_device", fake)
    measure._this_machine_full.cache_clear()
    try:
        assert this_machine() is this_machine()
        assert calls == [False]
    finally:
        measure._this_machine_full.cache_clear()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": -4},
        {"n": 2.5},
        {"n": True},
        {"dtype": np.int32},
        {"dtype": np.float16},
        {"dtype": "not a dtype"},
        {"repeat": 0},
        {"threads": 0},
    ],
)
def test_matmul_bad_input(kwargs):
    with pytest.raises(InvalidValueError, match="measure_matmul_flops needs"):
        measure_matmul_flops(**{"n": 8, **kwargs})


@pytest.mark.parametrize("nbytes", [0, -1, 1024, MIN_NBYTES - 1, 1.5e6, "64M"])
def test_bandwidth_bad_nbytes(nbytes):
    with pytest.raises(InvalidValueError, match="nbytes"):
        measure_bandwidth(nbytes)


def test_bandwidth_bad_repeat():
    with pytest.raises(InvalidValueError, match="repeat"):
        measure_bandwidth(MIN_NBYTES, repeat=0)


def _torch_has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.skipif(_torch_has_cuda(), reason="a GPU is present: the script would measure it")
def test_gpu_roofline_without_cuda_exits_cleanly():
    script = ROOT / "benchmarks" / "gpu_roofline.py"
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "no CUDA device: nothing to measure" in done.stdout
