"""Convolution and pooling kernels (ONNX semantics, NCHW; 1-D inputs run as 2-D with H = 1).

ONNX and torch differ in a few conventions this file converts: pads are
``[x1_begin, x2_begin, ..., x1_end, x2_end]`` (so they may be asymmetric), pooling strides
default to 1 (not to the kernel size), and AveragePool excludes padding from the mean unless
``count_include_pad=1``. Symmetric cases go to :mod:`inferlab.ops` (``conv2d``,
``max_pool2d``, ``avg_pool2d``); stride-1 convolutions use a faster one-GEMM-per-batch form.
"""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.errors import ShapeError
from inferlab.graph.ir import BadAttributeError
from inferlab.graph.kernels_nn import ACTIVATIONS
from inferlab.graph.registry import attr_choice, attr_int, attr_ints, kernel, require

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


def _prepare_spatial(node, opset):
    a = dict(node.attrs)
    a["auto_pad"] = attr_choice(node, "auto_pad", "NOTSET", _AUTO_PAD)
    for name in ("kernel_shape", "strides", "dilations", "pads"):
        a[name] = attr_ints(node, name)
    if a["pads"] is not None and len(a["pads"]) % 2:
        raise BadAttributeError(f"node '{node.name}' ({node.op}) needs an even number of pads")
    if node.op in ("MaxPool", "AveragePool"):
        require(node, "kernel_shape")
        if len(node.outputs) > 1 and node.outputs[1]:
            raise BadAttributeError(f"node '{node.name}': MaxPool's Indices output is unsupported")
    a["group"] = attr_int(node, "group", 1)
    a["activation"] = attr_choice(node, "activation", "", tuple(ACTIVATIONS))
    return a


