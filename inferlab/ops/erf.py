"""The error function erf and its complement erfc, float32-accurate, in NumPy (no SciPy).

``erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt`` and ``erfc(x) = 1 - erf(x)``. Exact GELU
needs them: ``gelu(x) = 0.5 * x * erfc(-x / sqrt(2))``.

Why not just ``1 - erf``? For x = -5, ``1 + erf(-5/sqrt(2))`` subtracts two numbers that agree
in their first 6 digits, leaving mostly rounding noise (that is *catastrophic cancellation*).
So erfc gets its own approximation with a small *relative* error, and erf is built from it:

- erfc(z), z >= 0: Numerical Recipes' Chebyshev fit ``t * exp(-z^2 + P(t))``, ``t = 1/(1+z/2)``,
  fractional error < 1.2e-7 for every z (Press et al., *Numerical Recipes*, 2nd ed., sec. 6.2);
- erfc(-z) = 2 - erfc(z) (no cancellation: the result is between 1 and 2);
- erf(x) for |x| < 1: ``x * T(x^2)`` (Cephes ``erff``), which keeps tiny x accurate;
  erf(x) for |x| >= 1: ``sign(x) * (1 - erfc(|x|))`` (erf is >= 0.84 there: no cancellation).

Speed: each formula is ~30 NumPy passes over the data; ``blockwise`` runs them on cache-sized
blocks so that the passes read the L2 cache, not main memory.
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.ops._elementwise import blockwise, select
from inferlab.ops._validate import as_float

# Numerical Recipes erfc: P(t) = c0 + t*(c1 + t*(c2 + ... + t*c9)).
_NR = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)
# Cephes erff for |x| < 1: erf(x) = x * T(x^2), highest power first.
_CEPHES = (
    7.853861353153693e-5,
    -8.010193625184903e-4,
    5.188327685732524e-3,
    -2.685381193529856e-2,
    1.128358514861418e-1,
    -3.761262582423300e-1,
    1.128379165726710e0,
)


def erfc_nonneg(z: np.ndarray, out: np.ndarray, square_scale: float = 1.0) -> np.ndarray:
    """``out = erfc(sqrt(square_scale) * z)`` for ``z >= 0`` (a block), small relative error.

    The exponent -z^2 needs care: z*z rounds (error ~6e-8 * z^2 in float32) and exp turns that
    into a relative error of the same size (5e-6 at z = 9). So split z = zh + (z - zh), zh = z
    rounded to a multiple of 1/256: zh*zh is then exact, and ``exp(-z^2 + P) =
    exp(-zh^2) * exp((zh - z) * (zh + z) + P)``, where the second exponent is small.
    GELU needs erfc(x / sqrt(2)): it passes z = |x| and square_scale = 0.5, because rounding
    x / sqrt(2) would cost the same accuracy, while (x / sqrt(2))^2 = 0.5 * x^2 is exact.
    """
    z = np.minimum(z, 40.0)  # erfc is 0 there even in float64; keeps inf out (NaN stays NaN)
    t = z * (0.5 * math.sqrt(square_scale))
    t += 1.0
    np.reciprocal(t, out=t)  # t = 1 / (1 + z'/2), z' = sqrt(square_scale) * z; t in (0, 1]
    p = t * _NR[-1]  # Horner's rule: P(t) = c0 + t*(c1 + t*(... + t*c9))
    for c in _NR[-2:0:-1]:
        p += c
        p *= t
    p += _NR[0]
    zh = z * 256.0
    np.rint(zh, out=zh)
    zh *= 1.0 / 256.0  # z to a multiple of 1/256: exact square while z < 16 (erfc(16) ~ 1e-113)
    lo = zh - z
    lo *= zh + z
    lo *= square_scale
    lo += p
    np.exp(lo, out=lo)  # exp(s * (zh - z)(zh + z) + P)
    np.square(zh, out=zh)
    zh *= -square_scale
    np.exp(zh, out=zh)  # exp(-s * zh^2), an exact argument
    np.multiply(t, zh, out=out)
    out *= lo
    return out


def _erfc_kernel(x: np.ndarray, out: np.ndarray) -> None:
    e = erfc_nonneg(np.abs(x), np.empty_like(x))
    select(x < 0, 2.0 - e, e, out)  # erfc(-z) = 2 - erfc(z)


def _erf_kernel(x: np.ndarray, out: np.ndarray) -> None:
    a = np.abs(x)
    big = erfc_nonneg(a, np.empty_like(x))
    np.subtract(1.0, big, out=big)  # erf(|x|) = 1 - erfc(|x|): fine for |x| >= 1
    big *= np.sign(x)  # erf is odd
    # |x| < 1: x * T(x^2) keeps erf(1e-6) = 1.128e-6 accurate. Clipping keeps inf out of it.
    xs = np.clip(x, -1.0, 1.0)
    z = xs * xs
    small = np.full_like(z, _CEPHES[0])
    for c in _CEPHES[1:]:
        small *= z
        small += c
    small *= xs
    select(a < 1.0, small, big, out)


def erf(x) -> np.ndarray:
    """The error function, elementwise, any shape; relative error ~1e-7 (float32-accurate).

    Matches ``torch.erf`` within float32 rounding. float64 input gives float64 output but still
    only ~1e-7 accuracy (the approximations are float32-grade).
    """
    return blockwise(_erf_kernel, as_float(x, "erf"))


def erfc(x) -> np.ndarray:
    """The complementary error function ``1 - erf(x)``, elementwise, with small relative error.

    Unlike ``1 - erf(x)``, stays accurate where erfc is tiny (erfc(5) = 1.5e-12).
    """
    return blockwise(_erfc_kernel, as_float(x, "erfc"))
