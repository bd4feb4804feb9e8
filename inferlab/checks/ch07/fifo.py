"""Exercise 07, task 1: ``fifo_times`` — its fresh cases, known mistakes and diagnosis.

One server, requests served one at a time in arrival order (FIFO). Lindley's recursion:

    start[0]  = arrival[0]
    start[i]  = max(arrival[i], finish[i - 1])     # wait for the server, or find it idle
    finish[i] = start[i] + service[i]

The cases have idle gaps (the server empties and waits), bursts (requests queue up), requests
arriving at the same instant, a single request, a Python list, and a long overloaded stretch where
waits grow. The reference is the recursion itself, written as a loop; the tests check it against
:func:`inferlab.serve.batching.simulate` with ``policy="none"`` (batch size 1).
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch07._common import (
    _rng,
    arrays_symptom,
    encode_arrays,
    mistakes,
    poisson,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run

_NAMES = ("start", "finish")


def _fifo_cases() -> list[Case]:
    rng = _rng(1)
    idle = np.array([0.1, 0.5, 0.6, 2.0, 2.05, 2.1, 5.0])  # the server empties twice
    same = np.array([0.2, 0.2, 0.2, 0.7, 0.7, 1.9])  # simultaneous arrivals
    cases = [
        Case((idle, np.full(7, 0.3)), note="idle gaps: the server empties and waits"),
        Case((same, np.array([0.1, 0.4, 0.2, 0.3, 0.1, 0.05])), note="simultaneous arrivals"),
        Case((np.array([1.5]), np.array([0.25])), note="a single request"),
        Case(
            (poisson(rng, 50.0, 40), np.full(40, 0.016)),
            note="40 Poisson arrivals at 50/s, 16 ms each: utilisation 0.8",
        ),
        Case(
            (poisson(rng, 100.0, 60), rng.exponential(0.012, 60)),
            note="exponential service times (an M/M/1 queue, utilisation 1.2: waits grow)",
        ),
        Case(
            (poisson(rng, 5.0, 20, start=3.0), rng.uniform(0.01, 0.1, 20)),
            note="a light load starting at t = 3 s: most requests find the server idle",
        ),
        Case(
            (np.arange(10) * 0.01, np.full(10, 0.05)),
            note="a burst: 10 requests 10 ms apart, 50 ms each",
        ),
        Case(
            ([0.0, 0.1, 0.15, 0.95], [0.2, 0.25, 0.2, 0.2]),
            note="Python lists, the first arrival at t = 0",
        ),
    ]
    return cases


def _reference(arrival, service):
    arrival = np.asarray(arrival, np.float64)
    service = np.asarray(service, np.float64)
    start = np.empty_like(arrival)
    finish = np.empty_like(arrival)
    free_at = -np.inf  # when the server next becomes free
    for i, (a, s) in enumerate(zip(arrival, service, strict=True)):
        start[i] = max(a, free_at)
        finish[i] = free_at = start[i] + s
    return start, finish


def _student(arrival, service, *, start="max", finish="start", output="times", order="as given"):
    """A student's FIFO queue with switches for their mistakes."""
    a = np.asarray(arrival, np.float64)
    s = np.asarray(service, np.float64)
    if order == "by service":
        idx = np.argsort(s, kind="stable")
        a, s = a, s[idx]
    begin = np.empty_like(a)
    end = np.empty_like(a)
    for i in range(len(a)):
        if start == "arrival" or i == 0:
            begin[i] = a[i]
        elif start == "previous finish":
            begin[i] = end[i - 1]
        else:
            begin[i] = max(a[i], end[i - 1])
        end[i] = (begin[i] if finish == "start" else a[i]) + s[i]
    if output == "waits":
        return begin - a, end - a
    return begin, end


_SLIPS = {
    "start": [
        ("max", None),
        (
            "arrival",
            "a request starts when it arrives only if the server is FREE: start[i] = "
            "max(arrival[i], finish[i - 1]). Yours never waits, as if there were a server per "
            "request.",
        ),
        (
            "previous finish",
            "the server can be IDLE: when request i arrives after request i - 1 has finished, "
            "it starts at its own arrival, not at finish[i - 1]. Use start[i] = "
            "max(arrival[i], finish[i - 1]).",
        ),
    ],
    "finish": [
        ("start", None),
        (
            "arrival",
            "a request finishes its service time after it STARTS, not after it arrives: "
            "finish[i] = start[i] + service[i] (the wait comes first).",
        ),
    ],
    "output": [
        ("times", None),
        (
            "waits",
            "return the start and finish TIMES on the clock (seconds since t = 0), not the "
            "waits measured from each arrival: the wait is start - arrival.",
        ),
    ],
    "order": [
        ("as given", None),
        (
            "by service",
            "serve the requests in ARRIVAL order (first in, first out), with each request's own "
            "service time; do not sort the service times.",
        ),
    ],
}


def _fifo_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, IndexError):
        return (
            "an index ran past the end: request 0 has no previous request, so start[0] = "
            "arrival[0] (or start from `free_at = 0` or -inf and use max for every request)."
        )
    if o.got is None:
        return None
    return several_slips(FIFO, _student, _SLIPS, outcomes)


FIFO = Task(
    name="fifo_times",
    arg_names=("arrival", "service"),
    reference=_reference,
    cases=_fifo_cases,
    covers="idle gaps, bursts, simultaneous arrivals, an overloaded M/M/1 stretch, a single "
    "request and Python lists",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_fifo_diagnose,
    encode=encode_arrays(_NAMES, what="a tuple `(start, finish)` of two arrays"),
    symptom=arrays_symptom(_NAMES),
    shape_hint="start and finish have one entry per request, like arrival.",
    fallback_hint="walk through the requests in order, keeping the time the server becomes "
    "free: start[i] = max(arrival[i], free), finish[i] = start[i] + service[i], free = "
    "finish[i].",
)


def check_fifo_times(fn) -> None:
    """Check your ``fifo_times(arrival, service)`` against Lindley's recursion."""
    __tracebackhide__ = True
    run(FIFO, fn)
