"""inferlab.bench: Timing statistics in closed form, measure's call counts and checks, gflops."""

import math
import statistics
import time

import numpy as np
import pytest

from inferlab.bench import Timing, gflops, measure
from inferlab.errors import InferlabError, InvalidValueError


class Counter:
    """A callable that counts its calls and remembers the arguments of the last one."""

    def __init__(self):
        self.calls = 0
        self.last = None

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.last = (args, kwargs)


# ---- Timing -------------------------------------------------------------------------------------


def test_timing_statistics_closed_form():
    t = Timing((0.001, 0.002, 0.003, 0.004, 0.100))
    assert t.n == 5
    assert t.median == pytest.approx(0.003)
    assert t.mean == pytest.approx(0.022)
    assert t.min == pytest.approx(0.001)
    assert t.max == pytest.approx(0.100)
    assert t.stdev == pytest.approx(statistics.stdev(t.times))
    # 99th percentile, linear interpolation: 0.004 + 0.96 * (0.100 - 0.004)
    assert t.p99 == pytest.approx(0.004 + 0.96 * 0.096)


def test_timing_p99_matches_numpy_percentile():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 1001):
        times = rng.lognormal(-7, 1, size=n)
        t = Timing(tuple(times))
        assert t.p99 == pytest.approx(np.percentile(times, 99))
        assert t.min <= t.median <= t.p99 <= t.max


def test_timing_single_sample_and_conversion():
    t = Timing([np.float64(0.5)])
    assert t.times == (0.5,) and type(t.times[0]) is float
    assert t.stdev == 0.0 and t.p99 == t.median == t.min == 0.5


@pytest.mark.parametrize(
    ("times", "text"),
    [
        ((1.23e-3, 1.23e-3, 1.23e-3), "1.23 ms ± 0 (median of 3)"),
        ((2.5,), "2.5 s ± 0 (median of 1)"),
        ((4.5e-5, 4.6e-5, 4.4e-5), "45 µs ± 1 (median of 3)"),
        ((3e-7, 3e-7), "300 ns ± 0 (median of 2)"),
    ],
)
def test_timing_str(times, text):
    assert str(Timing(times)) == text


@pytest.mark.parametrize("times", [(), (-1.0,), (float("nan"),), (1.0, float("inf"))])
def test_timing_rejects_bad_samples(times):
    with pytest.raises(InvalidValueError):
        Timing(times)


# ---- measure ------------------------------------------------------------------------------------


def test_measure_counts_warmup_and_samples():
    fn = Counter()
    t = measure(fn, warmup=3, repeat=5, number=2)
    assert isinstance(t, Timing)
    assert t.n == 5
    assert fn.calls == 3 + 5 * 2


def test_measure_defaults():
    fn = Counter()
    t = measure(fn)
    assert t.n == 7 and fn.calls == 1 + 7


def test_measure_passes_arguments():
    fn = Counter()
    measure(fn, 1, "two", warmup=0, repeat=1, key=3)
    assert fn.last == ((1, "two"), {"key": 3})


def test_measure_sleep_is_timed_per_call():
    t = measure(time.sleep, 0.002, warmup=0, repeat=5, number=2)
    assert t.n == 5
    assert 0.002 <= t.median < 0.05  # sleep never returns early; generous upper bound for CI
    assert t.min <= t.median <= t.p99
    assert t.p99 >= t.median


def test_measure_known_cost_scales():
    x = np.ones(200_000)
    small = measure(np.sum, x[:2_000], repeat=15, number=20).min
    large = measure(np.sum, x, repeat=15, number=2).min
    assert large > 5 * small  # 100× more data; loose so a noisy machine still passes


def test_measure_min_time_takes_more_samples():
    fn = Counter()
    start = time.perf_counter()
    t = measure(fn, warmup=0, repeat=1, min_time=0.02)
    assert time.perf_counter() - start >= 0.02
    assert t.n > 1 and fn.calls == t.n


@pytest.mark.parametrize(
    "kwargs",
    [
        {"repeat": 0},
        {"repeat": -3},
        {"repeat": 1.5},
        {"repeat": True},
        {"warmup": -1},
        {"number": 0},
        {"number": 2.0},
        {"min_time": -0.1},
        {"min_time": float("nan")},
        {"min_time": "1s"},
    ],
)
def test_measure_rejects_bad_arguments(kwargs):
    fn = Counter()
    with pytest.raises(InvalidValueError) as err:
        measure(fn, **kwargs)
    name = next(iter(kwargs))
    assert name in str(err.value)  # says which argument and what it got
    assert fn.calls == 0  # validated before anything runs
    assert isinstance(err.value, ValueError) and isinstance(err.value, InferlabError)


def test_measure_rejects_non_callable():
    with pytest.raises(InvalidValueError, match="callable"):
        measure(3)


# ---- gflops -------------------------------------------------------------------------------------


def test_gflops_closed_form():
    assert gflops(1e9, 1.0) == 1.0
    assert gflops(2 * 1024**3, 0.01) == pytest.approx(214.7483648)
    assert gflops(0, 1.0) == 0.0
    assert gflops(np.int64(10**12), np.float32(2.0)) == pytest.approx(500.0)
    assert math.isclose(gflops(2 * 512**3, Timing((0.001, 0.002)).min), 268.435456)


@pytest.mark.parametrize(("flops", "seconds"), [(1e9, 0.0), (1e9, -1.0), (-1, 1.0), (1e9, "1")])
def test_gflops_rejects_bad_arguments(flops, seconds):
    with pytest.raises(InvalidValueError):
        gflops(flops, seconds)
