"""Softmax: the naive formula that overflows, the stable one, and log-softmax.

``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` turns scores into probabilities. In float32,
``exp(x)`` overflows to inf for x > 88.7, and inf / inf is NaN: attention scores and logits
easily reach that. Softmax does not change when a constant is subtracted from every x_i (it
cancels between numerator and denominator), so the stable version subtracts the row maximum
first: then every exponent is <= 0, every exp is in (0, 1], and the sum is >= 1.
"""

from __future__ import annotations

import numpy as np

from inferlab.ops._validate import as_float, as_shape, check_axis
from inferlab.ops.cost import Cost, numel


def softmax_naive(x, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` straight from the formula. Overflows (NaN) once x > ~88 in float32.

    Shown in chapter 01 as what *not* to do: ``softmax_naive(np.float32([1000, 1001]))`` is NaN.
    """
    x = as_float(x, "softmax_naive")
    axis = check_axis(axis, x.ndim, "softmax_naive", x.shape)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``; x: any shape -> same shape, same dtype.

    A row of all -inf (everything masked) gives NaN, like ``torch.softmax``.
    """
    x = as_float(x, "softmax")
    axis = check_axis(axis, x.ndim, "softmax", x.shape)
    y = x - x.max(axis=axis, keepdims=True)  # every entry <= 0 now; y is the output buffer
    np.exp(y, out=y)  # in (0, 1]: no overflow
    y /= y.sum(axis=axis, keepdims=True)  # the sum is >= 1: no division by ~0
    return y


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` computed directly: ``x - max - log(sum(exp(x - max)))``.

    Taking the log of a softmax that underflowed to 0 would give -inf; this form stays finite.
    """
    x = as_float(x, "log_softmax")
    axis = check_axis(axis, x.ndim, "log_softmax", x.shape)
    y = x - x.max(axis=axis, keepdims=True)
    log_sum = np.exp(y).sum(axis=axis, keepdims=True)
    np.log(log_sum, out=log_sum)
    y -= log_sum
    return y


def softmax_cost(shape, itemsize: int = 4) -> Cost:
    """Cost of ``softmax``, ``softmax_naive`` or ``log_softmax`` on an array of ``shape``.

    flops = 5 * elements (max, subtract, exp, sum, divide);  bytes = 2 * elements * itemsize
    """
    n = numel(as_shape(shape, "softmax_cost"))
    return Cost(5 * n, 2 * n * itemsize)
