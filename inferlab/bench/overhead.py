"""Python overhead vs BLAS time: why many small ops are slow and one big matmul is fast.

Every NumPy call pays a fixed toll before any arithmetic: the Python call, argument parsing,
dtype/shape checks, picking a loop, allocating the output. That is ~0.1-1 µs: nothing for a
1024² matmul (milliseconds of math), everything for a 16×16 one (8 kFLOP, ~0.1 µs of math at
100 GFLOP/s). An engine that runs a model as many tiny ops is then limited by the interpreter,
not the CPU; batching and fusing ops are how engines get out of it.

- :func:`call_overhead`: nanoseconds per call of an empty Python function and of NumPy calls on
  one element (the toll alone).
- :func:`chain_vs_matmul`: the same FLOPs three ways: a Python loop of ``count`` small matmuls,
  one batched ``(count, s, s) @ (count, s, s)`` call, and one big ``(s, count·s) @ (count·s, s)``
  matmul; the difference between the first two is the per-call overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from inferlab.bench.sampling import measure
from inferlab.bench.table import Table
from inferlab.bench.timing import Timing, format_seconds, gflops
from inferlab.errors import InvalidValueError

__all__ = ["ChainResult", "call_overhead", "chain_operands", "chain_vs_matmul"]


def _empty() -> None:
    """A Python function that does nothing: the cost of a call itself."""


def call_overhead(repeat: int = 7) -> dict[str, float]:
    """Median nanoseconds per call of almost-empty calls (each sample ~1 ms of calls).

    Keys: ``"empty Python function"``, ``"NumPy add, 1 element"`` (``np.add(x, x, out=y)``),
    ``"NumPy matmul 1×1"`` (``np.matmul(a, b, out=c)``), ``"NumPy matmul 1×1, new array"``
    (``a @ b``, which also allocates its result).
    """
    x, y = np.ones(1, np.float32), np.empty(1, np.float32)
    a, c = np.ones((1, 1), np.float32), np.empty((1, 1), np.float32)
    calls = {
        "empty Python function": (_empty, ()),
        "NumPy add, 1 element": (np.add, (x, x, y)),
        "NumPy matmul 1×1": (np.matmul, (a, a, c)),
        "NumPy matmul 1×1, new array": (np.matmul, (a, a)),
    }
    return {
        name: measure(fn, *args, repeat=repeat, number="auto").median * 1e9
        for name, (fn, args) in calls.items()
    }


@dataclass(frozen=True)
class ChainResult:
    """Three ways to do ``count`` matmuls of ``size × size`` (``flops`` in all), timed."""

    size: int
    count: int
    flops: int
    loop: Timing  # Python loop of `count` np.matmul calls
    batched: Timing  # one np.matmul on (count, size, size) stacks
    one_matmul: Timing  # one (size, count*size) @ (count*size, size) matmul: same FLOPs

    @property
    def overhead_per_call(self) -> float:
        """Seconds each Python-level call adds over doing the same work inside one C loop."""
        return max(0.0, (self.loop.median - self.batched.median) / self.count)

    @property
    def python_share(self) -> float:
        """Fraction of the loop's time that is overhead, not math (0..1)."""
        return min(1.0, self.overhead_per_call * self.count / self.loop.median)

    def table(self) -> Table:
        """variant, calls, median time, GFLOP/s, time relative to the one big matmul."""
        s, c = self.size, self.count
        variants = (
            (f"loop of {c} matmuls {s}×{s}", c, self.loop),
            (f"one batched matmul ({c}, {s}, {s})", 1, self.batched),
            (f"one matmul ({s}, {c * s}) @ ({c * s}, {s})", 1, self.one_matmul),
        )
        rows = []
        for name, calls, t in variants:
            speed = gflops(self.flops, t.median) if t.median > 0 else float("inf")
            rows.append(
                (name, calls, format_seconds(t.median), speed, t.median / self.one_matmul.median)
            )
        title = (
            f"{self.flops / 1e6:.3g} MFLOP each way; overhead ≈ "
            f"{format_seconds(self.overhead_per_call)} per call "
            f"({self.python_share:.0%} of the loop)"
        )
        return Table(("variant", "calls", "median", "GFLOP/s", "× one matmul"), tuple(rows), title)

    def __str__(self) -> str:
        return str(self.table())


def chain_operands(size: int, count: int, seed=0):
    """Seeded float32 operands: stacks ``a, b`` of shape ``(count, size, size)``, and the same
    numbers laid out for one big matmul, ``wide (size, count·size)`` and ``tall (count·size,
    size)``, with ``wide @ tall == sum_i a[i] @ b[i]`` (same FLOPs, same data)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((count, size, size), dtype=np.float32)
    b = rng.standard_normal((count, size, size), dtype=np.float32)
    wide = np.ascontiguousarray(a.transpose(1, 0, 2).reshape(size, count * size))
    tall = np.ascontiguousarray(b.reshape(count * size, size))
    return a, b, wide, tall


def chain_vs_matmul(size: int = 16, count: int = 256, repeat: int = 7) -> ChainResult:
    """Time ``count`` float32 matmuls of ``size × size`` as a loop, batched, and as one matmul.

    Defaults take a few milliseconds. Inputs are seeded (``default_rng(0)``).
    """
    for name, value in (("size", size), ("count", count), ("repeat", repeat)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise InvalidValueError(
                f"chain_vs_matmul needs {name} to be an integer >= 1; got {value!r}"
            )
    size, count = int(size), int(count)
    a, b, wide, tall = chain_operands(size, count)
    out = np.empty_like(a)

    def loop():
        for i in range(count):
            np.matmul(a[i], b[i], out=out[i])

    kw = {"warmup": 2, "repeat": repeat, "number": "auto"}
    return ChainResult(
        size=size,
        count=count,
        flops=2 * count * size**3,
        loop=measure(loop, **kw),
        batched=measure(np.matmul, a, b, out=out, **kw),
        one_matmul=measure(np.matmul, wide, tall, **kw),
    )
