"""Quantization kernels (ONNX semantics, onnxruntime CPU numerics) on :mod:`inferlab.quant`:
QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul and
ConvInteger.

QuantizeLinear / DequantizeLinear pick their granularity from the scale's shape: one value
(a scalar or a 1-element vector, as ORT) is per-tensor; a 1-D scale is per-axis along ``axis``
(default 1); with ``block_size`` > 0 (opset 21) the scale has x's rank and
``ceil(x.shape[axis] / block_size)`` entries along axis. The quantized type is the zero point's
type; without a zero point it is ``output_dtype`` (opset 21) or uint8. DequantizeLinear also
takes int32 (the bias of QDQ models): ``(x - zp) * scale`` with a float32 result.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import DTypeError
from inferlab.graph.ir import BadAttributeError
from inferlab.graph.kernels_conv import _conv, _prepare_spatial
from inferlab.graph.kernels_create import ONNX_DTYPES
from inferlab.graph.registry import attr_int, kernel

# The quantization math lives in inferlab.quant (a layer above the engine, whose ptq module
# imports inferlab.graph): import it on first use, so importing either package first works.
INT_DTYPES = ("int8", "uint8", "int4", "uint4", "int16", "uint16")  # = quant.params.INT_DTYPES


def _quant():
    from inferlab.quant import affine, integer, params

    return affine, integer, params


def _opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


def _prepare_qdq(node, opset):
    a = dict(node.attrs)
    a["axis"] = attr_int(node, "axis", 1)
    block = attr_int(node, "block_size", 0)
    if block < 0:
        raise BadAttributeError(
            f"node '{node.name}' ({node.op}) needs block_size >= 0 (0 = not blocked); got {block}"
        )
    a["block_size"] = block or None
    out = attr_int(node, "output_dtype", 0)
    if out and (out not in ONNX_DTYPES or np.dtype(ONNX_DTYPES[out]).name not in INT_DTYPES):
        raise BadAttributeError(
            f"node '{node.name}' ({node.op}): output_dtype {out} is not an integer type inferlab "
            f"quantizes to ({', '.join(INT_DTYPES)})"
        )
    a["output_dtype"] = out
    return a


def _granularity(x, scale, attrs):
    """(axis, block_size) for QParams: per-tensor when scale has one value (ORT's rule)."""
    if attrs["block_size"] is not None:
        return attrs["axis"], attrs["block_size"]
    if scale.size == 1:
        return None, None
    return attrs["axis"], None


def _qparams(x, scale, zp, dtype, attrs):
    axis, block = _granularity(x, scale, attrs)
    if axis is None:
        scale, zp = scale.reshape(()), zp.reshape(())
    return _quant()[2].QParams(scale, zp, dtype, axis, block, convention="ort")


@kernel("QuantizeLinear", prepare=_prepare_qdq)
def quantize_linear(inputs, attrs):
    x, scale, zp = inputs[0], np.asarray(inputs[1]), _opt(inputs, 2)
    if zp is None:
        out = attrs.get("output_dtype", 0)
        dtype = np.dtype(ONNX_DTYPES[out]).name if out else "uint8"
        zp = np.zeros(scale.shape, dtype)
    dtype = np.asarray(zp).dtype.name
    return [_quant()[0].quantize(x, _qparams(x, scale, np.asarray(zp), dtype, attrs))]


@kernel("DequantizeLinear", prepare=_prepare_qdq)
def dequantize_linear(inputs, attrs):
    x, scale, zp = inputs[0], np.asarray(inputs[1]), _opt(inputs, 2)
    if scale.dtype.kind != "f":
        raise DTypeError(f"DequantizeLinear needs a float scale; got {scale.dtype}")
    zp = np.zeros(scale.shape, x.dtype) if zp is None else np.asarray(zp)
    if x.dtype == np.int32:  # a QDQ bias: int32 is no quantized type, so no QParams
        axis, block = _granularity(x, scale, attrs)
        s = scale.reshape(()) if axis is None else scale
        z = zp.reshape(()) if axis is None else zp
        expand = _quant()[0].expand
        s = expand(s.astype(np.float32), x.shape, axis, block, "DequantizeLinear")
        z = expand(z.astype(np.int64), x.shape, axis, block, "DequantizeLinear")
        y = (x.astype(np.int64) - z).astype(np.float32) * s
    else:
        y = _quant()[0].dequantize(x, _qparams(x, scale, zp, x.dtype.name, attrs))
    return [y.astype(scale.dtype, copy=False)]


@kernel("DynamicQuantizeLinear")
def dynamic_quantize(inputs, attrs):
    q, s, z = _quant()[1].dynamic_quantize_linear(inputs[0])
    return [q, np.asarray(s), np.asarray(z)]


@kernel("MatMulInteger")
def matmul_int(inputs, attrs):
    return [_quant()[1].matmul_integer(inputs[0], inputs[1], _opt(inputs, 2), _opt(inputs, 3))]


@kernel("QLinearMatMul")
def qlinear_mm(inputs, attrs):
    return [_quant()[1].qlinear_matmul(*inputs[:8])]


@kernel("ConvInteger", prepare=_prepare_spatial)
def conv_integer(inputs, attrs):
    """``conv(x - x_zp, w - w_zp)`` in int32. Padding is in the zero-point-shifted domain
    (pads contribute 0, as ORT pads with x_zp); the sum runs in float64, exact for any real
    kernel (|term| <= 255 * 255, so C*KH*KW < 2**37 terms)."""
    x, w, xz, wz = inputs[0], inputs[1], _opt(inputs, 2), _opt(inputs, 3)
    for name, a in (("x", x), ("w", w)):
        if a.dtype not in (np.int8, np.uint8):
            raise DTypeError(f"ConvInteger needs {name} as int8 or uint8; got {a.dtype}")
    xs = x.astype(np.float64) - (0 if xz is None else np.asarray(xz, np.float64).reshape(()))
    wzf = 0.0 if wz is None else np.asarray(wz, np.float64)
    if np.ndim(wzf) == 1 and np.size(wzf) > 1:  # one zero point per output channel
        wzf = wzf.reshape((-1,) + (1,) * (w.ndim - 1))
    ws = w.astype(np.float64) - np.reshape(wzf, np.shape(wzf) if np.size(wzf) > 1 else ())
    (y,) = _conv([xs, ws], {**attrs, "activation": ""})
    return [np.rint(y).astype(np.int64).astype(np.int32)]
