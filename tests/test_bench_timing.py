"""inferlab.bench.timing: Timing's CIs, summary, outliers and formatting (no clocks involved)."""

import math

import numpy as np
import pytest

from inferlab import bench
from inferlab.bench import Timing, format_interval, format_seconds
from inferlab.errors import InvalidValueError

LOGNORMAL = tuple(np.random.default_rng(0).lognormal(-7, 0.3, 400))


def test_new_fields_default_and_validate():
    t = Timing((1.0, 2.0))
    assert t.number == 1 and t.warmup_times == ()
    t = Timing([0.5], number=np.int64(10), warmup_times=[np.float64(2.0)])
    assert t.number == 10 and type(t.number) is int and t.warmup_times == (2.0,)
    for bad in (0, 1.5, True):
        with pytest.raises(InvalidValueError, match="number"):
            Timing((1.0,), number=bad)
    with pytest.raises(InvalidValueError):
        Timing((1.0,), warmup_times=(-1.0,))


def test_quantile_and_mad_closed_form():
    t = Timing((0.001, 0.002, 0.003, 0.004, 0.100))
    assert t.quantile(0.5) == t.median == pytest.approx(0.003)
    assert t.quantile(0.0) == t.min and t.quantile(1.0) == t.max
    assert t.quantile(0.25) == pytest.approx(0.002)
    assert t.mad == pytest.approx(0.001)
    with pytest.raises(InvalidValueError):
        t.quantile(1.5)


def test_ci_methods():
    t = Timing(LOGNORMAL)
    order = t.ci()
    assert order == bench.quantile_ci(LOGNORMAL, 0.5, 0.95)
    assert order.low <= t.median <= order.high and order.bounded
    boot = t.ci(0.5, 0.9, method="bootstrap", seed=1)
    assert boot.method == "bootstrap" and boot.level == 0.9 and boot.low <= t.median <= boot.high
    assert t.ci(0.99).bounded  # 400 >= 368 samples
    assert not Timing(LOGNORMAL[:300]).ci(0.99).bounded
    with pytest.raises(InvalidValueError, match="method"):
        t.ci(method="normal")


def test_outliers_are_slow_only_and_relative():
    t = Timing((1e-3, 1.01e-3, 0.99e-3, 1.0e-3, 1.02e-3, 0.1e-3, 9e-3))
    assert t.outliers() == (9e-3,)  # the fast 0.1 ms is not an outlier: noise only adds time
    steady = Timing((1e-3, 1.001e-3, 1.0e-3, 1.002e-3, 1.03e-3))
    assert steady.outliers() == ()  # 3 % above the median: under the 5 % floor
    assert steady.outliers(rel=0.0) == (1.03e-3,)


def test_summary_text():
    s = Timing(LOGNORMAL).summary()
    assert s.n == 400 and s.median.q == 0.5 and s.p99.q == 0.99
    text = str(s)
    assert text.startswith("400 samples")
    assert "median" in text and "p99" in text and "95% CI" in text
    assert "unbounded" not in text
    few = str(Timing((1e-3,) * 6 + (5e-3,), number=10).summary())
    assert "each the mean of 10 calls" in few
    assert "needs >= 368 samples, have 7" in few
    assert "1 slow outlier(s), worst 5 ms" in few


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.5, "1.5 s"), (0.00123, "1.23 ms"), (4.5e-5, "45 µs"), (3e-7, "300 ns"), (0.0, "0 ns")],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_format_seconds_infinite():
    assert format_seconds(math.inf) == "∞" and format_seconds(-math.inf) == "-∞"


def test_format_interval():
    assert format_interval(bench.quantile_ci([1e-3] * 3 + [2e-3] * 3)) == "[1 ms, 2 ms]"
    assert format_interval(bench.quantile_ci([1e-3] * 5)) == "needs >= 6 samples"
    half = bench.quantile_ci(np.linspace(1e-3, 2e-3, 100), 0.99)
    assert format_interval(half).endswith(", ∞]")
