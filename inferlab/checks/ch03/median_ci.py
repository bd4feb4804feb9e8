"""Exercise 03, task 2: ``median_ci`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from inferlab.bench import stats
from inferlab.checks.ch03._common import _rng, latencies, ordinal
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run


def _median_ci_cases() -> list[Case]:
    rng = _rng(2)

    def case(n, note, level=None, sigma=0.6, tags=(), as_list=False):
        x = latencies(rng, n, sigma=sigma)
        kwargs = {} if level is None else {"level": level}
        return Case((x.tolist() if as_list else x,), kwargs, note=note, tags=frozenset(tags))

    return [
        case(6, "6 samples: the fewest with a 95% CI"),
        case(7, "7 samples"),
        case(10, "10 samples"),
        case(25, "25 samples with a heavy tail", sigma=1.3),
        case(31, "31 samples"),
        case(100, "100 samples"),
        case(1000, "1000 samples"),
        case(15, "level=0.9", level=0.9),
        case(40, "level=0.99", level=0.99),
        case(12, "level=0.8", level=0.8),
        case(5, "5 samples: too few to bound it", tags=("unbounded",)),
        case(7, "7 samples at level=0.99: too few", level=0.99, tags=("unbounded",)),
        case(20, "a Python list", as_list=True),
    ]


def _ranks(n: int, level: float, tails: float = 2.0) -> tuple[int, int]:
    """1-based ranks (l, u) of the CI's ends (0 and n + 1 where a side is unbounded)."""
    total = 2**n
    cdf, count = [], 0
    for k in range(n + 1):
        count += math.comb(n, k)
        cdf.append(count / total)
    alpha = (1 - level) / tails
    low = next(k for k in range(n + 1) if cdf[k] >= alpha)
    return low, n + 1 - low


def _cdf(n: int, k: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def _symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != (2,):
        return None
    (lo, hi), (got_lo, got_hi) = o.expected, o.got
    return f"expected ({lo:.7g}, {hi:.7g}), got ({got_lo:.7g}, {got_hi:.7g})"


def _ends(a: np.ndarray, low: int, high: int) -> tuple[float, float]:
    n = len(a)
    lo = float(a[low - 1]) if 1 <= low <= n else (-math.inf if low < 1 else math.inf)
    hi = float(a[high - 1]) if 1 <= high <= n else (math.inf if high > n else -math.inf)
    return lo, hi


def _ci(samples, level=0.95, *, sort=True, tails=2.0, shift=(0, 0)):
    """A student's order-statistic CI with switches for their mistakes."""
    a = np.asarray(samples, dtype=np.float64)
    a = np.sort(a) if sort else a
    low, high = _ranks(len(a), level, tails)
    if low == 0:
        return -math.inf, math.inf
    return _ends(a, low + shift[0], high + shift[1])


def _kind(value) -> str:
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 20 and text != "None" else "")


def _encode(result) -> np.ndarray:
    if isinstance(result, np.ndarray) and result.shape == (2,) and result.dtype.kind in "fi":
        return result.astype(np.float64)
    try:
        low, high = result
    except (TypeError, ValueError):
        raise TypeError(
            "return the interval as a pair `(low, high)` of two numbers (seconds), e.g. "
            "`return float(x[l - 1]), float(x[u - 1])`."
        ) from None
    for end in (low, high):
        if isinstance(end, bool) or not isinstance(end, Real | np.number) or np.ndim(end):
            raise TypeError(
                f"both ends must be numbers; got {_kind(end)}. Return "
                "`(low, high)`, using -math.inf / math.inf for a side that can't be bounded."
            )
    return np.array([float(low), float(high)])


_NORMAL_HINT = (
    "that is a normal-theory interval (centre ± z·sd): it assumes symmetric, normal data. "
    "Latencies are skewed (a long slow tail, like these lognormal samples), and the mean is not "
    "the median. Use the distribution-free interval: two ORDER STATISTICS, sorted[l - 1] and "
    "sorted[u - 1], with l from the Binomial(n, 1/2) CDF."
)


def _rank_of(a: np.ndarray, value: float) -> int | None:
    """1-based rank of ``value`` among the sorted samples ``a`` (None if it is not one)."""
    if not math.isfinite(value):
        return None
    hits = np.flatnonzero(np.isclose(a, value, rtol=1e-9, atol=0))
    return int(hits[0]) + 1 if hits.size else None


