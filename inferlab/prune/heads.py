"""Structured pruning of attention heads: physically remove whole heads from an engine graph's
multi-head attention blocks (the channel machinery of :mod:`inferlab.prune.structured`, applied
to a head's Dh columns at a time).

    >>> small_attn = prune_heads(attn_graph, {"out_proj": [0, 2]})   # keep heads 0 and 2
    >>> same_size = masked_heads(attn_graph, {"out_proj": [0, 2]})   # the others zeroed

**Heads** (:func:`prune_heads`, found backwards from the output projection)::

    x -> MatMul Wq [+ bias] -> Reshape (B, S, H, Dh) -> Transpose (0, 2, 1, 3) -> q  (k, v alike;
         or one fused qkv MatMul cut into q, k, v by Slice, as the tiny GPT export has it)
    q @ k^T [* scale] [+ mask] -> Softmax -> @ v -> Transpose -> Reshape (B, S, H*Dh) -> out-proj

Removing head h removes columns h*Dh .. (h+1)*Dh - 1 of Wq, Wk, Wv (and their biases), the same
rows of the output projection, and H -> H' in the Reshape constants (HF ``prune_linear_layer``
on query/key/value/output.dense, in graph form). Exports that compute those shapes at run time
(``Shape -> Gather -> Concat``: torch's, for the GPT and MiniLM) need them folded to constants
first: ``inferlab.graph.fold_constants(graph, {input: static shape})``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inferlab.graph.ir import Graph, GraphError, Node
from inferlab.graph.shapes import analyze
from inferlab.prune.structured import (
    _BINARY,
    _check_graph,
    _check_norm,
    _check_plan,
    _Edits,
    _find_node,
    _keep_indices,
    _Layer,
    _layer,
)


@dataclass(frozen=True)
class _Proj:
    """Where q, k or v comes from: a projection layer [+ bias Add], and for a fused qkv
    projection the Slice that cuts columns ``offset .. offset + H*Dh`` out of it."""

    layer: _Layer
    bias: str | None  # bias initializer of an Add after the projection
    offset: int = 0
    slice: Node | None = None


@dataclass(frozen=True)
class _Attention:
    """One multi-head attention block found from its output projection."""

    projections: tuple  # (q, k, v) _Proj
    reshapes: tuple  # Reshape nodes (q, k, v) to (B, S, H, Dh) and the final one to (B, S, H*Dh)
    out: _Layer
    heads: int
    head_dim: int


def _producer(graph: Graph, prods: dict, value: str, op: str | tuple, where: str) -> Node:
    node = prods.get(value)
    ops = (op,) if isinstance(op, str) else op
    if node is None or node.op not in ops:
        got = "a graph input or initializer" if node is None else f"{node.op} '{node.name}'"
        raise GraphError(
            f"{where}: expected '{value}' to come from {' or '.join(ops)}; it comes from {got}"
        )
    return node


def _skip_scalar_ops(graph: Graph, prods: dict, ctx, value: str) -> str:
    """Walk back over Mul/Div/Add/Sub by a scalar or by a tensor that is the same for every
    head (the 1/sqrt(Dh) scale; a causal mask; BERT's (B, 1, 1, S) padding mask)."""
    while (node := prods.get(value)) is not None and node.op in _BINARY:
        if len(set(node.inputs)) != 2:
            break
        # the other operand: a constant, or else the one whose shape is 1 along the head axis
        others = [i for i in node.inputs if i in graph.initializers] or [
            i for i in node.inputs if _same_for_all_heads(ctx.shape.get(i))
        ]
        if len(others) != 1:
            break
        shape = graph.initializers[others[0]].shape if others[0] in graph.initializers else None
        if shape is not None and not _same_for_all_heads(shape):
            break
        value = next(i for i in node.inputs if i != others[0])
    return value


def _same_for_all_heads(shape) -> bool:
    """A (B, H, S, S) scores tensor's operand that broadcasts along H: rank < 3 or a 1 there."""
    return shape is not None and (len(shape) < 3 or shape[-3] == 1)


def _head_transpose(graph, prods, value, perm, where) -> Node:
    t = _producer(graph, prods, value, "Transpose", where)
    if tuple(int(p) for p in t.attrs.get("perm", ())) != perm:
        raise GraphError(f"{where}: Transpose '{t.name}' needs perm {perm}; got {t.attrs}")
    return t


_FOLD_HINT = (
    "fold the shape computations first: inferlab.graph.fold_constants(graph, {input: static shape})"
)


def _constants(graph: Graph, node: Node, where: str) -> list[np.ndarray]:
    """The values of a node's inputs 1.. (Slice bounds, a Reshape shape): initializers only."""
    missing = [i for i in node.inputs[1:] if i and i not in graph.initializers]
    if missing:
        raise GraphError(
            f"{where}: {node.op} '{node.name}' computes {missing[0]!r} at run time; {_FOLD_HINT}"
        )
    return [np.asarray(graph.initializers[i]) if i else None for i in node.inputs[1:]]


def _projection(graph, prods, ctx, reshape: Node, where) -> _Proj:
    """Reshape's data input back to the projection: [Slice of a fused qkv <-] [Add(bias) <-]
    MatMul/Gemm."""
    value, offset, cut = reshape.inputs[0], 0, None
    source = prods.get(value)
    if source is not None and source.op == "Slice":
        bounds = _constants(graph, source, where)
        rank = len(ctx.shape.get(source.inputs[0]) or ())
        starts = bounds[0]
        axes = bounds[2] if len(bounds) > 2 and bounds[2] is not None else np.array([0])
        steps = bounds[3] if len(bounds) > 3 and bounds[3] is not None else np.array([1])
        if starts.size != 1 or int(axes[0]) % max(rank, 1) != rank - 1 or int(steps[0]) != 1:
            raise GraphError(f"{where}: Slice '{source.name}' is not a column block of a qkv")
        value, offset, cut = source.inputs[0], int(starts[0]), source
    elif source is not None and source.op == "Split":
        raise GraphError(f"{where}: a qkv projection cut by Split is not supported; use Slice")
    node = _producer(graph, prods, value, ("MatMul", "Gemm", "Add"), where)
    bias = None
    if node.op == "Add":
        bias = next((i for i in node.inputs if i in graph.initializers), None)
        data = [i for i in node.inputs if i != bias]
        if bias is None or len(data) != 1:
            raise GraphError(f"{where}: Add '{node.name}' is not a bias add")
        node = _producer(graph, prods, data[0], ("MatMul", "Gemm"), where)
    return _Proj(_layer(graph, node), bias, offset, cut)


def _attention(graph: Graph, key) -> _Attention:
    try:
        return _find_attention(graph, key)
    except GraphError as e:
        if any(n.op == "Shape" for n in graph.nodes) and _FOLD_HINT not in str(e):
            raise GraphError(f"{e}; the graph computes shapes at run time: {_FOLD_HINT}") from e
        raise


def _find_attention(graph: Graph, key) -> _Attention:
    prods = graph.producers()
    ctx = analyze(graph)
    out = _layer(graph, _find_node(graph, key))
    where = f"prune_heads from '{out.node.name}'"
    r_out = _producer(graph, prods, out.node.inputs[0], "Reshape", where)
    t_out = _head_transpose(graph, prods, r_out.inputs[0], (0, 2, 1, 3), where)
    av = _producer(graph, prods, t_out.inputs[0], "MatMul", where)
    t_v = _head_transpose(graph, prods, av.inputs[1], (0, 2, 1, 3), where)
    sm = _producer(
        graph, prods, _skip_scalar_ops(graph, prods, ctx, av.inputs[0]), "Softmax", where
    )
    qk = _producer(graph, prods, _skip_scalar_ops(graph, prods, ctx, sm.inputs[0]), "MatMul", where)
    q_val = _skip_scalar_ops(graph, prods, ctx, qk.inputs[0])
    t_q = _head_transpose(graph, prods, q_val, (0, 2, 1, 3), where)
    t_k = _producer(
        graph, prods, _skip_scalar_ops(graph, prods, ctx, qk.inputs[1]), "Transpose", where
    )
    if tuple(t_k.attrs.get("perm", ())) == (0, 1, 3, 2):  # k^T of an already (B, H, S, Dh) k
        t_k = _head_transpose(graph, prods, t_k.inputs[0], (0, 2, 1, 3), where)
    elif tuple(t_k.attrs.get("perm", ())) != (0, 2, 3, 1):
        raise GraphError(f"{where}: Transpose '{t_k.name}' is not k -> (B, H, Dh, S)")
    reshapes = [_producer(graph, prods, t.inputs[0], "Reshape", where) for t in (t_q, t_k, t_v)]
    projs = tuple(_projection(graph, prods, ctx, r, where) for r in reshapes)
    split = ctx.shape.get(reshapes[0].outputs[0])
    w_out = graph.initializers[out.weight]
    if split is None or len(split) != 4 or not isinstance(split[3], int):
        raise GraphError(
            f"{where}: the q Reshape's (B, S, H, Dh) shape is unknown (got {split}); {_FOLD_HINT}"
        )
    head_dim, heads = split[3], split[2]
    if not isinstance(heads, int):  # a -1 in the Reshape: H = (H*Dh inputs of out-proj) / Dh
        heads = w_out.shape[out.in_axis] // head_dim
    width = heads * head_dim
    blocks = sorted((p.layer.weight, p.offset) for p in projs)
    for p in projs:
        w = graph.initializers[p.layer.weight]
        if p.offset + width > w.shape[p.layer.out_axis]:
            raise GraphError(
                f"{where}: weight '{p.layer.weight}' {w.shape} has no {heads}*{head_dim} "
                f"outputs from {p.offset}"
            )
    overlap = any(
        a[0] == b[0] and b[1] < a[1] + width for a, b in zip(blocks, blocks[1:], strict=False)
    )
    if overlap:
        raise GraphError(f"{where}: q, k and v must be separate projections or column blocks")
    if w_out.shape[out.in_axis] != width:
        raise GraphError(f"{where}: output weight {w_out.shape} needs {width} inputs")
    return _Attention(projs, (*reshapes, r_out), out, heads, head_dim)


def head_importance(graph: Graph, node_name: str, norm=2) -> np.ndarray:
    """(H,) Ln norm of each head's weights: its Dh columns of Wq, Wk, Wv and rows of the output
    projection, together (node_name: the output projection)."""
    _check_graph(graph, "head_importance")
    _check_norm(norm)
    return _head_scores(graph, _attention(graph, node_name), norm)


def _head_columns(att: _Attention, heads) -> np.ndarray:
    """Columns h*Dh .. (h+1)*Dh - 1 of each head in ``heads``, in head order."""
    heads = np.asarray(heads, dtype=np.int64)
    return (heads[:, None] * att.head_dim + np.arange(att.head_dim)).ravel()


def _head_scores(graph: Graph, att: _Attention, norm) -> np.ndarray:
    scores = []
    for h in range(att.heads):
        cols = _head_columns(att, [h])
        parts = [
            np.take(graph.initializers[p.layer.weight], p.offset + cols, p.layer.out_axis)
            for p in att.projections
        ]
        parts.append(np.take(graph.initializers[att.out.weight], cols, att.out.in_axis))
        flat = np.concatenate([np.asarray(a, np.float64).ravel() for a in parts])
        scores.append(np.linalg.norm(flat, ord=norm))
    return np.array(scores)


def _head_edits(graph: Graph, plan: dict, norm, op: str) -> _Edits:
    _check_graph(graph, op)
    _check_plan(plan, op)
    _check_norm(norm)
    edits = _Edits(graph)
    for key, spec in plan.items():
        att = _attention(graph, key)
        where = f"{op} on '{att.out.node.name}'"
        keep = _keep_indices(spec, _head_scores(graph, att, norm), where, "heads")
        cols = _head_columns(att, keep)
        kept: dict[tuple, list] = {}  # (initializer, axis) -> kept columns (q, k, v blocks)
        for p in att.projections:
            kept.setdefault((p.layer.weight, p.layer.out_axis), []).append(p.offset + cols)
            for b in (p.bias, p.layer.bias):
                if b is not None:
                    kept.setdefault((b, -1), []).append(p.offset + cols)
        for (name, axis), blocks in kept.items():
            edits.cut(name, axis, np.sort(np.concatenate(blocks)))
        edits.cut(att.out.weight, att.out.in_axis, cols)
        for p in att.projections:  # a fused qkv's Slice bounds move with the kept columns
            if p.slice is not None:
                _move_slice(graph, edits, p, att, cols.size, kept, where)
        for i, r in enumerate(att.reshapes):
            # (B, S, H, Dh): H at index 2; (B, S, H*Dh): H*Dh at index 2; -1 stays -1.
            old, new = (att.heads, len(keep)) if i < 3 else (att.heads * att.head_dim, cols.size)
            target = r.inputs[1]
            (s,) = _constants(graph, r, where)
            if s.shape != (4 if i < 3 else 3,) or s[2] not in (old, -1):
                raise GraphError(f"{where}: Reshape '{r.name}' shape {s.tolist()} is unexpected")
            if s[2] == old:
                s = s.copy()
                s[2] = new
                edits.set_constant(target, s, r)
    return edits


def _move_slice(graph, edits, p: _Proj, att: _Attention, width: int, kept: dict, where):
    """New Slice bounds: the block's first kept column in the pruned weight, + width."""
    new_cols = np.sort(np.concatenate(kept[(p.layer.weight, p.layer.out_axis)]))
    start = int(np.searchsorted(new_cols, p.offset))
    size = graph.initializers[p.layer.weight].shape[p.layer.out_axis]
    end_name = p.slice.inputs[2]
    old_end = int(graph.initializers[end_name][0])
    full = p.offset + att.heads * att.head_dim
    if old_end != full and not (old_end >= size and full == size):
        raise GraphError(f"{where}: Slice '{p.slice.name}' ends at {old_end}, not {full}")
    edits.set_constant(p.slice.inputs[1], np.array([start], np.int64), p.slice)
    if old_end == full:  # an end past the tensor ("to the end") stays as it is
        edits.set_constant(end_name, np.array([start + width], np.int64), p.slice)


def prune_heads(graph: Graph, plan: dict, norm=2) -> Graph:
    """A smaller copy of ``graph`` without the pruned attention heads.

    plan: output-projection node name (or its weight's name) -> amount of heads to prune (by
    smallest :func:`head_importance`), head indices to keep, or an (H,) bool mask. Slices the
    q/k/v projection columns (and biases), the output projection's input rows and updates the
    Reshape constants (H -> kept heads, H*Dh -> kept*Dh) and, for a fused qkv projection, the
    Slice bounds. Shapes computed at run time (``Shape -> Gather -> Concat``, as torch exports
    them) must be folded to constants first (:func:`inferlab.graph.fold_constants` with static
    input shapes).
    """
    return _head_edits(graph, plan, norm, "prune_heads").apply(masked=False)


def masked_heads(graph: Graph, plan: dict, norm=2) -> Graph:
    """A same-size copy of ``graph`` with the pruned heads' q/k/v columns, biases and
    output-projection rows zeroed (the masked model :func:`prune_heads` must reproduce)."""
    return _head_edits(graph, plan, norm, "masked_heads").apply(masked=True)
