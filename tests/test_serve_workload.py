"""inferlab.serve.workload: arrival processes and length distributions against their definitions.

Poisson gaps have mean 1/λ and coefficient of variation 1; vLLM's gamma gaps have mean 1/λ and CV
1/sqrt(b); on/off bursts send nothing while off; lognormal lengths hit the asked mean / median /
p90; trace lengths come from datasets/chat_lengths.csv, paired row for row.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.serve.workload import (
    Workload,
    burst_arrivals,
    chat_lengths,
    gamma_arrivals,
    lengths,
    make_workload,
    poisson_arrivals,
)


def cv(x):
    return x.std() / x.mean()


@pytest.mark.parametrize("rate", [0.5, 10.0, 2000.0])
def test_poisson_gaps_are_exponential_with_mean_one_over_rate(rate):
    t = poisson_arrivals(rate, 200_000, seed=1)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert t[0] > 0 and (gaps > 0).all()
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.01)
    assert cv(gaps) == pytest.approx(1.0, abs=0.01)
    # P(gap > mean) = e^-1 for an exponential
    assert (gaps > 1 / rate).mean() == pytest.approx(np.exp(-1), abs=0.005)


@pytest.mark.parametrize("b", [0.25, 1.0, 4.0])
def test_gamma_gaps_follow_vllm_burstiness(b):
    rate = 8.0
    gaps = np.diff(np.concatenate([[0.0], gamma_arrivals(rate, 200_000, burstiness=b, seed=2)]))
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.015)
    assert cv(gaps) == pytest.approx(1 / np.sqrt(b), rel=0.02)
    # the same draw as vLLM's formula
    ref = np.random.default_rng(2).gamma(shape=b, scale=1 / (rate * b), size=200_000)
    assert_array_equal(gaps[1:], np.diff(np.cumsum(ref)))


def test_burst_arrivals_are_silent_while_off_and_have_the_duty_cycle_rate():
    t = burst_arrivals(100.0, 50_000, on=0.5, off=1.5, seed=3)
    assert (np.diff(t) >= 0).all()
    phase = np.mod(t, 2.0)
    assert (phase < 0.5).all()  # nothing in [0.5, 2.0) of each 2 s period
    assert len(t) / t[-1] == pytest.approx(100.0 * 0.5 / 2.0, rel=0.02)
    assert_array_equal(
        burst_arrivals(7.0, 100, on=1.0, off=0.0, seed=4), poisson_arrivals(7.0, 100, 4)
    )


def test_arrivals_are_seeded():
    assert_array_equal(poisson_arrivals(3.0, 10, seed=5), poisson_arrivals(3.0, 10, seed=5))
    assert not np.array_equal(poisson_arrivals(3.0, 10, seed=5), poisson_arrivals(3.0, 10, seed=6))


@pytest.mark.parametrize("fn", [poisson_arrivals, gamma_arrivals, burst_arrivals])
@pytest.mark.parametrize("rate", [0, -1.0, float("nan"), float("inf")])
def test_bad_rates_are_refused(fn, rate):
    with pytest.raises(InvalidValueError, match="rate"):
        fn(rate, 10)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_counts_are_refused(n):
    with pytest.raises(InvalidValueError, match="n >= 1"):
        poisson_arrivals(1.0, n)
    with pytest.raises(InvalidValueError, match="n >= 1"):
        make_workload(1.0, n)


def test_bad_burst_parameters():
    with pytest.raises(InvalidValueError, match="burstiness"):
        gamma_arrivals(1.0, 10, burstiness=0)
    with pytest.raises(InvalidValueError, match="off"):
        burst_arrivals(1.0, 10, off=-1)


def test_fixed_and_uniform_lengths():
    assert_array_equal(lengths("fixed", 4, value=7), [7, 7, 7, 7])
    u = lengths("uniform", 100_000, seed=1, low=3, high=9)
    assert u.dtype == np.int64 and u.min() == 3 and u.max() == 9
    assert u.mean() == pytest.approx(6.0, abs=0.03)


@pytest.mark.parametrize(
    "params",
    [{"mean": 300, "sigma": 0.8}, {"median": 120, "sigma": 1.0}, {"median": 200, "p90": 800}],
)
def test_lognormal_lengths_hit_the_asked_statistic(params):
    x = lengths("lognormal", 400_000, seed=2, **params)
    assert x.dtype == np.int64 and x.min() >= 1
    if "mean" in params:
        assert x.mean() == pytest.approx(params["mean"], rel=0.01)
    if "median" in params:
        assert np.median(x) == pytest.approx(params["median"], rel=0.01)
    if "p90" in params:
        assert np.percentile(x, 90) == pytest.approx(params["p90"], rel=0.01)
    capped = lengths("lognormal", 1000, seed=2, max_len=256, **params)
    assert capped.max() <= 256


def test_trace_lengths_come_from_the_chat_table_in_pairs():
    prompt, output = chat_lengths()
    assert prompt.shape == output.shape and prompt.size >= 200
    assert prompt.min() >= 4 and output.min() >= 4 and (prompt + output).max() <= 2048
    # shaped like ShareGPT: long tails, outputs longer on average, means in the quoted range
    assert 150 < prompt.mean() < 350 and 280 < output.mean() < 400
    assert np.percentile(output, 99) > 4 * np.median(output)
    p = lengths("trace", 1000, seed=3, column="prompt")
    o = lengths("trace", 1000, seed=3, column="output")
    table = set(zip(prompt.tolist(), output.tolist(), strict=True))
    assert set(zip(p.tolist(), o.tolist(), strict=True)) <= table
    w = make_workload(2.0, 1000, prompt="trace", output="trace", seed=3)
    assert set(zip(w.prompt_len.tolist(), w.output_len.tolist(), strict=True)) <= table


def test_bad_length_specs():
    with pytest.raises(InvalidValueError, match="kind must be one of"):
        lengths("zipf", 3)
    with pytest.raises(InvalidValueError, match="value"):
        lengths("fixed", 3, value=0)
    with pytest.raises(InvalidValueError, match="low <= high"):
        lengths("uniform", 3, low=5, high=2)
    with pytest.raises(InvalidValueError, match="median, p90"):
        lengths("lognormal", 3, mean=10)
    with pytest.raises(InvalidValueError, match="p90 > median"):
        lengths("lognormal", 3, median=10, p90=5)
    with pytest.raises(InvalidValueError, match="column"):
        lengths("trace", 3, column="both")
    with pytest.raises(InvalidValueError, match="arrivals must be one of"):
        make_workload(1.0, 3, arrivals="uniform")
    with pytest.raises(InvalidValueError, match=r"shape \(3,\)"):
        make_workload(1.0, 3, prompt=[1, 2])


def test_make_workload_defaults_and_independent_streams():
    w = make_workload(50.0, 20_000, seed=7)
    assert len(w) == 20_000 and w.rate == pytest.approx(50.0, rel=0.02)
    assert (w.prompt_len == 1).all() and (w.output_len == 1).all()
    w2 = make_workload(50.0, 20_000, seed=7, prompt={"kind": "uniform", "low": 1, "high": 9})
    assert_array_equal(w.arrival, w2.arrival)  # changing the lengths leaves the arrivals alone
    w3 = make_workload(1.0, 5, arrivals=[0.0, 0.0, 1.0, 2.0, 2.5], prompt=np.arange(1, 6))
    assert w3.duration == 2.5 and w3.prompt_len.tolist() == [1, 2, 3, 4, 5]


def test_workload_is_validated_and_immutable():
    w = Workload(arrival=[0.0, 1.0], prompt_len=[3, 4], output_len=2)
    assert w.output_len.tolist() == [2, 2] and w.arrival.dtype == np.float64
    with pytest.raises(ValueError):
        w.arrival[0] = 5.0
    with pytest.raises(InvalidValueError, match="non-decreasing"):
        Workload(arrival=[1.0, 0.5], prompt_len=1, output_len=1)
    with pytest.raises(InvalidValueError, match=">= 0"):
        Workload(arrival=[-1.0], prompt_len=1, output_len=1)
    with pytest.raises(InvalidValueError, match="token counts >= 1"):
        Workload(arrival=[0.0], prompt_len=[0], output_len=1)
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        Workload(arrival=[0.0, 1.0], prompt_len=[1, 2, 3], output_len=1)
    with pytest.raises(ShapeError, match="at least one"):
        Workload(arrival=[], prompt_len=1, output_len=1)
