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
blocks so that the passes read the L2 cache, not main memory. erf has a shortcut: for |x| <= 2
(most inputs in practice) ``x * P(x^2)`` with P of degree 8 (minimax fit, relative error
< 4e-7 in float32) takes 19 passes; :func:`core_then_exact` runs it and sends only the other
entries through the formulas above. GELU uses the same driver (activations.py).
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


# erf(x) = x * P(x^2) on |x| <= 2: coefficients of P, highest power first (fitted to math.erf
# with Lawson's minimax iteration; the constant term is 2/sqrt(pi)).
_ERF_CORE = 2.0
_ERF_P = (
    2.9636492933610016e-07,
    -7.6135939032305825e-06,
    9.533625351209524e-05,
    -0.0008000941932210965,
    0.005151112936931174,
    -0.0268100907413668,
    0.11281577989822701,
    -0.37612294416765596,
    1.1283790763144228,
)


def _erf_core(x: np.ndarray, out: np.ndarray, tail: np.ndarray, s: np.ndarray) -> None:
    """``out = erf(x)`` for |x| <= 2 (19 passes); ``tail`` marks the other entries."""
    np.multiply(x, x, out=s)
    np.greater(s, _ERF_CORE * _ERF_CORE, out=tail)  # NaN compares False: it stays NaN
    np.multiply(s, _ERF_P[0], out=out)  # Horner's rule in the output buffer
    out += _ERF_P[1]
    for c in _ERF_P[2:]:
        out *= s
        out += c
    out *= x


# Blocks of the fast cores: 4x blockwise's, i.e. 4x fewer NumPy calls. Each call holds Python's
# GIL while NumPy sets it up (~1 us) and releases it for the loop, so with several threads
# (MiniLM's threads, a server's) 32K blocks spend their time waiting for the GIL (2 threads:
# slower than 1), 128K blocks run 1.5x faster on 2 cores. 3 arrays of 128K floats = 1.5 MB,
# still in a 2 MB L2 cache; one thread alone is as fast as with 32K blocks.
CORE_BLOCK = 1 << 17


def core_then_exact(x: np.ndarray, core, exact, out: np.ndarray | None = None) -> np.ndarray:
    """A fast ``core(x_block, out_block, tail_block, scratch)`` on CORE_BLOCK blocks, then the
    exact ``exact(x, out)`` kernel (run by ``blockwise``) on the entries the core marked in
    ``tail`` (gathered: a few % of them). Keeps x's dtype; writes into ``out`` if given.

    The core may produce inf / NaN for the tail entries (their values are replaced), so its
    floating-point warnings are silenced. Writes straight into ``out`` when it is a contiguous
    buffer of the working dtype that does not overlap x (a core may write its output before it
    has read all of x).
    """
    work = np.float64 if x.dtype == np.float64 else np.float32
    flat = np.ascontiguousarray(x, dtype=work).reshape(-1)
    direct = (
        out is not None
        and out.dtype == work
        and out.flags.c_contiguous
        and not np.may_share_memory(out, flat)
    )
    result = out.reshape(-1) if direct else np.empty_like(flat)
    tail = np.empty(flat.shape, dtype=bool)
    scratch = np.empty(min(flat.size, CORE_BLOCK), dtype=work)
    with np.errstate(all="ignore"):
        for start in range(0, flat.size, CORE_BLOCK):
            block = slice(start, start + CORE_BLOCK)
            n = min(CORE_BLOCK, flat.size - start)
            core(flat[block], result[block], tail[block], scratch[:n])
    far = np.flatnonzero(tail)
    if far.size:
        result[far] = blockwise(exact, flat[far])
    if direct:
        return out
    result = result.reshape(x.shape).astype(x.dtype, copy=False)
    if out is None:
        return result
    out[...] = result
    return out


def erf(x) -> np.ndarray:
    """The error function, elementwise, any shape; relative error ~1e-7 (float32-accurate).

    Matches ``torch.erf`` within float32 rounding. float64 input gives float64 output but still
    only ~1e-7 accuracy (the approximations are float32-grade).
    """
    return core_then_exact(as_float(x, "erf"), _erf_core, _erf_kernel)


def erfc(x) -> np.ndarray:
    """The complementary error function ``1 - erf(x)``, elementwise, with small relative error.

    Unlike ``1 - erf(x)``, stays accurate where erfc is tiny (erfc(5) = 1.5e-12).
    """
    return blockwise(_erfc_kernel, as_float(x, "erfc"))
