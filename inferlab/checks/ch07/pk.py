"""Exercise 07, task 2: ``mg1_wait`` — its fresh cases, known mistakes and diagnosis.

The Pollaczek–Khinchine formula: the mean time a request waits in the queue of one FIFO server
with Poisson arrivals (rate λ) and independent service times S of any distribution (M/G/1):

    ρ = λ · E[S]                                   (utilisation, must be < 1)
    W_q = λ · E[S²] / (2 · (1 − ρ)),   E[S²] = Var[S] + E[S]²

M/M/1 (exponential S, Var = E[S]²) gives ρ/(1 − ρ) · E[S]; M/D/1 (constant S, Var = 0) half of
that. At ρ >= 1 the queue grows without bound: the task returns ``inf``. The cases cover M/M/1,
M/D/1, more variable than exponential (Var > E[S]²), ρ from 0.1 to 0.95, ρ = 1 and ρ > 1, in
millisecond units of real servers. The reference is the formula; the tests check it against
:func:`inferlab.serve.queueing.mg1_wait` (which raises at ρ >= 1).
"""

from __future__ import annotations

import math

from inferlab.checks.ch07._common import (
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    several_slips,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run

_UNSTABLE = frozenset({"unstable"})


def _pk_cases() -> list[Case]:
    rng = _rng(2)
    cases = [
        Case((50.0, 0.016, 0.016**2), note="M/M/1: 50 req/s, 16 ms mean, utilisation 0.8"),
        Case((50.0, 0.016, 0.0), note="M/D/1: the same, constant 16 ms"),
        Case((9.0, 0.1, 0.03), note="utilisation 0.9, Var[S] = 3 E[S]²: burstier than M/M/1"),
        Case((200.0, 0.0025, 1e-6), note="utilisation 0.5, 2.5 ms mean, 1 ms standard deviation"),
        Case((1.0, 0.1, 0.01), note="a light load: utilisation 0.1"),
        Case((95.0, 0.01, 0.0), note="M/D/1 at utilisation 0.95"),
        Case((40.0, 0.025, 0.0), note="utilisation exactly 1: unstable", tags=_UNSTABLE),
        Case((120.0, 0.01, 1e-4), note="utilisation 1.2: unstable", tags=_UNSTABLE),
    ]
    for _ in range(3):
        mean = float(f"{10 ** rng.uniform(-3, -1):.4g}")
        rho = float(f"{rng.uniform(0.2, 0.9):.3g}")
        cv2 = float(f"{rng.uniform(0, 4):.3g}")
        cases.append(Case((rho / mean, mean, cv2 * mean**2), note=f"a random server, ρ = {rho}"))
    return cases


def _reference(lam, mean_s, var_s):
    rho = lam * mean_s
    if rho >= 1:
        return math.inf
    return lam * (var_s + mean_s**2) / (2 * (1 - rho))


def _student(
    lam, mean_s, var_s, *, moment="var+mean²", half="yes", what="wait", rho="λ·E[S]",
    unstable="inf",
):  # fmt: skip
    """A student's Pollaczek–Khinchine formula with switches for their mistakes."""
    r = lam * mean_s if rho == "λ·E[S]" else lam / mean_s
    if r >= 1 and unstable == "inf":
        return math.inf
    second = {"var+mean²": var_s + mean_s**2, "var": var_s, "mean²": mean_s**2}[moment]
    wait = lam * second / ((2 if half == "yes" else 1) * (1 - r))
    return wait + mean_s if what == "sojourn" else wait


_SLIPS = {
    "moment": [
        ("var+mean²", None),
        (
            "var",
            "the formula needs the SECOND MOMENT E[S²] = Var[S] + E[S]², not the variance alone: "
            "with constant service times (Var = 0) requests still wait.",
        ),
        (
            "mean²",
            "use the second moment E[S²] = Var[S] + E[S]²: variable service times make the "
            "queue longer. E[S]² alone is the M/D/1 answer whatever the variance.",
        ),
    ],
    "half": [
        ("yes", None),
        (
            "no",
            "divide by 2 · (1 − ρ), not (1 − ρ): W_q = λ · E[S²] / (2 (1 − ρ)). (The 2 is why a "
            "constant-time server waits half as long as an exponential one.)",
        ),
    ],
    "what": [
        ("wait", None),
        (
            "sojourn",
            "return the time spent WAITING in the queue, W_q, not the time in the system "
            "W = W_q + E[S] (you added the service time).",
        ),
    ],
    "rho": [
        ("λ·E[S]", None),
        (
            "λ/E[S]",
            "the utilisation is ρ = λ · E[S] (= λ/μ with the service RATE μ = 1/E[S]); "
            "mean_s is a time, so multiply by it.",
        ),
    ],
    "unstable": [
        ("inf", None),
        (
            "formula",
            "at ρ >= 1 the server cannot keep up and the queue grows without bound: return "
            "math.inf. The formula gives a negative wait (or divides by 0) there.",
        ),
    ],
}


def _pk_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "unstable" in o.case.tags:
        return _SLIPS["unstable"][1][1]
    if o.got is None:
        return None
    return several_slips(PK, _student, _SLIPS, outcomes) or zero_hint(o)


PK = Task(
    name="mg1_wait",
    arg_names=("lam", "mean_s", "var_s"),
    reference=_reference,
    cases=_pk_cases,
    covers="M/M/1, M/D/1, burstier service, utilisation 0.1 to 0.95, ρ = 1 and ρ > 1 (inf)",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_pk_diagnose,
    encode=encode_number("the mean wait in seconds"),
    symptom=number_symptom(" s"),
    fallback_hint="ρ = lam * mean_s; return math.inf if ρ >= 1, else "
    "lam * (var_s + mean_s**2) / (2 * (1 - ρ)).",
)


def check_mg1_wait(fn) -> None:
    """Check your ``mg1_wait(lam, mean_s, var_s)`` against the Pollaczek–Khinchine formula."""
    __tracebackhide__ = True
    run(PK, fn)
