"""What an op costs: floating-point operations and bytes moved.

Every op in :mod:`inferlab.ops` has a cost function (``matmul_cost``, ``conv2d_cost``, ...) that
returns a :class:`Cost`. Two numbers are enough for a first model of speed (the roofline of
chapter 04): an op takes at least ``flops / peak_flops`` seconds of compute and at least
``bytes / memory_bandwidth`` seconds of memory traffic, whichever is larger.

Conventions, shared by all cost functions:

- one multiply-add is 2 FLOPs; a comparison, an exp or a sqrt counts as 1 FLOP;
- ``bytes`` is the *minimum* traffic to main memory: every input read once and every output
  written once, at ``itemsize`` bytes per element (4 for float32). Temporaries a kernel may
  write (the im2col buffer, attention scores) are not counted; a fused kernel avoids them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """FLOPs and bytes moved by one op; ``a + b`` adds two costs, ``sum(costs)`` works too."""

    flops: int
    bytes: int

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in FLOP/byte (the x-axis of a roofline plot)."""
        return self.flops / self.bytes if self.bytes else math.inf

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.flops + other.flops, self.bytes + other.bytes)

    def __radd__(self, other) -> Cost:
        # sum() starts from 0: let 0 + Cost work so a whole model's cost is sum(per_op_costs).
        if other == 0:
            return self
        return NotImplemented

    def __str__(self) -> str:
        return f"{self.flops:,} FLOP, {self.bytes:,} bytes ({self.intensity:.2f} FLOP/byte)"


def numel(shape) -> int:
    """Number of elements of an array of this shape (1 for the shape ``()``)."""
    return math.prod(shape)
