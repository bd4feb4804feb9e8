"""Elementwise arithmetic, comparison and reduction kernels (ONNX semantics), in NumPy.

Binary ops broadcast the NumPy way (ONNX's multidirectional broadcasting is the same rule).
Add/Sub/Mul/Div and the unary ufuncs can write into a given buffer (``out=``), or over their
input, which the memory planner uses. Integer Div truncates toward zero, as ONNX does.
"""

from __future__ import annotations

import functools

import numpy as np

from inferlab.errors import ShapeError
from inferlab.graph.registry import INPLACE, VIEWS, ints, kernel, norm_axis


def _opt(inputs: list, i: int):
    """Input ``i``, or None when it is omitted (absent or given as "")."""
    return inputs[i] if i < len(inputs) else None


def _trunc_divide(a, b, out=None):
    """ONNX integer Div truncates toward zero (like C); NumPy's // floors. Floats divide."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return np.divide(a, b, out=out)
    q = np.floor_divide(a, b)
    q += ((q * b) != a) & ((a < 0) != (b < 0))  # floor rounded a negative quotient down
    if out is not None:
        out[...] = q
        return out
    return q


_BINARY = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": _trunc_divide,
    "Equal": np.equal,
    "Less": np.less,
    "LessOrEqual": np.less_equal,
    "Greater": np.greater,
    "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
    "BitwiseAnd": np.bitwise_and,
    "BitwiseOr": np.bitwise_or,
}
_ARITHMETIC = ("Add", "Sub", "Mul", "Div")


def _register_binary(op, fn):
    def run(inputs, attrs):
        return [fn(inputs[0], inputs[1])]

    def run_out(inputs, attrs, out):
        fn(inputs[0], inputs[1], out=out)
        return [out]

    kernel(op, out=run_out if op in _ARITHMETIC else None)(run)
    if op in _ARITHMETIC:
        INPLACE.add(op)


for _op, _fn in _BINARY.items():
    _register_binary(_op, _fn)


@kernel("Pow")
def pow_(inputs, attrs):
    """ONNX Pow keeps the base's dtype; x**2, x**0.5 and x**1 take fast exact paths."""
    x, y = inputs
    if y.size == 1 and x.dtype.kind == "f":
        e = float(y.reshape(-1)[0])
        if e == 2.0:
            return [x * x]
        if e == 0.5:
            return [np.sqrt(x)]
        if e == 1.0:
            return [x.copy()]
        return [np.power(x, x.dtype.type(e))]
    return [np.power(x, y).astype(x.dtype, copy=False)]


@kernel("Mod")
def mod(inputs, attrs):
    """fmod=0: the result has the divisor's sign (Python %); fmod=1: the dividend's (C fmod)."""
    a, b = inputs
    return [np.fmod(a, b) if attrs.get("fmod", 0) else np.mod(a, b)]


def _variadic(fn):
    return lambda inputs, attrs: [functools.reduce(fn, inputs)]


kernel("Max")(_variadic(np.maximum))
kernel("Min")(_variadic(np.minimum))
kernel("Sum")(_variadic(np.add))


@kernel("Mean")
def mean(inputs, attrs):
    return [functools.reduce(np.add, inputs) / len(inputs)]


@kernel("Where")
def where(inputs, attrs):
    return [np.where(inputs[0], inputs[1], inputs[2])]


@kernel("Not")
def not_(inputs, attrs):
    return [np.logical_not(inputs[0])]


# Unary NumPy ufuncs: all elementwise, so all may write in place.
_UNARY = {
    "Abs": np.abs,
    "Neg": np.negative,
    "Exp": np.exp,
    "Log": np.log,
    "Sqrt": np.sqrt,
    "Reciprocal": np.reciprocal,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Round": np.round,  # half to even, as ONNX specifies
    "Sign": np.sign,
    "Sin": np.sin,
    "Cos": np.cos,
    "IsNaN": np.isnan,
}


def _register_unary(op, fn):
    def run_out(inputs, attrs, out):
        fn(inputs[0], out=out)
        return [out]

    kernel(op, out=None if op == "IsNaN" else run_out)(lambda inputs, attrs: [fn(inputs[0])])
    if op != "IsNaN":
        INPLACE.add(op)


for _op, _fn in _UNARY.items():
    _register_unary(_op, _fn)


@kernel("IsInf")
def isinf(inputs, attrs):
    x = inputs[0]
    pos, neg = attrs.get("detect_positive", 1), attrs.get("detect_negative", 1)
    return [(np.isposinf(x) if pos else False) | (np.isneginf(x) if neg else False)]


@kernel("Identity", "Dropout")
def identity(inputs, attrs):
    """Identity, and Dropout at inference (no dropping; the optional mask is all True)."""
    if attrs.get("_n_out", 1) > 1:
        return [inputs[0], np.ones(inputs[0].shape, dtype=bool)]
    return [inputs[0]]


VIEWS.update({"Identity", "Dropout"})


def _reduce_axes(inputs, attrs, rank: int, op: str):
    """Axes from input 1 (ReduceSum >= 13, others >= 18) or the 'axes' attribute; None = all."""
    given = _opt(inputs, 1)
    axes = ints(given, f"{op} axes") if given is not None else attrs.get("axes")
    if not axes:
        return None
    return tuple(sorted({norm_axis(int(a), rank, op) for a in axes}))


def _register_reduce(op, fn):
    def run(inputs, attrs):
        x = inputs[0]
        axes = _reduce_axes(inputs, attrs, x.ndim, op)
        if axes is None and attrs.get("noop_with_empty_axes", 0):
            return [x]
        keep = bool(attrs.get("keepdims", 1))
        if x.size == 0 and op in ("ReduceMax", "ReduceMin"):
            raise ShapeError(f"{op} of an empty tensor {x.shape} has no value")
        return [np.asarray(fn(x, axes, keep)).astype(x.dtype, copy=False)]

    kernel(op)(run)


_REDUCE = {
    "ReduceMean": lambda x, a, k: np.mean(x, axis=a, keepdims=k),
    "ReduceSum": lambda x, a, k: np.sum(x, axis=a, keepdims=k),
    "ReduceMax": lambda x, a, k: np.max(x, axis=a, keepdims=k),
    "ReduceMin": lambda x, a, k: np.min(x, axis=a, keepdims=k),
    "ReduceProd": lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    "ReduceSumSquare": lambda x, a, k: np.sum(x * x, axis=a, keepdims=k),
    "ReduceL1": lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k),
    "ReduceL2": lambda x, a, k: np.sqrt(np.sum(x * x, axis=a, keepdims=k)),
    "ReduceLogSumExp": lambda x, a, k: np.log(np.sum(np.exp(x), axis=a, keepdims=k)),
}
for _op, _fn in _REDUCE.items():
    _register_reduce(_op, _fn)


def _register_arg(op, fn):
    def run(inputs, attrs):
        x = inputs[0]
        axis = norm_axis(int(attrs.get("axis", 0)), x.ndim, op)
        if attrs.get("select_last_index", 0):  # the last of equal extremes: search reversed
            flipped = np.flip(x, axis=axis)
            idx = x.shape[axis] - 1 - fn(flipped, axis=axis, keepdims=True)
        else:
            idx = fn(x, axis=axis, keepdims=True)
        if not attrs.get("keepdims", 1):
            idx = np.squeeze(idx, axis=axis)
        return [idx.astype(np.int64)]

    kernel(op)(run)


_register_arg("ArgMax", np.argmax)
_register_arg("ArgMin", np.argmin)
