"""Exercise 03, task 5: ``amdahl_fit`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from inferlab.checks.ch03._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run

# (thread counts, true parallel fraction, seconds with one thread, note); a None fraction means
# the times are given as they are (a superlinear speed-up).
_SWEEPS = [
    ((1, 2, 4, 8), 0.9, 0.12, "p=0.9 up to 8 threads"),
    ((1, 2, 4, 8, 16), 0.97, 0.5, "p=0.97 up to 16 threads"),
    ((1, 2), 0.8, 0.05, "two thread counts: an exact fit"),
    ((2, 4, 8, 16), 0.85, 0.2, "no single-thread run"),
    ((1, 2, 3, 4, 6, 8), 0.7, 0.03, "thread counts that are not powers of 2"),
    ((1, 2, 4), 0.5, 2.0, "half serial"),
    ((1, 2, 4, 8, 16, 32, 64), 0.99, 1.0, "p=0.99 up to 64 threads"),
    ((1, 2, 4, 8), None, (0.8, 0.38, 0.18, 0.085), "a superlinear speed-up (caches)"),
]


def _amdahl_cases() -> list[Case]:
    rng = _rng(5)
    cases = []
    for threads, p, t1, note in _SWEEPS:
        n = np.array(threads, dtype=np.float64)
        if p is None:
            seconds = np.array(t1)
        else:
            seconds = t1 * ((1 - p) + p / n) * np.exp(0.01 * rng.standard_normal(n.size))
        tags = frozenset({"superlinear"}) if p is None else frozenset()
        if threads[0] != 1:
            tags |= {"no n=1"}
        cases.append(Case((list(threads), seconds), note=note, tags=tags))
    return cases


def _fit(threads, seconds, x="1/n"):
    n = np.asarray(threads, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    xs = 1.0 / n if x == "1/n" else n
    design = np.stack([np.ones_like(xs), xs], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, t, rcond=None)
    return float(a), float(b)


def _limit(a: float, b: float) -> float:
    return (a + b) / a if a > 0 else math.inf


def _reference(threads, seconds):
    a, b = _fit(threads, seconds)
    return b / (a + b), _limit(a, b)


def _kind(value) -> str:
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 20 and text != "None" else "")


def _encode(result) -> np.ndarray:
    try:
        p, limit = result
    except (TypeError, ValueError):
        raise TypeError(
            "return a pair `(parallel_fraction, max_speedup)` of two numbers."
        ) from None
    for value in (p, limit):
        if isinstance(value, bool) or not isinstance(value, Real | np.number) or np.ndim(value):
            raise TypeError(
                f"both parallel_fraction and max_speedup must be numbers; got {_kind(value)}."
            )
    return np.array([float(p), float(limit)])


def _symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != (2,):
        return None
    (p, s), (gp, gs) = o.expected, o.got
    parts = []
    if not np.isclose(gp, p, rtol=1e-6, atol=1e-9):
        parts.append(f"parallel_fraction: expected {p:.6g}, got {gp:.6g}")
    if not (np.isclose(gs, s, rtol=1e-6, atol=1e-9) or (math.isinf(s) and gs == s)):
        parts.append(f"max_speedup: expected {s:.6g}, got {gs:.6g}")
    return "; ".join(parts) or None


def _two_point(threads, seconds) -> float:
    """p from the first and the last measurement only."""
    return (1 - seconds[-1] / seconds[0]) / (1 - threads[0] / threads[-1])


def _student(threads, seconds, *, x="1/n", limit="right"):
    a, b = _fit(threads, seconds, x)
    p = b / (a + b)
    if limit == "1/p":
        return p, 1 / p
    return p, _limit(a, b)


_N_HINT = (
    "Amdahl's time is linear in 1/n, not in n: fit seconds = a + b * (1/n), i.e. use "
    "x = 1 / threads as the regressor (np.polyfit(1 / threads, seconds, 1) returns [b, a])."
)
_SERIAL_HINT = (
    "a / (a + b) is the SERIAL fraction (the time no thread count shrinks); the parallel "
    "fraction is p = b / (a + b)."
)
_FIRST_HINT = (
    "T1 in the model is the FITTED single-thread time a + b, not the first measurement: "
    "p = b / (a + b)."
)
_TWO_POINT_HINT = (
    "fit all the points by least squares (np.linalg.lstsq, or np.polyfit on x = 1/threads): "
    "the first and the last measurement alone carry all their noise into p."
)
_LIMIT_HINT = (
    "the speed-up limit is 1 / (1 - p) = (a + b) / a: with infinitely many threads only the "
    "serial part a of the time is left."
)

_MISTAKES = (
    Mistake(lambda n, t: _student(n, t, x="n"), _N_HINT),
    Mistake(lambda n, t: _student(n, t, limit="1/p"), _LIMIT_HINT),
)


def _amdahl_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    threads, seconds = o.case.args
    if o.problem == "exception" and "no n=1" in o.case.tags:
        return (
            f"the thread counts need not start at 1 (here they start at {threads[0]}): fit "
            "a + b/n to all the points instead of reading T1 off a single-thread run."
        )
    if o.got is None or o.got.shape != (2,):
        return None
    if "superlinear" in o.case.tags:
        return (
            "with a superlinear speed-up (more threads also bring more cache) the fitted serial "
            "time a is negative: don't clip anything, p = b / (a + b) comes out above 1 and "
            "max_speedup is math.inf (a <= 0 means no serial part limits the speed-up)."
        )
    (p, _), (got_p, got_s) = o.expected, o.got

    def near(x: float, y: float) -> bool:
        return bool(np.isclose(x, y, rtol=1e-6, atol=1e-12))

    a, b = _fit(threads, seconds)
    if not near(got_p, p):
        candidates = (
            (a / (a + b), _SERIAL_HINT),
            (b / seconds[0], _FIRST_HINT),
            (_two_point(threads, seconds), _TWO_POINT_HINT),
            (_student(threads, seconds, x="n")[0], _N_HINT),
        )
        return next((hint for value, hint in candidates if near(got_p, value)), None)
    if got_p != 0 and near(got_s, 1 / got_p):
        return _LIMIT_HINT
    return None


AMDAHL = Task(
    name="amdahl_fit",
    arg_names=("threads", "seconds"),
    reference=_reference,
    cases=_amdahl_cases,
    covers="2 to 7 thread counts, no single-thread run, p=0.5 to 0.99 and a superlinear sweep",
    mistakes=_MISTAKES,
    diagnose=_amdahl_diagnose,
    encode=_encode,
    symptom=_symptom,
    fallback_hint="fit seconds = a + b / threads by least squares (np.linalg.lstsq with the "
    "columns [1, 1/threads], or np.polyfit(1 / threads, seconds, 1), which returns [b, a]); "
    "then p = b / (a + b) and max_speedup = (a + b) / a, or math.inf when a <= 0.",
)


def check_amdahl_fit(fn) -> None:
    """Check your ``amdahl_fit(threads, seconds)`` against a least-squares fit of Amdahl's law."""
    __tracebackhide__ = True
    run(AMDAHL, fn)
