"""The chapter-08 widget: its pure functions against the simulator, hw and the metrics they
wrap, its figure, and its UI's callbacks driven directly."""

from __future__ import annotations

import subprocess
import sys

import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

from inferlab import hw
from inferlab.errors import InvalidValueError
from inferlab.serve.llm import RooflineStep, simulate
from inferlab.serve.metrics import SLO, SLO_PRESETS, goodput
from inferlab.serve.workload import make_workload
from inferlab.widgets import llm_serving as L


def test_kv_capacity_is_the_memory_left_after_the_weights():
    h100 = hw.device("H100 SXM")
    cap = L.kv_capacity_tokens("Llama-3-8B", h100)
    left = 0.9 * 80e9 - 8.03e9 * 2
    assert cap == int(left // (2 * 32 * 8 * 128 * 2))  # 128 KiB per token (GQA)
    cap7 = L.kv_capacity_tokens("Llama-2-7B", h100)  # 512 KiB per token, smaller weights
    assert 3.5 * cap7 < cap < 4 * cap7
    assert L.kv_capacity_tokens("Llama-3-8B", "TPU v5e", chips=2) > 0
    with pytest.raises(InvalidValueError, match="no room for a KV cache"):
        L.kv_capacity_tokens("Llama-3-8B", "TPU v5e", chips=1)  # 16 GB of weights on 16 GB
    with pytest.raises(InvalidValueError):
        L.kv_capacity_tokens("Llama-3-8B", h100, memory_fraction=1.5)
    with pytest.raises(InvalidValueError):
        L.kv_capacity_tokens("GPT-5", h100)


def test_the_scenario_is_the_simulator_and_the_metrics():
    s = L.llm_serving_scenario("paged", 6.0, "H100 SXM", n=300)
    m, dev = hw.LLAMA3_8B, hw.device("H100 SXM")
    w = make_workload(6.0, 300, prompt="trace", output="trace", seed=0)
    r = simulate(w, "paged", RooflineStep(m, dev, efficiency="llm_serving"),
                 L.kv_capacity_tokens(m, dev), max_len=4096)  # fmt: skip
    summary = r.summary()
    assert s["completed"] + s["rejected"] == 300
    assert s["p99_ttft_s"] == summary["p99_ttft_s"] and s["p50_tpot_s"] == summary["median_tpot_s"]
    assert s["output_throughput"] == summary["output_throughput"]
    assert s["goodput"] == goodput(r, SLO_PRESETS[L.DEFAULT_SLO])
    assert s["usd_per_million"] == pytest.approx(
        dev.price_per_hour / 3600 * 1e6 / summary["output_throughput"]
    )
    assert 0 < s["kv_utilisation"] <= 1 and 0 < s["kv_occupancy"] <= 1
    assert s["meets_slo"] and s["goodput"] <= s["request_throughput"]
    assert not any(k.startswith("_") for k in L._public(s)) and "_ttft" in s


def test_the_scenario_shows_the_published_orderings():
    kw = {"rate": 8.0, "n": 400}
    util = {p: L.llm_serving_scenario(p, **kw)["kv_utilisation"] for p in ("orca-max", "paged")}
    assert util["orca-max"] < 0.4 < 0.9 < util["paged"]  # vLLM: 20.4-38.2 % vs ~96 %
    static, paged = (L.llm_serving_scenario(p, **kw) for p in ("static", "paged"))
    assert not static["meets_slo"] and paged["meets_slo"]
    assert static["p99_ttft_s"] > 10 * paged["p99_ttft_s"]


def test_meets_slo_is_mlperfs_p99_rule():
    s = {"rejected": 0, "completed": 10, "p99_ttft_s": 1.9, "p99_tpot_s": 0.099, "p99_e2e_s": 9}
    assert L.meets_slo(s)
    assert not L.meets_slo(s | {"p99_tpot_s": 0.101})
    assert not L.meets_slo(s | {"rejected": 1})
    assert L.meets_slo(s, SLO(e2e=10.0)) and not L.meets_slo(s, SLO(e2e=8.0))


def test_max_rate_brackets_the_boundary():
    rate, s = L.max_rate_under_slo("paged", "L4", n=300, rel_tol=0.1)
    assert s["meets_slo"] and s["rate"] == rate
    above = L.llm_serving_scenario("paged", rate * 1.1, "L4", n=300)
    assert not above["meets_slo"]
    never = L.max_rate_under_slo("static", "L4", slo=SLO(ttft=1e-4), n=100)
    assert never[0] == 0.0


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(InvalidValueError, match="policy must be one of"):
        L.llm_serving_scenario("fcfs")
    with pytest.raises(InvalidValueError, match="rate"):
        L.llm_serving_scenario("paged", -1.0)
    with pytest.raises(InvalidValueError, match="slo"):
        L.llm_serving_scenario("paged", slo="fast")
    assert L.llm_serving_text("paged", 4.0, "TPU v5e", chips=1).startswith("cannot serve")


def test_the_figure_shows_the_numbers():
    fig = L.plot_llm_serving_scenario("paged", 8.0, n=300)
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # KV, running (twin), latency
    mem, lat, _ = fig.axes
    s = L.llm_serving_scenario("paged", 8.0, n=300)
    assert f"{s['kv_utilisation']:.0%}" in mem.get_title()
    assert lat.get_title().startswith("SLO met")
    assert isinstance(L.plot_llm_serving_scenario(), Figure)  # the defaults work


def test_explorer_callbacks_update_the_label():
    ui = L.llm_serving_explorer()
    grid, label, out = ui.children
    policy, device, model, slo, rate = grid.children
    assert isinstance(out, ipywidgets.Output) and "inferlab-llm-ui" in ui._dom_classes
    assert "inferlab-llm-text" in label._dom_classes
    assert label.value == L.llm_serving_text("paged", 8.0, "H100 SXM")
    policy.value = "static"
    assert label.value == L.llm_serving_text("static", 8.0, "H100 SXM")
    device.value, rate.value = "L4", 1.0
    assert label.value == L.llm_serving_text("static", 1.0, "L4")
    model.value = "Llama-2-7B"
    slo.value = "mlperf-llama2-70b-interactive"
    assert label.value == L.llm_serving_text("static", 1.0, "L4", model="Llama-2-7B",
                                             slo="mlperf-llama2-70b-interactive")  # fmt: skip
    with pytest.raises(InvalidValueError):
        L.llm_serving_explorer(rate=3.3)


def test_import_displays_nothing():
    out = subprocess.run(
        [sys.executable, "-c", "import inferlab.widgets.llm_serving"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == ""
    assert np.isfinite(L.llm_serving_scenario(n=50)["p99_ttft_s"])
