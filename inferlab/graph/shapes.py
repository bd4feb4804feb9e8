"""Shape inference: the shape and dtype of every value, before running anything.

    >>> infer_shapes(graph, {"x": ("batch", 64)})["logits"]
    (('batch', 10), dtype('float32'))

Dims are ints, strings (symbolic, e.g. "batch") or None (unknown). Three ways to find a node's
output shape, tried in order:

1. all its inputs are known constants (weights, ``Shape`` of a fully known shape, ...): run
   the kernel itself on them (this is also how shape *values* flow into Reshape/Expand);
2. a shape rule for the op (broadcasting, MatMul, Conv, Reshape, ...) that also works with
   symbolic dims; small int vectors with symbolic entries (``Shape(x)`` of a ("batch", 6) x)
   are tracked so that Gather/Concat/Unsqueeze/Reshape chains keep the symbol;
3. all input shapes are concrete ints: run the kernel on zero-filled inputs.
Otherwise the shape is unknown (None).
"""

from __future__ import annotations

import numpy as np

from inferlab.graph.ir import Graph
from inferlab.graph.kernels import KERNELS, VIEWS, prepare_attrs
from inferlab.graph.shape_rules import VALUE_DEPENDENT, Known, broadcast, concrete, rule

MAX_CONST_ELEMENTS = 1 << 20  # fold bigger constant computations only by running the model
__all__ = ["analyze", "broadcast", "infer_shapes"]


def _symbolic_vector(op, node, attrs, ctx: Known):
    """Track Shape(x) -> Gather/Slice/Unsqueeze/Concat/Squeeze/Cast chains with symbols."""
    ins = node.inputs
    if op == "Shape" and ctx.shape.get(ins[0]) is not None:
        return tuple(ctx.shape[ins[0]][attrs.get("start", 0) : attrs.get("end")])
    vec = ctx.vec(ins[0]) if ins else None
    if op == "Gather" and vec is not None and ctx.vec(ins[1]) is not None:
        idx = ctx.vec(ins[1])
        return tuple(vec[i] for i in idx)
    if op in ("Unsqueeze", "Squeeze", "Cast", "Identity") and vec is not None:
        return vec
    if op == "Concat" and all(ctx.vec(i) is not None for i in ins):
        return tuple(d for i in ins for d in ctx.vec(i))
    if op == "Slice" and vec is not None and all(ctx.vec(i) is not None for i in ins[1:3]):
        return vec[ctx.vec(ins[1])[0] : ctx.vec(ins[2])[0]]
    return None


def infer_shapes(graph: Graph, input_shapes: dict | None = None) -> dict:
    """Value name -> (shape, dtype) for every input, initializer and node output.

    ``input_shapes`` overrides the shapes of graph inputs (e.g. ``{"x": (8, 64)}``); inputs not
    given keep the shape their :class:`Value` declares.
    """
    ctx = analyze(graph, input_shapes)
    return {name: (ctx.shape[name], ctx.dtype[name]) for name in ctx.shape}


def analyze(graph: Graph, input_shapes: dict | None = None) -> Known:
    """Walk the graph once; the result has .shape, .dtype and .const (values known before any
    run: initializers and everything computed from them and from static shapes)."""
    ctx = Known()
    given = input_shapes or {}
    for v in graph.inputs:
        shape = given.get(v.name, v.shape)
        ctx.shape[v.name], ctx.dtype[v.name] = (None if shape is None else tuple(shape)), v.dtype
    for name, array in graph.initializers.items():
        ctx.shape[name], ctx.dtype[name], ctx.const[name] = array.shape, array.dtype, array
    for node in graph.topological_order():
        attrs = prepare_attrs(node, graph.opset)
        ins = list(node.inputs)
        shapes = [ctx.shape.get(i) if i else None for i in ins]
        dtypes = [ctx.dtype.get(i) if i else None for i in ins]
        results = _infer_node(node, attrs, ctx, ins, shapes, dtypes)
        sym = _symbolic_vector(node.op, node, attrs, ctx)
        for k, name in enumerate(node.outputs):
            if not name:
                continue
            shape, dtype = results[k] if k < len(results) else (None, None)
            ctx.shape[name], ctx.dtype[name] = shape, None if dtype is None else np.dtype(dtype)
            if k == 0 and sym is not None and name not in ctx.const:
                if all(isinstance(d, int) for d in sym):  # fully known: a constant after all
                    shape = shape if shape is not None else (len(sym),)
                    ctx.const[name] = np.array(sym, dtype=np.int64).reshape(shape)
                else:
                    ctx.sym[name] = sym
    return ctx


def _infer_node(node, attrs, ctx: Known, ins, shapes, dtypes):
    op, fn = node.op, KERNELS.get(node.op)
    present = [i for i in ins if i]
    if (
        fn
        and all(i in ctx.const for i in present)
        and sum(ctx.const[i].size for i in present) <= MAX_CONST_ELEMENTS
    ):
        try:
            outs = fn([ctx.const[i] if i else None for i in ins], attrs)
        except Exception:  # noqa: BLE001 (the run will report it properly)
            outs = None
        if outs is not None:
            for name, out in zip(node.outputs, outs, strict=False):
                if name:
                    ctx.const[name] = np.asarray(out)
            return [(np.shape(o), np.asarray(o).dtype) for o in outs]
    try:
        found = rule(op, node, attrs, ctx, shapes, dtypes)
    except Exception:  # noqa: BLE001 (a malformed node: its shape is just unknown)
        found = None
    if found is not None and all(s is not None for s, _ in found[:1]):
        return found
    value_dependent = op in VALUE_DEPENDENT and any(i and i not in ctx.const for i in ins[1:])
    if (
        fn
        and not value_dependent
        and all(
            concrete(s) and d is not None for s, d, i in zip(shapes, dtypes, ins, strict=True) if i
        )
    ):
        dummies = [
            (ctx.const[i] if i in ctx.const else np.zeros(s, d)) if i else None
            for i, s, d in zip(ins, shapes, dtypes, strict=True)
        ]
        try:
            outs = fn(dummies, attrs)
            return [(np.shape(o), np.asarray(o).dtype) for o in outs]
        except Exception:  # noqa: BLE001
            pass
    return found or [(None, dtypes[0] if dtypes and op in VIEWS else None)]
