"""Exercise 03, task 1: ``percentile`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import math
import statistics

import numpy as np

from inferlab.bench import stats
from inferlab.checks.ch03._common import _rng, latencies
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run

_SORT_HINT = (
    "sort the samples first (np.sort(samples)): a percentile is read off the SORTED samples, "
    "and timings arrive in the order they were measured."
)
_INTERPOLATE_HINT = (
    "interpolate between the two neighbouring samples: with pos = q/100 * (n - 1), lo = "
    "floor(pos) and hi = min(lo + 1, n - 1), the answer is sorted[lo] + (sorted[hi] - "
    "sorted[lo]) * (pos - lo). Picking one sample (rounding pos) is another method."
)
_PERCENT_HINT = (
    "q is a percentage, from 0 to 100 (p99 is q=99): the position is q/100 * (n - 1). You used "
    "q as a fraction of 1."
)


def _percentile_cases() -> list[Case]:
    rng = _rng(1)
    ties = np.round(latencies(rng, 12), 3)  # a coarse clock: equal values
    ties[3] = ties[7]
    return [
        Case((latencies(rng, 10), 50), note="the median of an even count"),
        Case((latencies(rng, 7), 50), note="the median of an odd count"),
        Case((latencies(rng, 20), 90), note="p90"),
        Case((latencies(rng, 100, sigma=0.8), 99), note="p99 of 100 samples"),
        Case((latencies(rng, 1000, sigma=0.8), 99.9), note="p99.9 of 1000 samples"),
        Case((latencies(rng, 9), 0), note="q=0: the minimum", tags=frozenset({"edge"})),
        Case((latencies(rng, 9), 100), note="q=100: the maximum", tags=frozenset({"edge"})),
        Case((latencies(rng, 1), 37), note="a single sample", tags=frozenset({"edge"})),
        Case((latencies(rng, 2), 25), note="two samples"),
        Case((latencies(rng, 50), 12.5), note="a fractional q"),
        Case((ties, 60), note="repeated values"),
        Case((latencies(rng, 11).tolist(), 75), note="a Python list"),
    ]


def _at(a: np.ndarray, pos: float) -> float:
    """Linear interpolation between sorted[floor(pos)] and the next sample (clipped)."""
    n = len(a)
    pos = min(max(pos, 0.0), n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return float(a[lo] + (a[hi] - a[lo]) * (pos - lo))


def _pct(samples, q, *, position="n-1", pick="interpolate", sort=True, scale=100.0):
    """A student's percentile with switches for their mistakes."""
    a = np.asarray(samples, dtype=np.float64)
    a = np.sort(a) if sort else a
    n = len(a)
    f = q / scale
    pos = {
        "n-1": f * (n - 1),
        "n": f * n,
        "n+1": f * (n + 1) - 1,  # statistics.quantiles' default ("exclusive")
    }[position]
    if pick == "floor":
        return float(a[min(max(math.floor(pos), 0), n - 1)])
    if pick == "round":
        return float(a[min(max(round(pos), 0), n - 1)])
    if pick == "nearest rank":
        return float(a[min(max(math.ceil(f * n) - 1, 0), n - 1)])
    return _at(a, pos)


def _percentile_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, IndexError):
        crashed = [c.case for c in outcomes if c.problem == "exception"]
        if any(c.args[1] <= 50 and len(c.args[0]) > 1 for c in crashed):
            return (
                "q is a percentage, from 0 to 100 (p99 is q=99): did you use it as a fraction "
                "of 1? The position q/100 * (n - 1) ran past the end."
            )
        if all("edge" in c.tags for c in crashed):
            return (
                "clip the upper neighbour: hi = min(lo + 1, n - 1). At q=100, or with a single "
                "sample, pos = n - 1 is the last index and there is no sample after it."
            )
        return (
            "an index ran past the end of the sorted samples: the position is q/100 * (n - 1), "
            "at most n - 1 (not q/100 * n), and the upper neighbour is min(lo + 1, n - 1)."
        )
    if o.problem == "exception" and isinstance(o.error, AttributeError):
        return (
            "samples may be a Python list: convert it first with np.asarray(samples, "
            "dtype=float) (or use np.sort / len, which accept lists)."
        )
    if o.got is not None and o.got.shape == o.expected.shape:
        a = np.sort(np.asarray(o.case.args[0], dtype=np.float64))
        if not (a[0] - 1e-12 <= float(o.got) <= a[-1] + 1e-12):
            return (
                f"a percentile lies between the smallest ({a[0]:.6g}) and the largest "
                f"({a[-1]:.6g}) sample; yours, {float(o.got):.6g}, does not."
            )
    return None


PERCENTILE = Task(
    name="percentile",
    arg_names=("samples", "q"),
    reference=lambda samples, q: stats.quantile(samples, q / 100),
    cases=_percentile_cases,
    covers="even and odd counts, q=0 and q=100, p99.9 of 1000, one sample, ties and a list",
    mistakes=(
        Mistake(lambda s, q: _pct(s, q, sort=False), _SORT_HINT),
        Mistake(
            lambda s, q: _pct(s, q, position="n"),
            "the position in the sorted samples is q/100 * (n - 1), not q/100 * n: the indices "
            "run from 0 to n - 1, so q=0 is sorted[0] and q=100 is sorted[n - 1].",
        ),
        Mistake(
            lambda s, q: _pct(s, q, position="n+1"),
            "that is the (n + 1) method (statistics.quantiles' default, 'exclusive'); NumPy's "
            "default, and this task, put the q-th percentile at position q/100 * (n - 1).",
        ),
        Mistake(
            lambda s, q: _pct(s, q, pick="nearest rank"),
            "that is the nearest-rank method (sorted[ceil(q/100 * n) - 1]); this task wants "
            "NumPy's default: at pos = q/100 * (n - 1), interpolate linearly between "
            "sorted[floor(pos)] and the next sample.",
        ),
        Mistake(lambda s, q: _pct(s, q, pick="floor"), _INTERPOLATE_HINT),
        Mistake(lambda s, q: _pct(s, q, pick="round"), _INTERPOLATE_HINT),
        Mistake(lambda s, q: _pct(s, min(q, 1.0), scale=1.0), _PERCENT_HINT),
        Mistake(lambda s, q: _pct(s, q, sort=False, position="n"), _SORT_HINT),
    ),
    diagnose=_percentile_diagnose,
    symptom=lambda o: (
        f"expected {float(o.expected):.9g}, got {float(o.got):.9g}"
        if o.got is not None and o.got.shape == ()
        else None
    ),
    shape_hint="percentile returns one number (a float), not an array.",
    fallback_hint="sort the samples, then interpolate linearly at position q/100 * (n - 1) "
    "(0-based): compare with np.percentile(samples, q) on a small example, e.g. [4, 1, 3, 2] "
    "and q=50 gives 2.5.",
    forbidden=(np.percentile, np.quantile, np.nanpercentile, np.nanquantile, statistics.quantiles),
    forbidden_hint="compute the percentile yourself from the sorted samples: np.percentile, "
    "np.quantile and statistics.quantiles do the task for you (use them to test your function "
    "in a cell of your own).",
    mutation_hint="sort a copy: `np.sort(samples)` returns a sorted copy, while "
    "`samples.sort()` reorders the caller's measurements in place.",
)


def check_percentile(fn) -> None:
    """Check your ``percentile(samples, q)`` against ``inferlab.bench.stats.quantile``."""
    __tracebackhide__ = True
    run(PERCENTILE, fn)
