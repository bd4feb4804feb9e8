"""inferlab.serve.cluster: replicas behind a load balancer.

One replica is exactly the single-server simulator; round robin deals requests k mod N; the
load-aware balancers (least outstanding, power of two choices) cut p99 latency at high load, a
little with identical replicas and by orders of magnitude when one replica is slow; every request
is accounted for and Little's law holds on every run.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from inferlab.errors import InvalidValueError
from inferlab.serve.batching import ServiceTime, simulate
from inferlab.serve.cluster import BALANCERS, simulate_cluster
from inferlab.serve.metrics import littles_law
from inferlab.serve.workload import make_workload


def assert_consistent(r, n):
    assert r.n_completed + r.n_rejected == n == len(r)
    L, lw = littles_law(r)
    assert L == pytest.approx(lw, rel=1e-9)
    assert r.batch_sizes.sum() == r.n_completed
    assert np.bincount(r.extra["replica"]).sum() == n


@pytest.mark.parametrize("balancer", BALANCERS)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"policy": "static", "max_batch": 4},
        {"policy": "dynamic", "max_batch": 8, "preferred": (4,), "max_delay": 0.01},
    ],
)
def test_one_replica_is_the_single_server(balancer, kw):
    w = make_workload(150.0, 3000, seed=1)
    st = ServiceTime.linear(0.004, 0.001)
    one = simulate_cluster(w, 1, balancer, service_time=st, **kw)
    ref = simulate(w, st, **kw)
    assert_array_equal(one.finish, ref.finish)
    assert_array_equal(one.start, ref.start)
    assert_array_equal(one.batch_sizes, ref.batch_sizes)


def test_round_robin_deals_in_turn_and_power_of_two_is_seeded():
    w = make_workload(100.0, 1000, seed=2)
    rr = simulate_cluster(w, 3, "round_robin")
    assert_array_equal(rr.extra["replica"], np.arange(1000) % 3)
    a = simulate_cluster(w, 4, "power_of_two", ServiceTime.exponential(0.03), seed=5)
    b = simulate_cluster(w, 4, "power_of_two", ServiceTime.exponential(0.03), seed=5)
    assert_array_equal(a.extra["replica"], b.extra["replica"])
    assert_array_equal(a.finish, b.finish)


def test_least_outstanding_fills_idle_replicas_first():
    # 4 simultaneous requests, 4 idle replicas: one each, in index order
    w = make_workload(1.0, 4, arrivals=np.zeros(4))
    r = simulate_cluster(w, 4, "least_outstanding", service_time=1.0)
    assert r.extra["replica"].tolist() == [0, 1, 2, 3] and (r.finish == 1.0).all()


def p99(r):
    return r.summary()["p99_e2el_s"]


def test_load_aware_balancers_beat_round_robin_at_high_load():
    # 4 identical M/M/1-like replicas at utilisation 0.9
    w = make_workload(360.0, 50_000, seed=3)
    res = {b: simulate_cluster(w, 4, b, ServiceTime.exponential(0.01), seed=4) for b in BALANCERS}
    for r in res.values():
        assert_consistent(r, len(w))
    rr, lor, po2 = (p99(res[b]) for b in BALANCERS)
    assert lor < po2 < 0.75 * rr
    assert lor < 0.6 * rr


def test_round_robin_drowns_a_slow_replica():
    # three replicas at 10 ms, one at 30 ms; 200 req/s is 60 % of the cluster's 333 req/s, but
    # round robin sends the slow one 50 req/s > its 33 req/s
    w = make_workload(200.0, 30_000, seed=5)
    st = [ServiceTime.exponential(m) for m in (0.01, 0.01, 0.01, 0.03)]
    res = {b: simulate_cluster(w, 4, b, st, seed=6) for b in BALANCERS}
    for r in res.values():
        assert_consistent(r, len(w))
    assert p99(res["round_robin"]) > 10.0  # seconds: an unstable queue
    assert p99(res["least_outstanding"]) < 0.2 and p99(res["power_of_two"]) < 0.3
    share = np.bincount(res["least_outstanding"].extra["replica"], minlength=4) / len(w)
    assert share[3] < 0.15 < share[0]  # the slow replica gets less work


@pytest.mark.parametrize("balancer", BALANCERS)
def test_full_queues_reject_and_everything_is_counted(balancer):
    w = make_workload(1500.0, 5000, arrivals="gamma", burstiness=0.2, seed=7)  # > 3 × 307 req/s
    r = simulate_cluster(
        w, 3, balancer, ServiceTime.linear(0.005, 0.002), "dynamic", max_batch=4, max_queue=8
    )
    assert r.n_rejected > 0
    assert r.reject_counts() == {"queue full (max_queue=8)": r.n_rejected}
    assert_consistent(r, len(w))


def test_invalid_cluster_configs():
    w = make_workload(10.0, 10)
    with pytest.raises(InvalidValueError, match="replicas must be an int >= 1"):
        simulate_cluster(w, 0)
    with pytest.raises(InvalidValueError, match="balancer must be one of"):
        simulate_cluster(w, 2, "random")
    with pytest.raises(InvalidValueError, match="one model per replica"):
        simulate_cluster(w, 3, service_time=[0.1, 0.2])
    with pytest.raises(InvalidValueError, match="max_batch"):
        simulate_cluster(w, 2, policy="dynamic", max_batch=0)
    with pytest.raises(InvalidValueError, match="needs a Workload"):
        simulate_cluster(np.zeros(3), 2)
