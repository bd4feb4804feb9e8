"""inferlab.widgets.hardware: scenario() against the hw formulas it stands on, and the explorer's
callbacks driven headless (setting a dropdown runs the same callback a browser would)."""

import subprocess
import sys

import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

from inferlab import hw
from inferlab.errors import InvalidValueError
from inferlab.widgets import hardware as hwx

H100 = hw.device("H100")
KEYS = {"latency_s", "items_per_s", "joules_per_item", "usd_per_million", "bound", "intensity"}


def test_scenario_keys_and_definitions():
    s = hwx.scenario("H100", "llama2-7b decode", batch=4, dtype="bf16", seq=256)
    assert KEYS <= set(s)
    assert s["items_per_s"] == pytest.approx(4 / s["latency_s"])
    assert s["intensity"] == pytest.approx(s["flops"] / s["bytes"])
    assert s["achieved_flops"] == pytest.approx(s["flops"] / s["latency_s"])
    # the same numbers as hw.decode_step with the serving preset
    est = hw.decode_step(hw.LLAMA2_7B, 4, 256, H100, weight_dtype="bf16", act_dtype="bf16",
                         efficiency="llm_serving")  # fmt: skip
    assert s["latency_s"] == pytest.approx(est.seconds, rel=1e-12)
    # cost: the AWS Neuron formula, price / 3600 * 1e6 / throughput
    assert s["usd_per_million"] == pytest.approx(6.88 / 3600 * 1e6 / s["items_per_s"])


def test_decode_batch_one_is_memory_bound_at_one_flop_per_byte():
    s = hwx.scenario(H100, "llama2-7b decode", 1, "bf16", efficiency="ideal", seq=16)
    assert s["bound"] == "memory"
    assert s["intensity"] == pytest.approx(1.0, rel=1e-3)  # 2 FLOP per 2-byte weight
    # weights once per step: 2 bytes x 6.738e9 parameters over 3.35 TB/s, plus a tiny KV read
    assert s["latency_s"] == pytest.approx(2 * 6.738e9 / 3.35e12, rel=0.01)


def test_doubling_bandwidth_halves_a_memory_bound_latency():
    slow = hw.Device("toy", "datacenter_gpu", peak={"bf16": 1e15}, mem_bw=1e12)
    fast = slow.with_(mem_bw=2e12)
    a = hwx.scenario(slow, "llama2-7b decode", 1, "bf16", efficiency="ideal")
    b = hwx.scenario(fast, "llama2-7b decode", 1, "bf16", efficiency="ideal")
    assert a["bound"] == b["bound"] == "memory"
    assert b["latency_s"] == pytest.approx(a["latency_s"] / 2, rel=1e-9)
    # more peak FLOP/s changes nothing while memory-bound
    c = hwx.scenario(slow.with_(peak={"bf16": 2e15}), "llama2-7b decode", 1, "bf16",
                     efficiency="ideal")  # fmt: skip
    assert c["latency_s"] == pytest.approx(a["latency_s"], rel=1e-9)


def test_doubling_peak_halves_a_compute_bound_latency():
    a = hwx.scenario(H100, "resnet50", 256, "bf16", efficiency="ideal")
    b = hwx.scenario(H100.with_(peak={"bf16": 2 * H100.peak["bf16"]}), "resnet50", 256, "bf16",
                     efficiency="ideal")  # fmt: skip
    assert a["bound"] == "compute"
    assert b["latency_s"] == pytest.approx(a["latency_s"] / 2, rel=1e-9)
    # the compute roof: 256 images x 8.18 GFLOP at 989.4 TFLOP/s
    assert a["latency_s"] == pytest.approx(256 * 8.18e9 / 989.4e12, rel=1e-9)


