"""Dense-layer kernels (ONNX semantics) on inferlab.ops: MatMul, Gemm and the fused
``FusedMatMul`` (bias + activation + residual epilogue), normalisation and softmax.

Gemm computes ``Y = alpha * A' @ B' + beta * C`` (A' = A.T when transA=1, same for B);
LayerNormalization normalises over the axes [axis, rank); Softmax before opset 13 flattens x
to 2-D at ``axis`` (default 1), since 13 it is a plain softmax along ``axis`` (default -1).
"""

from __future__ import annotations

import math

import numpy as np

from inferlab import ops
from inferlab.graph.registry import (
    OUT_KERNELS,
    attr_choice,
    attr_int,
    kernel,
    norm_axis,
)

ACTIVATIONS = {
    "": None,
    "Relu": lambda y: np.maximum(y, 0, out=y),  # in place
    "Gelu": lambda y: ops.gelu(y),
    "GeluTanh": lambda y: ops.gelu(y, approximate="tanh"),
    "Sigmoid": lambda y: ops.sigmoid(y),
    "Tanh": lambda y: np.tanh(y, out=y),
}
BLOCK = 1 << 16  # epilogue block: 256 KiB of float32, stays in L2 while bias + act + add run


def _opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


def _matmul(a, b, out=None):
    """``a @ b`` (np.matmul semantics); (..., K) @ (K, N) runs as ONE 2-D BLAS call.

    NumPy treats (B, T, K) @ (K, N) as B separate products and, because b is broadcast (a
    zero batch stride), may not use BLAS at all: up to 8x slower than the 2-D product of
    the (B*T, K) rows, which is what a Linear layer is.
    """
    if b.ndim == 2 and a.ndim > 2 and a.shape[-1] == b.shape[0]:
        rows = a.reshape(-1, a.shape[-1])  # a view when a is contiguous
        y = np.matmul(rows, b, out=None if out is None else out.reshape(rows.shape[0], -1))
        return (y if out is None else out).reshape(*a.shape[:-1], b.shape[1])
    if out is not None:
        return np.matmul(a, b, out=out)
    return ops.matmul(a, b) if a.dtype.kind == "f" and b.dtype.kind == "f" else np.matmul(a, b)


@kernel("MatMul", out=lambda inputs, attrs, out: [_matmul(inputs[0], inputs[1], out)])
def matmul(inputs, attrs):
    return [_matmul(inputs[0], inputs[1])]


