"""Quantization parameters: the scale and zero point of an affine integer grid.

An affine quantizer maps a real value ``r`` to an integer ``q`` with ``r ~ scale * (q - zp)``.
:func:`qparams` picks ``scale`` and ``zp`` from a real range ``[rmin, rmax]`` so that the range
lands on the integer range ``[qmin, qmax]`` (:func:`qrange`); :func:`qparams_of` takes the range
from a tensor (whole, per channel along ``axis``, or per block of ``block_size`` along ``axis``).

Two libraries, two sets of rules (``convention=``):

- ``"ort"``: onnxruntime ``quantization/quant_utils.py`` ``compute_scale_zp``: the range is
  widened to include 0, ``scale = (rmax - rmin) / (qmax - qmin)`` in float64 (stored as
  float32), ``zp = round_half_even(qmin - rmin / scale)``; symmetric int8 uses [-127, 127]
  (scale = amax / 127); a range below float32's ``tiny`` gives scale 1, zp 0.
- ``"torch"``: ``torch/ao/quantization/observer.py`` ``_calculate_qparams``: float32 arithmetic,
  symmetric int8 keeps [-128, 127] (scale = amax / 127.5), scale clamped to at least float32
  eps, ``zp = qmin - round(rmin / scale)`` clamped.

Example::

    >>> qp = qparams(-1.0, 3.0, "uint8")            # ORT rules
    >>> float(qp.scale), int(qp.zero_point)
    (0.01568627543747425, 64)
    >>> qparams_of(np.array([[1.0, -2.0], [0.5, 4.0]], np.float32), "int8",
    ...            symmetric=True, axis=0).scale    # one scale per row
    array([0.01574803, 0.03149606], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe

__all__ = [
    "CONVENTIONS",
    "INT_DTYPES",
    "STORAGE",
    "QParams",
    "check_finite",
    "qparams",
    "qparams_of",
    "qrange",
]

# The full range of each integer type: what a quantizer saturates to.
INT_DTYPES = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int4": (-8, 7),
    "uint4": (0, 15),
    "int16": (-32768, 32767),
    "uint16": (0, 65535),
}
# The NumPy dtype that holds each type, unpacked: 4-bit values sit one per byte (like ORT's
# quant_utils.quantize_nparray and the ONNX reference evaluator); packing is blockwise.py's job.
STORAGE = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int4": np.int8,
    "uint4": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
}
CONVENTIONS = ("ort", "torch")

# ORT quant_utils ONNX_INT_TYPE_SYMMETRIC_RANGE / ONNX_INT_TYPE_REDUCED_RANGE. Only int8 and
# int16 have a narrower symmetric range (int4 symmetric keeps [-8, 7]); reduce_range wins over
# symmetric (get_qmin_qmax_for_qType checks it first).
_ORT_SYMMETRIC = {"int8": (-127, 127), "int16": (-32767, 32767)}
_ORT_REDUCED = {
    "int8": (-64, 64),
    "uint8": (0, 127),
    "int16": (-16384, 16384),
    "uint16": (0, 32767),
    "int4": (-4, 3),
    "uint4": (0, 7),
}
_F32_TINY = np.finfo(np.float32).tiny  # ORT: a scale below this is "no range"
_F32_EPS = np.finfo(np.float32).eps  # torch observers: eps=torch.finfo(torch.float32).eps


def _check_dtype(dtype, op: str) -> str:
    if dtype not in INT_DTYPES:
        raise DTypeError(
            f"{op} needs dtype to be one of {', '.join(INT_DTYPES)}; got {dtype!r} "
            "(other bit widths have no ONNX/torch integer type)"
        )
    return dtype


def _check_convention(convention, op: str) -> str:
    if convention not in CONVENTIONS:
        raise InvalidValueError(f"{op} needs convention 'ort' or 'torch'; got {convention!r}")
    return convention


def check_finite(a: np.ndarray, op: str, name: str) -> None:
    """Raise InvalidValueError naming the first NaN or Inf in ``a`` (and where it is)."""
    bad = ~np.isfinite(a)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(a[idx]) else "Inf"
        where = f" at index {idx}" if idx else ""
        raise InvalidValueError(
            f"{op} needs finite {name}; got {kind}{where} ({int(bad.sum())} non-finite "
            f"value(s) in {describe(a)}); a NaN or Inf would make the scale NaN/Inf"
        )


def qrange(
    dtype: str = "int8",
    *,
    symmetric: bool = False,
    reduce_range: bool = False,
    convention: str = "ort",
) -> tuple[int, int]:
    """The integer range ``(qmin, qmax)`` a scale is fitted to.

    ort (quant_utils.get_qmin_qmax_for_qType): symmetric int8 (-127, 127), int16
    (-32767, 32767); reduce_range (one bit less, for AVX2's int16 overflow) uint8 (0, 127),
    int8 (-64, 64), int4 (-4, 3); everything else the full range.
    torch (ao/quantization/utils.calculate_qmin_qmax): the full range whether symmetric or not;
    reduce_range halves it, ``(qmin // 2, qmax // 2)``: quint8 (0, 127), qint8 (-64, 63).
    """
    _check_dtype(dtype, "qrange")
    _check_convention(convention, "qrange")
    lo, hi = INT_DTYPES[dtype]
    if convention == "torch":
        return (lo // 2, hi // 2) if reduce_range else (lo, hi)
    if reduce_range:
        return _ORT_REDUCED[dtype]
    if symmetric and dtype in _ORT_SYMMETRIC:
        return _ORT_SYMMETRIC[dtype]
    return lo, hi


@dataclass(frozen=True, eq=False)
class QParams:
    """Everything needed to quantize: ``q = sat(round(x / scale) + zero_point)``.

    scale: float32, shape ``()`` per-tensor, ``(C,)`` per-axis (C = x.shape[axis]), or for
        blocked (ONNX opset-21) x's rank with ``shape[axis] = ceil(x.shape[axis] / block_size)``.
    zero_point: integers in ``dtype``'s range, scale's shape (a scalar is broadcast), stored as
        ``STORAGE[dtype]`` (int4 in int8, uint4 in uint8).
    axis: the axis of x that scale runs along; None = per-tensor.
    block_size: elements of x per scale along ``axis`` (blocked); None = one scale per index.
    qmin, qmax: the integer range the scale was fitted to (:func:`qrange`); default the full
        range. ``quantize`` saturates to the dtype's full range (like ORT QuantizeLinear and
        torch.quantize_per_tensor); torch-convention ``fake_quant`` clamps to [qmin, qmax] (like
        torch.fake_quantize_per_tensor_affine).
    convention: "ort" or "torch": decides the rounding in quantize / fake_quant.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: str = "int8"
    axis: int | None = None
    block_size: int | None = None
    qmin: int | None = None
    qmax: int | None = None
    convention: str = "ort"

    def __post_init__(self):
        op = "QParams"
        _check_dtype(self.dtype, op)
        _check_convention(self.convention, op)
        lo, hi = INT_DTYPES[self.dtype]
        scale = np.asarray(self.scale)
        if scale.dtype.kind not in "fiu":
            raise DTypeError(f"{op} needs a float scale; got {describe(scale)}")
        scale = scale.astype(np.float32)
        check_finite(scale, op, "scale")
        if np.any(scale <= 0):
            raise InvalidValueError(
                f"{op} needs scale > 0 (a real step between integers); got "
                f"{scale.reshape(-1)[np.argmax(scale.reshape(-1) <= 0)]!r} in scale of shape "
                f"{scale.shape}"
            )
        if self.axis is None:
            if self.block_size is not None:
                raise InvalidValueError(f"{op}: block_size={self.block_size} needs an axis")
            if scale.size != 1:
                raise ShapeError(
                    f"{op} per-tensor (axis=None) needs one scale; got shape {scale.shape}; "
                    "pass axis= for per-channel scales"
                )
            scale = scale.reshape(())
        else:
            if isinstance(self.axis, bool) or not isinstance(self.axis, int | np.integer):
                raise InvalidValueError(f"{op} needs axis to be an int or None; got {self.axis!r}")
            if self.block_size is None and scale.ndim != 1:
                raise ShapeError(
                    f"{op} per-axis (axis={self.axis}) needs a 1-D scale (C,); got shape "
                    f"{scale.shape}"
                )
            if self.block_size is not None:
                bs = self.block_size
                if isinstance(bs, bool) or not isinstance(bs, int | np.integer) or bs <= 0:
                    raise InvalidValueError(f"{op} needs block_size to be an int >= 1; got {bs!r}")
                if scale.ndim == 0:
                    raise ShapeError(f"{op} blocked needs scale with x's rank; got shape ()")
        zp = np.asarray(self.zero_point)
        if zp.dtype.kind == "f":
            if np.any(zp != np.round(zp)) or not np.all(np.isfinite(zp)):
                raise DTypeError(f"{op} needs integer zero points; got {describe(zp)}")
        elif zp.dtype.kind not in "iub":
            raise DTypeError(f"{op} needs integer zero points; got {describe(zp)}")
        zp64 = zp.astype(np.float64)
        if np.any(zp64 < lo) or np.any(zp64 > hi):
            raise InvalidValueError(
                f"{op} needs zero points in {self.dtype}'s range [{lo}, {hi}]; got values in "
                f"[{zp64.min():g}, {zp64.max():g}]"
            )
        if zp.size == 1:
            zp = zp.reshape(())
        if zp.shape not in ((), scale.shape):
            raise ShapeError(
                f"{op} needs zero_point of scale's shape {scale.shape} (or one value); got "
                f"{zp.shape}"
            )
        zp = np.broadcast_to(zp.astype(np.int64), scale.shape).astype(STORAGE[self.dtype])
        qmin = lo if self.qmin is None else int(self.qmin)
        qmax = hi if self.qmax is None else int(self.qmax)
        if not lo <= qmin <= qmax <= hi:
            raise InvalidValueError(
                f"{op} needs {lo} <= qmin <= qmax <= {hi} for {self.dtype}; got qmin={qmin}, "
                f"qmax={qmax}"
            )
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)
        object.__setattr__(self, "axis", None if self.axis is None else int(self.axis))
        if self.block_size is not None:
            object.__setattr__(self, "block_size", int(self.block_size))
        object.__setattr__(self, "qmin", qmin)
        object.__setattr__(self, "qmax", qmax)

    @property
    def granularity(self) -> str:
        """How the scale is shared: "per-tensor", "per-axis" or "blocked"."""
        if self.axis is None:
            return "per-tensor"
        return "per-axis" if self.block_size is None else "blocked"

    def __repr__(self) -> str:
        def short(a):
            return repr(a.item()) if a.ndim == 0 else f"<{a.shape} {a.dtype}>"

        where = "" if self.axis is None else f", axis={self.axis}"
        where += "" if self.block_size is None else f", block_size={self.block_size}"
        return (
            f"QParams(scale={short(self.scale)}, zero_point={short(self.zero_point)}, "
            f"dtype={self.dtype!r}{where}, qrange=({self.qmin}, {self.qmax}), "
            f"convention={self.convention!r})"
        )