def test_batching_is_free_while_memory_bound():
    one = hwx.scenario(H100, "llama2-7b decode", 1, "bf16", efficiency="ideal", seq=16)
    many = hwx.scenario(H100, "llama2-7b decode", 64, "bf16", efficiency="ideal", seq=16)
    # scaling-book: T = B * context * KV / BW + P_bytes / BW while 2BP / FLOPs < P_bytes / BW
    kv = hw.LLAMA2_7B.kv_bytes_per_token("bf16")
    assert kv == 2 * 32 * 32 * 128 * 2
    for s, b in ((one, 1), (many, 64)):
        expected = b * 16 * kv / H100.mem_bw + 2 * 6.738e9 / H100.mem_bw
        assert s["latency_s"] == pytest.approx(expected, rel=1e-9)
    assert many["items_per_s"] > 60 * one["items_per_s"]  # 64x the tokens for ~ the same step


def test_energy_uses_the_peak_of_the_format_that_runs():
    s = hwx.scenario(H100, "resnet50", 64, "bf16")
    t = s["latency_s"]
    util_c = s["flops"] / (H100.peak["bf16"] * t)
    util_m = s["bytes"] / (H100.mem_bw * t)
    watts = 700 * (0.30 + 0.40 * util_c + 0.20 * util_m)  # GenZ's split of the TDP
    assert s["joules_per_item"] == pytest.approx(watts * t / 64, rel=1e-9)
    assert s["joules_per_item"] <= 700 * t / 64  # never above the TDP


def test_unknown_power_or_price_give_none():
    s = hwx.scenario("TPU v5e", "resnet50", 8, "bf16")  # no published TDP
    assert s["joules_per_item"] is None and s["usd_per_million"] is not None
    s = hwx.scenario("H200", "resnet50", 8, "bf16")  # no on-demand list price
    assert s["usd_per_million"] is None and s["joules_per_item"] is not None
    text = hwx.scenario_text("H200", "resnet50", 8, "bf16")
    assert "J per image" in text and "$" not in text


def test_missing_dtype_is_a_clear_message():
    with pytest.raises(InvalidValueError, match="Coral Edge TPU has no dense bf16 peak.*int8"):
        hwx.scenario("Coral", "resnet50", 1, "bf16")
    text = hwx.scenario_text("Coral", "resnet50", 1, "bf16")
    assert text.startswith("cannot predict: Coral Edge TPU has no dense bf16 peak")
    assert "it has int8" in text
    assert "latency" in hwx.scenario_text("Coral", "resnet50", 1, "int8")
    with pytest.raises(InvalidValueError, match="no dense bf16"):
        hwx.plot_scenario("Coral", "resnet50", 1, "bf16")


def test_overhead_bound_and_memory_capacity():
    s = hwx.scenario(H100, "resnet50", 1, "bf16", efficiency=hw.Efficiency(overhead_s=1e-2))
    assert s["bound"] == "overhead" and s["overhead_s"] == pytest.approx(1e-2)
    # Llama-2-7B in fp32 is 27 GB of weights: more than an L4's 24 GB
    assert hwx.scenario("L4", "llama2-7b decode", 1, "fp32")["fits_memory"] is False
    assert "does NOT fit" in hwx.scenario_text("L4", "llama2-7b decode", 1, "fp32")
    assert hwx.scenario("L4", "llama2-7b decode", 1, "bf16")["fits_memory"] is True
    assert hwx.scenario("TPU v5e", "resnet50", 1, "bf16")["fits_memory"] is True


