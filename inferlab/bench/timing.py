"""Timing: every sample of a measurement, in seconds per call, and the statistics to read it.

Pick the statistic for the question. Noise on a busy machine only ever *adds* time, so:

- ``median`` — the typical call; robust to the odd outlier (a context switch, a garbage
  collection) that drags the ``mean`` around. Use it for "how fast is this?".
- ``min`` — the best the hardware did with the least interference. Use it for peak-style numbers
  (GFLOP/s against the CPU's theoretical peak), where you want the machine, not the noise.
- ``p99`` — the tail: the slowest 1 % of calls, what users of a service feel. It needs many
  samples to mean anything: with 7 it is essentially the maximum, and its 95 % confidence
  interval only closes from 368 samples on (:func:`inferlab.bench.stats.min_samples`).

:meth:`Timing.ci` says how sure each number is; :meth:`Timing.summary` prints them all.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from numbers import Integral, Real

from inferlab.bench import stats
from inferlab.errors import InvalidValueError

__all__ = ["Summary", "Timing", "format_interval", "format_seconds", "gflops"]

# (seconds per unit, unit name), largest first, for printing durations.
_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def _fmt(value: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, without switching to e-notation below 1e4."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 10**digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _unit(seconds: float) -> tuple[float, str]:
    return next(((s, u) for s, u in _UNITS if abs(seconds) >= s), _UNITS[-1])


def format_seconds(seconds: float, digits: int = 3) -> str:
    """``0.00123`` -> ``"1.23 ms"``: a duration in the unit that reads best (s, ms, µs, ns)."""
    if not math.isfinite(seconds):
        return "∞" if seconds > 0 else "-∞" if seconds < 0 else "nan"
    scale, unit = _unit(seconds)
    return f"{_fmt(seconds / scale, digits)} {unit}"


def format_interval(ci: stats.CI, fmt=format_seconds) -> str:
    """``"[1.2 ms, 1.3 ms]"``; an unbounded side shows as ∞, and when neither side is bounded,
    how many samples it would take (``"needs >= 6 samples"``)."""
    if math.isinf(ci.low) and math.isinf(ci.high):
        return f"needs >= {stats.min_samples(ci.q, ci.level)} samples"
    low = fmt(ci.low) if math.isfinite(ci.low) else "-∞"
    high = fmt(ci.high) if math.isfinite(ci.high) else "∞"
    return f"[{low}, {high}]"


@dataclass(frozen=True)
class Timing:
    """Seconds per call of every sample that :func:`~inferlab.bench.sampling` took.

    ``times``: one value per sample, each the mean of ``number`` back-to-back calls (so with
    ``number > 1`` the percentiles are of those means: the tail is smoothed).
    ``warmup_times``: seconds of each untimed warm-up call, in order (the first is usually the
    slowest: that is why they are thrown away).
    """

    times: tuple[float, ...]
    number: int = 1
    warmup_times: tuple[float, ...] = ()

    def __post_init__(self):
        times = tuple(float(t) for t in self.times)
        warm = tuple(float(t) for t in self.warmup_times)
        if not times:
            raise InvalidValueError("Timing needs at least one sample; got an empty sequence")
        if any(not math.isfinite(t) or t < 0 for t in times + warm):
            raise InvalidValueError(f"Timing needs finite times >= 0 seconds; got {times}")
        number = self.number
        if isinstance(number, bool) or not isinstance(number, Integral) or number < 1:
            raise InvalidValueError(f"Timing needs number >= 1 calls per sample; got {number!r}")
        object.__setattr__(self, "number", int(number))
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "warmup_times", warm)

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.times)

    @property
    def median(self) -> float:
        """The typical call, robust to outliers: use it for "how fast is this?"."""
        return statistics.median(self.times)

    @property
    def mean(self) -> float:
        """Arithmetic mean; one slow outlier moves it (compare it with the median)."""
        return statistics.fmean(self.times)

    @property
    def min(self) -> float:
        """The best sample, with the least interference: use it for peak-style numbers."""
        return min(self.times)

    @property
    def max(self) -> float:
        """The worst sample."""
        return max(self.times)

    @property
    def p99(self) -> float:
        """99th percentile, linearly interpolated between samples (as ``np.percentile`` does)."""
        return self.quantile(0.99)

    @property
    def stdev(self) -> float:
        """Sample standard deviation (0.0 for a single sample)."""
        return statistics.stdev(self.times) if len(self.times) > 1 else 0.0

    @property
    def mad(self) -> float:
        """Median absolute deviation (seconds): a spread that one outlier cannot inflate."""
        return stats.mad(self.times)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile in seconds (0.5 = median, 0.99 = p99), linearly interpolated."""
        if isinstance(q, bool) or not isinstance(q, Real) or not 0 <= q <= 1:
            raise InvalidValueError(f"Timing.quantile needs q in [0, 1]; got {q!r}")
        ordered = sorted(self.times)
        pos = q * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    def ci(self, q: float = 0.5, level: float = 0.95, method: str = "order", seed=0) -> stats.CI:
        """Confidence interval (seconds) of the ``q``-quantile.

        ``method="order"``: exact, distribution-free, from order statistics (unbounded side =
        ``inf`` when there are too few samples); ``"bootstrap"``: seeded percentile bootstrap.
        """
        if method == "order":
            return stats.quantile_ci(self.times, q, level)
        if method == "bootstrap":
            return stats.bootstrap_ci(self.times, q, level, seed=seed)
        raise InvalidValueError(f"Timing.ci needs method 'order' or 'bootstrap'; got {method!r}")

    def outliers(self, k: float = 3.5, rel: float = 0.05) -> tuple[float, ...]:
        """The slow outliers (seconds): samples above ``median + k · MAD / 0.6745`` and at
        least ``rel`` (5 %) above the median."""
        mask = stats.outlier_mask(self.times, k, rel)
        return tuple(t for t, slow in zip(self.times, mask, strict=True) if slow)

    def summary(self, level: float = 0.95) -> Summary:
        """Median and p99 with CIs, min, mean and outliers; ``print`` it for a short report."""
        return Summary(
            n=self.n,
            number=self.number,
            median=self.ci(0.5, level),
            p99=self.ci(0.99, level),
            min=self.min,
            mean=self.mean,
            mad=self.mad,
            outliers=self.outliers(),
        )

    def __str__(self) -> str:
        scale, unit = _unit(self.median)
        spread = _fmt(self.stdev / scale, 2)
        return f"{_fmt(self.median / scale)} {unit} ± {spread} (median of {self.n})"


