"""Activation kernels (ONNX semantics): float tensors go through :mod:`inferlab.ops`
(accurate erf and GELU, an overflow-free sigmoid); the others are one or two NumPy calls.
Relu and Tanh can also write into a given buffer, or over their input (memory planning).
"""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.graph.registry import INPLACE, attr_choice, kernel


def _opt(inputs: list, i: int):
    return inputs[i] if i < len(inputs) else None


def _relu_out(inputs, attrs, out):
    np.maximum(inputs[0], 0, out=out)
    return [out]


@kernel("Relu", out=_relu_out)
def relu(inputs, attrs):
    x = inputs[0]
    return [ops.relu(x) if x.dtype.kind == "f" else np.maximum(x, 0)]


def _tanh_out(inputs, attrs, out):
    np.tanh(inputs[0], out=out)
    return [out]


INPLACE.update({"Relu", "Tanh"})
kernel("Tanh", out=_tanh_out)(lambda inputs, attrs: [ops.tanh(inputs[0])])
kernel("Sigmoid")(lambda inputs, attrs: [ops.sigmoid(inputs[0])])
kernel("Erf")(lambda inputs, attrs: [ops.erf(inputs[0])])


def _prepare_gelu(node, opset):
    return {"approximate": attr_choice(node, "approximate", "none", ("none", "tanh"))}


@kernel("Gelu", prepare=_prepare_gelu)
def gelu(inputs, attrs):
    return [ops.gelu(inputs[0], approximate=attrs.get("approximate", "none"))]


@kernel("LeakyRelu")
def leaky_relu(inputs, attrs):
    x, alpha = inputs[0], attrs.get("alpha", 0.01)
    return [np.where(x >= 0, x, x * x.dtype.type(alpha))]


@kernel("PRelu")
def prelu(inputs, attrs):
    x, slope = inputs
    return [np.where(x >= 0, x, x * slope)]


@kernel("Elu")
def elu(inputs, attrs):
    x, alpha = inputs[0], attrs.get("alpha", 1.0)
    return [np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))]


@kernel("HardSigmoid")
def hard_sigmoid(inputs, attrs):
    x = inputs[0]
    t = x.dtype.type
    return [np.clip(x * t(attrs.get("alpha", 0.2)) + t(attrs.get("beta", 0.5)), 0, 1)]


@kernel("HardSwish")
def hard_swish(inputs, attrs):
    x = inputs[0]
    return [x * np.clip(x * x.dtype.type(1 / 6) + x.dtype.type(0.5), 0, 1)]


@kernel("Softplus")
def softplus(inputs, attrs):
    x = inputs[0]
    return [np.logaddexp(x, x.dtype.type(0))]  # log(1 + e^x) without overflow


@kernel("Clip")
def clip(inputs, attrs):
    """Bounds are inputs 1 and 2 from opset 11, attributes min/max before."""
    x, lo, hi = inputs[0], _opt(inputs, 1), _opt(inputs, 2)
    lo = attrs.get("min") if lo is None else lo
    hi = attrs.get("max") if hi is None else hi
    if lo is not None:
        x = np.maximum(x, np.asarray(lo, dtype=x.dtype))
    if hi is not None:
        x = np.minimum(x, np.asarray(hi, dtype=x.dtype))
    return [x if x is not inputs[0] else x.copy()]