def _ranges(rmin, rmax, op: str) -> tuple[np.ndarray, np.ndarray]:
    """rmin, rmax as float32 arrays of one shape, finite, rmin <= rmax."""
    lo, hi = np.asarray(rmin), np.asarray(rmax)
    for name, a in (("rmin", lo), ("rmax", hi)):
        if a.dtype.kind not in "fiu":
            raise DTypeError(f"{op} needs numeric {name}; got {describe(a)}")
        check_finite(a.astype(np.float64), op, name)
    # ORT computes in the data's dtype (float32 for float32 models); torch observers keep
    # min/max in float32 buffers. A float64 range is rounded to float32 first, like both do.
    lo, hi = lo.astype(np.float32), hi.astype(np.float32)
    try:
        lo, hi = np.broadcast_arrays(lo, hi)
    except ValueError:
        raise ShapeError(
            f"{op} needs rmin and rmax of one shape; got {lo.shape} and {hi.shape}"
        ) from None
    if np.any(lo > hi):
        i = np.argmax((lo > hi).reshape(-1))
        raise InvalidValueError(
            f"{op} needs rmin <= rmax; got rmin={lo.reshape(-1)[i]!r} > rmax={hi.reshape(-1)[i]!r}"
        )
    return lo, hi


def _ort_scale_zp(lo, hi, qmin, qmax, symmetric, blocked):
    """quant_utils.compute_scale_zp (and compute_scale_zp_blocked), vectorised."""
    lo = np.minimum(lo, np.float32(0))  # widen to include 0: zero must be exact
    hi = np.maximum(hi, np.float32(0))
    if symmetric:
        absmax = np.maximum(np.abs(lo), np.abs(hi))
        lo, hi = -absmax, absmax
    dq = np.float64(qmax) - np.float64(qmin)
    if blocked:  # compute_scale_zp_blocked subtracts in float32, then divides in float64 ...
        scale64 = (hi - lo).astype(np.float64) / dq
    else:  # ... compute_scale_zp promotes first ("a finite range can overflow float32")
        scale64 = (hi.astype(np.float64) - lo.astype(np.float64)) / dq
    scale32 = scale64.astype(np.float32)
    if blocked:
        # and blocked tests and divides by the float32-rounded scale, ...
        degenerate, zp_scale = scale32 < _F32_TINY, scale32.astype(np.float64)
    else:
        # compute_scale_zp by the unrounded float64 one.
        degenerate, zp_scale = scale64 < _F32_TINY, scale64
    if symmetric:
        # round((qmin + qmax) / 2): 0 for int8, 128 for uint8 (127.5 rounds half to even).
        zp = np.full(lo.shape, np.round((qmin + qmax) / 2.0))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            zp = np.round(np.float64(qmin) - lo.astype(np.float64) / zp_scale)
        zp = np.clip(np.nan_to_num(zp), qmin, qmax)
    # No range at all (a constant-zero tensor): scale 1, zp 0, never a division by zero.
    scale = np.where(degenerate, np.float32(1), scale32)
    if not (blocked and symmetric):  # the blocked version keeps the symmetric midpoint
        zp = np.where(degenerate, 0, zp)
    return scale, zp


