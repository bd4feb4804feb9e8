"""The roofline: how fast can an op run on a device, and what limits it?

An op does ``flops`` of arithmetic and moves ``bytes`` to and from main memory. A device does at
most ``peak`` FLOP/s and moves at most ``bw`` bytes/s, so the op takes at least

    compute_s = flops / peak        and at least        memory_s = bytes / bw

With compute and memory traffic overlapped (what good kernels do), the time is their maximum; with
no overlap at all, their sum: ``max <= t <= sum`` (scaling-book, "Rooflines"). Which term wins
depends on the op's *arithmetic intensity* ``flops / bytes`` against the device's *ridge point*
``peak / bw``: below the ridge an op is memory-bound, above it compute-bound. Efficiency factors
``eta`` (the fraction of peak a real kernel reaches, see :mod:`inferlab.hw.calibrate`) scale
both roofs down; ``overhead_s`` adds a fixed cost (a kernel launch, a Python call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inferlab.errors import InvalidValueError

__all__ = [
    "Estimate",
    "attainable",
    "matmul_intensity",
    "plot_roofline",
    "ridge_point",
    "roofline_time",
]


def _check(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidValueError(f"{name} must be a number; got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "a non-negative" if allow_zero else "a positive"
        raise InvalidValueError(f"{name} must be {need} finite number; got {value!r}")
    return float(value)


def ridge_point(peak_flops: float, mem_bw: float) -> float:
    """Arithmetic intensity (FLOP/byte) where compute time equals memory time: ``peak / bw``."""
    return _check("peak_flops", peak_flops) / _check("mem_bw", mem_bw)


def attainable(intensity, peak_flops: float, mem_bw: float):
    """Best FLOP/s an op of this intensity can reach: ``min(peak, intensity * bw)``.

    intensity: FLOP/byte, a number or an array (the x-axis of a roofline plot).
    """
    peak, bw = _check("peak_flops", peak_flops), _check("mem_bw", mem_bw)
    x = np.asarray(intensity, dtype=np.float64)
    if np.any(x < 0) or np.any(np.isnan(x)):
        raise InvalidValueError(f"intensity must be >= 0 FLOP/byte; got {intensity!r}")
    out = np.minimum(peak, x * bw)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Estimate:
    """Predicted time of one op (or a sum of ops) on one device, in seconds.

    compute_s: flops / (peak * eta_compute);  memory_s: bytes / (bw * eta_memory);
    overhead_s: fixed cost (launch, dispatch); overlap: how much of the shorter of compute and
    memory hides behind the longer, from 1 (perfect overlap: the roofline's ``max``) to 0 (none:
    the ``sum``). Adding two Estimates adds op times one after the other: a model's time is the
    sum of its ops' ``seconds``, not ``max`` of the sums.
    """

    flops: float
    bytes: float
    compute_s: float
    memory_s: float
    overhead_s: float = 0.0
    overlap: float = 1.0
    _seconds: float | None = None  # set by __add__: the sum of the parts' own seconds

    @property
    def seconds(self) -> float:
        """``max(compute_s, memory_s) + (1 - overlap) * min(...) + overhead_s``."""
        if self._seconds is not None:
            return self._seconds
        c, m = self.compute_s, self.memory_s
        return max(c, m) + (1.0 - self.overlap) * min(c, m) + self.overhead_s

    @property
    def upper_s(self) -> float:
        """No overlap at all: ``compute_s + memory_s + overhead_s`` (an upper bound)."""
        return self.compute_s + self.memory_s + self.overhead_s

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: whichever roof sets the time."""
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        """FLOP per byte moved."""
        return self.flops / self.bytes if self.bytes else math.inf

    def __add__(self, other: Estimate) -> Estimate:
        if not isinstance(other, Estimate):
            return NotImplemented
        return Estimate(
            self.flops + other.flops,
            self.bytes + other.bytes,
            self.compute_s + other.compute_s,
            self.memory_s + other.memory_s,
            self.overhead_s + other.overhead_s,
            min(self.overlap, other.overlap),
            self.seconds + other.seconds,
        )

    def __radd__(self, other):
        return self if other == 0 else NotImplemented

    def __str__(self) -> str:
        return (
            f"{self.seconds * 1e3:.4g} ms ({self.bound}-bound: compute {self.compute_s * 1e3:.4g}"
            f" ms, memory {self.memory_s * 1e3:.4g} ms, overhead {self.overhead_s * 1e3:.3g} ms;"
            f" {self.intensity:.3g} FLOP/B)"
        )


