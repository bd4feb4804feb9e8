"""Timing a function honestly: warm-up, repeats, and enough calls per sample.

    >>> t = measure(np.matmul, a, b, warmup=2, repeat=10)
    >>> print(t)                              # 6.71 ms ± 0.12 (median of 10)
    >>> gflops(2 * 1024**3, t.min)            # 320.1: peak-style number, from the best sample

Three rules, each fixing a classic benchmarking mistake:

- **Warm up first.** The first call pays one-off costs (page faults on fresh buffers, lazy
  imports, caches and branch predictors still cold, thread pools starting). ``warmup`` calls run
  and are not counted (their times are kept in ``Timing.warmup_times`` to look at).
  ``warmup="auto"`` keeps calling until the time per call stops changing (:func:`warm_up`).
- **Repeat, and keep every sample.** One number hides the noise. ``repeat`` samples, each timing
  ``number`` back-to-back calls with :func:`time.perf_counter` (the highest-resolution monotonic
  clock); a sample is divided by ``number`` so every value in :class:`Timing` is *seconds per call*.
- **Make each sample long enough to time.** Reading ``perf_counter`` itself costs ~50 ns, so a
  200 ns call timed alone is a quarter clock. ``number="auto"`` picks the number of calls per
  sample the way :mod:`timeit`'s autorange does (:func:`autorange`: 1, 2, 5, 10, 20, ... until a
  sample takes ``AUTORANGE_TARGET`` = 1 ms, where timeit aims at 0.2 s). The price: the
  percentiles are then of ``number``-call means, so the tail (p99) is smoothed.

The garbage collector stays on (unlike :mod:`timeit`): a served model pays for it too.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real

from inferlab.bench.timing import Timing
from inferlab.errors import InvalidValueError, describe

__all__ = ["AUTORANGE_TARGET", "WarmUp", "autorange", "measure", "sample", "warm_up"]

AUTORANGE_TARGET = 1e-3  # seconds: ~20 000 times what reading the clock costs
_MAX_NUMBER = 10**9  # autorange gives up growing here (a function that takes no time at all)


def _check_int(where: str, name: str, value, lowest: int, auto: bool = False) -> int | str:
    if auto and isinstance(value, str) and value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, Integral) or value < lowest:
        extra = " or 'auto'" if auto else ""
        raise InvalidValueError(
            f"{where} needs {name} to be an integer >= {lowest}{extra}; got {value!r}"
        )
    return int(value)


def _check_seconds(where: str, name: str, value, positive: bool = False) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        sign = ">" if positive else ">="
        raise InvalidValueError(f"{where} needs {name} {sign} 0 seconds; got {value!r}")
    return float(value)


def _check_callable(where: str, fn) -> None:
    if not callable(fn):
        raise InvalidValueError(f"{where} needs a callable fn; got {describe(fn)}")


def check_options(where: str, warmup, repeat, number, min_time) -> tuple:
    """Validated ``(warmup, repeat, number, min_time)`` as :func:`measure` takes them."""
    return (
        _check_int(where, "warmup", warmup, 0, auto=True),
        _check_int(where, "repeat", repeat, 1),
        _check_int(where, "number", number, 1, auto=True),
        _check_seconds(where, "min_time", min_time),
    )


def sample(fn: Callable, args=(), kwargs=None, number: int = 1) -> float:
    """One sample: seconds per call of ``number`` back-to-back calls of ``fn(*args, **kwargs)``."""
    kwargs = kwargs or {}
    clock = time.perf_counter
    t0 = clock()
    for _ in range(number):
        fn(*args, **kwargs)
    return (clock() - t0) / number


def autorange(fn: Callable, *args, target: float = AUTORANGE_TARGET, **kwargs) -> int:
    """Calls per sample so that one sample takes at least ``target`` seconds.

    Tries 1, 2, 5, 10, 20, 50, ... calls (each try is real calls: they warm ``fn`` up too) and
    returns the first count whose sample took ``>= target``.
    """
    _check_callable("autorange", fn)
    return _autorange(fn, args, kwargs, _check_seconds("autorange", "target", target, True))


def _autorange(fn: Callable, args: tuple, kwargs: dict, target: float) -> int:
    number = 1
    while number < _MAX_NUMBER:
        for step in (1, 2, 5):
            number_try = number * step
            if sample(fn, args, kwargs, number_try) * number_try >= target:
                return number_try
        number *= 10
    return _MAX_NUMBER


@dataclass(frozen=True)
class WarmUp:
    """What :func:`warm_up` saw: ``times`` (seconds of each call, in order) and whether the
    time per call settled (``stable``) before ``max_calls`` / ``max_time`` ran out."""

    times: tuple[float, ...]
    stable: bool


def warm_up(
    fn: Callable,
    *args,
    window: int = 5,
    rtol: float = 0.05,
    max_calls: int = 1000,
    max_time: float = 2.0,
    **kwargs,
) -> WarmUp:
    """Call ``fn`` until it is warm: the median of the last ``window`` call times is within
    ``rtol`` (relative) of the median of the ``window`` before. At least ``2 * window`` calls;
    stops unsettled after ``max_calls`` calls or ``max_time`` seconds (then ``stable=False``).
    """
    _check_callable("warm_up", fn)
    window = _check_int("warm_up", "window", window, 1)
    max_calls = _check_int("warm_up", "max_calls", max_calls, 1)
    max_time = _check_seconds("warm_up", "max_time", max_time, positive=True)
    if isinstance(rtol, bool) or not isinstance(rtol, Real) or not 0 <= rtol < math.inf:
        raise InvalidValueError(f"warm_up needs rtol >= 0 (a fraction, 0.05 = 5%); got {rtol!r}")
    return _warm_up(fn, args, kwargs, window, float(rtol), max_calls, max_time)


def _warm_up(fn, args, kwargs, window=5, rtol=0.05, max_calls=1000, max_time=2.0) -> WarmUp:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_calls:
        times.append(sample(fn, args, kwargs))
        if len(times) >= 2 * window:
            new = statistics.median(times[-window:])
            old = statistics.median(times[-2 * window : -window])
            if abs(new - old) <= rtol * max(old, new):
                return WarmUp(tuple(times), True)
        if time.perf_counter() - start >= max_time:
            break
    return WarmUp(tuple(times), False)


def measure(
    fn: Callable,
    *args,
    warmup: int | str = 1,
    repeat: int = 7,
    number: int | str = 1,
    min_time: float = 0.0,
    **kwargs,
) -> Timing:
    """Time ``fn(*args, **kwargs)``; return a :class:`Timing` in seconds per call.

    Calls ``fn`` ``warmup`` times (``"auto"``: until stable, :func:`warm_up`), then takes
    samples of ``number`` back-to-back calls each (``"auto"``: :func:`autorange`): at least
    ``repeat`` samples, and more until ``min_time`` seconds have passed since the first timed
    call (so a fast function gets more samples and a steadier p99). With integer ``warmup`` and
    ``number``, ``fn`` is called ``warmup + number * n_samples`` times; its result is discarded.

    Raises :class:`~inferlab.errors.InvalidValueError` for a non-callable ``fn``, ``warmup < 0``,
    ``repeat < 1``, ``number < 1`` or a negative/non-finite ``min_time``.
    """
    _check_callable("measure", fn)
    warmup, repeat, number, min_time = check_options("measure", warmup, repeat, number, min_time)

    if warmup == "auto":
        warm = _warm_up(fn, args, kwargs).times
    else:
        warm = tuple(sample(fn, args, kwargs) for _ in range(warmup))
    if number == "auto":
        number = _autorange(fn, args, kwargs, AUTORANGE_TARGET)

    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        times.append(sample(fn, args, kwargs, number))
    return Timing(tuple(times), number=number, warmup_times=warm)