@dataclass(frozen=True)
class Summary:
    """An outlier-robust report of a :class:`Timing` (all times in seconds)."""

    n: int
    number: int
    median: stats.CI
    p99: stats.CI
    min: float
    mean: float
    mad: float
    outliers: tuple[float, ...]

    def __str__(self) -> str:
        def line(name: str, ci: stats.CI) -> str:
            text = f"{name:<6} {format_seconds(ci.estimate):>9}   "
            text += f"{format_interval(ci)} {ci.level:.0%} CI"
            if not ci.bounded:
                need = stats.min_samples(ci.q, ci.level)
                text += f" (unbounded: needs >= {need} samples, have {ci.n})"
            return text

        per = f", each the mean of {self.number} calls" if self.number > 1 else ""
        lines = [f"{self.n} samples{per}", line("median", self.median), line("p99", self.p99)]
        rest = f"min {format_seconds(self.min)} · mean {format_seconds(self.mean)}"
        rest += f" · MAD {format_seconds(self.mad)}"
        if self.outliers:
            worst = format_seconds(max(self.outliers))
            rest += f" · {len(self.outliers)} slow outlier(s), worst {worst}"
        return "\n".join([*lines, rest])


def gflops(flops: float, seconds: float) -> float:
    """Throughput in GFLOP/s: ``flops / seconds / 1e9`` (e.g. ``gflops(2 * n**3, t.min)``)."""
    if isinstance(flops, bool) or not isinstance(flops, Real) or not flops >= 0:
        raise InvalidValueError(f"gflops needs flops >= 0; got {flops!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not seconds > 0:
        raise InvalidValueError(f"gflops needs seconds > 0; got {seconds!r}")
    return float(flops) / float(seconds) / 1e9
