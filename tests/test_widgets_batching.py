"""inferlab.widgets.batching: the scenario against the simulator it wraps, queueing theory and
closed forms, Triton's rule replayed batch by batch, and the explorer's callbacks driven headless
(setting a control runs the callback a browser would)."""

import subprocess
import sys

import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

from inferlab.checks.ch07 import triton
from inferlab.errors import InvalidValueError
from inferlab.serve import batching, metrics, queueing, workload
from inferlab.widgets import batching as bw

A, B = bw.DEFAULT_SERVICE


def test_the_scenario_is_the_simulator():
    s = bw.batching_scenario(800.0, 16, 2.0, "dynamic", preferred=(4, 8), n=5000, seed=3)
    w = workload.make_workload(800.0, 5000, seed=3)
    r = batching.simulate(w, batching.ServiceTime.linear(A, B), "dynamic", max_batch=16,
                          preferred=(4, 8), max_delay=0.002)  # fmt: skip
    lat = np.sort(r.latency())
    np.testing.assert_allclose(s["latency_ms"], 1e3 * lat, rtol=1e-12)
    assert s["p99_ms"] == pytest.approx(1e3 * np.percentile(lat, 99))
    assert s["p50_ms"] == pytest.approx(1e3 * np.percentile(lat, 50))
    assert s["mean_ms"] == pytest.approx(1e3 * lat.mean())
    assert s["completed"] == 5000 and s["rejected"] == 0
    assert s["throughput"] == pytest.approx(5000 / (np.max(r.finish) - r.arrival.min()))
    np.testing.assert_array_equal(s["batch_sizes"], r.batch_sizes)
    assert s["batch_sizes"].sum() == 5000 and s["mean_batch"] == pytest.approx(
        5000 / r.batch_sizes.size
    )
    busy = sum(A + B * b for b in r.batch_sizes)
    assert s["utilisation"] == pytest.approx(busy / r.duration)
    assert s["preferred"] == (4, 8)


def test_goodput_is_vllms_definition():
    s = bw.batching_scenario(900.0, 8, 5.0, n=4000, slo_ms=15.0)
    r = s["result"]
    good = np.sum(r.finish - r.arrival <= 0.015)
    assert s["goodput"] == pytest.approx(good / (r.finish.max() - r.arrival.min()))
    assert s["slo_attainment"] == pytest.approx(good / 4000)
    assert s["goodput"] <= s["throughput"]


def test_no_batching_is_md1():
    """policy none with a deterministic service time is the M/D/1 queue: the mean wait within
    5 % of Pollaczek–Khinchine at utilisation 0.5 and 0.8 (200 000 requests)."""
    mu = 1 / (A + B)
    for rho in (0.5, 0.8):
        s = bw.batching_scenario(rho * mu, 1, 0.0, "none", n=200_000)
        theory = queueing.md1_wait(rho * mu, mu)
        assert s["mean_wait_ms"] / 1e3 == pytest.approx(theory, rel=0.05)
        assert s["capacity"] == pytest.approx(mu) and not s["overloaded"]
        assert s["utilisation"] == pytest.approx(rho, rel=0.02)
        assert set(s["batch_sizes"].tolist()) == {1}


def test_littles_law_holds():
    for policy in bw.BATCHING_POLICIES:
        r = bw.batching_scenario(500.0, 8, 1.0, policy, n=3000)["result"]
        big_l, lam_w = metrics.littles_law(r)
        assert big_l == pytest.approx(lam_w, rel=1e-9), policy


def test_static_batching_waits_for_the_batch_to_fill():
    """At a low load every static batch is full (but the last) and a request waits on average
    for (B - 1) / 2 more arrivals: (B - 1) / (2 rate) seconds, then s(B)."""
    rate, size = 100.0, 8
    s = bw.batching_scenario(rate, size, 0.0, "static", n=80_000)
    assert (s["batch_sizes"][:-1] == size).all() and s["batch_sizes"].sum() == 80_000
    fill = (size - 1) / (2 * rate)
    assert s["mean_ms"] / 1e3 == pytest.approx(fill + A + B * size, rel=0.02)
    assert s["capacity"] == pytest.approx(size / (A + B * size))


def test_dynamic_batches_follow_tritons_rule():
    """Replay every batch the simulator ran: at its start time, Triton's rule (the exercise's
    reference) applied to the requests then waiting sends exactly that many."""
    s = bw.batching_scenario(1200.0, 16, 3.0, "dynamic", preferred=(4, 8), n=3000, seed=1)
    r = s["result"]
    starts, first = np.unique(r.start, return_index=True)
    sizes = np.diff(np.append(first, r.start.size))
    np.testing.assert_array_equal(sizes, s["batch_sizes"])
    for t, i, k in zip(starts, first, sizes, strict=True):
        queued = r.arrival[i:][r.arrival[i:] <= t]  # FIFO: all requests before i are served
        assert triton._reference(queued, t, 16, (4, 8), 0.003) == k


