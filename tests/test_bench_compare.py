"""inferlab.bench.compare: interleaved side-by-side timing, ratios with CIs, tables and plots."""

import time
from functools import partial

import numpy as np
import pytest
from matplotlib.figure import Figure

from inferlab import bench
from inferlab.bench import Comparison, Timing, compare
from inferlab.errors import InvalidValueError


class Recorder:
    """Runners that log who ran, in order."""

    def __init__(self):
        self.log = []

    def runner(self, name):
        def run(*args):
            self.log.append((name, args))

        return run


def test_interleaved_rounds_rotate_the_order():
    rec = Recorder()
    runners = {k: rec.runner(k) for k in "abc"}
    result = compare(runners, 7, warmup=1, repeat=3)
    names = [n for n, _ in rec.log]
    assert names[:3] == ["a", "b", "c"]  # warm-up, in order
    assert names[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # rotating rounds
    assert all(args == (7,) for _, args in rec.log)  # every runner gets the same input
    assert list(result.timings) == ["a", "b", "c"]
    assert all(
        t.n == 3 and t.number == 1 and len(t.warmup_times) == 1 for t in result.timings.values()
    )
    assert result.baseline == "a"


def test_sequential_mode_runs_one_after_the_other():
    rec = Recorder()
    compare({k: rec.runner(k) for k in "ab"}, warmup=0, repeat=2, interleave=False)
    assert [n for n, _ in rec.log] == ["a", "a", "b", "b"]


def test_number_auto_is_per_runner():
    result = compare(
        {"sleepy": partial(time.sleep, 0.002), "empty": lambda: None}, number="auto", repeat=2
    )
    assert result.timings["sleepy"].number == 1  # one call already takes >= 1 ms
    assert result.timings["empty"].number > 10


def test_known_ratio_of_sleeps():
    result = compare(
        {"slow": partial(time.sleep, 0.004), "fast": partial(time.sleep, 0.0005)},
        baseline="fast",
        repeat=9,
    )
    assert result.fastest() == "fast"
    r = result.ratio("slow")
    assert r.estimate > 1 and r.low <= r.estimate <= r.high
    assert result.ratio("fast").estimate == 1.0
    text = str(result)
    assert "time vs fast" in text and "1 (baseline)" in text and "×" in text
    assert "9+ samples each, 95% confidence intervals" in text


def test_comparison_from_known_timings():
    base = Timing(tuple(np.linspace(1.0, 1.2, 21)))
    double = Timing(tuple(2 * np.linspace(1.0, 1.2, 21)))
    c = Comparison({"base": base, "double": double}, baseline="base")
    r = c.ratio("double")
    assert r.estimate == pytest.approx(2.0) and r.low < 2.0 < r.high
    assert r.method == "bootstrap ratio"
    assert c.table().column("engine") == ["base", "double"]
    with pytest.raises(InvalidValueError):
        c.ratio("missing")
    fig = bench.plot_comparison(c)
    assert isinstance(fig, Figure)
    with pytest.raises(InvalidValueError):
        bench.plot_comparison({"a": base})


@pytest.mark.parametrize(
    "call",
    [
        lambda: compare({}),
        lambda: compare([lambda: None]),
        lambda: compare({"a": 3}),
        lambda: compare({"a": lambda: None}, baseline="b"),
        lambda: compare({"a": lambda: None}, repeat=0),
        lambda: compare({"a": lambda: None}, warmup=-1),
        lambda: compare({"a": lambda: None}, number="many"),
        lambda: compare({"a": lambda: None}, min_time=-1),
        lambda: compare({"a": lambda: None}, level=1.0),
    ],
)
def test_bad_arguments(call):
    with pytest.raises(InvalidValueError):
        call()


def test_min_time_takes_more_rounds():
    calls = []
    start = time.perf_counter()
    result = compare({"a": lambda: calls.append(1)}, warmup=0, repeat=1, min_time=0.02)
    assert time.perf_counter() - start >= 0.02
    assert result.timings["a"].n > 1 and len(calls) == result.timings["a"].n
