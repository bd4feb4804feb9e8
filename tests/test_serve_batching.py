"""inferlab.serve.batching: the request-level simulator, policy by policy.

- ``none`` equals the Lindley recursion ``D_i = max(A_i, D_{i-1}) + S_i`` (vectorised as
  ``D = C + cummax(A - C_prev)``), request for request;
- ``static`` and ``dynamic`` follow hand-worked timelines (Triton's rules: full batch, largest
  preferred size, or the oldest request's max_queue_delay);
- closed loop obeys the response-time law X = C / (R + Z);
- every run accounts for every request and satisfies Little's law.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from inferlab.errors import InvalidValueError
from inferlab.serve.batching import ServiceTime, max_throughput, simulate
from inferlab.serve.metrics import littles_law
from inferlab.serve.workload import Workload, make_workload


def at(times) -> Workload:
    return Workload(arrival=np.asarray(times, float), prompt_len=1, output_len=1)


def lindley(arrival, service):
    c = np.cumsum(service)
    return c + np.maximum.accumulate(arrival - (c - service))


def assert_consistent(r, n):
    assert r.n_completed + r.n_rejected == n == len(r)
    if r.n_completed:
        L, lw = littles_law(r)
        assert L == pytest.approx(lw, rel=1e-9)
        assert r.batch_sizes.sum() == r.n_completed


# ----------------------------------------------------------------------------- service times


def test_service_time_models():
    assert ServiceTime.linear(0.01, 0.002)(8) == pytest.approx(0.026)
    assert ServiceTime.constant(0.5)(3) == 0.5
    tab = ServiceTime.table([1, 8, 32], [0.010, 0.012, 0.040])
    assert tab(1) == pytest.approx(0.010) and tab(20) == pytest.approx(0.026)
    with pytest.raises(InvalidValueError, match="covers batch sizes 1..32"):
        tab(64)
    with pytest.raises(InvalidValueError, match="strictly increasing"):
        ServiceTime.table([4, 2], [0.1, 0.2])
    with pytest.raises(InvalidValueError, match="equal shape"):
        ServiceTime.table([1, 2], [0.1])
    with pytest.raises(InvalidValueError, match="b must be >= 0"):
        ServiceTime.linear(0.1, -1)
    with pytest.raises(InvalidValueError, match="random"):
        ServiceTime.exponential(0.1)(1)
    draw = ServiceTime.exponential(lambda b: 0.01 * b).bind(np.random.default_rng(0))
    x = np.array([draw(4) for _ in range(50_000)])
    assert x.mean() == pytest.approx(0.04, rel=0.02) and x.std() == pytest.approx(0.04, rel=0.02)
    assert max_throughput(ServiceTime.linear(0.01, 0.001), 32) == pytest.approx(32 / 0.042)
    with pytest.raises(InvalidValueError, match="deterministic"):
        max_throughput(ServiceTime.exponential(0.01), 4)


# ----------------------------------------------------------------------------- none


@pytest.mark.parametrize("service", ["constant", "exponential"])
def test_no_batching_is_the_lindley_recursion(service):
    w = make_workload(80.0, 20_000, seed=3)
    if service == "constant":
        st, s = 0.01, np.full(len(w), 0.01)
    else:
        st = ServiceTime.exponential(0.01)
        s = np.random.default_rng(4).exponential(1.0, 8192 * 3)[: len(w)] * 0.01
    r = simulate(w, st, seed=4)
    assert_allclose(r.finish, lindley(w.arrival, s), rtol=0, atol=1e-9)
    assert_allclose(r.start, r.finish - s, rtol=0, atol=1e-9)
    assert (r.batch_sizes == 1).all() and r.busy_time == pytest.approx(s.sum())
    assert_consistent(r, len(w))


# ----------------------------------------------------------------------------- static


def test_static_waits_for_a_full_batch_and_flushes_at_the_end():
    r = simulate(at([0, 1, 2, 3, 4]), 0.5, "static", max_batch=3)
    assert r.batch_sizes.tolist() == [3, 2]
    assert r.start.tolist() == [2, 2, 2, 4, 4]
    assert r.finish.tolist() == [2.5, 2.5, 2.5, 4.5, 4.5]
    assert r.waiting().tolist() == [2, 1, 0, 1, 0]
    assert_consistent(r, 5)


def test_static_full_batches_queue_behind_a_busy_server():
    # 6 at once, batches of 2 taking 1 s each: they start at 0, 1, 2
    r = simulate(at([0] * 6), ServiceTime.linear(0.5, 0.25), "static", max_batch=2)
    assert r.start.tolist() == [0, 0, 1, 1, 2, 2] and r.batch_sizes.tolist() == [2, 2, 2]


# ----------------------------------------------------------------------------- dynamic (Triton)


def test_dynamic_runs_a_full_batch_or_after_max_delay():
    w = at([0.0, 0.1, 0.2, 2.0, 2.1, 2.2, 2.3, 2.4])
    r = simulate(w, 1.0, "dynamic", max_batch=4, max_delay=0.5)
    # t=0.5: oldest waited 0.5 s -> run 3; t=2.3: 4 wait -> run at once; t=3.3: the last one
    assert r.batch_sizes.tolist() == [3, 4, 1]
    assert_allclose(r.start, [0.5, 0.5, 0.5, 2.3, 2.3, 2.3, 2.3, 3.3])
    assert_allclose(r.finish, [1.5, 1.5, 1.5, 3.3, 3.3, 3.3, 3.3, 4.3])
    assert_consistent(r, len(w))


def test_dynamic_sends_the_largest_preferred_size_it_can_form():
    w = at([0.0, 0.1, 0.2, 0.3, 0.4, 5.0])
    r = simulate(w, 1.0, "dynamic", max_batch=8, preferred=(2, 4), max_delay=10.0)
    # t=0.1: 2 wait -> preferred 2 runs; t=1.1: 3 wait (0.2, 0.3, 0.4) -> preferred 2 again;
    # t=2.1: 1 waits, its 10 s delay not over; t=5.0: 2 wait -> preferred 2
    assert r.batch_sizes.tolist() == [2, 2, 2]
    assert_allclose(r.start, [0.1, 0.1, 1.1, 1.1, 5.0, 5.0])


def test_dynamic_without_delay_is_greedy():
    w = at([0.0, 0.0, 0.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    r = simulate(w, 1.0, "dynamic", max_batch=4)
    # t=0: 3 wait -> all 3; t=1: 5 wait -> 4 (max); t=2: the last one
    assert r.batch_sizes.tolist() == [3, 4, 1]
    assert_allclose(r.start, [0, 0, 0, 1, 1, 1, 1, 2])


def test_dynamic_batching_sustains_a_rate_that_kills_one_at_a_time():
    st = ServiceTime.linear(0.010, 0.001)  # one at a time: 91 req/s at most
    w = make_workload(300.0, 20_000, seed=5)
    dyn = simulate(w, st, "dynamic", max_batch=32, max_delay=0.002)
    none = simulate(w, st)
    assert max_throughput(st, 1) < 300 < max_throughput(st, 32)
    assert dyn.summary()["p99_e2el_s"] < 0.1 < 10 < none.summary()["p99_e2el_s"]
    assert 3 < dyn.batch_sizes.mean() < 32
    assert dyn.request_throughput() == pytest.approx(300, rel=0.03)
    for r in (dyn, none):
        assert_consistent(r, len(w))


# ----------------------------------------------------------------------------- closed loop


@pytest.mark.parametrize("think", [0.0, 0.05])
@pytest.mark.parametrize("policy,kw", [("none", {}), ("dynamic", {"max_batch": 8})])
def test_closed_loop_obeys_the_response_time_law(policy, kw, think):
    c = 6
    w = make_workload(1.0, 3000, seed=6)  # arrival times are ignored in closed loop
    r = simulate(w, ServiceTime.linear(0.01, 0.002), policy, concurrency=c, think_time=think, **kw)
    assert r.arrival[:c].tolist() == [0.0] * c
    assert (np.diff(r.arrival) >= 0).all()
    x, resp = r.request_throughput(), r.latency().mean()
    assert x == pytest.approx(c / (resp + think), rel=0.01)  # X = C / (R + Z)
    assert_consistent(r, len(w))


def test_closed_loop_with_a_batch_as_large_as_the_clients():
    r = simulate(make_workload(1.0, 40, seed=0), 0.5, "static", max_batch=4, concurrency=4)
    assert r.batch_sizes.tolist() == [4] * 10 and r.finish[-1] == pytest.approx(5.0)
    # fewer clients than a static batch: it runs what it has instead of waiting forever
    r = simulate(make_workload(1.0, 9, seed=0), 0.5, "static", max_batch=4, concurrency=3)
    assert r.batch_sizes.tolist() == [3, 3, 3]


# ----------------------------------------------------------------------------- accounting


def test_a_full_queue_rejects_and_counts():
    r = simulate(at([0.0] * 10 + [5.0]), 1.0, max_queue=3)
    assert r.n_rejected == 7 and r.n_completed == 4
    assert r.reject_counts() == {"queue full (max_queue=3)": 7}
    assert np.isnan(r.finish[r.rejected]).all()
    assert_consistent(r, 11)


@pytest.mark.parametrize(
    "policy,kw",
    [
        ("none", {}),
        ("static", {"max_batch": 16}),
        ("dynamic", {"max_batch": 16, "max_delay": 0.003}),
        ("dynamic", {"max_batch": 16, "preferred": (4, 8), "max_delay": 0.01}),
        ("dynamic", {"max_batch": 16, "max_queue": 64}),
    ],
)
@pytest.mark.parametrize("arrivals", ["poisson", "gamma", "burst"])
def test_every_run_accounts_for_every_request_and_obeys_little(policy, kw, arrivals):
    w = make_workload(150.0, 5000, arrivals=arrivals, burstiness=0.3, seed=7)
    st = ServiceTime.linear(0.004, 0.0005) if policy != "none" else 0.006
    r = simulate(w, st, policy, **kw)
    assert_consistent(r, len(w))
    assert (r.batch_sizes <= kw.get("max_batch", 1)).all()
    ok = r.completed
    assert (r.start[ok] >= r.arrival[ok]).all()
    if policy == "static":
        assert (r.batch_sizes[:-1] == 16).all()


def test_invalid_configs_are_refused_clearly():
    w = at([0.0, 1.0])
    cases = [
        ({"policy": "fifo"}, "policy must be one of"),
        ({"policy": "dynamic", "max_batch": 0}, "max_batch must be an int >= 1"),
        ({"policy": "none", "max_batch": 4}, "one request at a time"),
        ({"policy": "dynamic", "max_batch": 4, "max_delay": -0.1}, "max_delay must be >= 0"),
        ({"policy": "dynamic", "max_batch": 4, "preferred": (2, 8)}, r"\[1, max_batch=4\]"),
        ({"policy": "static", "max_batch": 4, "max_delay": 0.1}, "belong to policy='dynamic'"),
        ({"policy": "dynamic", "max_batch": 4, "max_queue": 2}, "max_queue must be"),
        ({"concurrency": 0}, "concurrency must be an int >= 1"),
        ({"concurrency": 2, "think_time": -1.0}, "think_time must be >= 0"),
        ({"concurrency": 2, "max_queue": 4}, "open-loop"),
    ]
    for kw, msg in cases:
        with pytest.raises(InvalidValueError, match=msg):
            simulate(w, 0.1, **kw)
    with pytest.raises(InvalidValueError, match="service_time must be"):
        simulate(w, "fast")
    with pytest.raises(InvalidValueError, match="must be >= 0 s"):
        simulate(w, lambda b: -1.0)
    with pytest.raises(InvalidValueError, match="needs a Workload"):
        simulate([0.0, 1.0], 0.1)


def test_seeded_and_fast():
    w = make_workload(90.0, 100_000, seed=8)
    t0 = time.perf_counter()
    a = simulate(w, ServiceTime.exponential(0.01), seed=9)
    elapsed = time.perf_counter() - t0
    b = simulate(w, ServiceTime.exponential(0.01), seed=9)
    assert_array_equal(a.finish, b.finish)
    assert elapsed < 2.0, f"100 000 requests took {elapsed:.2f} s (goal: about 1 s)"
    t0 = time.perf_counter()
    simulate(w, ServiceTime.linear(0.005, 0.001), "dynamic", max_batch=32, max_delay=0.002)
    assert time.perf_counter() - t0 < 2.0
