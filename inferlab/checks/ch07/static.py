"""Exercise 07, task 5: ``static_batch_finish`` — its fresh cases, known mistakes and diagnosis.

Static batching on one server: the requests are cut, in arrival order, into batches of
``max_batch`` (the last one may be smaller: it runs when the stream ends); a batch starts when
its LAST member has arrived and the previous batch has finished, and takes ``service(size)``
seconds; all its members finish together. Lindley's recursion, one batch at a time:

    start_j  = max(arrival of batch j's last member, finish_{j-1})
    finish_j = start_j + service(size of batch j)

The cases have a busy server (batches queue), idle gaps (a batch waits for its members), a last
partial batch, ``max_batch = 1`` (the FIFO queue of task 1), ``max_batch`` above ``n`` (one
partial batch), simultaneous arrivals and Python lists. The reference is the recursion; the tests
check it against :func:`inferlab.serve.batching.simulate` with ``policy="static"``.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch07._common import _rng, mistakes, poisson, several_slips
from inferlab.checks.core import Case, Outcome, Task, first_failure, run


class Linear:
    """service(B) = a + b·B seconds, with a readable repr for messages."""

    def __init__(self, a: float, b: float):
        self.a, self.b = a, b

    def __call__(self, size):
        return self.a + self.b * size

    def __repr__(self) -> str:
        return f"service(B) = {self.a * 1e3:g} ms + {self.b * 1e3:g} ms·B"


def _static_cases() -> list[Case]:
    rng = _rng(5)
    gpu = Linear(0.004, 0.0005)
    return [
        Case((poisson(rng, 1000.0, 64), 8, gpu), note="1000 req/s, batches of 8: a busy server"),
        Case((poisson(rng, 100.0, 30), 4, gpu), note="100 req/s: batches wait for their members"),
        Case((poisson(rng, 300.0, 45), 8, gpu), note="45 requests: the last batch holds 5"),
        Case((poisson(rng, 50.0, 12), 1, Linear(0.01, 0.0)), note="max_batch 1: a FIFO queue"),
        Case((poisson(rng, 20.0, 6), 16, gpu), note="max_batch 16 > 6 requests: one batch"),
        Case(
            (np.array([0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5]), 3, Linear(0.1, 0.05)),
            note="simultaneous arrivals, 7 requests in batches of 3",
        ),
        Case(
            (poisson(rng, 2000.0, 100), 16, Linear(0.002, 0.0001)),
            note="2000 req/s, batches of 16, the last of 4",
        ),
        Case(([0.1, 0.2, 0.25, 1.0, 1.1], 2, Linear(0.05, 0.01)), note="Python lists"),
    ]


def _reference(arrival, max_batch, service):
    arrival = np.asarray(arrival, np.float64)
    finish = np.empty_like(arrival)
    free = -np.inf
    for lo in range(0, len(arrival), max_batch):
        hi = min(lo + max_batch, len(arrival))
        start = max(arrival[hi - 1], free)  # the last member is there, the server is free
        free = finish[lo:hi] = start + service(hi - lo)
    return finish


def _student(arrival, max_batch, service, *, start="last", busy="wait", cost="batch",
             partial="own size", output="finish"):  # fmt: skip
    """A student's static batcher with switches for their mistakes."""
    a = np.asarray(arrival, np.float64)
    finish = np.empty_like(a)
    free = -np.inf
    for lo in range(0, len(a), max_batch):
        hi = min(lo + max_batch, len(a))
        size = hi - lo if partial == "own size" else max_batch
        t = a[hi - 1] if start == "last" else a[lo]
        if busy == "wait":
            t = max(t, free)
        s = service(size) if cost == "batch" else size * service(1)
        free = finish[lo:hi] = t + s
    return finish - a if output == "latency" else finish


_SLIPS = {
    "start": [
        ("last", None),
        (
            "first",
            "a static batch starts only when it is FULL: when its last member arrives "
            "(arrival[hi - 1]), not when its first one does.",
        ),
    ],
    "busy": [
        ("wait", None),
        (
            "ignore",
            "one server runs one batch at a time: a batch also waits for the previous batch "
            "to finish, start = max(last member's arrival, previous finish).",
        ),
    ],
    "cost": [
        ("batch", None),
        (
            "per request",
            "a batch of B takes service(B) seconds in ONE run (that is the point of batching), "
            "not B · service(1).",
        ),
    ],
    "partial": [
        ("own size", None),
        (
            "max_batch",
            "the last batch may be smaller than max_batch: it holds the requests that are left "
            "and takes service(its own size).",
        ),
    ],
    "output": [
        ("finish", None),
        (
            "latency",
            "return each request's FINISH time on the clock, not its latency finish - arrival.",
        ),
    ],
}


def _static_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, IndexError):
        return (
            "an index ran past the end: the last batch holds only the requests that are left, "
            "arrival[lo:hi] with hi = min(lo + max_batch, n)."
        )
    if o.problem == "shape" and o.got is not None and o.got.ndim == 1:
        return (
            "return one finish time per REQUEST (n of them, in arrival order): every member of "
            "a batch finishes when the batch does."
        )
    if o.got is None:
        return None
    return several_slips(STATIC, _student, _SLIPS, outcomes)


STATIC = Task(
    name="static_batch_finish",
    arg_names=("arrival", "max_batch", "service"),
    reference=_reference,
    cases=_static_cases,
    covers="a busy server, batches waiting for members, a partial last batch, max_batch 1, "
    "max_batch above n, simultaneous arrivals and Python lists",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_static_diagnose,
    shape_hint="one finish time per request, like arrival.",
    fallback_hint="for lo in range(0, n, max_batch): hi = min(lo + max_batch, n); start = "
    "max(arrival[hi - 1], free); free = finish[lo:hi] = start + service(hi - lo).",
)


def check_static_batch_finish(fn) -> None:
    """Check your ``static_batch_finish(arrival, max_batch, service)`` against the batched
    Lindley recursion."""
    __tracebackhide__ = True
    run(STATIC, fn)
