"""inferlab.serve.queueing closed forms, and the simulator against them.

The simulator's mean waiting time with Poisson arrivals agrees with M/M/1 and M/D/1 (and an
M/G/1 with uniform service, Pollaczek–Khinchine) within 5 % at utilisation 0.5, 0.7 and 0.9.
Enough requests make this a real check, not luck: the standard error of the mean wait at ρ = 0.9
with 10^6 requests is about 1.5 % (M/M/1), so 5 % is more than three standard errors.
"""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from inferlab.errors import InvalidValueError
from inferlab.serve import queueing as q
from inferlab.serve.batching import ServiceTime, simulate
from inferlab.serve.metrics import littles_law
from inferlab.serve.workload import make_workload

MU = 100.0  # service rate (req/s): 10 ms per request
N = {0.5: 300_000, 0.7: 300_000, 0.9: 1_000_000}


def test_closed_forms_by_hand():
    # ρ = 0.9, μ = 10: M/M/1 waits ρ/(μ-λ) = 0.9 s, M/D/1 half of it, sojourn 1/(μ-λ) = 1 s
    assert q.utilisation(9.0, 0.1) == pytest.approx(0.9)
    assert q.mm1_wait(9.0, 10.0) == pytest.approx(0.9)
    assert q.md1_wait(9.0, 10.0) == pytest.approx(0.45)
    assert q.mm1_sojourn(9.0, 10.0) == pytest.approx(1.0)
    assert q.md1_sojourn(9.0, 10.0) == pytest.approx(0.55)
    assert q.mm1_number(9.0, 10.0) == pytest.approx(9.0)
    assert q.little(9.0, q.mm1_sojourn(9.0, 10.0)) == pytest.approx(q.mm1_number(9.0, 10.0))
    # P-K with the exponential's variance is M/M/1, with zero variance M/D/1
    assert q.mg1_wait(9.0, 0.1, 0.01) == pytest.approx(q.mm1_wait(9.0, 10.0))
    assert q.mg1_wait(9.0, 0.1, 0.0) == pytest.approx(q.md1_wait(9.0, 10.0))
    assert q.mg1_sojourn(5.0, 0.1, 0.0) == pytest.approx(0.1 + 0.5 * 0.1 / (2 * 0.5))


@pytest.mark.parametrize("rho", [1.0, 1.5])
def test_unstable_queues_are_refused(rho):
    for fn in (q.mm1_wait, q.md1_wait, q.mm1_sojourn, q.mm1_number, q.md1_sojourn):
        with pytest.raises(InvalidValueError, match="unstable: ρ"):
            fn(rho * 10.0, 10.0)
    with pytest.raises(InvalidValueError, match="unstable"):
        q.mg1_wait(rho * 10.0, 0.1, 0.0)


def test_bad_arguments():
    with pytest.raises(InvalidValueError, match="lam"):
        q.mm1_wait(0.0, 10.0)
    with pytest.raises(InvalidValueError, match="mu"):
        q.md1_wait(1.0, -1.0)
    with pytest.raises(InvalidValueError, match="var_s"):
        q.mg1_wait(1.0, 0.1, -0.1)
    with pytest.raises(InvalidValueError, match="W"):
        q.little(1.0, -1.0)


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.9])
def test_simulator_matches_mm1(rho):
    lam = rho * MU
    r = simulate(make_workload(lam, N[rho], seed=11), ServiceTime.exponential(1 / MU), seed=12)
    assert r.n_completed == len(r)
    assert r.waiting().mean() == pytest.approx(q.mm1_wait(lam, MU), rel=0.05)
    assert r.latency().mean() == pytest.approx(q.mm1_sojourn(lam, MU), rel=0.05)
    assert r.busy_time / r.duration == pytest.approx(rho, rel=0.01)
    L, lw = littles_law(r)
    assert L == pytest.approx(lw, rel=1e-9)
    assert L == pytest.approx(q.mm1_number(lam, MU), rel=0.05)


@pytest.mark.parametrize("rho", [0.5, 0.7, 0.9])
def test_simulator_matches_md1(rho):
    lam = rho * MU
    r = simulate(make_workload(lam, N[rho], seed=21), 1 / MU)
    assert r.waiting().mean() == pytest.approx(q.md1_wait(lam, MU), rel=0.05)
    assert_allclose(r.latency() - r.waiting(), 1 / MU, rtol=1e-9)
    L, lw = littles_law(r)
    assert L == pytest.approx(lw, rel=1e-9)


def test_simulator_matches_pollaczek_khinchine_for_uniform_service():
    # S ~ U(0, 2/μ): mean 1/μ, variance (2/μ)^2 / 12
    lam = 0.7 * MU
    st = ServiceTime.sampled(lambda rng, k: rng.uniform(0.0, 2 / MU, k))
    r = simulate(make_workload(lam, 300_000, seed=31), st, seed=32)
    ref = q.mg1_wait(lam, 1 / MU, (2 / MU) ** 2 / 12)
    assert r.waiting().mean() == pytest.approx(ref, rel=0.05)
    # and it lies between M/D/1 and M/M/1, as its variance does
    assert q.md1_wait(lam, MU) < ref < q.mm1_wait(lam, MU)
