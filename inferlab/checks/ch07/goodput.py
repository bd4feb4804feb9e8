"""Exercise 07, task 4: ``goodput`` — its fresh cases, known mistakes and diagnosis.

Goodput (vLLM's ``benchmark_serving --goodput``, DistServe): the requests per second that meet
the latency objective, over the whole run:

    latency  = finish - arrival                      (NaN for a rejected request)
    good     = the requests with latency <= slo      (a rejected request is never good)
    duration = last finish - first arrival           (the run, rejected requests excluded)
    goodput  = good / duration                        requests per second

The cases have latencies exactly at the SLO, rejected requests (NaN finish) including the last
one, requests finishing out of arrival order (several servers), every request too slow, and
Python lists. The reference is the formula; the tests check it against
:func:`inferlab.serve.metrics.goodput` on a simulated run.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch07._common import (
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    poisson,
    several_slips,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run


def _run(rng, n, rate, mean_latency, rejected=0):
    arrival = poisson(rng, rate, n)
    finish = arrival + rng.gamma(2.0, mean_latency / 2, n)
    if rejected:
        finish[rng.choice(n, rejected, replace=False)] = np.nan
    return arrival, finish


def _goodput_cases() -> list[Case]:
    rng = _rng(4)
    exact = (
        np.array([0.0, 0.25, 0.5, 1.0, 1.5]),
        np.array([0.5, 0.75, 1.25, 1.5, 2.5]),  # latencies 0.5, 0.5, 0.75, 0.5, 1.0
    )
    last_rejected = _run(rng, 30, 10.0, 0.2)
    last_rejected[1][-1] = np.nan
    out_of_order = (np.array([0.0, 0.1, 0.2, 0.3]), np.array([2.0, 0.4, 0.5, 0.6]))
    return [
        Case((*_run(rng, 50, 20.0, 0.1), 0.2), note="50 requests at 20/s, SLO 200 ms"),
        Case((*exact, 0.5), note="three latencies exactly at the SLO (0.5 s): they count"),
        Case((*_run(rng, 40, 5.0, 0.3, rejected=6), 0.5), note="6 of 40 requests rejected (NaN)"),
        Case((*last_rejected, 0.25), note="the last request rejected"),
        Case((*out_of_order, 0.5), note="the first request finishes last (two servers)"),
        Case((*_run(rng, 20, 2.0, 5.0), 0.01), note="every request too slow: goodput 0"),
        Case((*_run(rng, 200, 100.0, 0.05), 0.1), note="200 requests at 100/s, SLO 100 ms"),
        Case((*_run(rng, 25, 1.0, 0.5, rejected=3), 1.0), note="a slow stream, SLO 1 s"),
        Case(
            ([0.5, 1.0, 1.25, 2.0], [0.75, 1.75, 1.5, 2.125], 0.5),
            note="Python lists, the first arrival at 0.5 s",
        ),
    ]


def _reference(arrival, finish, slo):
    arrival = np.asarray(arrival, np.float64)
    finish = np.asarray(finish, np.float64)
    done = ~np.isnan(finish)
    good = int(np.sum(finish[done] - arrival[done] <= slo))
    return good / float(finish[done].max() - arrival.min())


def _student(
    arrival, finish, slo, *, compare="<=", per="duration", start="first arrival", end="nanmax",
    latency="finish - arrival",
):  # fmt: skip
    """A student's goodput with switches for their mistakes."""
    a = np.asarray(arrival, np.float64)
    f = np.asarray(finish, np.float64)
    lat = f - a if latency == "finish - arrival" else f
    with np.errstate(invalid="ignore"):
        ok = lat <= slo if compare == "<=" else lat < slo
    good = int(np.sum(ok))
    last = {"nanmax": np.nanmax(f), "last": f[-1], "max": f.max(), "last arrival": a[-1]}[end]
    first = a[0] if start == "first arrival" else 0.0
    if per == "n":
        return good / len(a)
    if per == "completed":
        return good / int(np.sum(~np.isnan(f)))
    return good / float(last - first)


_SLIPS = {
    "compare": [
        ("<=", None),
        (
            "<",
            "a request whose latency EQUALS the SLO meets it: count latency <= slo, not < slo.",
        ),
    ],
    "per": [
        ("duration", None),
        (
            "n",
            "goodput is a RATE, requests per second: divide the good requests by the duration "
            "of the run (last finish - first arrival), not by the number of requests (that is "
            "the SLO attainment, a fraction).",
        ),
        (
            "completed",
            "goodput is a RATE, requests per second: divide by the duration of the run (last "
            "finish - first arrival), not by the number of completed requests.",
        ),
    ],
    "start": [
        ("first arrival", None),
        (
            "zero",
            "the run starts at the FIRST ARRIVAL, min(arrival), not at t = 0: "
            "duration = last finish - first arrival.",
        ),
    ],
    "end": [
        ("nanmax", None),
        (
            "last",
            "the run ends at the LATEST finish, np.nanmax(finish): the last request to arrive "
            "need not finish last, and a rejected one (NaN) never finishes.",
        ),
        (
            "last arrival",
            "the run lasts until the last request FINISHES (np.nanmax(finish)), not until the "
            "last one arrives: its service is part of the run.",
        ),
    ],
    "latency": [
        ("finish - arrival", None),
        (
            "finish",
            "compare each request's LATENCY, finish - arrival, with the SLO, not its finish "
            "time on the clock.",
        ),
    ],
}


def _goodput_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "nonfinite":
        return (
            "a rejected request has finish = NaN, and np.max, sums and differences that touch "
            "it become NaN: use np.nanmax(finish) for the end of the run (NaN <= slo is already "
            "False, so a rejected request is never counted good)."
        )
    if o.got is None:
        return None
    return several_slips(GOODPUT, _student, _SLIPS, outcomes) or zero_hint(o)


GOODPUT = Task(
    name="goodput",
    arg_names=("arrival", "finish", "slo"),
    reference=_reference,
    cases=_goodput_cases,
    covers="latencies exactly at the SLO, rejected requests (also the last one), out-of-order "
    "finishes, every request too slow and Python lists",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_goodput_diagnose,
    encode=encode_number("the goodput in requests per second"),
    symptom=number_symptom(" req/s"),
    fallback_hint="latency = finish - arrival; good = np.sum(latency <= slo); duration = "
    "np.nanmax(finish) - np.min(arrival); return good / duration.",
)


def check_goodput(fn) -> None:
    """Check your ``goodput(arrival, finish, slo)`` against vLLM's definition."""
    __tracebackhide__ = True
    run(GOODPUT, fn)
