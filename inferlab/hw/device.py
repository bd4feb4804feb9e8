"""A device as the roofline sees it: peak compute per number format, memory bandwidth, and the
facts a cost model needs (capacity, on-chip SRAM, power, rental price).

    >>> h100 = Device("H100", "datacenter_gpu", peak={"bf16": 989.4e12}, mem_bw=3.35e12)
    >>> h100.ridge_point("bf16")        # FLOP per byte where compute and memory time are equal
    295.3...

Units are SI base units throughout: FLOP/s (or op/s for integer formats), bytes/s, bytes,
watts, US dollars per device-hour. Every peak is *dense*: vendor figures that assume 2:4
structured sparsity are kept in ``sparse_peak`` for reference and never used by a cost model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from inferlab.errors import InvalidValueError

__all__ = ["BITS", "DTYPES", "Device", "dtype_bytes"]

# Number formats a peak can be given for, and their width in bits.
BITS = {"fp32": 32, "tf32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4, "fp4": 4}
DTYPES = tuple(BITS)


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of a format (``"int4"`` -> 0.5). TF32 is stored as 32-bit floats."""
    if dtype not in BITS:
        raise InvalidValueError(f"unknown number format {dtype!r}; expected one of {DTYPES}")
    return BITS[dtype] / 8


def _positive(name: str, what: str, value, optional: bool = True) -> None:
    if value is None and optional:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise InvalidValueError(f"device {name!r}: {what} must be a positive number; got {value!r}")


@dataclass(frozen=True)
class Device:
    """One accelerator, CPU or edge chip.

    peak:           dense peak per format, FLOP/s (op/s for int8/int4), e.g. ``{"bf16": 9.9e14}``
    mem_bw:         main-memory bandwidth, bytes/s (HBM, DRAM; the host link for Coral)
    mem_capacity:   main-memory capacity, bytes (None where the system decides)
    sram:           on-chip memory, bytes (None where not relevant or not published)
    tdp:            thermal design power, W
    price_per_hour: on-demand rental price, USD per device-hour, as of ``price_as_of``
    sparse_peak:    vendor figures that assume 2:4 sparsity: shown, never used as a peak
    sources:        quantity -> where the number comes from
    """

    name: str
    kind: str
    peak: dict
    mem_bw: float
    mem_capacity: float | None = None
    sram: float | None = None
    tdp: float | None = None
    price_per_hour: float | None = None
    price_as_of: str | None = None
    sparse_peak: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        if not self.peak:
            raise InvalidValueError(f"device {self.name!r}: give at least one peak (FLOP/s)")
        for table in (self.peak, self.sparse_peak):
            for dtype, value in table.items():
                dtype_bytes(dtype)
                _positive(self.name, f"peak[{dtype!r}]", value, optional=False)
        _positive(self.name, "mem_bw (bytes/s)", self.mem_bw, optional=False)
        for what in ("mem_capacity", "sram", "tdp", "price_per_hour"):
            _positive(self.name, what, getattr(self, what))
        # Read-only views: a Device is a value; change one with dataclasses.replace / with_().
        for name in ("peak", "sparse_peak", "sources"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def has(self, dtype: str) -> bool:
        return dtype in self.peak

    def peak_for(self, dtype: str) -> float:
        """Dense peak in FLOP/s (op/s) for ``dtype``; a clear error where none is published."""
        dtype_bytes(dtype)
        if dtype not in self.peak:
            raise InvalidValueError(
                f"device {self.name!r} has no published dense {dtype} peak; it has "
                f"{', '.join(self.peak) or 'none'}"
            )
        return self.peak[dtype]

    def ridge_point(self, dtype: str) -> float:
        """Arithmetic intensity (FLOP/byte) above which an op is compute-bound on this device."""
        return self.peak_for(dtype) / self.mem_bw

    def with_(self, **changes) -> Device:
        """A copy with some fields changed (``dev.with_(mem_bw=2e12)``)."""
        return replace(self, **changes)

    def __str__(self) -> str:
        peaks = ", ".join(f"{d} {v / 1e12:g} T" for d, v in self.peak.items())
        return f"{self.name} ({self.kind}): {peaks}; {self.mem_bw / 1e9:g} GB/s"
