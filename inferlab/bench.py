"""Timing a function honestly: warm-up, repeats, and the right summary statistic.

    >>> t = measure(np.matmul, a, b, warmup=2, repeat=10)
    >>> print(t)                              # 6.71 ms ± 0.12 (median of 10)
    >>> gflops(2 * 1024**3, t.min)            # 320.1: peak-style number, from the best sample

Three rules, each fixing a classic benchmarking mistake:

- **Warm up first.** The first call pays one-off costs (page faults on fresh buffers, lazy
  imports, caches and branch predictors still cold, thread pools starting). ``warmup`` calls run
  and are thrown away.
- **Repeat, and keep every sample.** One number hides the noise. ``repeat`` samples, each timing
  ``number`` back-to-back calls with :func:`time.perf_counter` (the highest-resolution monotonic
  clock); a sample is divided by ``number`` so every value in :class:`Timing` is *seconds per call*.
  Raise ``number`` when one call is so short (microseconds) that the clock's resolution and the
  loop overhead would show.
- **Pick the statistic for the question.** Noise on a busy machine only ever *adds* time, so:

  - ``median`` — the typical call; robust to the odd outlier (a context switch, a garbage
    collection) that drags the ``mean`` around. Use it for "how fast is this?".
  - ``min`` — the best the hardware did with the least interference. Use it for peak-style numbers
    (GFLOP/s against the CPU's theoretical peak), where you want the machine, not the noise.
  - ``p99`` — the tail: the slowest 1 % of calls, what users of a service feel. It needs many
    samples to mean anything (with 7 samples it is essentially the maximum).

The garbage collector stays on (unlike :mod:`timeit`): a served model pays for it too.
Chapter 03 builds on this module (latency vs throughput, batch-size curves).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real

from inferlab.errors import InvalidValueError, describe

__all__ = ["Timing", "gflops", "measure"]

# (seconds per unit, unit name), largest first, for printing durations.
_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def _fmt(value: float, digits: int = 3) -> str:
    """A number with `digits` significant digits, without switching to e-notation below 1e4."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 10**digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


@dataclass(frozen=True)
class Timing:
    """Seconds per call of every sample that :func:`measure` took (warm-up calls excluded)."""

    times: tuple[float, ...]

    def __post_init__(self):
        times = tuple(float(t) for t in self.times)
        if not times:
            raise InvalidValueError("Timing needs at least one sample; got an empty sequence")
        if any(not math.isfinite(t) or t < 0 for t in times):
            raise InvalidValueError(f"Timing needs finite times >= 0 seconds; got {times}")
        object.__setattr__(self, "times", times)

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
        ordered = sorted(self.times)
        pos = 0.99 * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    @property
    def stdev(self) -> float:
        """Sample standard deviation (0.0 for a single sample)."""
        return statistics.stdev(self.times) if len(self.times) > 1 else 0.0

    def __str__(self) -> str:
        median = self.median
        scale, unit = next(((s, u) for s, u in _UNITS if median >= s), _UNITS[-1])
        spread = _fmt(self.stdev / scale, 2)
        return f"{_fmt(median / scale)} {unit} ± {spread} (median of {self.n})"


def _check_int(name: str, value, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < lowest:
        raise InvalidValueError(f"measure needs {name} to be an integer >= {lowest}; got {value!r}")
    return int(value)


def measure(
    fn: Callable,
    *args,
    warmup: int = 1,
    repeat: int = 7,
    number: int = 1,
    min_time: float = 0.0,
    **kwargs,
) -> Timing:
    """Time ``fn(*args, **kwargs)``; return a :class:`Timing` in seconds per call.

    Calls ``fn`` ``warmup`` times untimed, then takes samples of ``number`` back-to-back calls
    each: at least ``repeat`` samples, and more until ``min_time`` seconds have passed since the
    first timed call (so a fast function gets more samples and a steadier p99). ``fn`` is called
    ``warmup + number * n_samples`` times in all; its return value is discarded.

    Raises :class:`~inferlab.errors.InvalidValueError` for a non-callable ``fn``, ``warmup < 0``,
    ``repeat < 1``, ``number < 1`` or a negative/non-finite ``min_time``.
    """
    if not callable(fn):
        raise InvalidValueError(f"measure needs a callable fn; got {describe(fn)}")
    warmup = _check_int("warmup", warmup, 0)
    repeat = _check_int("repeat", repeat, 1)
    number = _check_int("number", number, 1)
    if (
        isinstance(min_time, bool)
        or not isinstance(min_time, Real)
        or not math.isfinite(min_time)
        or min_time < 0
    ):
        raise InvalidValueError(f"measure needs min_time >= 0 seconds; got {min_time!r}")

    for _ in range(warmup):
        fn(*args, **kwargs)

    clock = time.perf_counter
    times: list[float] = []
    start = clock()
    while len(times) < repeat or clock() - start < min_time:
        t0 = clock()
        for _ in range(number):
            fn(*args, **kwargs)
        times.append((clock() - t0) / number)
    return Timing(tuple(times))


def gflops(flops: float, seconds: float) -> float:
    """Throughput in GFLOP/s: ``flops / seconds / 1e9`` (e.g. ``gflops(2 * n**3, t.min)``)."""
    if isinstance(flops, bool) or not isinstance(flops, Real) or not flops >= 0:
        raise InvalidValueError(f"gflops needs flops >= 0; got {flops!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not seconds > 0:
        raise InvalidValueError(f"gflops needs seconds > 0; got {seconds!r}")
    return float(flops) / float(seconds) / 1e9
