"""Integer kernels: the ONNX ops a quantized model runs, and when float BLAS can run them.

- :func:`dynamic_quantize_linear` (ONNX DynamicQuantizeLinear): x's own uint8 scale and zp at
  run time, ``scale = (max(x, 0) - min(x, 0)) / 255`` in float32.
- :func:`matmul_integer` (MatMulInteger): ``(a - a_zp) @ (b - b_zp)`` accumulated exactly in
  int32 -- no rounding anywhere.
- :func:`qlinear_matmul` (QLinearMatMul): the same product requantized to 8 bits:
  ``sat(rint(float(acc) * (a_s * b_s / y_s)) + y_zp)``, float32, half to even (ORT's
  ``MlasRequantizeOutput``).
- :func:`dynamic_quant_linear`: what ``onnxruntime.quantization.quantize_dynamic`` turns a
  MatMul into: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_s * w_s) [-> Add bias].
- :func:`exact_in_float32` / :func:`max_exact_k`: an 8-bit product is at most 255 * 255, so a
  length-K dot product stays below ``2**24`` (every integer up to there is a float32) when K is
  small enough; then float32 BLAS computes the int32 result exactly, in any summation order.

Example::

    >>> xq, xs, xzp = dynamic_quantize_linear(x)               # x: (M, K) float32
    >>> acc = matmul_integer(xq, w_q, xzp, 0)                  # (M, N) int32, exact
    >>> y = acc.astype(np.float32) * (xs * w_s)                # ~ x @ w
    >>> max_exact_k("uint8", "int8")                           # 514: 514 * 255 * 128 <= 2**24
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe
from inferlab.quant.params import INT_DTYPES, check_finite

__all__ = [
    "dynamic_quant_linear",
    "dynamic_quantize_linear",
    "exact_in_float32",
    "matmul_integer",
    "max_exact_k",
    "qlinear_matmul",
]

_EIGHT_BIT = (np.dtype(np.int8), np.dtype(np.uint8))


def _int8(a, op: str, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype not in _EIGHT_BIT:
        raise DTypeError(f"{op} needs {name} as int8 or uint8 (ONNX); got {describe(arr)}")
    return arr


def _zero_point(zp, like: np.ndarray, op: str, name: str) -> np.ndarray:
    """A zero point as int32, checked to lie in ``like``'s dtype range (None / omitted = 0)."""
    if zp is None:
        return np.zeros((), np.int32)
    z = np.asarray(zp)
    if z.dtype.kind not in "iu":
        raise DTypeError(f"{op} needs an integer {name}; got {describe(z)}")
    info = np.iinfo(like.dtype)
    if z.size and (z.min() < info.min or z.max() > info.max):
        raise InvalidValueError(
            f"{op} needs {name} in {like.dtype}'s range [{info.min}, {info.max}]; got values "
            f"in [{z.min()}, {z.max()}]"
        )
    return z.astype(np.int32)


def _row_param(p: np.ndarray, a: np.ndarray, op: str, name: str) -> np.ndarray:
    """Scalar, (M,) per row or broadcastable to a's (..., M, K): shaped to broadcast."""
    if p.ndim == 1 and p.size > 1:
        if a.ndim < 2 or p.shape[0] != a.shape[-2]:
            raise ShapeError(
                f"{op} needs {name} as a scalar or one value per row of a ({a.shape[-2:][:1]} "
                f"rows for a of shape {a.shape}); got shape {p.shape}"
            )
        return p.reshape(-1, 1)
    return p.reshape(()) if p.size == 1 else p


def _col_param(p: np.ndarray, b: np.ndarray, op: str, name: str) -> np.ndarray:
    """Scalar, (N,) per column or broadcastable to b's (..., K, N)."""
    if p.ndim == 1 and p.size > 1 and p.shape[0] != b.shape[-1]:
        raise ShapeError(
            f"{op} needs {name} as a scalar or one value per column of b ({b.shape[-1]} for b "
            f"of shape {b.shape}); got shape {p.shape}"
        )
    return p.reshape(()) if p.size == 1 else p


def _check_shapes(a, b, op: str) -> None:
    if a.ndim < 1 or b.ndim < 1 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"{op} needs (..., M, K) @ (..., K, N); got {a.shape} @ {b.shape}")


