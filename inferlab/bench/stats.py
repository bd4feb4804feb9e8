"""How sure is a timing? Confidence intervals for quantiles, and outliers, in plain NumPy.

A median from 7 samples is itself a random number: run the benchmark again and it moves. A
confidence interval (CI) says how far. Two ways to get one, both distribution-free (timings are
skewed and heavy-tailed, so no normal-distribution formula):

- **Order statistics** (:func:`quantile_ci`, the default). Of ``n`` samples, the number ``B``
  below the true ``q``-quantile is Binomial(n, q). So the sorted samples ``x_(l) <= x_(u)`` bracket
  the true quantile with probability ``P(l <= B <= u - 1)``, exactly, whatever the distribution.
  We pick ``l, u`` from the binomial CDF so that probability is at least ``level``; the achieved
  value is reported as ``coverage``. With too few samples one side cannot be bounded (it is
  ``±inf``): a 95 % CI of the median needs 6 samples, of the p99 368 (:func:`min_samples`).
- **Bootstrap** (:func:`bootstrap_ci`): resample the data with replacement (seeded), recompute the
  statistic, take the middle ``level`` of the results. Works for any statistic (a ratio of two
  medians: :func:`ratio_ci`) but cannot see past the largest sample, so it is optimistic for a
  tail quantile of a small sample.

Outliers (:func:`outlier_mask`): a sample is *slow* when it is more than ``k`` robust standard
deviations above the median, the robust standard deviation being ``MAD / 0.6745`` (the modified
z-score of Iglewicz & Hoaglin, k = 3.5). Noise only adds time, so only the slow side counts.

Every function is unit-free: pass seconds, get seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from inferlab.errors import InvalidValueError, describe

__all__ = [
    "CI",
    "bootstrap_ci",
    "mad",
    "min_samples",
    "order_statistic_ranks",
    "outlier_mask",
    "quantile",
    "quantile_ci",
    "ratio_ci",
]

# Modified z-score = 0.6745 * (x - median) / MAD: 0.6745 is the normal's 75th percentile, so that
# MAD / 0.6745 estimates the standard deviation of normal data.
_MAD_TO_SIGMA = 0.6745


@dataclass(frozen=True)
class CI:
    """A confidence interval for the ``q``-quantile: ``low <= true value <= high`` with
    probability ``coverage`` (>= ``level`` for the order-statistic method).

    ``low``/``high`` are ``-inf``/``inf`` where ``n`` samples cannot bound that side.
    """

    estimate: float
    low: float
    high: float
    level: float
    q: float
    n: int
    method: str
    coverage: float

    @property
    def bounded(self) -> bool:
        """True when both ends are finite."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def width(self) -> float:
        """``high - low`` (inf when unbounded)."""
        return self.high - self.low

    def __contains__(self, value) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] ({self.level:.0%} CI)"


def _samples(name: str, x, minimum: int = 1) -> np.ndarray:
    """A 1-D float64 array of finite samples, or InvalidValueError saying what was wrong."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"{name} needs a 1-D sequence of numbers; got {describe(x)}"
        ) from None
    if a.ndim != 1 or a.size < minimum or not np.all(np.isfinite(a)):
        raise InvalidValueError(
            f"{name} needs a 1-D sequence of at least {minimum} finite numbers; got {describe(a)}"
        )
    return a


def _fraction(name: str, value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < 1:
        raise InvalidValueError(f"{name} needs {what} strictly between 0 and 1; got {value!r}")
    return float(value)


def quantile(x, q: float) -> float:
    """The ``q``-quantile of samples ``x``, linearly interpolated (like ``np.quantile``)."""
    a = _samples("quantile", x)
    if isinstance(q, bool) or not isinstance(q, Real) or not 0 <= q <= 1:
        raise InvalidValueError(f"quantile needs q in [0, 1]; got {q!r}")
    return float(np.quantile(a, q))


def _binomial_cdf(n: int, p: float) -> np.ndarray:
    """``F[k] = P(B <= k)`` for ``B ~ Binomial(n, p)``, ``k = 0..n``.

    Built in log space from the ratio ``pmf(k+1) / pmf(k) = (n - k) / (k + 1) * p / (1 - p)``,
    so it neither overflows (``n!``) nor underflows (``0.5**10000``).
    """
    k = np.arange(n, dtype=np.float64)
    steps = np.log(n - k) - np.log(k + 1) + math.log(p) - math.log1p(-p)
    log_pmf = np.concatenate(([0.0], np.cumsum(steps)))
    pmf = np.exp(log_pmf - log_pmf.max())
    return np.cumsum(pmf / pmf.sum())


def order_statistic_ranks(n: int, q: float, level: float = 0.95) -> tuple[int, int, float]:
    """1-based ranks ``(l, u)`` of the sorted samples that bound the ``q``-quantile, and coverage.

    ``l = binom.ppf((1 - level) / 2, n, q)`` and ``u = binom.ppf((1 + level) / 2, n, q) + 1``;
    coverage ``= F(u - 1) - F(l - 1) >= level``. ``l = 0`` means no lower bound from ``n``
    samples, ``u = n + 1`` no upper bound.
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise InvalidValueError(f"order_statistic_ranks needs n >= 1 samples; got {n!r}")
    q = _fraction("order_statistic_ranks", q, "q")
    level = _fraction("order_statistic_ranks", level, "level")
    cdf = _binomial_cdf(int(n), q)
    alpha = 1.0 - level
    low = int(np.searchsorted(cdf, alpha / 2, side="left"))  # smallest k with F(k) >= alpha/2
    high = int(np.searchsorted(cdf, 1 - alpha / 2, side="left")) + 1
    coverage = float(cdf[high - 1] - (cdf[low - 1] if low >= 1 else 0.0))
    return low, min(high, int(n) + 1), min(coverage, 1.0)


