"""Exercise 08, task 2: ``token_metrics`` — its fresh cases, known mistakes and diagnosis.

vLLM's ``benchmark_serving`` definitions, for one request that arrived at ``arrival`` and
streamed its n output tokens at ``times`` (seconds on one clock):

    TTFT = times[0] - arrival                       time to first token (queueing + prefill)
    E2E  = times[-1] - arrival                      end-to-end latency
    TPOT = (E2E - TTFT) / (n - 1)                   time per output token, the FIRST EXCLUDED;
                                                    undefined (nan) for n = 1

TPOT equals the mean inter-token latency of the request. The cases arrive late on the clock (so
that a time measured from 0 is wrong), have prefill much slower than a decode step (so that
averaging the first token in is visible), stalls in the middle (a preemption), and one with a
single token. The reference is written here (it is what :meth:`inferlab.serve.metrics.Result.
tpot` computes for a whole run).
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch08._common import (
    _rng,
    arrays_symptom,
    encode_arrays,
    mistakes,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run

_NAMES = ("ttft", "tpot", "e2e")
_SINGLE = frozenset({"single"})


def _stream(rng, arrival, n, *, wait, prefill, step, stall=0.0):
    """Token times: the first after ``wait + prefill``, then a decode every ~``step`` s."""
    gaps = step * rng.uniform(0.8, 1.3, n - 1)
    if stall and n > 3:
        gaps[n // 2] += stall
    first = arrival + wait + prefill
    return np.round(np.concatenate([[first], first + np.cumsum(gaps)]), 9)


def _metric_cases() -> list[Case]:
    rng = _rng(2)
    cases = [
        Case((12.5, _stream(rng, 12.5, 200, wait=0.4, prefill=0.3, step=0.02)), note="200 tokens"),
        Case((3.0, _stream(rng, 3.0, 2, wait=0.0, prefill=1.0, step=0.05)), note="two tokens"),
        Case(
            (100.25, _stream(rng, 100.25, 64, wait=2.5, prefill=0.8, step=0.03, stall=1.5)),
            note="a 1.5 s stall mid-stream (preempted)",
        ),
        Case(
            (0.75, _stream(rng, 0.75, 1000, wait=0.0, prefill=0.05, step=0.012)),
            note="1000 tokens, no queueing",
        ),
        Case((7.0, np.array([9.5])), note="a single token: TPOT is nan", tags=_SINGLE),
        Case(
            (40.0, _stream(rng, 40.0, 17, wait=5.0, prefill=2.0, step=0.2)),
            note="MLPerf's 70B server limits: TTFT 7 s, TPOT ~0.2 s",
        ),
    ]
    for _ in range(3):
        arrival = float(np.round(rng.uniform(1, 500), 3))
        n = int(rng.integers(3, 400))
        times = _stream(rng, arrival, n, wait=rng.uniform(0, 3), prefill=rng.uniform(0.05, 2),
                        step=rng.uniform(0.005, 0.1))  # fmt: skip
        cases.append(Case((arrival, times), note="a random request"))
    return cases


def _reference(arrival, times):
    times = np.asarray(times, np.float64)
    ttft, e2e = times[0] - arrival, times[-1] - arrival
    tpot = (e2e - ttft) / (len(times) - 1) if len(times) > 1 else np.nan
    return ttft, tpot, e2e


def _student(arrival, times, *, tpot="without first", ttft="arrival", e2e="arrival"):
    """A student's request metrics with switches for their mistakes."""
    times = np.asarray(times, np.float64)
    n = len(times)
    first = times[0] - (arrival if ttft == "arrival" else 0.0)
    total = times[-1] - (arrival if e2e == "arrival" else times[0])
    with np.errstate(all="ignore"):
        per = {
            "without first": (times[-1] - times[0]) / np.float64(n - 1),
            "e2e / n": total / n,
            "/ n": (times[-1] - times[0]) / n,
        }[tpot]
    return first, per, total


_SLIPS = {
    "tpot": [
        ("without first", None),
        (
            "e2e / n",
            "TPOT leaves the FIRST token out: TPOT = (E2E - TTFT) / (n - 1). E2E / n averages "
            "the prefill (and the queueing) into every token, and a long prompt then looks "
            "like slow decoding.",
        ),
        (
            "/ n",
            "after the first token there are n - 1 more, so n - 1 gaps: TPOT = (E2E - TTFT) "
            "/ (n - 1).",
        ),
    ],
    "ttft": [
        ("arrival", None),
        (
            "clock",
            "TTFT is measured from the request's ARRIVAL: times[0] - arrival (the clock does "
            "not start at 0 for each request).",
        ),
    ],
    "e2e": [
        ("arrival", None),
        (
            "first token",
            "end-to-end latency runs from ARRIVAL to the last token: times[-1] - arrival "
            "(times[-1] - times[0] leaves out the wait and the prefill).",
        ),
    ],
}


def _metric_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "single" in o.case.tags:
        return (
            "with a single token there is no gap to average: TPOT is undefined, return "
            "float('nan') for it (vLLM leaves such requests out of its TPOT statistics)."
        )
    if o.got is None:
        return None
    return several_slips(METRICS, _student, _SLIPS, outcomes)


METRICS = Task(
    name="token_metrics",
    arg_names=("arrival", "times"),
    reference=_reference,
    cases=_metric_cases,
    covers="late arrivals, slow prefills, a stall mid-stream, two tokens, a single token and "
    "1000 tokens",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_metric_diagnose,
    encode=encode_arrays(_NAMES, what="a tuple `(ttft, tpot, e2e)` of three numbers"),
    symptom=arrays_symptom(_NAMES),
    fallback_hint="ttft = times[0] - arrival; e2e = times[-1] - arrival; tpot = (e2e - ttft) / "
    "(len(times) - 1), nan for a single token.",
)


def check_token_metrics(fn) -> None:
    """Check your ``token_metrics(arrival, times) -> (ttft, tpot, e2e)`` against vLLM's
    benchmark_serving definitions."""
    __tracebackhide__ = True
    run(METRICS, fn)