def roofline_time(
    flops: float,
    bytes: float,
    peak_flops: float,
    mem_bw: float,
    eta_compute: float = 1.0,
    eta_memory: float = 1.0,
    overhead_s: float = 0.0,
    overlap: float = 1.0,
) -> Estimate:
    """Roofline time of an op: ``max(flops/(peak*eta_c), bytes/(bw*eta_m)) + overhead``.

    flops: FLOPs (or integer ops); bytes: bytes moved; peak_flops: FLOP/s; mem_bw: bytes/s;
    eta_compute in (0, 1]; eta_memory > 0 (above 1 when the data sits in a cache faster than
    the memory ``mem_bw`` describes); overhead_s: seconds added once; overlap in [0, 1]: 1 is
    the roofline's ``max``, 0 adds compute and memory time (see :class:`Estimate`).
    """
    flops, moved = _check("flops", flops, True), _check("bytes", bytes, True)
    peak, bw = _check("peak_flops", peak_flops), _check("mem_bw", mem_bw)
    if _check("eta_compute", eta_compute) > 1:
        raise InvalidValueError(
            f"eta_compute is a fraction of peak (0 < eta <= 1); got {eta_compute!r}"
        )
    _check("eta_memory", eta_memory)
    if not 0 <= _check("overlap", overlap, True) <= 1:
        raise InvalidValueError(f"overlap must be between 0 and 1; got {overlap!r}")
    overhead = _check("overhead_s", overhead_s, True)
    compute_s, memory_s = flops / (peak * eta_compute), moved / (bw * eta_memory)
    return Estimate(flops, moved, compute_s, memory_s, overhead, float(overlap))


def matmul_intensity(m: int, k: int, n: int, bytes_per_element: float = 2) -> float:
    """Arithmetic intensity of ``(m, k) @ (k, n)``: ``2mkn / (bytes * (mk + kn + mn))``.

    Each input is read once and the output written once. For a layer with a (k, n) weight and a
    batch of m tokens, m << k, n gives ~``2m / bytes``: intensity grows with the batch, which is
    why batch-1 decoding is memory-bound and big batches are compute-bound.
    """
    for name, v in (("m", m), ("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
            raise InvalidValueError(f"matmul size {name} must be a positive int; got {v!r}")
    b = _check("bytes_per_element", bytes_per_element)
    return 2 * m * k * n / (b * (m * k + k * n + m * n))


def plot_roofline(devices, dtype: str = "bf16", points=(), ax=None, intensity_range=(0.1, 1e4)):
    """Log-log rooflines of ``devices`` (a Device or a list) for ``dtype``, with ridge points.

    points: ``(label, intensity FLOP/B, achieved FLOP/s)`` tuples drawn as dots (measured or
    predicted ops). Devices without a ``dtype`` peak are skipped. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    devices = [devices] if hasattr(devices, "peak_for") else list(devices)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
    fig = ax.figure
    x = np.geomspace(*intensity_range, 200)
    for dev in devices:
        if not dev.has(dtype):
            continue
        peak = dev.peak_for(dtype)
        (line,) = ax.loglog(x, attainable(x, peak, dev.mem_bw), label=dev.name, lw=1.5)
        ridge = dev.ridge_point(dtype)
        ax.plot([ridge], [peak], "o", color=line.get_color(), ms=4)
    for label, intensity, achieved in points:
        ax.plot([intensity], [achieved], "k*", ms=8)
        ax.annotate(label, (intensity, achieved), fontsize=8, xytext=(4, -10),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel(f"attainable {dtype} FLOP/s")
    ax.set_title(f"Rooflines ({dtype}, dense); dots mark ridge points")
    ax.grid(True, which="major", alpha=0.3)
    if devices:
        ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    return fig