def _torch_scale_zp(lo, hi, qmin, qmax, symmetric, dtype):
    """observer._calculate_qparams for per_tensor/per_channel affine and symmetric, float32."""
    lo = np.minimum(lo, np.float32(0))
    hi = np.maximum(hi, np.float32(0))
    if symmetric:
        amax = np.maximum(-lo, hi)
        scale = np.maximum(amax / np.float32((qmax - qmin) / 2), _F32_EPS)  # amax / 127.5
        full_lo, full_hi = INT_DTYPES[dtype]
        # torch: quint8 -> 128, uint16 -> 2**15, signed -> 0 (whatever the range).
        zp = np.full(lo.shape, 0 if full_lo < 0 else (full_hi + 1) // 2, dtype=np.float64)
    else:
        scale = np.maximum((hi - lo) / np.float32(qmax - qmin), _F32_EPS)
        zp = np.clip(qmin - np.round(lo / scale).astype(np.float64), qmin, qmax)
    return scale.astype(np.float32), zp


def qparams(
    rmin,
    rmax,
    dtype: str = "int8",
    *,
    symmetric: bool = False,
    reduce_range: bool = False,
    convention: str = "ort",
    axis: int | None = None,
    block_size: int | None = None,
) -> QParams:
    """Scale and zero point mapping the real range ``[rmin, rmax]`` onto :func:`qrange`.

    rmin, rmax: numbers (per-tensor) or arrays of one shape (per-axis ``(C,)`` or blocked);
        finite, ``rmin <= rmax`` (InvalidValueError otherwise, naming the NaN/Inf).
    axis, block_size: recorded in the QParams (the ranges already have the matching shape).
    A zero range (all-zero tensor) is safe: ort gives scale 1, zp 0; torch scale eps, zp qmin
    (asymmetric) — its ``max(scale, eps)`` clamp. A constant c != 0 is widened to [0, c].
    """
    op = "qparams"
    _check_dtype(dtype, op)
    _check_convention(convention, op)
    if convention == "torch" and symmetric and reduce_range and INT_DTYPES[dtype][0] == 0:
        # observer.py: "Cannot reduce range for symmetric quantization for quint8" (its zero
        # point 128 would fall outside the reduced range [0, 127]).
        raise InvalidValueError(
            f"{op}: torch has no symmetric reduce_range for unsigned {dtype} (zero point 128 "
            "would lie outside [0, 127]); use int8, or symmetric=False"
        )
    lo, hi = _ranges(rmin, rmax, op)
    qmin, qmax = qrange(
        dtype, symmetric=symmetric, reduce_range=reduce_range, convention=convention
    )
    if convention == "ort":
        scale, zp = _ort_scale_zp(lo, hi, qmin, qmax, symmetric, block_size is not None)
    else:
        scale, zp = _torch_scale_zp(lo, hi, qmin, qmax, symmetric, dtype)
    return QParams(scale, zp.astype(np.int64), dtype, axis, block_size, qmin, qmax, convention)


def _minmax(x: np.ndarray, axis: int | None, block_size: int | None, op: str):
    """Per-tensor / per-axis (C,) / per-block min and max of x as float32 arrays."""
    if axis is None:
        if block_size is not None:
            raise InvalidValueError(f"{op}: block_size={block_size} needs an axis")
        if x.size == 0:  # ORT: an empty tensor gets range [0, 0] -> scale 1, zp 0
            return np.float32(0), np.float32(0)
        return x.min(), x.max()
    if (
        isinstance(axis, bool)
        or not isinstance(axis, int | np.integer)
        or not (-x.ndim <= axis < x.ndim)
    ):
        raise InvalidValueError(f"{op}: axis {axis!r} is out of range for x of shape {x.shape}")
    axis = int(axis) % x.ndim
    if block_size is None:
        other = tuple(i for i in range(x.ndim) if i != axis)
        if x.size == 0:
            z = np.zeros(x.shape[axis], np.float32)
            return z, z
        return x.min(axis=other), x.max(axis=other)
    if (
        isinstance(block_size, bool)
        or not isinstance(block_size, int | np.integer)
        or (block_size <= 0)
    ):
        raise InvalidValueError(f"{op} needs block_size to be an int >= 1; got {block_size!r}")
    n = x.shape[axis]
    nb = -(-n // block_size)
    # Pad the last block with zeros (ORT compute_scale_zp_blocked does the same): zero is in
    # every range anyway, so the padding never changes a scale.
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, nb * block_size - n)
    xp = np.pad(x, pad)
    shape = x.shape[:axis] + (nb, block_size) + x.shape[axis + 1 :]
    blocks = xp.reshape(shape)
    return blocks.min(axis=axis + 1), blocks.max(axis=axis + 1)


def qparams_of(
    x,
    dtype: str = "int8",
    *,
    symmetric: bool = False,
    reduce_range: bool = False,
    convention: str = "ort",
    axis: int | None = None,
    block_size: int | None = None,
) -> QParams:
    """:func:`qparams` of x's own range: over the whole tensor (axis=None), per index of
    ``axis`` (scale ``(C,)``), or per block of ``block_size`` along ``axis`` (scale of x's rank,
    ``ceil(n / block_size)`` along axis; a short last block is allowed, as in ONNX).

    x: a float array (float16/32/64); NaN or Inf is an InvalidValueError saying where.
    """
    op = "qparams_of"
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise DTypeError(f"{op} needs a float x (the real values); got {describe(arr)}")
    arr = arr.astype(np.float32)
    check_finite(arr, op, "x")
    lo, hi = _minmax(arr, axis, block_size, op)
    if axis is not None:
        axis = int(axis) % arr.ndim
    return qparams(
        lo,
        hi,
        dtype,
        symmetric=symmetric,
        reduce_range=reduce_range,
        convention=convention,
        axis=axis,
        block_size=block_size,
    )