def test_dynamic_with_no_delay_is_greedy_and_beats_static_at_low_load():
    greedy = bw.batching_scenario(200.0, 32, 0.0, "dynamic", n=5000)
    static = bw.batching_scenario(200.0, 32, 0.0, "static", n=5000)
    assert greedy["p99_ms"] < static["p99_ms"] / 5  # static waits for 32 arrivals
    assert greedy["mean_batch"] < 2


def test_overload_is_flagged_and_batching_raises_capacity():
    none = bw.batching_scenario(600.0, 16, 2.0, "none", n=5000)
    dyn = bw.batching_scenario(600.0, 16, 2.0, "dynamic", n=5000)
    assert none["overloaded"] and not dyn["overloaded"]
    assert none["capacity"] == pytest.approx(1 / (A + B))
    assert none["throughput"] == pytest.approx(none["capacity"], rel=0.01)  # saturated
    assert dyn["p99_ms"] < none["p99_ms"] / 100
    assert "OVERLOADED" in bw.batching_scenario_text(600.0, 16, 2.0, "none", n=5000)


def test_results_are_cached_copies():
    s = bw.batching_scenario(300.0, 4, 1.0)
    s["p99_ms"] = -1.0
    again = bw.batching_scenario(300.0000000001, 4, 1.0)
    assert again["p99_ms"] > 0 and again["result"] is s["result"]


def test_text_and_figure():
    s = bw.batching_scenario()
    text = bw.batching_scenario_text()
    assert text.startswith(f"latency p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms")
    assert f"mean batch {s['mean_batch']:.2f}" in text
    fig = bw.plot_batching_scenario()
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    cdf = fig.axes[0].lines[0]
    np.testing.assert_allclose(cdf.get_xdata(), s["latency_ms"])
    assert cdf.get_ydata()[-1] == 1.0
    heights = [p.get_height() for p in fig.axes[2].patches]
    assert heights == pytest.approx([s["rate"], s["throughput"], s["goodput"], s["capacity"]])
    sizes, counts = np.unique(s["batch_sizes"], return_counts=True)
    assert [p.get_height() for p in fig.axes[1].patches] == counts.tolist()
    assert f"p99 {s['p99_ms']:.1f} ms" in fig._suptitle.get_text()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policy": "continuous"}, "policy must be one of"),
        ({"rate": 0.0}, r"rate \(requests/s\) must be in"),
        ({"rate": -5.0}, r"rate \(requests/s\) must be in"),
        ({"rate": float("nan")}, r"rate \(requests/s\) must be in"),
        ({"rate": "fast"}, r"rate \(requests/s\) must be a number"),
        ({"max_batch": 0}, r"max_batch must be in \[1, 128\]"),
        ({"max_batch": 2.5}, "max_batch must be a whole number"),
        ({"max_delay_ms": -1.0}, r"max_delay_ms must be in \[0, 100\]"),
        ({"preferred": (4, 64)}, r"preferred batch sizes must be in \[1, max_batch=16\]"),
        ({"preferred": "abc"}, "preferred must be a sequence of batch sizes"),
        ({"service": (0.0, 0.0)}, r"service\(1\) = a \+ b must be > 0"),
        ({"service": 0.01}, r"service must be \(a, b\)"),
        ({"n": 5}, r"n must be in \[10, 1e\+06\]"),
        ({"slo_ms": 0}, r"slo_ms must be in"),
    ],
)
def test_bad_args_raise(kwargs, match):
    with pytest.raises(InvalidValueError, match=match):
        bw.batching_scenario(**kwargs)
    assert bw.batching_scenario_text(**kwargs).startswith("cannot compute: ")


def test_explorer_callbacks_update_the_label():
    ui = bw.batching_explorer()
    controls, label, out = ui.children
    rate, max_batch, max_delay, policy = controls.children
    assert isinstance(rate, ipywidgets.FloatLogSlider) and isinstance(out, ipywidgets.Output)
    assert isinstance(max_batch, ipywidgets.IntSlider) and isinstance(
        max_delay, ipywidgets.FloatSlider
    )
    assert list(policy.options) == list(bw.BATCHING_POLICIES)
    assert "inferlab-batching-text" in label._dom_classes
    assert "inferlab-batching-ui" in ui._dom_classes
    assert label.value == bw.batching_scenario_text()
    max_batch.value = 32
    assert label.value == bw.batching_scenario_text(600.0, 32, 2.0, "dynamic")
    max_delay.value = 5.0
    assert label.value == bw.batching_scenario_text(600.0, 32, 5.0, "dynamic")
    rate.value = 100.0
    assert label.value == bw.batching_scenario_text(100.0, 32, 5.0, "dynamic")
    policy.value = "static"
    assert label.value == bw.batching_scenario_text(100.0, 32, 5.0, "static")
    assert label.value.startswith("latency p50")


def test_explorer_bad_args():
    with pytest.raises(InvalidValueError, match="policy must be one of"):
        bw.batching_explorer(policy="fifo")
    with pytest.raises(InvalidValueError, match="max_batch must be in"):
        bw.batching_explorer(max_batch=0)


def test_import_displays_nothing():
    out = subprocess.run(
        [sys.executable, "-c", "import inferlab.widgets.batching"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == ""
