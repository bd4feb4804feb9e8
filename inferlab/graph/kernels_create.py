"""Kernels that create tensors or change their type (ONNX semantics), in plain NumPy:
Cast, CastLike, Constant, ConstantOfShape, Range, Tile, Pad, Trilu, NonZero, CumSum.

A shape given as a tensor (ConstantOfShape, Tile, Pad, Range) is checked against
``registry.MAX_ELEMENTS`` before anything is allocated: a corrupt model must fail with an
error, not try to allocate terabytes.
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.graph.ir import BadAttributeError
from inferlab.graph.registry import VIEWS, attr_int, check_size, ints, kernel, norm_axis, require

ONNX_DTYPES = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    4: np.uint16,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
    12: np.uint32,
    13: np.uint64,
    14: np.complex64,
    15: np.complex128,
}

VIEWS.add("Constant")  # a shared array: nothing may write into it


def _opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


def _prepare_cast(node, opset):
    require(node, "to")
    to = attr_int(node, "to")
    if to not in ONNX_DTYPES:
        raise BadAttributeError(
            f"node '{node.name}' (Cast): target type {to} is not supported "
            "(string, bfloat16 and float8 have no NumPy dtype)"
        )
    return {**node.attrs, "to": to}


@kernel("Cast", prepare=_prepare_cast)
def cast(inputs, attrs):
    return [inputs[0].astype(ONNX_DTYPES[attrs["to"]])]


@kernel("CastLike")
def cast_like(inputs, attrs):
    return [inputs[0].astype(inputs[1].dtype)]


@kernel("ConstantOfShape")
def constant_of_shape(inputs, attrs):
    value = attrs.get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value)
    dims = check_size(ints(inputs[0], "ConstantOfShape shape"), "ConstantOfShape")
    return [np.full(dims, value.reshape(-1)[0], dtype=value.dtype)]


_CONSTANT_KEYS = ("value", "value_float", "value_floats", "value_int", "value_ints")


def _constant_value(attrs: dict, name: str) -> np.ndarray:
    found = [k for k in attrs if k in _CONSTANT_KEYS]
    if len(found) != 1:
        given = sorted(k for k in attrs if not k.startswith("_")) or "none"
        raise BadAttributeError(
            f"node '{name}' (Constant) needs exactly one of {', '.join(_CONSTANT_KEYS)} "
            f"(string and sparse values are unsupported); got {given}"
        )
    key = found[0]
    dtype = np.float32 if "float" in key else np.int64 if "int" in key else None
    return np.asarray(attrs[key], dtype=dtype)


def _prepare_constant(node, opset):
    value = _constant_value(node.attrs, node.name).copy()
    value.flags.writeable = False  # shared by every run: no kernel may write into it
    return {"value": value}


@kernel("Constant", prepare=_prepare_constant)
def constant(inputs, attrs):
    return [_constant_value(attrs, "Constant")]


@kernel("Tile")
def tile(inputs, attrs):
    x, reps = inputs[0], ints(inputs[1], "Tile repeats")
    if len(reps) != x.ndim:
        raise ShapeError(f"Tile needs one repeat per dim of x {x.shape}; got {reps}")
    check_size([d * r for d, r in zip(x.shape, reps, strict=True)], "Tile")
    return [np.tile(x, reps)]


@kernel("Range")
def range_(inputs, attrs):
    """``start + i * delta`` for i in [0, max(ceil((limit - start) / delta), 0))."""
    start, limit, delta = (np.asarray(v).reshape(()) for v in inputs[:3])
    if delta == 0:
        raise InvalidValueError("Range: delta must not be 0")
    n = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    check_size((n,), "Range")
    return [(start + delta * np.arange(n)).astype(start.dtype)]


@kernel("Trilu")
def trilu(inputs, attrs):
    k = int(np.asarray(inputs[1]).reshape(())) if _opt(inputs, 1) is not None else 0
    x = inputs[0]
    return [np.triu(x, k) if attrs.get("upper", 1) else np.tril(x, k)]


@kernel("Pad")
def pad(inputs, attrs):
    """pads [x1_begin, x2_begin, ..., x1_end, ...] (input since opset 11), modes
    constant/reflect/edge/wrap; negative pads crop."""
    x = inputs[0]
    pads = ints(inputs[1], "Pad pads") if _opt(inputs, 1) is not None else list(attrs["pads"])
    value = _opt(inputs, 2)
    value = attrs.get("value", 0.0) if value is None or value.size == 0 else value.reshape(-1)[0]
    axes = _opt(inputs, 3)
    axes = (
        [norm_axis(a, x.ndim, "Pad") for a in ints(axes, "Pad axes")]
        if axes is not None
        else list(range(x.ndim))
    )
    if len(pads) != 2 * len(axes):
        raise ShapeError(f"Pad needs 2 pads per axis ({len(axes)} axes); got {pads}")
    widths = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + len(axes)])
    mode = attrs.get("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    grow = [(max(b, 0), max(e, 0)) for b, e in widths]
    check_size([d + b + e for d, (b, e) in zip(x.shape, grow, strict=True)], "Pad")
    kw = {"constant_values": value} if mode == "constant" else {}
    y = np.pad(
        x,
        grow,
        mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}.get(mode, "constant"),
        **kw,
    )
    crop = tuple(slice(-min(b, 0), y.shape[i] + min(e, 0)) for i, (b, e) in enumerate(widths))
    return [y[crop]]


@kernel("NonZero")
def nonzero(inputs, attrs):
    return [np.array(np.nonzero(inputs[0]), dtype=np.int64).reshape(inputs[0].ndim, -1)]


@kernel("CumSum")
def cumsum(inputs, attrs):
    x = inputs[0]
    axis = norm_axis(int(np.asarray(inputs[1]).reshape(())), x.ndim, "CumSum")
    if attrs.get("reverse", 0):
        x = np.flip(x, axis)
    y = np.cumsum(x, axis=axis, dtype=x.dtype)
    if attrs.get("exclusive", 0):
        y = np.concatenate(
            [np.zeros_like(np.take(y, [0], axis=axis)), np.delete(y, -1, axis=axis)], axis=axis
        )
    return [np.flip(y, axis) if attrs.get("reverse", 0) else y]
