"""inferlab.serve.metrics against vLLM's benchmark_serving ``calculate_metrics`` and Little's law.

The reference below is a transcription of vLLM's loop (benchmarks/benchmark_serving.py:
``tpot = 0; if output_len > 1: tpot = (latency - ttft) / (output_len - 1)``; goodput counts a
request when every chosen metric is ``<=`` its SLO, with ``all_tpots`` holding 0 for one-token
outputs; throughputs divide by the run's duration; percentiles are ``np.percentile``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.hw import cost_per_million
from inferlab.serve.metrics import (
    SLO,
    SLO_PRESETS,
    Result,
    cost_per_million_tokens,
    goodput,
    littles_law,
    percentile,
    slo_attainment,
)


def random_llm_result(n=400, seed=0, reject_every=13):
    """A consistent LLM-style result: waits, prefill, decode at random per-token gaps."""
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(0.1, n))
    start = arrival + rng.exponential(0.2, n)
    first = start + rng.uniform(0.01, 0.3, n)
    out = rng.integers(1, 40, n)
    finish = first + (out - 1) * rng.uniform(0.005, 0.05, n)
    rejected = np.arange(n) % reject_every == 5
    finish[rejected] = np.nan
    reasons = tuple("prompt+output > KV capacity" if r else None for r in rejected)
    return Result(
        arrival=arrival,
        start=start,
        first_token=first,
        finish=finish,
        prompt_len=rng.integers(1, 100, n),
        output_len=out,
        rejected=rejected,
        reject_reason=reasons,
        batch_sizes=rng.integers(1, 9, 50),
        busy_time=1.0,
    )


def vllm_reference(r: Result, slo_ms: dict):
    """Transcription of vLLM's calculate_metrics (times in s, SLOs in ms as its CLI takes)."""
    tpots, all_tpots, ttfts, e2els = [], [], [], []
    completed = good = total_out = total_in = 0
    for i in range(len(r)):
        if r.rejected[i]:
            continue
        latency = r.finish[i] - r.arrival[i]
        ttft = r.first_token[i] - r.arrival[i]
        output_len = int(r.output_len[i])
        tpot = 0
        if output_len > 1:
            tpot = (latency - ttft) / (output_len - 1)
            tpots.append(tpot)
        all_tpots.append(tpot)
        ttfts.append(ttft)
        e2els.append(latency)
        total_out += output_len
        total_in += int(r.prompt_len[i])
        completed += 1
    valid, slo_values = [], []
    for key, series in (("ttft", ttfts), ("tpot", all_tpots), ("e2el", e2els)):
        if key in slo_ms:
            valid.append(series)
            slo_values.append(slo_ms[key] / 1000)
    for req_metric in zip(*valid, strict=True):
        if all(s >= m for s, m in zip(slo_values, req_metric, strict=True)):
            good += 1
    return {
        "completed": completed,
        "good": good,
        "tpots": tpots,
        "ttfts": ttfts,
        "e2els": e2els,
        "total_out": total_out,
        "total_in": total_in,
    }


def test_per_request_metrics_and_summary_equal_vllms():
    r = random_llm_result()
    ref = vllm_reference(r, {})
    assert r.n_completed == ref["completed"] and r.n_completed + r.n_rejected == len(r)
    assert_allclose(r.tpot(), ref["tpots"], rtol=1e-12)
    assert_allclose(r.ttft(), ref["ttfts"], rtol=1e-12)
    assert_allclose(r.latency(), ref["e2els"], rtol=1e-12)
    s = r.summary(percentiles=(50, 90, 99, 99.9))
    dur = r.duration
    assert dur == pytest.approx(np.nanmax(r.finish) - r.arrival[0])
    assert s["request_throughput"] == pytest.approx(ref["completed"] / dur)
    assert s["output_throughput"] == pytest.approx(ref["total_out"] / dur)
    assert s["total_token_throughput"] == pytest.approx((ref["total_out"] + ref["total_in"]) / dur)
    for name, series in (("ttft", ref["ttfts"]), ("tpot", ref["tpots"]), ("e2el", ref["e2els"])):
        assert s[f"mean_{name}_s"] == pytest.approx(np.mean(series))
        assert s[f"std_{name}_s"] == pytest.approx(np.std(series))
        assert s[f"median_{name}_s"] == pytest.approx(np.median(series))
        for q in (50, 90, 99, 99.9):
            assert s[f"p{q:g}_{name}_s"] == pytest.approx(np.percentile(series, q))
    assert s["rejected_by_reason"] == {"prompt+output > KV capacity": r.n_rejected}
    assert s["mean_batch_size"] == pytest.approx(r.batch_sizes.mean())
    assert s["utilisation"] == pytest.approx(1.0 / dur)
    assert math.isnan(s["mean_itl_s"])  # no ITL recorded


@pytest.mark.parametrize(
    "slo_ms",
    [{"ttft": 300}, {"tpot": 30}, {"e2el": 900}, {"ttft": 400, "tpot": 40}, {"ttft": 1, "e2el": 1}],
)
def test_goodput_counts_requests_meeting_every_limit_like_vllm(slo_ms):
    r = random_llm_result(seed=1)
    ref = vllm_reference(r, slo_ms)
    slo = SLO(
        ttft=slo_ms.get("ttft", 0) / 1000 or None,
        tpot=slo_ms.get("tpot", 0) / 1000 or None,
        e2e=slo_ms.get("e2el", 0) / 1000 or None,
    )
    assert goodput(r, slo) == pytest.approx(ref["good"] / r.duration)
    assert slo_attainment(r, slo) == pytest.approx(ref["good"] / len(r))
    assert goodput(r, slo) <= r.request_throughput()