def spatial(x_shape, k, attrs, ceil_mode=False):
    """Strides, dilations, begin/end pads and output sizes along the spatial axes."""
    n = len(k)
    s = tuple(attrs.get("strides") or (1,) * n)
    d = tuple(attrs.get("dilations") or (1,) * n)
    pads = tuple(attrs.get("pads") or (0,) * (2 * n))
    if len(s) != n or len(d) != n or len(pads) != 2 * n or min(s) < 1 or min(d) < 1:
        raise ShapeError(f"strides {s}, dilations {d}, pads {pads} do not fit kernel {k}")
    auto = attrs.get("auto_pad", "NOTSET")
    begin, end, out = [], [], []
    for i, size in enumerate(x_shape[2:]):
        span = (k[i] - 1) * d[i] + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // s[i])
            total = max((o - 1) * s[i] + span - size, 0)
            b = total // 2 if auto == "SAME_UPPER" else (total + 1) // 2
            begin.append(b), end.append(total - b)
        elif auto == "VALID":
            begin.append(0), end.append(0)
        else:
            begin.append(pads[i]), end.append(pads[i + n])
        room = size + begin[i] + end[i] - span
        if room < 0:
            raise ShapeError(f"kernel {tuple(k)} does not fit in input {tuple(x_shape)} + pads")
        o = (-(-room // s[i]) if ceil_mode else room // s[i]) + 1
        if ceil_mode and (o - 1) * s[i] >= size + begin[i]:
            o -= 1  # a window may not start in the right padding (ONNX, torch)
        out.append(o)
    return s, d, begin, end, out


def _as_2d(x):
    """1-D (N, C, L) tensors run as 2-D (N, C, 1, L)."""
    if x.ndim == 3:
        return x[:, :, None, :]
    if x.ndim != 4:
        raise ShapeError(f"expected (N, C, L) or (N, C, H, W); got {x.shape}")
    return x


def _conv(inputs, attrs):
    x, w, bias = inputs[0], inputs[1], _opt(inputs, 2)
    one_d = x.ndim == 3
    x4, w4 = _as_2d(x), _as_2d(w)
    k = tuple(w4.shape[2:])
    a = attrs if not one_d else _attrs_1d(attrs)
    s, d, begin, end, out_hw = spatial(x4.shape, k, a)
    groups, act = attrs.get("group", 1), attrs.get("activation", "")
    if groups == 1 and s == d == (1, 1) and x4.dtype == w4.dtype and x4.dtype.kind == "f":
        y = _conv_shifted(x4, w4, bias, begin, end, out_hw, act)
    else:
        if begin != end:  # asymmetric padding: pad explicitly, then convolve unpadded
            x4 = np.pad(x4, [(0, 0), (0, 0), (begin[0], end[0]), (begin[1], end[1])])
            begin = [0, 0]
        y = ops.conv2d(x4, w4, None, tuple(s), tuple(begin), tuple(d), groups)
        y = epilogue_channels(y, bias, act)
    return [y[:, :, 0, :] if one_d else y]


COLS_BYTES = 1 << 23  # column buffer per chunk of images: 8 MiB


def _conv_shifted(x, w, bias, begin, end, out_hw, act):
    """A stride-1 convolution as one matrix product per chunk of images, with cheap columns.

    Lay the padded images of a chunk end to end: xt (C, n*Hp*Wp). Output pixel p (on the
    padded grid) needs input p + i*Wp + j for each kernel offset (i, j), so the columns are
    KH*KW *contiguous* shifted slices of xt (fast copies, unlike im2col's small windows):

        W (OC, KH*KW*C) @ cols (KH*KW*C, n*Hp*Wp) -> (OC, n, Hp, Wp) -> keep [:, :, :OH, :OW]

    The grid positions outside the valid OH x OW are computed and dropped: for small images
    that waste is cheaper than im2col's strided copies or one tiny GEMM per image.
    """
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    hp, wp = H + begin[0] + end[0], W + begin[1] + end[1]
    oh, ow = out_hw
    wm = w.transpose(0, 2, 3, 1).reshape(OC, -1)  # column order (i, j, c)
    out = np.empty((N, OC, oh, ow), dtype=x.dtype)
    chunk = max(1, min(N, COLS_BYTES // (KH * KW * C * hp * wp * x.itemsize)))
    for n0 in range(0, N, chunk):
        n = min(chunk, N - n0)
        total = n * hp * wp
        xt = np.zeros((C, n, hp, wp), dtype=x.dtype)
        xt[:, :, begin[0] : begin[0] + H, begin[1] : begin[1] + W] = x[n0 : n0 + n].transpose(
            1, 0, 2, 3
        )
        flat = xt.reshape(C, total)
        cols = np.empty((KH, KW, C, total), dtype=x.dtype)
        last = total - (KH - 1) * wp - (KW - 1)  # valid outputs never read past this
        for i in range(KH):
            for j in range(KW):
                shift = i * wp + j
                cols[i, j, :, :last] = flat[:, shift : shift + last]
                cols[i, j, :, last:] = 0
        y = np.matmul(wm, cols.reshape(-1, total))  # (OC, n*Hp*Wp)
        epilogue_channels(y.reshape(1, OC, total, 1), bias, act)
        np.copyto(out[n0 : n0 + n], y.reshape(OC, n, hp, wp)[:, :, :oh, :ow].transpose(1, 0, 2, 3))
    return out


def epilogue_channels(y, bias, activation):
    """Per-channel bias, then the activation, in place on (N, C, H, W)."""
    if bias is not None:
        y += bias.reshape(-1, 1, 1)
    act = ACTIVATIONS[activation]
    if act is not None:
        out = act(y)
        if out is not y:
            y[...] = out
    return y


def _attrs_1d(attrs):
    """A 1-D conv/pool's attributes with a leading unit spatial axis (H = 1)."""
    a = dict(attrs)
    for name, unit in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        if a.get(name):
            a[name] = (unit, *a[name])
    if a.get("pads"):
        a["pads"] = (0, a["pads"][0], 0, a["pads"][1])
    return a


kernel("Conv", "FusedConv", prepare=_prepare_spatial)(_conv)


def _pool(inputs, attrs, kind):
    x = inputs[0]
    one_d = x.ndim == 3
    x4 = _as_2d(x)
    a = _attrs_1d(attrs) if one_d else attrs
    k = tuple(a["kernel_shape"])
    if len(k) != 2:
        raise ShapeError(f"{kind}Pool kernel_shape {k} does not fit input {x.shape}")
    s, d, begin, end, (oh, ow) = spatial(x4.shape, k, a, bool(a.get("ceil_mode", 0)))
    include_pad = bool(a.get("count_include_pad", 0))
    over = [
        max(0, (o - 1) * s[i] + (k[i] - 1) * d[i] + 1 - (x4.shape[2 + i] + begin[i] + end[i]))
        for i, o in enumerate((oh, ow))
    ]  # ceil_mode windows hanging past the end padding
    simple = (
        begin == end
        and over == [0, 0]
        and d == (1, 1)
        and all(begin[i] <= k[i] // 2 for i in range(2))
    )
    if simple and begin == [0, 0] and s == k:
        y = _pool_tiles(x4, k, (oh, ow), kind)
    elif simple and (kind == "Max" or include_pad or begin == [0, 0]):
        fn = ops.max_pool2d if kind == "Max" else ops.avg_pool2d
        y = fn(x4, k, tuple(s), tuple(begin))
    else:
        y = _pool_general(x4, k, s, d, begin, end, over, (oh, ow), kind, include_pad)
    return [y[:, :, 0, :] if one_d else y]


def _pool_tiles(x, k, out_hw, kind):
    """Non-overlapping k x k windows, no padding: combine the width offsets, then the height
    offsets (KH + KW - 2 NumPy passes instead of KH * KW over strided views)."""
    (oh, ow), combine = out_hw, (np.maximum if kind == "Max" else np.add)
    x = x[..., : oh * k[0], : ow * k[1]]
    rows = x[..., 0 :: k[1]]
    for j in range(1, k[1]):
        rows = combine(rows, x[..., j :: k[1]], out=None if j == 1 else rows)
    rows = rows.copy() if k[1] == 1 else rows
    y = rows[..., 0 :: k[0], :]
    for i in range(1, k[0]):
        y = combine(y, rows[..., i :: k[0], :], out=None if i == 1 else y)
    y = y.copy() if k[0] == 1 else y
    if kind == "Avg":
        y /= k[0] * k[1]
    return y


def _pool_general(x, k, s, d, begin, end, over, out_hw, kind, include_pad):
    """Any pads, dilation and ceil_mode: loop over the KH*KW offsets of a window."""
    fill = -np.inf if kind == "Max" else 0.0
    widths = [(0, 0), (0, 0)] + [(begin[i], end[i] + over[i]) for i in range(2)]
    xp = np.pad(x, widths, constant_values=fill)
    oh, ow = out_hw
    y = None
    for a in range(k[0]):
        for b in range(k[1]):
            r0, c0 = a * d[0], b * d[1]
            view = xp[
                ..., r0 : r0 + s[0] * (oh - 1) + 1 : s[0], c0 : c0 + s[1] * (ow - 1) + 1 : s[1]
            ]
            y = (
                view.copy()
                if y is None
                else (np.maximum(y, view, out=y) if kind == "Max" else np.add(y, view, out=y))
            )
    if kind == "Avg":
        counts = []  # per axis: how many window taps land in the counted region
        for i, o in enumerate(out_hw):
            lo, hi = (
                (0, x.shape[2 + i] + begin[i] + end[i])
                if include_pad
                else (begin[i], begin[i] + x.shape[2 + i])
            )
            taps = np.arange(o)[:, None] * s[i] + np.arange(k[i])[None, :] * d[i]
            counts.append(((taps >= lo) & (taps < hi)).sum(axis=1))
        y /= np.maximum(np.outer(*counts), 1).astype(y.dtype)
    return y


kernel("MaxPool", prepare=_prepare_spatial)(lambda inputs, attrs: _pool(inputs, attrs, "Max"))
kernel("AveragePool", prepare=_prepare_spatial)(lambda inputs, attrs: _pool(inputs, attrs, "Avg"))


@kernel("GlobalAveragePool")
def global_average_pool(inputs, attrs):
    x = inputs[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]


@kernel("GlobalMaxPool")
def global_max_pool(inputs, attrs):
    x = inputs[0]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]
