"""2-D max and average pooling (NCHW), like ``torch.nn.functional.max_pool2d`` / ``avg_pool2d``.

Pooling shrinks an image by summarising each ``KH x KW`` window with one number. Instead of
building every window, we loop over the KH*KW offsets inside a window: offset (a, b) of every
window at once is one strided slice of the input, so each step is a single vectorised
``np.maximum`` (or ``np.add``) over the whole output.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.ops._validate import as_float, as_shape
from inferlab.ops.conv import _geometry, _pad
from inferlab.ops.cost import Cost, numel


def _check_pool(x, kernel_size, stride, padding, op: str):
    x = as_float(x, op)
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op} needs x of shape (N, C, H, W) or (C, H, W); got {x.shape}")
    stride = kernel_size if stride is None else stride  # torch's default: windows do not overlap
    k, s, p, _, out_hw = _geometry(x.shape, kernel_size, stride, padding, 1, op)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        # torch's rule: more padding would create windows that see only padding.
        raise InvalidValueError(f"{op} needs padding <= kernel_size // 2; got {p} for {k}")
    return x, k, s, p, out_hw


def _offsets(xp: np.ndarray, k, s, out_hw):
    """For each offset (a, b) inside a window, that pixel of every window: (..., OH, OW) views."""
    oh, ow = out_hw
    for a in range(k[0]):
        for b in range(k[1]):
            yield xp[..., a : a + s[0] * (oh - 1) + 1 : s[0], b : b + s[1] * (ow - 1) + 1 : s[1]]


def max_pool2d(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Maximum of each window: x: (N, C, H, W) -> (N, C, OH, OW).

    stride None means stride = kernel_size. Padding is -inf, so it never wins the max.
    """
    x, k, s, p, out_hw = _check_pool(x, kernel_size, stride, padding, "max_pool2d")
    views = _offsets(_pad(x, p, -np.inf), k, s, out_hw)
    out = next(views).copy()
    for view in views:
        np.maximum(out, view, out=out)
    return out


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Mean of each window: x: (N, C, H, W) -> (N, C, OH, OW).

    stride None means stride = kernel_size. Zero padding counts in the mean (divisor KH*KW),
    torch's default ``count_include_pad=True``.
    """
    x, k, s, p, out_hw = _check_pool(x, kernel_size, stride, padding, "avg_pool2d")
    views = _offsets(_pad(x, p, 0.0), k, s, out_hw)
    out = next(views).copy()
    for view in views:
        np.add(out, view, out=out)
    out /= k[0] * k[1]
    return out


def pool2d_cost(x_shape, kernel_size, stride=None, padding=0, itemsize=4) -> Cost:
    """Cost of ``max_pool2d`` or ``avg_pool2d``: one compare (or add) per window element.

    flops = N * C * OH * OW * KH * KW;  bytes = (x + out elements) * itemsize
    """
    x_shape = as_shape(x_shape, "pool2d_cost")
    if len(x_shape) not in (3, 4):
        raise ShapeError(f"pool2d_cost needs x of shape (N, C, H, W) or (C, H, W); got {x_shape}")
    stride = kernel_size if stride is None else stride
    k, _, _, _, (oh, ow) = _geometry(x_shape, kernel_size, stride, padding, 1, "pool2d_cost")
    outputs = numel(x_shape[:-2]) * oh * ow
    return Cost(outputs * k[0] * k[1], (numel(x_shape) + outputs) * itemsize)