def _median_ci_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    samples = np.asarray(o.case.args[0], dtype=np.float64)
    n, level = samples.size, o.case.kwargs.get("level", 0.95)
    low, high = _ranks(n, level)
    if o.problem == "exception" and "unbounded" in o.case.tags:
        return (
            f"with n={n} samples even the smallest sample is not a {level:.0%} lower bound: "
            f"F(0) = 1/2**{n} = {0.5**n:.3g} >= (1 - level)/2, so l = 0. There is no sample "
            "number 0 (sorted[-1] is the LARGEST): return (-math.inf, math.inf) when l == 0."
        )
    if o.problem == "exception" and isinstance(o.error, IndexError):
        return (
            "an index ran past the end: the ranks l and u = n + 1 - l are 1-based (1..n), so the "
            "ends are sorted[l - 1] and sorted[u - 1]."
        )
    if o.got is None or o.got.shape != (2,):
        return None
    got_lo, got_hi = (float(v) for v in o.got)
    if low >= 1 and not (math.isfinite(got_lo) and math.isfinite(got_hi)):
        return (
            f"with n={n} samples the {level:.0%} CI is bounded: F({low - 1}) = "
            f"{_cdf(n, low - 1):.4g} < (1 - level)/2 = {(1 - level) / 2:.4g}, so l = {low} and "
            f"u = {high}. Compute F exactly from math.comb (no normal approximation)."
        )
    if "unbounded" in o.case.tags:
        return (
            f"with n={n} samples a {level:.0%} CI of the median can't be bounded: l = 0 (even "
            f"P(all {n} samples above the median) = 1/2**{n} = {0.5**n:.3g} is more than "
            f"(1 - level)/2 = {(1 - level) / 2:.3g}). Return (-math.inf, math.inf) then."
        )
    a = np.sort(samples)
    if got_lo > got_hi:
        return "return (low, high), the smaller end first."
    ranks = (_rank_of(a, got_lo), _rank_of(a, got_hi))
    if None in ranks:
        mean, median, width = a.mean(), float(np.median(a)), got_hi - got_lo
        for centre in (mean, median):
            if width > 0 and abs((got_lo + got_hi) / 2 - centre) <= 1e-9 * max(1.0, abs(centre)):
                return _NORMAL_HINT
        return (
            "the ends of this interval are samples themselves (order statistics): sorted[l - 1] "
            "and sorted[u - 1], not values computed from them."
        )
    a_rank, b_rank = ranks
    where = (
        f"your interval runs from the {ordinal(a_rank)} to the {ordinal(b_rank)} smallest sample; "
        f"the {level:.0%} CI runs from the {ordinal(low)} to the {ordinal(high)} (l={low}, "
        f"u = n + 1 - l = {high}, n={n})"
    )
    one_sided = _ranks(n, level, tails=1.0)
    if (a_rank, b_rank) == one_sided:
        return (
            f"{where}: too narrow. Split 1 - level between the two tails: l is the smallest k "
            "with F(k) >= (1 - level)/2, not >= 1 - level."
        )
    if (a_rank - low, b_rank - high) in ((1, 1), (-1, -1), (1, 0), (0, -1), (-1, 0), (0, 1)):
        return (
            f"{where}: off by one. The k-th smallest sample is sorted[k - 1] (ranks are 1-based) "
            "and u = n + 1 - l."
        )
    return (
        f"{where}. l is the smallest k with F(k) >= (1 - level)/2, where F(k) = sum of "
        "math.comb(n, i) / 2**n for i <= k."
    )


def _reference(samples, level=0.95) -> tuple[float, float]:
    ci = stats.quantile_ci(samples, 0.5, level)
    return ci.low, ci.high


MEDIAN_CI = Task(
    name="median_ci",
    arg_names=("samples",),
    reference=_reference,
    cases=_median_ci_cases,
    covers="skewed samples from 5 to 1000, levels 0.8 to 0.99, too few samples and a list",
    mistakes=(
        Mistake(
            lambda s, level=0.95: _ci(s, level, sort=False),
            "sort the samples first (np.sort): the ranks l and u count from the smallest sample.",
        ),
        Mistake(
            lambda s, level=0.95: _ci(s, 0.95),
            "use the `level` argument: you computed the 95% interval whatever level was asked.",
        ),
    ),
    diagnose=_median_ci_diagnose,
    symptom=_symptom,
    encode=_encode,
    fallback_hint="sort the samples; F(k) = sum(math.comb(n, i) for i <= k) / 2**n; l = the "
    "smallest k with F(k) >= (1 - level)/2; u = n + 1 - l; return (sorted[l - 1], "
    "sorted[u - 1]).",
    mutation_hint="sort a copy: `np.sort(samples)` returns a sorted copy, while "
    "`samples.sort()` reorders the caller's measurements in place.",
)


def check_median_ci(fn) -> None:
    """Check your ``median_ci(samples, level=0.95)`` against
    ``inferlab.bench.stats.quantile_ci``."""
    __tracebackhide__ = True
    run(MEDIAN_CI, fn)
