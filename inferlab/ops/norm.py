"""Normalisation layers: LayerNorm (BERT, GPT-2) and RMSNorm (Llama), torch signatures.

Both rescale each vector over the trailing ``normalized_shape`` dimensions (usually the hidden
size C of x: (B, T, C)) so that its size stays ~1 from layer to layer:

    layer_norm(x) = (x - mean) / sqrt(var + eps) * weight + bias      (var: biased, / n)
    rms_norm(x)   = x / sqrt(mean(x^2) + eps) * weight

The variance is computed from ``x - mean`` (two passes), not as ``mean(x^2) - mean^2``, which
cancels catastrophically when the mean is large compared with the spread.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.ops._validate import as_float, as_shape
from inferlab.ops.cost import Cost, numel


def _normalized(x: np.ndarray, normalized_shape, op: str) -> tuple[int, ...]:
    """normalized_shape as a tuple; it must be the trailing dims of x."""
    shape = as_shape(normalized_shape, op, "normalized_shape")
    if not 0 < len(shape) <= x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        dims = ", ".join(map(str, shape))
        raise ShapeError(
            f"{op} needs x of shape (..., *normalized_shape) = (..., {dims}); got x {x.shape}"
        )
    return shape


def _as_rows(x: np.ndarray, shape: tuple) -> np.ndarray:
    """x as a (rows, n) matrix, n = prod(normalized_shape): one row per vector to normalise.

    A view when x is contiguous. float16 is computed in float32, as torch does.
    """
    rows = x.reshape(-1, numel(shape))
    return rows.astype(np.float32) if rows.dtype == np.float16 else rows


def _mean_of_squares(rows: np.ndarray) -> np.ndarray:
    """Per-row mean of squares, (rows, 1). einsum multiplies and adds in one pass, without the
    (rows, n) temporary that ``np.square(rows).mean(axis=1)`` would write (2x faster)."""
    return np.einsum("ij,ij->i", rows, rows)[:, None] / rows.shape[1]


def _affine(param, shape: tuple, op: str, name: str):
    if param is None:
        return None
    param = as_float(param, op, name)
    if param.shape != shape:
        raise ShapeError(
            f"{op} needs {name} of shape normalized_shape = {shape}; got {param.shape}"
        )
    return param


def _check_eps(eps, op: str) -> None:
    if not isinstance(eps, (int, float, np.floating)) or not eps >= 0:
        raise InvalidValueError(f"{op} needs eps to be a number >= 0; got {eps!r}")


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the trailing dims, like ``torch.nn.functional.layer_norm``.

    x: (..., *normalized_shape); weight, bias: normalized_shape or None -> x's shape and dtype
    """
    x = as_float(x, "layer_norm")
    shape = _normalized(x, normalized_shape, "layer_norm")
    weight = _affine(weight, shape, "layer_norm", "weight")
    bias = _affine(bias, shape, "layer_norm", "bias")
    _check_eps(eps, "layer_norm")
    rows = _as_rows(x, shape)
    y = rows - rows.mean(axis=1, keepdims=True)  # centred; y is also the output buffer
    std = _mean_of_squares(y)  # the (biased) variance, one per row
    std += eps
    np.sqrt(std, out=std)
    y /= std  # one pass over y, dividing each row by its own std
    y = y.reshape(x.shape)
    if weight is not None:
        y *= weight
    if bias is not None:
        y += bias
    return y.astype(x.dtype, copy=False)


def rms_norm(x, normalized_shape, weight=None, eps=None) -> np.ndarray:
    """RMSNorm over the trailing dims, like ``torch.nn.functional.rms_norm``.

    x: (..., *normalized_shape); weight: normalized_shape or None -> x's shape and dtype.
    eps None means ``np.finfo(x.dtype).eps`` (torch's default).
    """
    x = as_float(x, "rms_norm")
    shape = _normalized(x, normalized_shape, "rms_norm")
    weight = _affine(weight, shape, "rms_norm", "weight")
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    _check_eps(eps, "rms_norm")
    rows = _as_rows(x, shape)
    rms = _mean_of_squares(rows)
    rms += eps
    np.sqrt(rms, out=rms)
    y = (rows / rms).reshape(x.shape)
    if weight is not None:
        y *= weight
    return y.astype(x.dtype, copy=False)


def layer_norm_cost(shape, normalized_shape, itemsize: int = 4) -> Cost:
    """Cost of ``layer_norm`` with weight and bias.

    flops = 7 * elements (sum for the mean, subtract, square, sum for the variance, scale,
    * weight, + bias; the per-row sqrt and divisions are neglected)
    bytes = (2 * elements + 2 * normalized elements) * itemsize (read x, write y, weight, bias)
    """
    n = numel(as_shape(shape, "layer_norm_cost"))
    d = numel(as_shape(normalized_shape, "layer_norm_cost", "normalized_shape"))
    return Cost(7 * n, (2 * n + 2 * d) * itemsize)


def rms_norm_cost(shape, normalized_shape, itemsize: int = 4) -> Cost:
    """Cost of ``rms_norm`` with a weight.

    flops = 4 * elements (square, sum, scale, * weight; per-row sqrt neglected)
    bytes = (2 * elements + normalized elements) * itemsize
    """
    n = numel(as_shape(shape, "rms_norm_cost"))
    d = numel(as_shape(normalized_shape, "rms_norm_cost", "normalized_shape"))
    return Cost(4 * n, (2 * n + d) * itemsize)
