"""Several engines, the same input, one table: who is faster, by how much, how sure are we.

    >>> result = compare({"inferlab": lambda: model(x), "torch": lambda: ref(xt),
    ...                   "onnxruntime": lambda: sess.run(None, {"x": x})}, baseline="onnxruntime")
    >>> print(result)
    engine       median   CI                   p99      time vs onnxruntime
    inferlab     2.1 ms   [2.05 ms, 2.2 ms]    2.4 ms   1.31× [1.25, 1.38]
    ...

Fairness rules built in:

- **Same work**: give each runner the same input (check their outputs agree separately).
- **Interleaved**: samples are taken round-robin (A, B, C, B, C, A, ...), so a slow minute of
  the machine (another program, the CPU clocking down when hot) hits every engine alike, not
  whichever ran last.
- **Ratios with a CI**: "1.31× [1.25, 1.38]" is the time of an engine divided by the baseline's,
  median over median, with a seeded bootstrap interval; an interval that contains 1.0 means the
  run cannot tell the two apart.
- **Same threads**: set them before (``with threads(n)``, ``torch.set_num_threads(n)``,
  onnxruntime's ``intra_op_num_threads``).

Units: seconds per call; ratios are unit-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from inferlab.bench.sampling import (
    AUTORANGE_TARGET,
    _autorange,
    _check_callable,
    _warm_up,
    check_options,
    sample,
)
from inferlab.bench.stats import CI, _fraction, ratio_ci
from inferlab.bench.table import Table
from inferlab.bench.timing import Timing, format_interval, format_seconds
from inferlab.errors import InvalidValueError

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """:class:`Timing` per runner (in the order given), the baseline's name and the CI level."""

    timings: dict[str, Timing]
    baseline: str
    level: float = 0.95

    def ratio(self, name: str) -> CI:
        """Median time of ``name`` / median time of the baseline, with a bootstrap CI
        (> 1: ``name`` is slower)."""
        if name not in self.timings:
            raise InvalidValueError(f"Comparison has runners {list(self.timings)}; got {name!r}")
        base = self.timings[self.baseline].times
        return ratio_ci(self.timings[name].times, base, 0.5, self.level)

    def fastest(self) -> str:
        """Name of the runner with the smallest median."""
        return min(self.timings, key=lambda k: self.timings[k].median)

    def table(self) -> Table:
        """engine, median, its CI, p99, and time relative to the baseline with its CI."""
        rows = []
        for name, t in self.timings.items():
            if name == self.baseline:
                ratio = "1 (baseline)"
            else:
                r = self.ratio(name)
                ratio = f"{r.estimate:.3g}× [{r.low:.3g}, {r.high:.3g}]"
            median_ci = format_interval(t.ci(0.5, self.level))
            rows.append((name, format_seconds(t.median), median_ci, format_seconds(t.p99), ratio))
        columns = ("engine", "median", "CI", "p99", f"time vs {self.baseline}")
        n = min(t.n for t in self.timings.values())
        title = f"{n}+ samples each, {self.level:.0%} confidence intervals"
        return Table(columns, tuple(rows), title)

    def __str__(self) -> str:
        return str(self.table())


def compare(
    runners: Mapping[str, Callable],
    *args,
    baseline: str | None = None,
    warmup: int | str = 1,
    repeat: int = 7,
    number: int | str = 1,
    min_time: float = 0.0,
    level: float = 0.95,
    interleave: bool = True,
) -> Comparison:
    """Time each ``runners[name](*args)`` side by side; return a :class:`Comparison`.

    Each runner is warmed up (``warmup`` calls, or ``"auto"``) and gets its own ``number`` of
    calls per sample (an int, or ``"auto"``: :func:`~inferlab.bench.sampling.autorange`). Then
    rounds of one sample per runner (order rotating each round) until each has ``repeat``
    samples and ``min_time`` seconds have passed in all. ``interleave=False`` times the runners
    one after the other instead. ``baseline`` defaults to the first runner.
    """
    if not isinstance(runners, Mapping) or not runners:
        raise InvalidValueError(f"compare needs a non-empty dict name -> callable; got {runners!r}")
    for name, fn in runners.items():
        _check_callable(f"compare (runner {name!r})", fn)
    names = [str(k) for k in runners]
    fns = list(runners.values())
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise InvalidValueError(f"compare needs baseline to be one of {names}; got {baseline!r}")
    warmup, repeat, number, min_time = check_options("compare", warmup, repeat, number, min_time)
    level = _fraction("compare", level, "level")

    warm, numbers = [], []
    for fn in fns:
        if warmup == "auto":
            warm.append(_warm_up(fn, args, {}).times)
        else:
            warm.append(tuple(sample(fn, args) for _ in range(warmup)))
        numbers.append(_autorange(fn, args, {}, AUTORANGE_TARGET) if number == "auto" else number)

    times: list[list[float]] = [[] for _ in fns]
    if interleave:
        start, r = time.perf_counter(), 0
        while r < repeat or time.perf_counter() - start < min_time:
            for k in range(len(fns)):
                i = (k + r) % len(fns)  # rotate who goes first
                times[i].append(sample(fns[i], args, None, numbers[i]))
            r += 1
    else:
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            while len(times[i]) < repeat or time.perf_counter() - start < min_time / len(fns):
                times[i].append(sample(fn, args, None, numbers[i]))
    timings = {
        name: Timing(tuple(ts), number=nb, warmup_times=w)
        for name, ts, nb, w in zip(names, times, numbers, warm, strict=True)
    }
    return Comparison(timings, baseline, level)