def min_samples(q: float, level: float = 0.95) -> int:
    """Fewest samples for which the order-statistic CI of the ``q``-quantile is bounded.

    Both ends exist when ``(1 - q)**n <= (1 - level)/2`` and ``q**n <= (1 - level)/2``:
    6 samples for the median at 95 %, 368 for the p99.
    """
    q = _fraction("min_samples", q, "q")
    level = _fraction("min_samples", level, "level")
    n = max(1, math.floor(math.log((1 - level) / 2) / math.log(max(q, 1 - q))) - 1)
    while True:  # the closed form up to rounding; settle it on the exact ranks
        low, high, _ = order_statistic_ranks(n, q, level)
        if low >= 1 and high <= n:
            return n
        n += 1


def quantile_ci(x, q: float = 0.5, level: float = 0.95) -> CI:
    """Distribution-free CI of the ``q``-quantile from order statistics (see the module doc)."""
    a = np.sort(_samples("quantile_ci", x))
    low, high, coverage = order_statistic_ranks(a.size, q, level)
    return CI(
        estimate=float(np.quantile(a, q)),
        low=float(a[low - 1]) if low >= 1 else -math.inf,
        high=float(a[high - 1]) if high <= a.size else math.inf,
        level=float(level),
        q=float(q),
        n=int(a.size),
        method="order statistics",
        coverage=coverage,
    )


def _check_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, Integral) or n_boot < 100:
        raise InvalidValueError(f"bootstrap needs n_boot >= 100 resamples; got {n_boot!r}")
    return int(n_boot)


def _boot_quantiles(a: np.ndarray, q: float, n_boot: int, rng) -> np.ndarray:
    """The ``q``-quantile of ``n_boot`` resamples of ``a``, in chunks of ~4 M numbers (32 MB)."""
    out = np.empty(n_boot)
    chunk = max(1, 4_000_000 // a.size)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, a.size, size=(stop - start, a.size))
        out[start:stop] = np.quantile(a[idx], q, axis=1)
    return out


def bootstrap_ci(x, q: float = 0.5, level: float = 0.95, n_boot: int = 2000, seed=0) -> CI:
    """Percentile-bootstrap CI of the ``q``-quantile; ``seed`` makes it reproducible."""
    a = _samples("bootstrap_ci", x)
    q = _fraction("bootstrap_ci", q, "q")
    level = _fraction("bootstrap_ci", level, "level")
    boot = _boot_quantiles(a, q, _check_boot(n_boot), np.random.default_rng(seed))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    estimate = float(np.quantile(a, q))
    return CI(estimate, float(low), float(high), level, q, int(a.size), "bootstrap", level)


def ratio_ci(a, b, q: float = 0.5, level: float = 0.95, n_boot: int = 2000, seed=0) -> CI:
    """Bootstrap CI of ``quantile(a, q) / quantile(b, q)``: "engine A takes 1.3× B's time".

    ``a`` and ``b`` are resampled independently (they are separate runs).
    """
    a = _samples("ratio_ci", a)
    b = _samples("ratio_ci", b)
    q = _fraction("ratio_ci", q, "q")
    level = _fraction("ratio_ci", level, "level")
    if np.quantile(b, q) <= 0:
        raise InvalidValueError("ratio_ci needs quantile(b, q) > 0 to divide by it")
    n_boot = _check_boot(n_boot)
    rng = np.random.default_rng(seed)
    top, bottom = _boot_quantiles(a, q, n_boot, rng), _boot_quantiles(b, q, n_boot, rng)
    with np.errstate(divide="ignore"):
        ratios = top / bottom
    low, high = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    estimate = float(np.quantile(a, q) / np.quantile(b, q))
    n = int(min(a.size, b.size))
    return CI(estimate, float(low), float(high), level, q, n, "bootstrap ratio", level)


def mad(x) -> float:
    """Median absolute deviation from the median (same unit as ``x``)."""
    a = _samples("mad", x)
    return float(np.median(np.abs(a - np.median(a))))


def outlier_mask(x, k: float = 3.5, rel: float = 0.0) -> np.ndarray:
    """Boolean mask of *slow* outliers: ``x > median + k * MAD / 0.6745`` and, with ``rel > 0``,
    also ``x > (1 + rel) * median`` (so a very steady timing does not flag a 1 % wobble).

    When over half the samples are equal (MAD = 0), the mean absolute deviation stands in
    (scaled by ``sqrt(pi/2)`` likewise); when all are equal there are no outliers.
    """
    a = _samples("outlier_mask", x)
    if isinstance(k, bool) or not isinstance(k, Real) or not k > 0:
        raise InvalidValueError(f"outlier_mask needs k > 0; got {k!r}")
    if isinstance(rel, bool) or not isinstance(rel, Real) or not rel >= 0:
        raise InvalidValueError(f"outlier_mask needs rel >= 0 (a fraction); got {rel!r}")
    centre = np.median(a)
    sigma = np.median(np.abs(a - centre)) / _MAD_TO_SIGMA
    if sigma == 0:
        sigma = np.mean(np.abs(a - centre)) * math.sqrt(math.pi / 2)
    if sigma == 0:
        return np.zeros(a.size, dtype=bool)
    return (a > centre + k * sigma) & (a > centre + rel * abs(centre))
