"""Structured pruning: physically remove whole channels (filters, neurons) and attention heads
from an engine graph, so the pruned model is really smaller and faster, unlike a mask, which
only writes zeros into a tensor of the same size.

    >>> plan = {"/conv1/Conv": 0.5, "/conv2/Conv": 0.5, "/fc1/Gemm": 0.5}
    >>> small = prune_channels(graph, plan)       # conv1 16 -> 8 filters, conv2 32 -> 16, ...
    >>> masked = masked_channels(graph, plan)     # same size, those channels' weights zeroed
    >>> # Executor(small) and Executor(masked) give the same logits (up to summation order)

**Which channels** (torch's ``ln_structured``, ``torch/nn/utils/prune.py``): the Ln norm of
each output slice ``w[c]`` over all its other dims; ``round(amount * C)`` channels (banker's
rounding, :func:`inferlab.prune.masks.n_to_prune`) with the smallest norms go, the others are
kept (``topk(norm, C - n, largest=True)``). Norms come from the original weights, even when the
same layer also loses input channels to the pruning of the layer before it (as each layer's own
``ln_structured`` call in torch sees its full weight). A plan value may instead list the channel
indices to keep, or be a bool mask over the channels (True = keep).

**Dependencies** (Torch-Pruning's ``DependencyGraph`` idea, followed forward from the layer):
removing output channel c means every reader of it loses the matching input::

    Conv (filter c, bias c) -> Relu / MaxPool / BatchNormalization (c's scale, B, mean, var)
        -> Conv (input channel c: w[:, c])
        -> Flatten / Reshape to (N, C*H*W) -> Gemm (input columns c*H*W .. (c+1)*H*W - 1)
    Gemm / MatMul (row c of a transB (out, in) weight, column c of an (in, out) one, bias c)
        -> Relu / Add of a constant bias (entry c) -> Gemm / MatMul (input row/column c)

Whatever mixes channels or joins two branches (an Add or Concat of two activations, Softmax,
Transpose, a graph output: the output layer keeps its size) raises a GraphError naming the node.

:func:`masked_channels` zeroes exactly the entries :func:`prune_channels` removes (BN's scale and
shift but not its statistics), so a removed channel contributes nothing in both graphs and the
outputs agree.

Attention heads, the same idea for multi-head attention: :mod:`inferlab.prune.heads`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inferlab.errors import InvalidValueError, describe
from inferlab.graph.ir import Graph, GraphError, Node
from inferlab.graph.shapes import analyze
from inferlab.prune.masks import n_to_prune

LAYERS = ("Conv", "Gemm", "MatMul")
_ELEMENTWISE = (
    "Relu LeakyRelu Sigmoid Tanh Gelu Erf Elu Softplus HardSigmoid HardSwish Identity Dropout Clip"
).split()
_POOLS = ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
_BINARY = ("Add", "Sub", "Mul", "Div")
_NORMS = (1, 2, np.inf)


# ---- layers and importance ----------------------------------------------------------------
@dataclass(frozen=True)
class _Layer:
    """A weight layer: its node, weight initializer, the weight axis of its output channels and
    of its input channels, and its bias (None if absent)."""

    node: Node
    weight: str
    out_axis: int
    in_axis: int
    bias: str | None


def _layer(graph: Graph, node: Node) -> _Layer:
    where = f"node '{node.name}' ({node.op})"
    if node.op not in LAYERS:
        raise GraphError(f"{where}: structured pruning works on {', '.join(LAYERS)} nodes")
    if len(node.inputs) < 2 or node.inputs[1] not in graph.initializers:
        raise GraphError(
            f"{where}: its weight (input 1) must be an initializer to prune; "
            f"got '{node.inputs[1] if len(node.inputs) > 1 else ''}' computed at run time"
        )
    w = graph.initializers[node.inputs[1]]
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    if node.op == "Conv":
        if int(node.attrs.get("group", 1)) != 1:
            raise GraphError(f"{where}: grouped convolutions (group > 1) cannot be pruned here")
        out_axis, in_axis = 0, 1
    elif node.op == "Gemm":
        if int(node.attrs.get("transA", 0)) != 0 or w.ndim != 2:
            raise GraphError(f"{where}: needs transA=0 and a 2-D weight; got {w.shape}")
        out_axis, in_axis = (0, 1) if int(node.attrs.get("transB", 0)) else (1, 0)
    else:  # MatMul: x (..., in) @ w (in, out)
        if w.ndim != 2:
            raise GraphError(f"{where}: needs a 2-D (in, out) weight; got shape {w.shape}")
        out_axis, in_axis = 1, 0
    if bias is not None and bias not in graph.initializers:
        raise GraphError(f"{where}: its bias '{bias}' must be an initializer to prune")
    return _Layer(node, node.inputs[1], out_axis, in_axis, bias)


def _find_node(graph: Graph, key) -> Node:
    """The layer node named ``key``, or the one node whose weight initializer is ``key``."""
    for node in graph.nodes:
        if node.name == key:
            return node
    readers = [n for n in graph.nodes if n.op in LAYERS and n.inputs[1:2] == [key]]
    if len(readers) == 1:
        return readers[0]
    names = [n.name for n in graph.nodes if n.op in LAYERS]
    raise InvalidValueError(
        f"no Conv/Gemm/MatMul node (or weight) named {key!r} in graph '{graph.name}'; "
        f"its layers are {names[:12]}{' ...' if len(names) > 12 else ''}"
    )


def _check_norm(norm) -> None:
    if isinstance(norm, bool) or norm not in _NORMS:
        raise InvalidValueError(f"norm must be 1, 2 or np.inf (torch's n); got {norm!r}")


def _slice_norms(w: np.ndarray, axis: int, norm) -> np.ndarray:
    """The Ln norm of each slice ``w.take(c, axis)`` (torch ``_compute_norm``: all other dims)."""
    flat = np.moveaxis(np.asarray(w, np.float64), axis, 0).reshape(w.shape[axis], -1)
    return np.linalg.norm(flat, ord=norm, axis=1)


def channel_importance(graph: Graph, node_name: str, norm=2) -> np.ndarray:
    """(C,) Ln norms of a layer's output channels: a Conv's filters ``w[c]`` (over C_in, KH,
    KW), a Gemm/MatMul weight's output rows/columns. Small norm = first to go."""
    _check_graph(graph, "channel_importance")
    _check_norm(norm)
    layer = _layer(graph, _find_node(graph, node_name))
    return _slice_norms(graph.initializers[layer.weight], layer.out_axis, norm)