def matmul_integer(a, b, a_zero_point=0, b_zero_point=0) -> np.ndarray:
    """``(a - a_zp) @ (b - b_zp)`` as int32, exact (ONNX MatMulInteger).

    a: (..., M, K) uint8/int8; b: (..., K, N) uint8/int8 (np.matmul broadcasting).
    a_zero_point: scalar or (M,) per row; b_zero_point: scalar or (N,) per column, each in its
    input's dtype range. The sum runs as a float64 BLAS product, exact while
    ``K * 255 * 255 < 2**53`` (K < 10**11): faster than NumPy's integer matmul, same integers.
    """
    op = "matmul_integer"
    a, b = _int8(a, op, "a"), _int8(b, op, "b")
    _check_shapes(a, b, op)
    az = _row_param(_zero_point(a_zero_point, a, op, "a_zero_point"), a, op, "a_zero_point")
    bz = _col_param(_zero_point(b_zero_point, b, op, "b_zero_point"), b, op, "b_zero_point")
    a32 = a.astype(np.int32) - az
    b32 = b.astype(np.int32) - bz
    k = a.shape[-1]
    if k * 255 * 255 < 2**53:  # every partial sum an exact float64 integer
        acc = np.matmul(a32.astype(np.float64), b32.astype(np.float64)).astype(np.int64)
    else:
        acc = np.matmul(a32.astype(np.int64), b32.astype(np.int64))
    return acc.astype(np.int32)  # int32 wraps like a C int32 accumulator on overflow


def _scale(s, op: str, name: str) -> np.ndarray:
    arr = np.asarray(s)
    if arr.dtype.kind != "f":
        raise DTypeError(f"{op} needs a float {name}; got {describe(arr)}")
    arr = arr.astype(np.float32)
    check_finite(arr, op, name)
    if np.any(arr <= 0):
        raise InvalidValueError(f"{op} needs {name} > 0; got {arr.reshape(-1)[:4].tolist()}")
    return arr


def qlinear_matmul(
    a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point
) -> np.ndarray:
    """Quantized ``y = a @ b``, all in 8 bits (ONNX QLinearMatMul, ORT CPU numerics).

    acc = matmul_integer(a, b, a_zp, b_zp) (int32, exact), then
    ``y = sat(rint(float32(acc) * m) + y_zp)`` with ``m = (a_scale * b_scale) / y_scale`` in
    float32 (per column when b_scale is (N,)). Output dtype = y_zero_point's (uint8/int8).
    """
    op = "qlinear_matmul"
    a, b = _int8(a, op, "a"), _int8(b, op, "b")
    yz = np.asarray(y_zero_point)
    if yz.dtype not in _EIGHT_BIT:
        raise DTypeError(
            f"{op} needs y_zero_point as int8 or uint8 (it sets y's dtype); got {describe(yz)}"
        )
    acc = matmul_integer(a, b, a_zero_point, b_zero_point)
    a_s = _row_param(_scale(a_scale, op, "a_scale"), a, op, "a_scale")
    b_s = _col_param(_scale(b_scale, op, "b_scale"), b, op, "b_scale")
    y_s = _scale(y_scale, op, "y_scale").reshape(())
    m = (a_s * b_s) / y_s  # float32, as ORT's qlinearmatmul.cc computes the multiplier
    lo, hi = INT_DTYPES[str(yz.dtype)]
    y = np.rint(acc.astype(np.float32) * m) + yz.astype(np.float32)
    return np.clip(y, lo, hi).astype(yz.dtype)


def dynamic_quantize_linear(x) -> tuple[np.ndarray, np.float32, np.uint8]:
    """x (any shape, float32) -> (q uint8 of x's shape, scale float32, zero_point uint8).

    ONNX DynamicQuantizeLinear as ORT computes it (dynamicquantizelinear.cc), all float32:
    ``rmin = min(min(x), 0)``, ``rmax = max(max(x), 0)``, ``scale = (rmax - rmin) / 255`` (1 when
    x is all zeros: no division by zero), ``zp = rint(clip(0 - rmin / scale, 0, 255))``,
    ``q = sat(rint(x / scale) + zp)``. NaN/Inf in x is an InvalidValueError.
    """
    op = "dynamic_quantize_linear"
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise DTypeError(f"{op} needs a float x; got {describe(arr)}")
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr, op, "x")
    rmin = np.minimum(arr.min(), np.float32(0)) if arr.size else np.float32(0)
    rmax = np.maximum(arr.max(), np.float32(0)) if arr.size else np.float32(0)
    scale = np.float32(1) if rmax == rmin else np.float32((rmax - rmin) / np.float32(255))
    zp = np.rint(np.clip(np.float32(0) - rmin / scale, 0, 255))
    q = np.clip(np.rint(arr / scale) + zp, 0, 255).astype(np.uint8)
    return q, np.float32(scale), np.uint8(zp)


