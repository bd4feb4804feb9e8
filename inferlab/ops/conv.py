"""2-D convolution (NCHW, torch conventions): the direct loops, and im2col + one matmul.

A convolution slides a ``KH x KW`` filter over the image; every output pixel is a dot product of
the filter with the window under it. ``im2col`` copies every window into a column of a matrix,
so the whole convolution becomes a single matrix multiplication that BLAS runs at full speed:

    x: (N, C, H, W) --im2col--> cols: (N, C*KH*KW, OH*OW)
    weight: (OC, C*KH*KW) @ cols --> (N, OC, OH*OW) --reshape--> (N, OC, OH, OW)

The price is memory: each input pixel is copied into up to KH*KW columns. (``conv2d`` builds
the columns of one image at a time, in a buffer small enough to stay in cache.)
Sizes follow torch: ``OH = floor((H + 2*pad - dilation*(KH - 1) - 1) / stride) + 1``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.ops._validate import as_float, as_shape, check_ndim, is_int, pair
from inferlab.ops.cost import Cost, numel


def conv_output_size(size: int, kernel: int, stride=1, padding=0, dilation=1) -> int:
    """Output length of a convolution or pooling along one axis (torch's formula).

    ``floor((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1``; ShapeError if the
    (dilated) kernel does not fit in the padded input.
    """
    for name, value, minimum in [
        ("size", size, 0),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ]:
        if not is_int(value) or value < minimum:
            raise InvalidValueError(
                f"conv_output_size needs {name} to be an int >= {minimum}; got {value!r}"
            )
    span = dilation * (kernel - 1) + 1  # how many input pixels the dilated kernel covers
    if size + 2 * padding < span:
        raise ShapeError(
            f"conv_output_size: a kernel of {kernel} (dilation {dilation}, spanning {span}) "
            f"does not fit in size {size} + 2*{padding} padding"
        )
    return (size + 2 * padding - span) // stride + 1


def _geometry(x_shape, kernel_size, stride, padding, dilation, op: str):
    """Pairs (kh, kw), (sh, sw), (ph, pw), (dh, dw) and the output size (oh, ow)."""
    k = pair(kernel_size, op, "kernel_size", 1)
    s = pair(stride, op, "stride", 1)
    p = pair(padding, op, "padding", 0)
    d = pair(dilation, op, "dilation", 1)
    H, W = x_shape[-2:]
    try:
        oh = conv_output_size(H, k[0], s[0], p[0], d[0])
        ow = conv_output_size(W, k[1], s[1], p[1], d[1])
    except ShapeError:
        raise ShapeError(
            f"{op}: the {k[0]}x{k[1]} kernel (dilation {d}) does not fit in x of shape "
            f"{tuple(x_shape)} padded by {p}"
        ) from None
    return k, s, p, d, (oh, ow)


def _pad(x: np.ndarray, p: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the last two axes (H, W) by p = (ph, pw) on both sides; no copy when p is (0, 0)."""
    if p == (0, 0):
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(p[0], p[0]), (p[1], p[1])]
    return np.pad(x, widths, constant_values=value)


def _windows(xp: np.ndarray, k, s, d, out_hw) -> np.ndarray:
    """Every window of the padded input as a *view* (N, C, KH, KW, OH, OW): no data copied.

    ``sliding_window_view`` gives every (span_h x span_w) window at every position; keeping
    every ``stride``-th position and every ``dilation``-th pixel inside a window is slicing.
    """
    span = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    win = sliding_window_view(xp, span, axis=(-2, -1))  # (N, C, H', W', span_h, span_w)
    win = win[..., : out_hw[0] * s[0] : s[0], : out_hw[1] * s[1] : s[1], :: d[0], :: d[1]]
    return np.moveaxis(win, (-2, -1), (-4, -3))  # (N, C, KH, KW, OH, OW)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Unfold every window of ``x: (N, C, H, W)`` into a column: ``(N, C*KH*KW, OH*OW)``.

    Row order is (c, kh, kw), the order of ``weight.reshape(OC, -1)`` and of ``F.unfold``.
    """
    x = as_float(x, "im2col")
    check_ndim(x, 4, "im2col", "x", "(N, C, H, W)")
    k, s, p, d, (oh, ow) = _geometry(x.shape, kernel_size, stride, padding, dilation, "im2col")
    N, C = x.shape[:2]
    windows = _windows(_pad(x, p), k, s, d, (oh, ow))  # (N, C, KH, KW, OH, OW), a view
    cols = np.empty(windows.shape, dtype=x.dtype)
    np.copyto(cols, windows)  # the copy that makes the columns (always a new array)
    return cols.reshape(N, C * k[0] * k[1], oh * ow)


def _check_conv(x, weight, bias, groups, op: str):
    x, weight = as_float(x, op, "x"), as_float(weight, op, "weight")
    check_ndim(x, 4, op, "x", "(N, C, H, W)")
    check_ndim(weight, 4, op, "weight", "(OC, C/groups, KH, KW)")
    if not is_int(groups) or groups < 1:
        raise InvalidValueError(f"{op} needs groups to be an int >= 1; got {groups!r}")
    C, OC = x.shape[1], weight.shape[0]
    if C % groups or OC % groups or weight.shape[1] != C // groups:
        raise ShapeError(
            f"{op} needs weight (OC, C/groups, KH, KW) with C and OC divisible by groups={groups}; "
            f"got x {x.shape} and weight {weight.shape}"
        )
    if bias is not None:
        bias = as_float(bias, op, "bias")
        if bias.shape != (OC,):
            raise ShapeError(f"{op} needs bias of shape (OC,) = ({OC},); got {bias.shape}")
    return x, weight, bias


def _add_bias(out: np.ndarray, bias) -> np.ndarray:
    if bias is None:
        return out
    if np.result_type(out, bias) == out.dtype:
        out += bias[:, None, None]  # in place over (N, OC, OH, OW)
        return out
    return out + bias[:, None, None]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """2-D convolution by im2col + matmul, like ``torch.nn.functional.conv2d``.

    x: (N, C, H, W), weight: (OC, C/groups, KH, KW), bias: (OC,) -> (N, OC, OH, OW)

    With groups G the channels split into G independent convolutions (G = C is "depthwise"):
    per image, one batched matmul ``(G, OC/G, C/G*KH*KW) @ (G, C/G*KH*KW, OH*OW)`` does them all.
    """
    x, weight, bias = _check_conv(x, weight, bias, groups, "conv2d")
    k, s, p, d, (oh, ow) = _geometry(x.shape, weight.shape[2:], stride, padding, dilation, "conv2d")
    N, C = x.shape[:2]
    OC = weight.shape[0]
    windows = _windows(_pad(x, p), k, s, d, (oh, ow))  # (N, C, KH, KW, OH, OW), a view
    w = weight.reshape(groups, OC // groups, -1)  # (G, OC/G, C/G*KH*KW)
    out = np.empty((N, OC, oh, ow), dtype=np.result_type(x, weight))
    out_groups = out.reshape(N, groups, OC // groups, oh * ow)  # a view of out
    # The im2col buffer holds ONE image's columns and is reused for every image: it is N times
    # smaller than a whole-batch buffer, so it stays in cache (2x faster for a batch of 8).
    cols = np.empty(windows.shape[1:], dtype=x.dtype)  # (C, KH, KW, OH, OW)
    cols_groups = cols.reshape(groups, -1, oh * ow)  # (G, C/G*KH*KW, OH*OW), a view
    for n in range(N):
        np.copyto(cols, windows[n])  # im2col of image n: the one real copy
        np.matmul(w, cols_groups, out=out_groups[n])  # (G, OC/G, OH*OW), already NCHW order
    return _add_bias(out, bias)


def conv2d_direct(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution straight from the definition, one output pixel at a time (the reference).

    ``out[n, o, i, j] = bias[o] + sum_{c,a,b} xp[n, c, i*sh + a*dh, j*sw + b*dw] * w[o, c, a, b]``
    with xp the zero-padded x and c running over the input channels of o's group.
    Slow: OH * OW * groups Python iterations.
    """
    x, weight, bias = _check_conv(x, weight, bias, groups, "conv2d_direct")
    k, s, p, d, (oh, ow) = _geometry(
        x.shape, weight.shape[2:], stride, padding, dilation, "conv2d_direct"
    )
    N, C = x.shape[:2]
    OC = weight.shape[0]
    cg, ocg = C // groups, OC // groups  # channels per group, in and out
    span_h, span_w = d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1  # input pixels a window covers
    xp = _pad(x, p)
    out = np.zeros((N, OC, oh, ow), dtype=np.result_type(x, weight))
    for i in range(oh):
        for j in range(ow):
            # The window under output pixel (i, j): (N, C, KH, KW).
            h0, w0 = i * s[0], j * s[1]
            window = xp[:, :, h0 : h0 + span_h : d[0], w0 : w0 + span_w : d[1]]
            for g in range(groups):
                win = window[:, g * cg : (g + 1) * cg]  # (N, C/G, KH, KW)
                filters = weight[g * ocg : (g + 1) * ocg]  # (OC/G, C/G, KH, KW)
                # Multiply each window by each filter, add up over (c, kh, kw).
                products = win[:, None] * filters[None]  # (N, OC/G, C/G, KH, KW)
                out[:, g * ocg : (g + 1) * ocg, i, j] = products.sum(axis=(2, 3, 4))
    return _add_bias(out, bias)


def conv2d_cost(
    x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1, bias=True, itemsize=4
) -> Cost:
    """Cost of ``conv2d`` (and ``conv2d_direct``): a multiply-add per weight per output pixel.

    flops = 2 * N * OC * OH * OW * (C/groups) * KH * KW   (+ N * OC * OH * OW with bias)
    bytes = (x + weight + out (+ bias) elements) * itemsize   (im2col buffer not counted)
    """
    x_shape, w_shape = as_shape(x_shape, "conv2d_cost"), as_shape(weight_shape, "conv2d_cost")
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(
            f"conv2d_cost needs x (N, C, H, W) and weight (OC, C/groups, KH, KW); "
            f"got {x_shape} and {w_shape}"
        )
    _, _, _, _, (oh, ow) = _geometry(x_shape, w_shape[2:], stride, padding, dilation, "conv2d_cost")
    N = x_shape[0]
    OC, cg, KH, KW = w_shape
    outputs = N * OC * oh * ow
    flops = 2 * outputs * cg * KH * KW + (outputs if bias else 0)
    elements = numel(x_shape) + numel(w_shape) + outputs + (OC if bias else 0)
    return Cost(flops, elements * itemsize)


def im2col_cost(x_shape, kernel_size, stride=1, padding=0, dilation=1, itemsize=4) -> Cost:
    """Cost of ``im2col``: no arithmetic, only copying.

    flops = 0;  bytes = (x elements + N * C*KH*KW * OH*OW) * itemsize
    """
    x_shape = as_shape(x_shape, "im2col_cost")
    if len(x_shape) != 4:
        raise ShapeError(f"im2col_cost needs x of shape (N, C, H, W); got {x_shape}")
    k, _, _, _, (oh, ow) = _geometry(x_shape, kernel_size, stride, padding, dilation, "im2col")
    N, C = x_shape[:2]
    return Cost(0, (numel(x_shape) + N * C * k[0] * k[1] * oh * ow) * itemsize)