def _keep_indices(spec, scores: np.ndarray, where: str, unit: str = "channels") -> np.ndarray:
    """Sorted kept indices from an amount (float share or int count), indices or a bool mask."""
    c = len(scores)
    if isinstance(spec, (float, int, np.floating, np.integer)) and not isinstance(spec, bool):
        n = n_to_prune(spec, c)
        keep = np.sort(np.argsort(-scores, kind="stable")[: c - n])
    else:
        a = np.asarray(spec)
        if a.dtype == bool and a.shape == (c,):
            keep = np.flatnonzero(a)
        elif a.ndim == 1 and (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
            keep = np.unique(a.astype(np.int64))
            if keep.size != a.size or (keep.size and (keep[0] < 0 or keep[-1] >= c)):
                raise InvalidValueError(
                    f"{where}: keep indices must be distinct ints in [0, {c}); got {a.tolist()}"
                )
        else:
            raise InvalidValueError(
                f"{where}: a plan value is an amount (float in [0, 1) or int count), a list of "
                f"{unit[:-1]} indices to keep, or a bool mask of shape ({c},); got {describe(spec)}"
            )
    if keep.size == 0:
        raise GraphError(f"{where}: this would remove all {c} {unit}; keep at least one")
    return keep


def _check_graph(graph, op: str) -> None:
    if not isinstance(graph, Graph):
        raise InvalidValueError(f"{op} needs an inferlab.graph.Graph; got {describe(graph)}")


def _check_plan(plan, op: str) -> None:
    if not isinstance(plan, dict) or not plan:
        raise InvalidValueError(
            f"{op} needs a non-empty dict node name -> amount or keep indices; got {describe(plan)}"
        )


# ---- edits ------------------------------------------------------------------------------
class _Edits:
    """Slices to make: initializer -> {axis: kept indices}; and constants to replace."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.slices: dict[str, dict[int, tuple[np.ndarray, bool]]] = {}
        self.replace: dict[str, np.ndarray] = {}
        self.changed: dict[str, set[str]] = {}  # constant -> the nodes it was changed for
        self.readers = graph.consumer_map()

    def cut(self, name: str, axis: int, keep: np.ndarray, zero: bool = True) -> None:
        """Keep ``keep`` along ``axis`` of initializer ``name`` (``zero``: masked mode zeroes
        the rest; False for BatchNormalization's mean and variance)."""
        arr = self.graph.initializers[name]
        axis = axis % arr.ndim
        readers = self.readers.get(name, [])
        if len(readers) > 1:
            raise GraphError(
                f"initializer '{name}' is read by {len(readers)} nodes "
                f"({', '.join(n.name for n in readers[:3])}); pruning a shared weight is "
                "not supported"
            )
        old = self.slices.setdefault(name, {}).get(axis)
        if old is not None and not np.array_equal(old[0], keep):
            raise GraphError(f"initializer '{name}' would be pruned two ways along axis {axis}")
        self.slices[name][axis] = (keep, zero)

    def set_constant(self, name: str, value: np.ndarray, node: Node) -> None:
        """Give constant ``name`` (a shape or Slice bound read by ``node``) a new value."""
        old = self.replace.get(name)
        if old is not None and not np.array_equal(old, value):
            raise GraphError(f"constant '{name}' would need two different new values")
        self.replace[name] = value
        self.changed.setdefault(name, set()).add(node.name)

    def apply(self, masked: bool) -> Graph:
        g = self.graph.copy()
        for name, by_axis in self.slices.items():
            arr = self.graph.initializers[name]
            if masked:
                out = arr.copy()
                for axis, (keep, zero) in by_axis.items():
                    if zero:
                        index = [slice(None)] * arr.ndim
                        index[axis] = np.setdiff1d(np.arange(arr.shape[axis]), keep)
                        out[tuple(index)] = 0
            else:
                out = arr
                for axis, (keep, _) in by_axis.items():
                    out = np.take(out, keep, axis=axis)
                out = np.ascontiguousarray(out)
            g.initializers[name] = out
        if not masked:
            for name in self.replace:
                others = {n.name for n in self.readers.get(name, [])} - self.changed[name]
                if others:
                    raise GraphError(
                        f"constant '{name}' needs a new value, but node(s) {sorted(others)} "
                        "read it too and keep their size; give them their own copy first"
                    )
            g.initializers.update(self.replace)
        return g


# ---- channels -----------------------------------------------------------------------------
class _Tracer:
    """Follows one layer's output channels forward to every reader (see the module doc)."""

    def __init__(self, graph: Graph, edits: _Edits, ctx):
        self.graph, self.edits, self.ctx = graph, edits, ctx
        self.outputs = {v.name for v in graph.outputs}

    def refuse(self, origin: Node, node: Node, why: str):
        raise GraphError(
            f"pruning the channels of '{origin.name}' reaches node '{node.name}' ({node.op}), "
            f"which structured pruning cannot follow: {why}"
        )

    def follow(self, origin, value, axis, ndim, keep, size) -> None:
        """``value``'s channels sit on ``axis`` (negative: counted from the end), ``size`` of
        them, ``keep`` kept; ``ndim`` is its rank when known."""
        if value in self.outputs:
            raise GraphError(
                f"pruning '{origin.name}' would change graph output '{value}' ({size} channels "
                f"-> {len(keep)}); the output layer cannot be pruned"
            )
        first_axis = ndim is not None and ndim + axis == 1  # NCHW channels / (N, C) features
        for node in self.edits.readers.get(value, []):
            op, ins = node.op, node.inputs
            if ins.count(value) > 1:
                self.refuse(origin, node, "it reads the pruned tensor twice")
            if op in LAYERS and ins[0] == value:
                self.cut_input(origin, node, axis, first_axis, keep, size)
            elif op in _ELEMENTWISE and ins[0] == value:
                self.follow(origin, node.outputs[0], axis, ndim, keep, size)
            elif op in _POOLS and ins[0] == value and first_axis:
                self.follow(origin, node.outputs[0], axis, ndim, keep, size)
            elif op == "BatchNormalization" and ins[0] == value and first_axis:
                for i, name in enumerate(ins[1:5]):
                    self.edits.cut(name, 0, keep, zero=i < 2)  # scale, B zeroed; mean, var kept
                self.follow(origin, node.outputs[0], axis, ndim, keep, size)
            elif op in _BINARY:
                self.binary(origin, node, value, axis, keep, size)
                self.follow(origin, node.outputs[0], axis, ndim, keep, size)
            elif op in ("Flatten", "Reshape") and ins[0] == value and first_axis:
                self.flatten(origin, node, keep, size)
            else:
                why = (
                    "only Relu-like, pooling, BatchNormalization, bias Add, Flatten/Reshape and "
                    "Conv/Gemm/MatMul readers are followed"
                )
                if op in ("Add", "Concat", "Sum", "Mul"):
                    why = "it joins the pruned tensor with another branch"
                self.refuse(origin, node, why)

    def cut_input(self, origin, node, axis, first_axis, keep, size) -> None:
        layer = _layer(self.graph, node)
        w = self.graph.initializers[layer.weight]
        ok = first_axis if node.op == "Conv" else axis == -1
        if not ok or w.shape[layer.in_axis] != size:
            self.refuse(
                origin, node, f"its weight {w.shape} does not take the {size} channels as inputs"
            )
        self.edits.cut(layer.weight, layer.in_axis, keep)

    def binary(self, origin, node, value, axis, keep, size) -> None:
        other = node.inputs[1] if node.inputs[0] == value else node.inputs[0]
        if other not in self.graph.initializers:
            self.refuse(origin, node, "it joins the pruned tensor with another branch")
        if node.op == "Div" and node.inputs[1] == value:
            self.refuse(origin, node, "the pruned tensor is a divisor")
        const = self.graph.initializers[other]
        if const.ndim >= -axis and const.shape[axis] == size:
            self.edits.cut(other, axis, keep, zero=node.op != "Div")
        elif const.ndim >= -axis and const.shape[axis] != 1:
            self.refuse(origin, node, f"constant '{other}' {const.shape} does not fit")

    def flatten(self, origin, node, keep, size) -> None:
        shape = self.ctx.shape.get(node.inputs[0])
        out = self.ctx.shape.get(node.outputs[0])
        rest = shape[2:] if shape is not None else None
        if rest is None or not all(isinstance(d, int) for d in rest):
            self.refuse(origin, node, "the spatial size of its input is unknown")
        inner = int(np.prod(rest, dtype=np.int64))
        if out is None or len(out) != 2 or out[1] != size * inner:
            self.refuse(origin, node, f"it does not flatten (N, {size}, ...) to (N, {size}*H*W)")
        if node.op == "Flatten" and int(node.attrs.get("axis", 1)) != 1:
            self.refuse(origin, node, "Flatten with axis != 1")
        if node.op == "Reshape":
            target = node.inputs[1]
            if target in self.graph.initializers:
                s = np.array(self.graph.initializers[target])
                if s[1] == size * inner:
                    s[1] = len(keep) * inner
                    self.edits.set_constant(target, s, node)
            elif self.ctx.vec(target) is None or self.ctx.vec(target)[1] != -1:
                self.refuse(origin, node, "its target shape is computed and not (N, -1)")
        # channel c covers columns c*inner .. (c+1)*inner - 1 of the flattened tensor
        cols = (keep[:, None] * inner + np.arange(inner)).ravel()
        self.follow(origin, node.outputs[0], -1, 2, cols, size * inner)


def _channel_edits(graph: Graph, plan: dict, norm, op: str) -> _Edits:
    _check_graph(graph, op)
    _check_plan(plan, op)
    _check_norm(norm)
    ctx = analyze(graph)
    edits = _Edits(graph)
    tracer = _Tracer(graph, edits, ctx)
    seen: set[str] = set()
    for key, spec in plan.items():
        node = _find_node(graph, key)
        if node.name in seen:
            raise InvalidValueError(f"{op}: node '{node.name}' appears twice in the plan")
        seen.add(node.name)
        layer = _layer(graph, node)
        w = graph.initializers[layer.weight]
        where = f"{op} on '{node.name}'"
        keep = _keep_indices(spec, _slice_norms(w, layer.out_axis, norm), where)
        size = w.shape[layer.out_axis]
        edits.cut(layer.weight, layer.out_axis, keep)
        if layer.bias is not None:
            b = graph.initializers[layer.bias]
            if b.ndim and b.shape[-1] == size:
                edits.cut(layer.bias, -1, keep)
        if node.op == "Conv":
            axis, ndim = -(w.ndim - 1), w.ndim  # (N, OC, *spatial)
        else:
            axis, ndim = -1, 2 if node.op == "Gemm" else None
        tracer.follow(node, node.outputs[0], axis, ndim, keep, size)
    return edits


def prune_channels(graph: Graph, plan: dict, norm=2) -> Graph:
    """A smaller copy of ``graph`` without the pruned channels (see the module doc).

    plan: node name (or its weight initializer's name) -> amount (float share in [0, 1), or an
    int count, pruned by smallest Ln norm like torch's ``ln_structured``), a list of channel
    indices to keep, or a (C,) bool mask (True = keep). norm: 1, 2 or np.inf. The input graph is
    untouched; untouched weights are shared with it.
    """
    return _channel_edits(graph, plan, norm, "prune_channels").apply(masked=False)


def masked_channels(graph: Graph, plan: dict, norm=2) -> Graph:
    """A same-size copy of ``graph`` with the weights :func:`prune_channels` would remove set to
    zero: what the masked model computes, and what the pruned graph must reproduce."""
    return _channel_edits(graph, plan, norm, "masked_channels").apply(masked=True)