def epilogue(y, bias=None, activation="", residual=None):
    """``y = act(y + bias) + residual`` in place, one cache-sized block of rows at a time.

    Three separate ops would each stream y through main memory and allocate a new y; here each
    block is read once, while it is in cache, and nothing as big as y is allocated. y: (..., N)
    C-contiguous (a fresh matmul output), bias: (N,), residual: y's shape (or broadcastable).
    """
    act = ACTIVATIONS[activation]
    if bias is None and act is None and residual is None:
        return y
    if not y.flags.c_contiguous:
        y = np.ascontiguousarray(y)
    n = y.shape[-1] if y.ndim else 1
    rows = y.reshape(-1, n)  # a view: writes go to y
    same = residual is not None and residual.shape == y.shape
    res = residual.reshape(rows.shape) if same else None
    step = max(1, BLOCK // max(n, 1))
    for r in range(0, rows.shape[0], step):
        blk = rows[r : r + step]
        if bias is not None:
            blk += bias
        if act is not None:
            out = act(blk)
            if out is not blk:  # ops.gelu / ops.sigmoid return a new (block-sized) array
                blk[...] = out
        if res is not None:
            blk += res[r : r + step]
    if residual is not None and not same:
        y += residual  # a broadcast residual: one full pass
    return y


def _prepare_gemm(node, opset):
    a = dict(node.attrs)
    a["activation"] = attr_choice(node, "activation", "", tuple(ACTIVATIONS))
    for name in ("transA", "transB", "trans_a", "trans_b"):
        a[name] = attr_int(node, name, 0)
    return a


def _gemm(inputs, attrs, out=None):
    a, b, c = inputs[0], inputs[1], _opt(inputs, 2)
    if attrs.get("transA", 0) or attrs.get("trans_a", 0):
        a = a.T if a.ndim == 2 else np.swapaxes(a, -1, -2)
    if attrs.get("transB", 0) or attrs.get("trans_b", 0):
        b = b.T if b.ndim == 2 else np.swapaxes(b, -1, -2)
    blocks = attrs.get("max_blocks", 1)
    if blocks > 1:  # max over `blocks` equal column blocks (a lowered Conv + MaxPool)
        y = _max_blocks(_matmul(a, b), blocks, out)
    else:
        y = _matmul(a, b, out)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        y *= y.dtype.type(alpha)
    if c is not None and beta != 1.0:
        c = c * c.dtype.type(beta)
    if c is not None and (c.ndim != 1 or c.shape != y.shape[-1:]):
        y += c  # a (M, 1), (M, N) or scalar C: a plain broadcast add
        c = None
    return [epilogue(y, c, attrs.get("activation", ""), _opt(inputs, 3))]


def _max_blocks(y, blocks: int, out=None):
    """(..., blocks * Q) -> (..., Q): elementwise max of the ``blocks`` contiguous column blocks."""
    parts = y.reshape(*y.shape[:-1], blocks, -1)
    out = np.maximum(parts[..., 0, :], parts[..., 1, :], out=out)
    for i in range(2, blocks):
        np.maximum(out, parts[..., i, :], out=out)
    return out


# Gemm: Y = alpha * A' @ B' + beta * C. FusedMatMul (made by the fuse pass): a MatMul of any
# rank with the same transposes and alpha, then bias, activation and a residual add. With
# ``max_blocks`` = k (from lowering.py), the product's columns are k blocks whose elementwise
# max is taken first: a convolution + max-pooling, lowered to one GEMM.
kernel("Gemm", "FusedMatMul", prepare=_prepare_gemm)(_gemm)
OUT_KERNELS["Gemm"] = OUT_KERNELS["FusedMatMul"] = lambda inputs, attrs, out: _gemm(
    inputs, attrs, out
)


@kernel("BatchNormalization")
def batch_norm(inputs, attrs):
    """Inference mode: ``(x - mean) / sqrt(var + eps) * scale + B`` per channel (axis 1)."""
    x, scale, b, mean, var = inputs[:5]
    eps = attrs.get("epsilon", 1e-5)
    shape = (-1,) + (1,) * (x.ndim - 2)
    mul = (scale / np.sqrt(var + eps)).astype(x.dtype)
    add = (b - mean * mul).astype(x.dtype)
    return [x * mul.reshape(shape) + add.reshape(shape)]


@kernel("LayerNormalization")
def layer_norm(inputs, attrs):
    """Normalise over axes [axis, rank); optional outputs Mean and InvStdDev (keepdims)."""
    x, scale, bias = inputs[0], inputs[1], _opt(inputs, 2)
    axis = norm_axis(int(attrs.get("axis", -1)), x.ndim, "LayerNormalization")
    eps = float(attrs.get("epsilon", 1e-5))
    shape = x.shape[axis:]
    n_out = attrs.get("_n_out", 1)
    fits = scale.shape == shape and (bias is None or bias.shape == shape)
    if n_out == 1 and fits and x.dtype.kind == "f":
        return [ops.layer_norm(x, shape, scale, bias, eps)]
    work = np.float32 if attrs.get("stash_type", 1) == 1 and x.dtype != np.float64 else x.dtype
    xf = x.astype(work, copy=False)
    axes = tuple(range(axis, x.ndim))
    mean = xf.mean(axis=axes, keepdims=True)
    centred = xf - mean
    inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
    y = centred * inv_std * scale
    if bias is not None:
        y += bias
    return [y.astype(x.dtype, copy=False), mean, inv_std.astype(work, copy=False)][:n_out]


def _prepare_softmax(node, opset):
    a = dict(node.attrs)
    # Before opset 13, Softmax flattened x to 2-D at `axis` (default 1); since 13 it is a
    # plain softmax along `axis` (default -1).
    a["_legacy"] = opset is not None and opset < 13
    a["axis"] = attr_int(node, "axis", 1 if a["_legacy"] else -1)
    return a


def _softmax(inputs, attrs, fn):
    x = inputs[0]
    axis = norm_axis(int(attrs.get("axis", -1)), x.ndim, "Softmax")
    if attrs.get("_legacy"):
        rows = math.prod(x.shape[:axis])
        return [fn(x.reshape(rows, -1), axis=1).reshape(x.shape)]
    return [fn(x, axis=axis)]


kernel("Softmax", prepare=_prepare_softmax)(lambda i, a: _softmax(i, a, ops.softmax))
kernel("LogSoftmax", prepare=_prepare_softmax)(lambda i, a: _softmax(i, a, ops.log_softmax))


@kernel("Einsum")
def einsum(inputs, attrs):
    equation = attrs["equation"]
    return [np.einsum(equation.decode() if isinstance(equation, bytes) else equation, *inputs)]
