"""Shape rules: each op's output shapes and dtypes from its input shapes (ints, symbols like
"batch", or None), used by :mod:`inferlab.graph.shapes`.

Broadcasting follows NumPy; a symbol meets an int as that int (the run will check it) and a
1 as the symbol. ``Known`` holds what is known so far: shapes, dtypes, constant values, and
small int vectors with symbolic entries (``Shape(x)`` of a ("batch", 6) x is ("batch", 6)).
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.graph.kernels import ONNX_DTYPES
from inferlab.graph.kernels_conv import spatial

SAME = frozenset(
    (
        "Relu Sigmoid Tanh Erf Gelu Softmax LogSoftmax Sqrt Exp Log Neg Abs Reciprocal Floor "
        "Ceil Round Sign Sin Cos LeakyRelu Elu HardSigmoid HardSwish Softplus Clip Identity "
        "Dropout BatchNormalization CumSum Trilu PRelu"
    ).split()
)

BOOL = frozenset(
    ("Equal Less LessOrEqual Greater GreaterOrEqual And Or Xor Not IsNaN IsInf").split()
)

BROADCAST = (
    frozenset(("Add Sub Mul Div Pow Mod Max Min Sum Mean Where BitwiseAnd BitwiseOr").split())
    | BOOL
)

# Ops whose output *shape* depends on the values of inputs 1.. (shape, axes, sizes, bounds):
# running them on zero-filled stand-ins would give a wrong shape.
VALUE_DEPENDENT = frozenset(
    (
        "Reshape Expand ConstantOfShape Tile Slice Pad Range NonZero Squeeze Unsqueeze Split "
        "CumSum ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 "
        "ReduceSumSquare ReduceLogSumExp"
    ).split()
)


def broadcast(*shapes):
    """NumPy broadcasting of shapes whose dims may be symbolic (str) or unknown (None)."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes], strict=True):
        real = [d for d in dims if d != 1]
        ints = {d for d in real if isinstance(d, int)}
        out.append(ints.pop() if ints else (real[0] if real else 1))
    return tuple(out)


def prod(dims):
    """Product of dims; a lone symbol times 1s stays that symbol; otherwise unknown."""
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    rest = [d for d in dims if d != 1]
    return rest[0] if len(rest) == 1 else None


def clamp(start, end, step, dim):
    """ONNX Slice's clamping, as (start, end, step) for a Python slice."""
    start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim), step
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, (None if end < 0 else end), step


def concrete(shape) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


class Known:
    """What is known while walking the graph: shapes, dtypes, constants, symbolic vectors."""

    def __init__(self):
        self.shape: dict = {}
        self.dtype: dict = {}
        self.const: dict = {}
        self.sym: dict = {}  # name -> tuple of int|str: a small int tensor with symbols

    def vec(self, name):
        """A 0-/1-d int tensor's entries if known (constant or symbolic), else None."""
        if (
            name in self.const
            and self.const[name].ndim <= 1
            and self.const[name].dtype.kind in "iu"
        ):
            return tuple(int(v) for v in self.const[name].reshape(-1))
        return self.sym.get(name)