def test_course_model_matches_model_estimate():
    graph = hwx.course_graph("mlp")
    assert hwx.course_graph("mlp") is graph  # built once
    s = hwx.scenario(H100, "mlp", 32, "bf16", graphs={"mlp": graph})
    est = hw.model_estimate(graph, {"x": (32, 64)}, H100, "bf16", efficiency="kernel")
    assert s["latency_s"] == pytest.approx(est.seconds, rel=1e-12)
    assert s["item"] == "sample" and s["bound"] == "memory"
    per_op = hw.Efficiency(0.7, 0.8, overhead_s=5e-6)
    s = hwx.scenario(H100, "mlp", 32, "bf16", efficiency=per_op, graphs={"mlp": graph})
    assert s["bound"] == "overhead"  # a tiny model: fixed costs per node dominate
    assert s["overhead_s"] == pytest.approx(5e-6 * len(est.per_node))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "bert"}, "model must be one of"),
        ({"batch": 0}, "batch"),
        ({"batch": 2.5}, "batch"),
        ({"model": "gpt", "seq": 256}, "at most 128 tokens"),
        ({"dtype": "fp12"}, "unknown number format"),
        ({"device": "no such chip"}, "no device matches"),
        ({"efficiency": "fast"}, "unknown efficiency preset"),
    ],
)
def test_bad_args_raise(kwargs, match):
    args = {"device": "H100", "model": "resnet50", "batch": 1, "dtype": "bf16", **kwargs}
    with pytest.raises(InvalidValueError, match=match):
        hwx.scenario(**args)


def test_plot_scenario_puts_the_run_on_the_roofline():
    fig = hwx.plot_scenario("H100", "resnet50", 64, "bf16")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    s = hwx.scenario("H100", "resnet50", 64, "bf16")
    roof, parts = fig.axes
    star = [line for line in roof.lines if line.get_marker() == "*"][0]
    assert star.get_xdata()[0] == pytest.approx(s["intensity"])
    assert star.get_ydata()[0] == pytest.approx(s["achieved_flops"])
    widths = [bar.get_width() for bar in parts.patches]  # compute, memory, overhead, latency (ms)
    assert widths[-1] == pytest.approx(s["latency_s"] * 1e3)
    assert "compute-bound" in parts.get_title()
    assert isinstance(hwx.plot_scenario("H100"), Figure)  # defaults work


def test_explorer_callbacks_update_the_label():
    ui = hwx.hardware_explorer()
    grid, label, out = ui.children
    device, model, dtype, efficiency, batch, seq = grid.children
    assert isinstance(device, ipywidgets.Dropdown) and isinstance(out, ipywidgets.Output)
    assert "inferlab-hardware-text" in label._dom_classes
    assert label.value == hwx.scenario_text("H100 SXM", "llama2-7b decode", 1, "bf16")
    batch.value = 64
    assert label.value == hwx.scenario_text("H100 SXM", "llama2-7b decode", 64, "bf16")
    model.value, batch.value = "resnet50", 8
    efficiency.value = "ideal"
    assert label.value == hwx.scenario_text("H100 SXM", "resnet50", 8, "bf16", efficiency="ideal")
    device.value = "Coral Edge TPU"  # int8 only: a message, not a traceback
    assert label.value.startswith("cannot predict") and "it has int8" in label.value
    dtype.value = "int8"
    assert label.value.startswith("latency")
    seq.value = 1024
    assert label.value == hwx.scenario_text("Coral Edge TPU", "resnet50", 8, "int8", seq=1024,
                                            efficiency="ideal")  # fmt: skip


def test_explorer_offers_extra_efficiencies():
    mine = hw.Efficiency(0.5, 0.5, overhead_s=1e-6)
    ui = hwx.hardware_explorer(model="resnet50", efficiencies={"mine": mine})
    grid, label, _ = ui.children
    efficiency = grid.children[3]
    assert "mine" in efficiency.options and "default" in efficiency.options
    efficiency.value = "mine"
    assert label.value == hwx.scenario_text("H100 SXM", "resnet50", 1, "bf16", efficiency=mine)


def test_explorer_bad_args():
    with pytest.raises(InvalidValueError):
        hwx.hardware_explorer(batch=3)  # not on the slider
    with pytest.raises(InvalidValueError):
        hwx.hardware_explorer(model="bert")
    with pytest.raises(InvalidValueError):
        hwx.hardware_explorer(device=hw.Device("toy", "cpu", peak={"fp32": 1e9}, mem_bw=1e9))


def test_import_displays_nothing():
    out = subprocess.run(
        [sys.executable, "-c", "import inferlab.widgets.hardware"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == ""
    assert np.isfinite(hwx.scenario("H100")["latency_s"])
