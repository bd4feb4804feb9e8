"""Queueing theory closed forms for one server: M/M/1, M/D/1, M/G/1 (Pollaczek–Khinchine), Little.

Requests arrive as a Poisson process at ``λ`` req/s and are served one at a time, first come first
served, with service times ``S`` (mean ``E[S] = 1/μ``). The utilisation is ``ρ = λ·E[S]``; a
queue is stable only for ``ρ < 1`` (else it grows without bound), and every function here refuses
``ρ >= 1``. The mean waiting time in the queue (before service starts) is, by Pollaczek–Khinchine,

    W_q = λ · E[S²] / (2 · (1 − ρ))          (M/G/1, any service distribution)

with ``E[S²] = Var[S] + E[S]²``, which gives the two classic cases

    M/M/1 (exponential service, Var = 1/μ²):   W_q = ρ / (μ − λ)
    M/D/1 (deterministic service, Var = 0):    W_q = ρ / (2 · μ · (1 − ρ))      (half of M/M/1)

The mean time in system (sojourn) is ``W = W_q + E[S]`` (M/M/1: ``1 / (μ − λ)``), and Little's law
``L = λ · W`` gives the mean number in system (M/M/1: ``ρ / (1 − ρ)``). The ``1 / (1 − ρ)`` factor
is why latency explodes as utilisation approaches 1: at ρ = 0.9 an M/M/1 request waits 9 service
times on average, at ρ = 0.99 it waits 99. Sources: Kleinrock, *Queueing Systems* Vol. 1 (1975),
§5.7 (P-K mean value formula) and §3.2 (M/M/1); Little (1961).

    >>> mm1_wait(lam=9.0, mu=10.0)     # 0.9 s = 9 service times of 0.1 s
    >>> md1_wait(9.0, 10.0)            # 0.45 s
    >>> mg1_wait(9.0, mean_s=0.1, var_s=0.01)   # == mm1_wait(9, 10)
"""

from __future__ import annotations

import math
from numbers import Real

from inferlab.errors import InvalidValueError

__all__ = [
    "little",
    "md1_sojourn",
    "md1_wait",
    "mg1_sojourn",
    "mg1_wait",
    "mm1_number",
    "mm1_sojourn",
    "mm1_wait",
    "utilisation",
]


def _pos(name: str, x, op: str, allow_zero: bool = False) -> float:
    ok = isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)
    if not ok or not (x >= 0 if allow_zero else x > 0):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidValueError(f"{op} needs {name} {bound} (finite); got {x!r}")
    return float(x)


def utilisation(lam: float, mean_s: float) -> float:
    """ρ = λ · E[S]: the share of time the server is busy (λ req/s, E[S] seconds). Refuses
    ρ >= 1 (unstable: the queue grows without bound)."""
    lam = _pos("arrival rate lam (req/s)", lam, "utilisation")
    mean_s = _pos("mean service time (s)", mean_s, "utilisation")
    rho = lam * mean_s
    if rho >= 1:
        raise InvalidValueError(
            f"unstable: ρ = λ·E[S] = {lam:g} × {mean_s:g} = {rho:.4g} >= 1; a single server "
            f"keeps up only for ρ < 1 (λ < {1 / mean_s:.4g} req/s here)"
        )
    return rho


def mg1_wait(lam: float, mean_s: float, var_s: float) -> float:
    """Mean wait in queue (s) of M/G/1, Pollaczek–Khinchine: ``λ·E[S²] / (2(1 − ρ))``.

    lam: arrival rate (req/s); mean_s: E[S] (s); var_s: Var[S] (s²), >= 0.
    """
    rho = utilisation(lam, mean_s)
    var_s = _pos("service time variance var_s (s²)", var_s, "mg1_wait", allow_zero=True)
    return lam * (var_s + mean_s**2) / (2 * (1 - rho))


def mg1_sojourn(lam: float, mean_s: float, var_s: float) -> float:
    """Mean time in system (s) of M/G/1: wait + E[S]."""
    return mg1_wait(lam, mean_s, var_s) + mean_s


def mm1_wait(lam: float, mu: float) -> float:
    """Mean wait in queue (s) of M/M/1: ``ρ / (μ − λ)``; lam, mu in req/s."""
    mu = _pos("service rate mu (req/s)", mu, "mm1_wait")
    return mg1_wait(lam, 1 / mu, 1 / mu**2)


def mm1_sojourn(lam: float, mu: float) -> float:
    """Mean time in system (s) of M/M/1: ``1 / (μ − λ)``."""
    return mm1_wait(lam, mu) + 1 / mu


def mm1_number(lam: float, mu: float) -> float:
    """Mean number in system of M/M/1: ``ρ / (1 − ρ)`` (= λ · sojourn, Little)."""
    rho = utilisation(lam, 1 / _pos("service rate mu (req/s)", mu, "mm1_number"))
    return rho / (1 - rho)


def md1_wait(lam: float, mu: float) -> float:
    """Mean wait in queue (s) of M/D/1 (every service takes exactly 1/μ): ``ρ / (2μ(1 − ρ))``."""
    mu = _pos("service rate mu (req/s)", mu, "md1_wait")
    return mg1_wait(lam, 1 / mu, 0.0)


def md1_sojourn(lam: float, mu: float) -> float:
    """Mean time in system (s) of M/D/1: wait + 1/μ."""
    return md1_wait(lam, mu) + 1 / mu


def little(lam: float, w: float) -> float:
    """Little's law: mean number in system ``L = λ · W`` (λ req/s, W seconds)."""
    return _pos("lam (req/s)", lam, "little") * _pos("W (s)", w, "little", allow_zero=True)