def rule(op, node, attrs, ctx: Known, shapes, dtypes):
    """Output (shape, dtype) pairs by the op's rule, or None when the op has none."""
    x, dt = shapes[0] if shapes else None, dtypes[0] if dtypes else None
    ins = node.inputs
    if op in SAME:
        return [(x, dt)]
    if op in BROADCAST:
        args = shapes[1:] if op == "Where" else shapes
        return [(broadcast(*args), np.dtype(bool) if op in BOOL else dtypes[-1])]
    if op in ("MatMul", "Gemm", "FusedMatMul"):
        a, b = shapes[0], shapes[1]
        if a is None or b is None:
            return [(None, dt)]
        if attrs.get("transA") or attrs.get("trans_a"):
            a = a[:-2] + a[-2:][::-1]
        if attrs.get("transB") or attrs.get("trans_b"):
            b = b[:-2] + b[-2:][::-1]
        a2, b2 = ((1,) + a if len(a) == 1 else a), (b + (1,) if len(b) == 1 else b)
        out = broadcast(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
        out = out[:-2] + out[-2:][1 if len(a) == 1 else 0 : 1 if len(b) == 1 else 2]
        blocks = attrs.get("max_blocks", 1)
        if blocks > 1:
            out = out[:-1] + (out[-1] // blocks if isinstance(out[-1], int) else None,)
        return [(out, dt)]
    if op == "FusedAttention" and x is not None and shapes[2] is not None:
        return [(broadcast(x[:-2], shapes[1][:-2], shapes[2][:-2]) + (x[-2], shapes[2][-1]), dt)]
    if op == "Transpose" and x is not None:
        perm = attrs.get("perm") or list(range(len(x)))[::-1]
        return [(tuple(x[p] for p in perm), dt)]
    if op == "Reshape" and ctx.vec(ins[1]) is not None and x is not None:
        dims = list(ctx.vec(ins[1]))
        if not attrs.get("allowzero", 0):
            dims = [x[i] if d == 0 and i < len(x) else d for i, d in enumerate(dims)]
        if -1 in dims:
            known = [d for d in dims if d != -1]
            if concrete(x) and all(isinstance(d, int) for d in known):
                dims[dims.index(-1)] = math.prod(x) // max(math.prod(known), 1)
            else:  # -1 cancels the input's symbolic dims that the output keeps
                rest = [d for d in x if d not in known] if set(known) <= set(x) else [None]
                dims[dims.index(-1)] = rest[0] if len(rest) == 1 else None
        return [(tuple(dims), dt)]
    if op in ("Unsqueeze", "Squeeze") and x is not None:
        axes = ctx.vec(ins[1]) if len(ins) > 1 and ins[1] else attrs.get("axes")
        if op == "Squeeze":
            if axes is None:
                return [(tuple(d for d in x if d != 1), dt)] if concrete(x) else None
            axes = {a % len(x) for a in axes}
            return [(tuple(d for i, d in enumerate(x) if i not in axes), dt)]
        rank, out = len(x) + len(axes), list(x)
        for a in sorted(a % rank for a in axes):
            out.insert(a, 1)
        return [(tuple(out), dt)]
    if op == "Concat" and all(s is not None for s in shapes):
        axis = attrs["axis"] % len(x)
        dims = [s[axis] for s in shapes]
        total = sum(dims) if all(isinstance(d, int) for d in dims) else None
        return [(x[:axis] + (total,) + x[axis + 1 :], dt)]
    if op == "Gather" and x is not None and shapes[1] is not None:
        axis = attrs.get("axis", 0) % len(x)
        return [(x[:axis] + shapes[1] + x[axis + 1 :], dt)]
    if op == "Flatten" and x is not None:
        axis = attrs.get("axis", 1)
        axis = axis + len(x) if axis < 0 else axis
        return [((prod(x[:axis]), prod(x[axis:])), dt)]
    if op in ("Conv", "FusedConv", "MaxPool", "AveragePool") and x is not None and len(x) == 4:
        if op in ("Conv", "FusedConv"):
            if shapes[1] is None:
                return None
            k, channels = shapes[1][2:], shapes[1][0]
        else:
            k, channels = tuple(attrs["kernel_shape"]), x[1]
        *_, out = spatial(x, k, attrs, bool(attrs.get("ceil_mode", 0)))
        return [((x[0], channels, *out), dt)]
    if op == "QuantizeLinear":  # the zero point's type, else output_dtype, else uint8
        out = attrs.get("output_dtype") or 0
        zdt = dtypes[2] if len(ins) > 2 and ins[2] else None
        return [(x, zdt or np.dtype(ONNX_DTYPES[out] if out else np.uint8))]
    if op == "DequantizeLinear":
        return [(x, dtypes[1])]
    if op == "DynamicQuantizeLinear":
        f32, u8 = np.dtype(np.float32), np.dtype(np.uint8)
        return [(x, u8), ((), f32), ((), u8)]
    if op in ("MatMulInteger", "QLinearMatMul", "ConvInteger"):
        b = 3 if op == "QLinearMatMul" else 1
        base = "Conv" if op == "ConvInteger" else "MatMul"
        found = rule(base, node, attrs, ctx, [x, shapes[b]], dtypes[:1])
        out_dt = dtypes[7] if op == "QLinearMatMul" else np.dtype(np.int32)
        return None if found is None else [(found[0][0], out_dt)]
    if op == "Shape" and x is not None:
        return [((len(x[attrs.get("start", 0) : attrs.get("end")]),), np.dtype(np.int64))]
    if op == "Cast":
        return [(x, np.dtype(ONNX_DTYPES[attrs["to"]]))]
    if op == "CastLike":
        return [(x, dtypes[1])]
    if op in ("Expand", "ConstantOfShape") and ctx.vec(ins[-1]) is not None:
        dims = ctx.vec(ins[-1])
        if op == "Expand":
            return [(broadcast(x, dims), dt)]
        value = attrs.get("value")
        return [(dims, np.dtype(np.float32) if value is None else np.asarray(value).dtype)]
    if op == "LayerNormalization" and x is not None:
        axis = attrs.get("axis", -1) % len(x)
        stat = x[:axis] + (1,) * (len(x) - axis)
        return [(x, dt), (stat, np.dtype(np.float32)), (stat, np.dtype(np.float32))]
    if op == "Split" and x is not None:
        axis = attrs.get("axis", 0) % len(x)
        sizes = ctx.vec(ins[1]) if len(ins) > 1 and ins[1] else attrs.get("split")
        n = len(node.outputs)
        if sizes is None and isinstance(x[axis], int):
            chunk = -(-x[axis] // attrs.get("num_outputs", n))
            sizes = [chunk] * (n - 1) + [x[axis] - chunk * (n - 1)]
        sizes = sizes or [None] * n
        return [(x[:axis] + (d,) + x[axis + 1 :], dt) for d in sizes]
    if op == "Slice" and x is not None and len(ins) > 2:
        params = [ctx.vec(i) if i else None for i in ins[1:5]] + [None] * 4
        starts, ends, axes, steps = params[:4]
        if starts is None or ends is None:
            return None
        axes = axes or range(len(starts))
        out = list(x)
        for j, a in enumerate(axes):
            a %= len(x)
            step = steps[j] if steps else 1
            if isinstance(ends[j], str) and starts[j] == 0 and step == 1:
                out[a] = ends[j]  # x[:n] with a symbolic n (e.g. position ids [:sequence])
            elif isinstance(x[a], int) and isinstance(starts[j], int) and isinstance(ends[j], int):
                out[a] = len(range(x[a])[slice(*clamp(starts[j], ends[j], step, x[a]))])
            else:
                out[a] = None
        return [(tuple(out), dt)]
    if op in ("GlobalAveragePool", "GlobalMaxPool") and x is not None:
        return [(x[:2] + (1,) * (len(x) - 2), dt)]
    if op.startswith("Reduce") and x is not None:
        axes = ctx.vec(ins[1]) if len(ins) > 1 and ins[1] else attrs.get("axes")
        if axes is None and len(ins) > 1 and ins[1]:
            return None
        axes = set(range(len(x))) if not axes else {a % len(x) for a in axes}
        keep = attrs.get("keepdims", 1)
        return [
            (tuple(1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes), dt)
        ]
    return None