def test_hand_worked_example():
    # request 0: arrives 0, starts 1, first token 2, 5 tokens done at 6 -> TTFT 2, TPOT 1, E2E 6
    # request 1: 1 token, arrives 1, served 1..1.5; request 2 rejected
    r = Result(
        arrival=[0.0, 1.0, 2.0],
        start=[1.0, 1.0, np.nan],
        first_token=[2.0, 1.5, np.nan],
        finish=[6.0, 1.5, np.nan],
        output_len=[5, 1, 9],
        reject_reason=(None, None, "too long"),
    )
    assert r.ttft().tolist() == [2.0, 0.5] and r.tpot().tolist() == [1.0]
    assert r.latency().tolist() == [6.0, 0.5] and r.waiting().tolist() == [1.0, 0.0]
    assert r.duration == 6.0 and r.request_throughput() == pytest.approx(2 / 6)
    # the 1-token request has TPOT 0 for goodput; the rejected one never counts
    assert goodput(r, SLO(tpot=0.5)) == pytest.approx(1 / 6)
    assert goodput(r, SLO(tpot=1.0)) == pytest.approx(2 / 6)
    assert goodput(r, SLO(ttft=2.0, e2e=6.0)) == pytest.approx(2 / 6)
    assert slo_attainment(r, SLO(e2e=100)) == pytest.approx(2 / 3)
    # N(t): 1 on [0,1), 2 on [1,1.5), 1 on [1.5,6) -> area 1 + 1 + 4.5 = 6.5 over 6 s
    L, lw = littles_law(r)
    assert L == pytest.approx(6.5 / 6) and lw == pytest.approx(6.5 / 6)


def test_defaults_for_a_request_level_result():
    r = Result(arrival=[0.0, 0.5], finish=[1.0, 1.2])
    assert r.start.tolist() == [0.0, 0.5] and r.first_token.tolist() == [1.0, 1.2]
    assert r.output_len.tolist() == [1, 1] and r.rejected.tolist() == [False, False]
    assert r.itl is None and r.batch_sizes.size == 0 and r.tpot().size == 0
    r2 = Result(arrival=[0.0, 0.5], finish=[1.0, np.nan])
    assert r2.reject_reason == (None, "rejected") and r2.reject_counts() == {"rejected": 1}
    with pytest.raises(ValueError):
        r.finish[0] = 3.0  # read-only


def test_littles_law_is_an_identity_on_random_results():
    for seed in range(5):
        L, lw = littles_law(random_llm_result(seed=seed))
        assert L == pytest.approx(lw, rel=1e-9)


def test_percentile_is_numpys_linear_one():
    x = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(x, 50) == 3.0
    assert percentile(x, 90) == pytest.approx(4 + 0.6 * 6)  # rank 3.6 -> 4 + 0.6 * (10 - 4)
    assert percentile(x, 0) == 1.0 and percentile(x, 100) == 10.0
    with pytest.raises(InvalidValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(InvalidValueError, match=r"\[0, 100\]"):
        percentile(x, 101)
    with pytest.raises(InvalidValueError, match="finite"):
        percentile([1.0, np.nan], 50)


def test_invalid_results_are_refused():
    with pytest.raises(ShapeError, match=r"shape \(2,\)"):
        Result(arrival=[0.0, 1.0], finish=[1.0])
    with pytest.raises(InvalidValueError, match="arrival <= start"):
        Result(arrival=[1.0], finish=[0.5])
    with pytest.raises(InvalidValueError, match="arrival <= start"):
        Result(arrival=[0.0], start=[2.0], finish=[1.0])
    with pytest.raises(InvalidValueError, match="reject_reason"):
        Result(arrival=[0.0, 1.0], finish=[1.0, np.nan], reject_reason=(None, None))
    with pytest.raises(InvalidValueError, match="reject_reason"):
        Result(arrival=[0.0], finish=[1.0], reject_reason=("oops",))
    with pytest.raises(InvalidValueError, match="finite"):
        Result(arrival=[0.0], finish=[np.inf])
    with pytest.raises(InvalidValueError, match="completed"):
        littles_law(Result(arrival=[0.0], finish=[np.nan]))


def test_slos_and_presets():
    assert SLO_PRESETS["mlperf-llama2-70b-server"].ttft == 2.0
    assert SLO_PRESETS["mlperf-llama2-70b-interactive"].tpot == 0.04
    assert SLO_PRESETS["mlperf-llama3.1-8b-interactive"] == SLO(
        ttft=0.5, tpot=0.03, name="mlperf-llama3.1-8b-interactive"
    )
    with pytest.raises(InvalidValueError, match="at least one limit"):
        SLO()
    with pytest.raises(InvalidValueError, match="SLO.ttft"):
        SLO(ttft=-1)
    with pytest.raises(InvalidValueError, match="expected an SLO"):
        goodput(random_llm_result(), {"ttft": 1})


def test_cost_per_million_tokens():
    # 8 H100 at $4.25/h making 10 000 tok/s: 34 $/h / 36e6 tok/h * 1e6
    assert cost_per_million_tokens(4.25, 10_000, n_devices=8) == pytest.approx(34 / 36)
    assert cost_per_million_tokens(2.21, 500) == pytest.approx(cost_per_million(2.21, 500))
    with pytest.raises(InvalidValueError, match="n_devices"):
        cost_per_million_tokens(1.0, 1.0, n_devices=0)
    with pytest.raises(InvalidValueError):
        cost_per_million_tokens(1.0, 0.0)
