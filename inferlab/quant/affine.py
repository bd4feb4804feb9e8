"""Affine quantization: real numbers to integers and back, the way ORT and torch do it.

``q = saturate(round(x / scale) + zp)`` and ``x_hat = (q - zp) * scale``. The rounding step is
where libraries differ, by one integer, on exact ties (``x / scale`` ending in .5):

- ``"ort"`` (ONNX QuantizeLinear, ``core/mlas/lib/quantize.cpp``): divide in float32, round half
  to even, *then* add zp. Ties [.5, 1.5, 2.5, -.5, -2.5] with zp 3 -> [3, 5, 5, 3, 1].
- ``"torch"`` (``torch.quantize_per_tensor`` / ``_per_channel`` on CPU): multiply by the float32
  reciprocal, add zp, *then* round: the same ties -> [4, 4, 6, 2, 0] (odd zp moves the tie).
  ``torch.fake_quantize_per_*_affine`` rounds before adding zp, so torch's own fake and real
  quantization disagree at ties; :func:`fake_quant` follows the fake one.

Scales broadcast per tensor, per axis (``scale[c]`` for index c of ``axis``) or per block
(ONNX opset 21: ``scale[..., i // block_size, ...]`` along ``axis``).

Example::

    >>> from inferlab.quant.params import qparams_of
    >>> qp = qparams_of(x, "int8", symmetric=True)
    >>> q = quantize(x, qp)                 # int8
    >>> x_hat = dequantize(q, qp)           # float32
    >>> sqnr_db(x, x_hat)                   # ~ 39 dB for 1e5 Gaussian x (absmax ~ 4.4 sigma)
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.errors import DTypeError, ShapeError, describe
from inferlab.quant.params import INT_DTYPES, STORAGE, QParams, check_finite

__all__ = ["dequantize", "expand", "fake_quant", "quantization_error", "quantize", "sqnr_db"]


def _check_qp(qp, op: str) -> QParams:
    if not isinstance(qp, QParams):
        raise DTypeError(f"{op} needs a QParams (from qparams / qparams_of); got {describe(qp)}")
    return qp


def expand(
    param: np.ndarray,
    shape: tuple,
    axis: int | None = None,
    block_size: int | None = None,
    op: str = "quantize",
) -> np.ndarray:
    """``param`` (a scale or zero point) made broadcastable to an array of ``shape``.

    axis None (per-tensor): unchanged; per-axis: ``(C,)`` -> ``(1, .., C, .., 1)`` with
    C == shape[axis]; blocked: each entry repeated ``block_size`` times along axis (the last
    block may be short). ShapeError when param's shape does not fit.
    """
    if axis is None:
        return param
    rank = len(shape)
    if not -rank <= axis < max(rank, 1) or rank == 0:
        raise ShapeError(f"{op}: axis {axis} is out of range for x of shape {tuple(shape)}")
    given, axis = axis, axis % rank
    n = shape[axis]
    if block_size is None:
        if param.shape != (n,):
            raise ShapeError(
                f"{op} per-axis (axis={given}) needs {n} scales (x.shape[{given}]); got "
                f"scale of shape {param.shape} for x of shape {tuple(shape)}"
            )
        return param.reshape((1,) * axis + (n,) + (1,) * (rank - axis - 1))
    bs = block_size
    want = tuple(-(-d // bs) if i == axis else d for i, d in enumerate(shape))
    if param.shape != want:
        raise ShapeError(
            f"{op} blocked (axis={given}, block_size={bs}) needs scale of shape {want} "
            f"(ceil({n}/{bs}) = {want[axis]} blocks along axis) for x of shape {tuple(shape)}; "
            f"got {param.shape}"
        )
    return np.repeat(param, bs, axis=axis).take(np.arange(n), axis=axis)


def _as_real(x, op: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise DTypeError(f"{op} needs a float x; got {describe(arr)}")
    # Like ORT (quantize_nparray casts to float32) the arithmetic is float32; float16 widens
    # exactly, float64 is rounded to float32 first.
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr, op, "x")
    return arr


def quantize(x, qp: QParams, *, narrow: bool = False) -> np.ndarray:
    """x (float, any shape) -> integers of x's shape, dtype ``STORAGE[qp.dtype]``.

    ort: ``sat(rint(x / s) + zp)``; torch: ``sat(rint(x * (1/s)_fp32 + zp))`` (see module doc).
    Saturates to the dtype's full range, like both libraries' quantize ops; ``narrow=True``
    clips to ``[qp.qmin, qp.qmax]`` instead. NaN/Inf in x is an InvalidValueError.
    """
    op = "quantize"
    qp = _check_qp(qp, op)
    arr = _as_real(x, op)
    s = expand(qp.scale, arr.shape, qp.axis, qp.block_size, op)
    zp = expand(qp.zero_point, arr.shape, qp.axis, qp.block_size, op).astype(np.float32)
    with np.errstate(over="ignore"):  # a huge x / s overflows to inf: it saturates below
        if qp.convention == "ort":
            v = np.rint(arr / s) + zp  # fp32 divide, half-even, then zp
        else:
            inv = np.float32(1) / s  # torch: inv_scale = 1.0f / scale
            v = np.rint(arr * inv + zp)
    lo, hi = (qp.qmin, qp.qmax) if narrow else INT_DTYPES[qp.dtype]
    return np.clip(v, lo, hi).astype(STORAGE[qp.dtype])


def dequantize(q, qp: QParams) -> np.ndarray:
    """Integers q -> float32 ``(int32(q) - zp) * scale`` (exact integer subtraction, one fp32
    multiply: the same in ORT DequantizeLinear, per-axis and blocked, and torch)."""
    op = "dequantize"
    qp = _check_qp(qp, op)
    arr = np.asarray(q)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{op} needs integer q (from quantize); got {describe(arr)}")
    s = expand(qp.scale, arr.shape, qp.axis, qp.block_size, op)
    zp = expand(qp.zero_point, arr.shape, qp.axis, qp.block_size, op).astype(np.int32)
    return (arr.astype(np.int32) - zp).astype(np.float32) * s


def fake_quant(x, qp: QParams) -> np.ndarray:
    """Quantize then dequantize, in float32: the error a quantized model sees.

    torch: ``torch.fake_quantize_per_tensor_affine`` / ``_per_channel_affine``:
    ``(clamp(rint(x * inv) + zp, qmin, qmax) - zp) * s`` (round before zp; clamps to
    [qp.qmin, qp.qmax]); ort: ``dequantize(quantize(x))`` (QuantizeLinear -> DequantizeLinear).
    """
    op = "fake_quant"
    qp = _check_qp(qp, op)
    if qp.convention == "ort":
        return dequantize(quantize(x, qp), qp)
    arr = _as_real(x, op)
    s = expand(qp.scale, arr.shape, qp.axis, qp.block_size, op)
    zp = expand(qp.zero_point, arr.shape, qp.axis, qp.block_size, op).astype(np.float32)
    inv = np.float32(1) / s
    q = np.clip(np.rint(arr * inv) + zp, qp.qmin, qp.qmax)
    return ((q - zp) * s).astype(np.float32)


def sqnr_db(x, x_hat) -> float:
    """Signal-to-quantization-noise ratio ``10 log10(sum x^2 / sum (x - x_hat)^2)`` in dB.

    +inf when x_hat == x exactly; each extra bit of a uniform quantizer adds ~6.02 dB.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(x_hat, dtype=np.float64)
    if a.shape != b.shape:
        raise ShapeError(f"sqnr_db needs x and x_hat of one shape; got {a.shape} and {b.shape}")
    noise = float(np.sum((a - b) ** 2))
    signal = float(np.sum(a**2))
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def quantization_error(x, x_hat) -> dict:
    """``{"mse", "max_abs", "sqnr_db"}`` of a reconstruction x_hat of x (float64 sums)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(x_hat, dtype=np.float64)
    if a.shape != b.shape:
        raise ShapeError(
            f"quantization_error needs x and x_hat of one shape; got {a.shape} and {b.shape}"
        )
    d = np.abs(a - b)
    return {
        "mse": float(np.mean(d**2)) if d.size else 0.0,
        "max_abs": float(d.max()) if d.size else 0.0,
        "sqnr_db": sqnr_db(a, b),
    }