def dynamic_quant_linear(x, w_q, w_scale, w_zero_point=0, bias=None) -> np.ndarray:
    """``x @ w`` the way ORT's ``quantize_dynamic`` runs a MatMul, bit for bit.

    x: (..., K) float32; w_q: (K, N) int8/uint8; w_scale: scalar or (N,) per column;
    w_zero_point: like w_scale; bias: (N,) float32 or None. Steps:
    DynamicQuantizeLinear(x) -> MatMulInteger(xq, w_q, x_zp, w_zp) -> Cast(float32)
    -> Mul(acc, x_scale * w_scale) [-> Add(bias)]. Returns (..., N) float32.
    """
    op = "dynamic_quant_linear"
    xq, xs, xz = dynamic_quantize_linear(x)
    w_q = _int8(w_q, op, "w_q")
    acc = matmul_integer(xq, w_q, xz, w_zero_point)
    scales = xs * _col_param(_scale(w_scale, op, "w_scale"), w_q, op, "w_scale")
    y = acc.astype(np.float32) * scales
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float32)
    return y


def _magnitude(dtype: str, zero_point, op: str, name: str) -> int:
    """Largest |q - zp| over q in dtype's range: the worst factor of one product."""
    if dtype not in INT_DTYPES:
        raise DTypeError(f"{op} needs {name} to be one of {', '.join(INT_DTYPES)}; got {dtype!r}")
    lo, hi = INT_DTYPES[dtype]
    if isinstance(zero_point, bool) or zero_point is None:
        # True: some zero point inside the range is subtracted (worst case: the far end).
        return hi - lo if zero_point else max(abs(lo), abs(hi))
    zp = int(zero_point)
    if not lo <= zp <= hi:
        raise InvalidValueError(f"{op} needs {name}'s zero point in [{lo}, {hi}]; got {zp}")
    return max(abs(lo - zp), abs(hi - zp))


def max_exact_k(
    a_dtype: str = "uint8", b_dtype: str = "int8", a_zero_point=True, b_zero_point=False
) -> int:
    """Largest K for which a float32 product of K-long integer dot products is exact.

    Every partial sum of ``sum_k (a_k - a_zp)(b_k - b_zp)`` is bounded by ``K * A * B`` with
    A, B the largest factors (:func:`_magnitude`); float32 holds every integer up to ``2**24``,
    so ``K <= 2**24 // (A * B)`` makes each fp32 add exact, whatever order BLAS sums in.
    a_zero_point / b_zero_point: True (some zp is subtracted: worst case), False (none), or the
    zero point itself. uint8 x int8 no zp: 255 * 128 -> K <= 514; with a's zp too the same (the
    uint8 factor stays within 255); both 8-bit with zp: 255 * 255 -> 258.
    """
    op = "max_exact_k"
    mag_a = _magnitude(a_dtype, a_zero_point, op, "a_dtype")
    mag_b = _magnitude(b_dtype, b_zero_point, op, "b_dtype")
    return (1 << 24) // max(mag_a * mag_b, 1)


def exact_in_float32(
    k: int,
    a_dtype: str = "uint8",
    b_dtype: str = "int8",
    a_zero_point=True,
    b_zero_point=False,
) -> bool:
    """Whether a (M, k) @ (k, N) integer product is guaranteed exact on float32 BLAS:
    ``k <= max_exact_k(...)``. Sufficient, not necessary: a larger k may still happen to be
    exact for particular values (e.g. all products multiples of 128)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise InvalidValueError(f"exact_in_float32 needs k to be an int >= 0; got {k!r}")
    return int(k) <= max_exact_k(a_dtype, b_dtype, a_zero_point, b_zero_point)
