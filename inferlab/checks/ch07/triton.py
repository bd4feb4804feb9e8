"""Exercise 07, task 3: ``dynamic_batch_size`` — its fresh cases, known mistakes and diagnosis.

The decision of a dynamic batcher (NVIDIA Triton's ``dynamic_batching``, as its user guide
describes it) when the server is free at time ``now`` and ``queued`` holds the arrival times of
the waiting requests, oldest first:

    n = len(queued)                                  # nothing queued: 0
    n >= max_batch                     -> max_batch  # a full batch goes at once
    some preferred size p <= n         -> the largest such p
    now - queued[0] >= max_delay       -> n          # the OLDEST request has waited long enough
    otherwise                          -> 0          # wait for more requests

The cases cover an empty queue, a queue longer than ``max_batch``, preferred sizes that can and
cannot be formed (given unsorted), a delay that has expired, one that has not, one that expires
exactly now, and ``max_delay = 0`` (send whatever is there). The reference is this rule; the tests
check that :func:`inferlab.serve.batching.simulate` with ``policy="dynamic"`` batches by it.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch07._common import _rng, encode_count, mistakes, several_slips
from inferlab.checks.core import Case, Outcome, Task, first_failure, run

_EMPTY = frozenset({"empty"})


def _triton_cases() -> list[Case]:
    rng = _rng(3)
    burst = np.sort(rng.uniform(0.0, 0.004, 40))
    return [
        Case((np.array([]), 1.0, 8, (), 0.01), note="an empty queue", tags=_EMPTY),
        Case((burst, 0.004, 32, (), 0.01), note="40 queued, max_batch 32: a full batch"),
        Case((burst[:5], 0.004, 32, (4, 8), 0.5), note="5 queued, preferred (4, 8): send 4"),
        Case((burst[:13], 0.004, 32, (16, 4, 8), 0.5), note="13 queued, preferred (16, 4, 8)"),
        Case((burst[:3], 0.004, 32, (4, 8), 0.5), note="3 queued, no preferred size, waiting"),
        Case((burst[:3], 0.75, 32, (4, 8), 0.5), note="3 queued, the oldest waited too long"),
        Case(
            (np.array([0.25, 0.25]), 0.75, 16, (), 0.5),
            note="two requests that have waited exactly max_delay (0.5 s): send",
        ),
        Case((burst[:4], 0.004, 32, (4, 8), 0.5), note="4 queued: exactly a preferred size"),
        Case(
            (np.array([0.25, 0.5, 0.625]), 0.7, 16, (), 0.5),
            note="only the newest has waited less than max_delay; the oldest 0.45 s: wait",
        ),
        Case((np.array([2.0, 2.001]), 2.001, 8, (), 0.0), note="max_delay 0: send what is there"),
        Case((burst[:9], 0.02, 8, (2, 4), 0.001), note="9 queued, max_batch 8"),
        Case((burst[:6], 0.0041, 8, (8,), 0.002), note="6 queued, preferred 8 not reached"),
        Case(
            (np.array([1.0, 1.3, 1.35]), 1.4, 8, (), 0.2),
            note="the newest waited 0.05 s, the oldest 0.4 s, max_delay 0.2 s",
        ),
        Case((burst[:8].tolist(), 0.1, 8, [4], 1.0), note="Python lists, exactly max_batch"),
    ]


def _reference(queued, now, max_batch, preferred, max_delay):
    queued = np.asarray(queued, np.float64)
    n = len(queued)
    if n == 0:
        return 0
    if n >= max_batch:
        return int(max_batch)
    fits = [p for p in preferred if p <= n]
    if fits:
        return int(max(fits))
    if now >= queued[0] + max_delay:  # the deadline a batcher's timer fires at (= now - q0 >= d)
        return n
    return 0


def _student(
    queued, now, max_batch, preferred, max_delay, *, cap="max_batch", pick="largest",
    oldest="first", compare=">=",
):  # fmt: skip
    """A student's dynamic batcher with switches for their mistakes."""
    queued = np.asarray(queued, np.float64)
    n = len(queued)
    if n == 0:
        return 0
    if n >= max_batch:
        return int(max_batch) if cap == "max_batch" else n
    if pick == "largest":
        fits = [p for p in preferred if p <= n]
        if fits:
            return int(max(fits))
    elif pick == "smallest":
        fits = [p for p in preferred if p <= n]
        if fits:
            return int(min(fits))
    elif pick == "exact" and n in preferred:
        return n
    waited = now - (queued[0] if oldest == "first" else queued[-1])
    if waited >= max_delay if compare == ">=" else waited > max_delay:
        return n
    return 0


_SLIPS = {
    "cap": [
        ("max_batch", None),
        (
            "all",
            "never send more than max_batch requests: with more queued, a full batch of "
            "max_batch goes and the rest wait for the next one.",
        ),
    ],
    "pick": [
        ("largest", None),
        (
            "smallest",
            "send the LARGEST preferred size that the queue can fill (max of the sizes <= n), "
            "not the smallest: a bigger batch serves more requests in one run.",
        ),
        (
            "exact",
            "a preferred size p can be formed whenever n >= p requests are queued (send p of "
            "them, the oldest first), not only when n equals p exactly.",
        ),
        (
            "ignored",
            "use the preferred sizes: when the queue holds at least one of them, send the "
            "largest such size at once, without waiting for the delay.",
        ),
    ],
    "oldest": [
        ("first", None),
        (
            "last",
            "the delay is measured from the OLDEST queued request, queued[0]: the batcher holds "
            "no request longer than max_delay. You measured the newest one's wait.",
        ),
    ],
    "compare": [
        (">=", None),
        (
            ">",
            "send when the oldest request has waited max_delay OR LONGER (>=): at exactly "
            "max_delay the time is up, and with max_delay = 0 nothing ever waits.",
        ),
    ],
}


def _triton_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "empty" in o.case.tags:
        return (
            "an empty queue sends nothing: return 0 when len(queued) == 0 (queued[0] does not "
            "exist then)."
        )
    if o.got is None:
        return None
    return several_slips(TRITON, _student, _SLIPS, outcomes)


TRITON = Task(
    name="dynamic_batch_size",
    arg_names=("queued", "now", "max_batch", "preferred", "max_delay"),
    reference=_reference,
    cases=_triton_cases,
    covers="an empty queue, more than max_batch queued, preferred sizes formed or not, a delay "
    "expired, not expired and expiring exactly now, and max_delay = 0",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_triton_diagnose,
    encode=encode_count("how many requests to send now (0 = wait)"),
    symptom=lambda o: (
        f"expected {int(o.expected)}, got {float(o.got):g}"
        if o.got is not None and o.got.shape == ()
        else None
    ),
    fallback_hint="in this order: an empty queue -> 0; n >= max_batch -> max_batch; the "
    "largest preferred size <= n, if any; now - queued[0] >= max_delay -> n; else 0.",
)


def check_dynamic_batch_size(fn) -> None:
    """Check your ``dynamic_batch_size(queued, now, max_batch, preferred, max_delay)`` against
    Triton's dynamic-batcher rule."""
    __tracebackhide__ = True
    run(TRITON, fn)
