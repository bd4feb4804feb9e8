"""Latency vs throughput: batch-size sweeps, their saturation point, and thread sweeps.

Batching ``b`` requests into one call costs *latency* (each request waits for the whole batch)
and buys *throughput* (items per second), because one big matmul keeps the cores busier than
``b`` small ones and pays the per-call overhead once. Throughput grows with ``b`` until the
hardware is saturated, then flattens: past that point a bigger batch only adds latency.

    >>> records = sweep_batch(lambda b: partial(model, x[:b]), [1, 2, 4, 8, 16, 32, 64])
    >>> print(to_table(records))          # batch, latency (median, CI, p99), items/s
    >>> saturation_point(records, 0.1)    # 16: after it, throughput grows < 10 %

Units: latency in seconds per batch, throughput in items per second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

from inferlab.bench.blas import cpu_count, threads
from inferlab.bench.sampling import check_options, measure
from inferlab.bench.stats import CI, _fraction
from inferlab.bench.timing import Timing, _fmt, format_interval, format_seconds
from inferlab.errors import InvalidValueError, describe

__all__ = [
    "BatchRecord",
    "ThreadRecord",
    "saturation_point",
    "sweep_batch",
    "sweep_threads",
]


@dataclass(frozen=True)
class BatchRecord:
    """One batch size of a sweep: its :class:`Timing` (seconds per batch) and what follows."""

    batch: int
    timing: Timing
    level: float = 0.95

    COLUMNS: ClassVar = ("batch", "latency", "CI", "p99", "items/s", "items/s CI")

    @property
    def latency(self) -> float:
        """Median seconds per batch (what each request in the batch waits)."""
        return self.timing.median

    @property
    def latency_ci(self) -> CI:
        """CI of the median latency (seconds), order statistics at ``level``."""
        return self.timing.ci(0.5, self.level)

    @property
    def p99(self) -> float:
        """99th-percentile seconds per batch."""
        return self.timing.p99

    @property
    def throughput(self) -> float:
        """Items per second at the median latency: ``batch / latency``."""
        return self.batch / self.latency if self.latency > 0 else math.inf

    @property
    def throughput_ci(self) -> tuple[float, float]:
        """(low, high) items per second, from the latency CI (a slow bound = a low rate)."""
        ci = self.latency_ci
        low = self.batch / ci.high if ci.high > 0 else math.inf
        high = self.batch / ci.low if ci.low > 0 else math.inf
        return low, high

    def row(self) -> tuple:
        """The cells of this record in a :func:`~inferlab.bench.to_table` table."""
        ci, (t_lo, t_hi) = self.latency_ci, self.throughput_ci
        # the same interval seen as items/s: batch / high .. batch / low
        t_ci = CI(self.throughput, t_lo, t_hi, ci.level, ci.q, ci.n, ci.method, ci.coverage)
        return (
            self.batch,
            format_seconds(self.latency),
            format_interval(ci),
            format_seconds(self.p99),
            self.throughput,
            format_interval(t_ci, _fmt) if ci.bounded else format_interval(ci),
        )


def _positive_ints(where: str, name: str, values) -> list[int]:
    try:
        values = list(values)
    except TypeError:
        raise InvalidValueError(
            f"{where} needs {name} as a list of integers >= 1; got {values!r}"
        ) from None
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, Integral) or v < 1]
    if not values or bad or len(set(values)) != len(values):
        raise InvalidValueError(
            f"{where} needs {name} as distinct integers >= 1 (e.g. [1, 2, 4, 8]); got {values!r}"
        )
    return sorted(int(v) for v in values)


def _runner(where: str, factory: Callable, arg: int, what: str) -> Callable:
    fn = factory(arg)
    if not callable(fn):
        raise InvalidValueError(
            f"{where}: the factory must return a zero-argument callable that runs {what} "
            f"(e.g. lambda b: partial(model, x[:b])); for {arg} it returned {describe(fn)}"
        )
    return fn


def _progress(items: list, desc: str, enabled: bool):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


def sweep_batch(
    fn_for_batch: Callable[[int], Callable[[], object]],
    batch_sizes: Iterable[int],
    *,
    warmup: int | str = 1,
    repeat: int = 7,
    number: int | str = 1,
    min_time: float = 0.0,
    level: float = 0.95,
    progress: bool = True,
) -> list[BatchRecord]:
    """Time one batch at each size: ``fn_for_batch(b)`` returns a zero-argument callable that
    runs a batch of ``b`` items (build inputs there, so only the run is timed).

    ``warmup``, ``repeat``, ``number``, ``min_time`` as in :func:`~inferlab.bench.measure`, per
    batch size. Returns :class:`BatchRecord`s sorted by batch size.
    """
    if not callable(fn_for_batch):
        raise InvalidValueError(
            f"sweep_batch needs a callable fn_for_batch; got {describe(fn_for_batch)}"
        )
    sizes = _positive_ints("sweep_batch", "batch_sizes", batch_sizes)
    level = _fraction("sweep_batch", level, "level")
    check_options("sweep_batch", warmup, repeat, number, min_time)  # before anything runs
    records = []
    for b in _progress(sizes, "batch sizes", progress):
        fn = _runner("sweep_batch", fn_for_batch, b, f"a batch of {b}")
        t = measure(fn, warmup=warmup, repeat=repeat, number=number, min_time=min_time)
        records.append(BatchRecord(b, t, level))
    return records


def _throughputs(records) -> list[tuple[int, float]]:
    if isinstance(records, Mapping):
        pairs = list(records.items())
    else:
        pairs = [(getattr(r, "batch", None), getattr(r, "throughput", None)) for r in records]
    for b, x in pairs:
        if isinstance(b, bool) or not isinstance(b, Integral) or b < 1:
            raise InvalidValueError(f"saturation_point needs batch sizes >= 1; got {b!r}")
        if isinstance(x, bool) or not isinstance(x, Real) or not x >= 0:
            raise InvalidValueError(f"saturation_point needs throughputs >= 0; got {x!r}")
    if not pairs:
        raise InvalidValueError("saturation_point needs at least one record; got none")
    return sorted((int(b), float(x)) for b, x in pairs)


def saturation_point(records: Sequence[BatchRecord] | Mapping[int, float], tolerance: float = 0.1):
    """The smallest batch size after which no bigger batch raises throughput by more than
    ``tolerance`` (0.1 = 10 %): ``max(throughput[b' > b]) <= (1 + tolerance) * throughput[b]``.

    ``records``: :class:`BatchRecord`s or ``{batch: items_per_second}``. Returns ``None`` when
    even the second-largest batch is beaten by the largest: not saturated yet, sweep further.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, Real) or not 0 <= tolerance < 10:
        raise InvalidValueError(
            f"saturation_point needs tolerance in [0, 10) (0.1 = 10%); got {tolerance!r}"
        )
    pairs = _throughputs(records)
    for i, (b, x) in enumerate(pairs[:-1]):
        if max(y for _, y in pairs[i + 1 :]) <= (1 + tolerance) * x:
            return b
    return None


@dataclass(frozen=True)
class ThreadRecord:
    """One thread count of :func:`sweep_threads`: its timing, and ``speedup`` over the first
    (smallest) thread count; ``efficiency`` = speedup / (threads / first threads), 1 = perfect."""

    threads: int
    timing: Timing
    speedup: float
    efficiency: float

    COLUMNS: ClassVar = ("threads", "median", "speed-up", "efficiency")

    def row(self) -> tuple:
        return (self.threads, format_seconds(self.timing.median), self.speedup, self.efficiency)


def sweep_threads(
    fn_for_threads: Callable[[int], Callable[[], object]],
    thread_counts: Iterable[int] | None = None,
    *,
    limit: Callable | None = threads,
    warmup: int | str = 1,
    repeat: int = 7,
    number: int | str = 1,
    min_time: float = 0.0,
    progress: bool = True,
) -> list[ThreadRecord]:
    """Time ``fn_for_threads(n)()`` inside ``limit(n)`` for each thread count ``n``.

    ``thread_counts`` defaults to 1, 2, 4, ... up to this machine's cores. ``limit`` is a
    context-manager factory: :func:`~inferlab.bench.blas.threads` (NumPy's BLAS, the default),
    one you write around ``torch.set_num_threads``, or ``None`` when ``fn_for_threads`` sets the
    threads itself (an onnxruntime session built with ``intra_op_num_threads=n``).
    """
    if not callable(fn_for_threads):
        raise InvalidValueError(
            f"sweep_threads needs a callable fn_for_threads; got {describe(fn_for_threads)}"
        )
    if thread_counts is None:
        cores = cpu_count()
        thread_counts = sorted({min(2**i, cores) for i in range(cores.bit_length() + 1)})
    counts = _positive_ints("sweep_threads", "thread_counts", thread_counts)
    check_options("sweep_threads", warmup, repeat, number, min_time)  # before anything runs
    timings = []
    for n in _progress(counts, "thread counts", progress):
        fn = _runner("sweep_threads", fn_for_threads, n, f"the work with {n} threads")
        if limit is None:
            t = measure(fn, warmup=warmup, repeat=repeat, number=number, min_time=min_time)
        else:
            with limit(n):
                t = measure(fn, warmup=warmup, repeat=repeat, number=number, min_time=min_time)
        timings.append(t)
    base_n, base_t = counts[0], timings[0].median
    out = []
    for n, t in zip(counts, timings, strict=True):
        speedup = base_t / t.median if t.median > 0 else math.inf
        out.append(ThreadRecord(n, t, speedup, speedup / (n / base_n)))
    return out
