"""Unit tests of the hardware cost models: roofline, dtype rules, model cost, LLM, energy, fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inferlab import hw
from inferlab.errors import InferlabError, InvalidValueError

DEV = hw.Device("toy", "cpu", {"fp32": 1e12, "bf16": 4e12, "int8": 8e12}, 1e11, sram=1e6, tdp=100)


# ----------------------------------------------------------------------------- roofline


def test_attainable_is_min_of_the_two_roofs():
    x = np.array([0.0, 1.0, 10.0, 100.0])
    np.testing.assert_allclose(hw.attainable(x, 1e12, 1e11), [0, 1e11, 1e12, 1e12])
    assert hw.ridge_point(1e12, 1e11) == 10.0


def test_roofline_time_bound_and_upper():
    est = hw.roofline_time(2e9, 1e8, 1e12, 1e11)  # 2 ms compute, 1 ms memory
    assert est.bound == "compute" and math.isclose(est.seconds, 2e-3)
    assert math.isclose(est.upper_s, 3e-3)
    assert math.isclose(hw.roofline_time(2e9, 1e8, 1e12, 1e11, overlap=0.0).seconds, 3e-3)
    assert math.isclose(hw.roofline_time(1e6, 1e8, 1e12, 1e11, eta_memory=0.5).seconds, 2e-3)
    assert math.isclose(est.intensity, 20.0)


def test_estimates_add_op_by_op():
    a = hw.roofline_time(2e9, 1e8, 1e12, 1e11)  # compute-bound, 2 ms
    b = hw.roofline_time(1e6, 3e8, 1e12, 1e11)  # memory-bound, 3 ms
    total = a + b
    assert math.isclose(total.seconds, 5e-3)  # not max(2.001, 4) = 4 ms
    assert sum([a, b]).seconds == total.seconds


@pytest.mark.parametrize(
    "call",
    [
        lambda: hw.roofline_time(-1, 1, 1, 1),
        lambda: hw.roofline_time(1, 1, 0, 1),
        lambda: hw.roofline_time(1, 1, 1, 1, eta_compute=1.5),
        lambda: hw.roofline_time(1, 1, 1, 1, overlap=2),
        lambda: hw.attainable(-1, 1, 1),
        lambda: hw.matmul_intensity(0, 1, 1),
        lambda: hw.ridge_point("1e12", 1),
    ],
)
def test_bad_numbers_raise_clear_errors(call):
    with pytest.raises(InvalidValueError, match="must be|fraction|got"):
        call()


def test_matmul_intensity_grows_with_batch():
    values = [hw.matmul_intensity(m, 8192, 8192, 2) for m in (1, 8, 64, 512)]
    assert values == sorted(values)
    assert math.isclose(values[0], 2 * 8192 * 8192 / (2 * (8192 + 8192 * 8192 + 8192)))


# ------------------------------------------------------------------------- dtype rules


@pytest.mark.parametrize(
    "w, a, want",
    [
        ("fp32", None, "fp32"),
        ("bf16", "bf16", "bf16"),
        ("int8", "int8", "int8"),
        ("int4", "bf16", "bf16"),  # weight-only quantization: same peak, fewer bytes
        ("int8", "bf16", "bf16"),
        ("int4", "int8", "int8"),
        ("fp8", "fp8", "fp8"),
        ("int4", "int4", "int4"),
        ("fp32", "bf16", "fp32"),
    ],
)
def test_compute_dtype(w, a, want):
    assert hw.compute_dtype(w, a) == want


def test_weight_only_quantization_changes_bytes_not_peak():
    full = hw.matmul_estimate(1, 4096, 4096, DEV, "bf16")
    w4 = hw.matmul_estimate(1, 4096, 4096, DEV, "int4", "bf16")
    assert full.flops == w4.flops and full.compute_s == w4.compute_s
    assert w4.bytes < 0.3 * full.bytes and w4.seconds < 0.3 * full.seconds


def test_missing_dtype_is_a_clear_error():
    with pytest.raises(InvalidValueError, match="no published dense fp8 peak"):
        hw.matmul_estimate(8, 64, 64, DEV, "fp8")
    with pytest.raises(InvalidValueError, match="unknown number format"):
        hw.dtype_bytes("fp12")


# ----------------------------------------------------------------------- model cost


def _mlp_graph():
    from inferlab.graph import Graph, Node

    rng = np.random.default_rng(0)
    inits = {
        "w1": rng.random((64, 128), dtype=np.float32),
        "w2": rng.random((128, 10), dtype=np.float32),
    }
    nodes = [
        Node("MatMul", ["x", "w1"], ["h"]),
        Node("Relu", ["h"], ["r"]),
        Node("MatMul", ["r", "w2"], ["y"]),
    ]
    return Graph(nodes, ["x"], ["y"], inits, name="mlp")


def test_model_estimate_counts_flops_and_bytes_per_node():
    m = hw.model_estimate(_mlp_graph(), {"x": (32, 64)}, DEV.with_(sram=None), "fp32")
    assert [op for _, op, _ in m.per_node] == ["MatMul", "Relu", "MatMul"]
    assert m.flops == 2 * 32 * 64 * 128 + 32 * 128 + 2 * 32 * 128 * 10
    first = m.per_node[0][2]
    assert first.bytes == 4 * (32 * 64 + 64 * 128 + 32 * 128)
    assert math.isclose(m.seconds, sum(e.seconds for _, _, e in m.per_node))
    assert math.isclose(m.throughput(32), 32 / m.seconds)


def test_weights_in_sram_are_not_read_from_memory():
    g = _mlp_graph()
    off = hw.model_estimate(g, {"x": (1, 64)}, DEV.with_(sram=None), "int8")
    on = hw.model_estimate(g, {"x": (1, 64)}, DEV.with_(sram=1e6), "int8")
    assert on.weights_on_chip and not off.weights_on_chip
    assert off.bytes - on.bytes == (64 * 128 + 128 * 10) * 1


def test_model_estimate_uses_efficiency_presets():
    g = _mlp_graph()
    ideal = hw.model_estimate(g, {"x": (256, 64)}, DEV, "fp32")
    slow = hw.model_estimate(g, {"x": (256, 64)}, DEV, "fp32", efficiency=hw.Efficiency(0.5, 0.5))
    assert math.isclose(slow.seconds, 2 * ideal.seconds)
    with pytest.raises(InvalidValueError, match="unknown efficiency preset"):
        hw.model_estimate(g, {"x": (1, 64)}, DEV, efficiency="fast")


# ------------------------------------------------------------------------------- LLM


def test_llama_kv_bytes_per_token():
    # 2 (K and V) x 80 layers x 8 KV heads x 128 dims x 2 bytes (grouped-query attention)
    assert hw.LLAMA2_70B.kv_bytes_per_token("bf16") == 2 * 80 * 8 * 128 * 2
    assert hw.LLAMA2_7B.kv_bytes_per_token("bf16") == 2 * 32 * 32 * 128 * 2


def test_small_batch_decode_costs_the_same_as_batch_one():
    h100 = hw.device("H100")
    one = hw.decode_step(hw.LLAMA2_7B, 1, 0, h100)
    eight = hw.decode_step(hw.LLAMA2_7B, 8, 0, h100)
    assert one.bound == eight.bound == "memory"
    assert math.isclose(one.seconds, eight.seconds)
    assert math.isclose(one.seconds, hw.LLAMA2_7B.weight_bytes("bf16") / h100.mem_bw)
    big = hw.decode_step(hw.LLAMA2_7B, 1024, 0, h100)
    assert big.bound == "compute"


def test_kv_cache_reads_grow_with_context_and_batch():
    h100 = hw.device("H100")
    short = hw.decode_step(hw.LLAMA2_7B, 16, 128, h100).seconds
    long = hw.decode_step(hw.LLAMA2_7B, 16, 4096, h100).seconds
    extra = 16 * (4096 - 128) * hw.LLAMA2_7B.kv_bytes_per_token() / h100.mem_bw
    assert math.isclose(long - short, extra, rel_tol=1e-6)


def test_prefill_is_compute_bound():
    est = hw.prefill(hw.LLAMA2_7B, 1, 2048, hw.device("H100"))
    assert est.bound == "compute"
    assert est.flops > 2 * hw.LLAMA2_7B.n_params * 2048


def test_tensor_parallel_all_reduce_adds_time():
    v5e = hw.device("TPU v5e")
    plain = hw.decode_step(hw.LLAMA2_7B, 8, 1024, v5e, chips=4)
    comm = hw.decode_step(hw.LLAMA2_7B, 8, 1024, v5e, chips=4, ici_bw=4.5e10)
    assert comm.seconds > plain.seconds
    with pytest.raises(InvalidValueError, match="chips"):
        hw.decode_step(hw.LLAMA2_7B, 8, 1024, v5e, chips=0)


# ---------------------------------------------------------------------- energy, money


def test_power_model_is_between_static_and_tdp():
    assert hw.power_w(DEV, 0, 0) == pytest.approx(30.0)
    assert hw.power_w(DEV, 1, 1, 1) == pytest.approx(100.0)
    with pytest.raises(InvalidValueError, match="utilisation"):
        hw.power_w(DEV, 1.5, 0)
    with pytest.raises(InvalidValueError, match="no published TDP"):
        hw.power_w(DEV.with_(tdp=None), 0.5, 0.5)


def test_energy_of_a_memory_bound_op():
    est = hw.roofline_time(1e6, 1e9, 8e12, 1e11)  # 10 ms, memory saturated, compute idle
    joules = hw.energy_j(est, DEV, "int8")
    assert joules == pytest.approx(0.01 * 100 * (0.3 + 0.2 * 1 + 0.4 * (1e6 / 8e12 / 0.01)))


def test_bottom_up_energy_ratios():
    """Horowitz: one DRAM byte costs more than 30 fp32 multiply-adds, 500 int8 ones."""
    dram = hw.bottom_up_j(0, 1)
    assert dram / hw.bottom_up_j(1, 0, dtype="fp32") > 30
    assert dram / hw.bottom_up_j(1, 0, dtype="int8") > 500
    with pytest.raises(InvalidValueError, match="bottom-up energy knows"):
        hw.bottom_up_j(1, 0, dtype="fp64")


def test_cost_and_energy_per_item():
    assert hw.cost_per_million(3.6, 1.0) == pytest.approx(1000.0)  # $0.001/s for 1e6 s
    assert hw.items_per_kwh(1000, 1) == pytest.approx(3600)
    with pytest.raises(InvalidValueError, match="positive"):
        hw.cost_per_million(1.0, 0)


# ---------------------------------------------------------------------- calibration


def test_fit_recovers_known_efficiency():
    items = [hw.matmul_estimate(n, n, n, DEV, "fp32") for n in (8, 32, 128, 512, 2048)]
    items += [hw.matmul_estimate(1, n, n, DEV, "fp32") for n in (256, 1024, 4096)]
    true = hw.Efficiency(compute=0.6, memory=0.8, overhead_s=2e-6, overlap=0.5)
    measured = hw.predict(items, true)
    fit = hw.fit_efficiency(items, measured)
    assert hw.median_abs_error(hw.predict(items, fit), measured) < 0.02
    assert fit.compute == pytest.approx(0.6, rel=0.1)
    assert fit.memory == pytest.approx(0.8, rel=0.1)


def test_fit_needs_matching_measurements():
    items = [hw.matmul_estimate(n, n, n, DEV, "fp32") for n in (8, 32, 128)]
    with pytest.raises(InvalidValueError, match="one measured time per item"):
        hw.fit_efficiency(items, [1.0, 2.0])
    with pytest.raises(InferlabError):
        hw.fit_efficiency([1, 2, 3], [1.0, 2.0, 3.0])
