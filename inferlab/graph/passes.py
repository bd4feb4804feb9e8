"""Graph passes: each takes a Graph and returns a new, equivalent Graph (the input is untouched).

- :func:`fold_constants`: compute now what does not depend on the inputs (weight transposes,
  shape arithmetic, Constant nodes) and store the results as initializers;
- :func:`eliminate_dead_nodes`: drop nodes no output depends on, no-op Identity/Dropout
  nodes, and unused initializers;
- :func:`fuse`: merge chains into single nodes with one kernel: Conv + BatchNormalization
  (folded into the weights), Conv + Relu, the erf-GELU formula into Gelu, and
  MatMul/Gemm + bias Add + activation (+ residual Add) into ``FusedMatMul``, whose kernel
  applies bias, activation and residual in place, block by block, while the block is in cache,
  and attention (scores, scale, mask, softmax, weighted sum) into ``FusedAttention``.
- :func:`optimize`: all of them, in that order, plus ``lowering.lower_small_convs`` (a
  convolution on a tiny image becomes one dense GEMM).
"""

from __future__ import annotations

import numpy as np

from inferlab.graph import fusion
from inferlab.graph.ir import Graph
from inferlab.graph.lowering import lower_small_convs
from inferlab.graph.shapes import analyze

MAX_FOLDED_ELEMENTS = 1 << 24  # do not bake enormous tensors into the model


def fold_constants(graph: Graph, input_shapes: dict | None = None) -> Graph:
    """Replace every node whose outputs are known before running by initializers.

    With ``input_shapes`` (or static input shapes in the graph) this includes shape
    computations: ``Shape(x) -> Gather -> Unsqueeze -> Concat -> Reshape`` becomes a constant.
    """
    ctx = analyze(graph, input_shapes)
    inits = dict(graph.initializers)
    nodes = []
    for node in graph.nodes:
        outs = [o for o in node.outputs if o]
        if outs and all(o in ctx.const and ctx.const[o].size <= MAX_FOLDED_ELEMENTS for o in outs):
            for o in outs:
                inits[o] = np.asarray(ctx.const[o])
        else:
            nodes.append(node.copy())
    return eliminate_dead_nodes(
        Graph(nodes, graph.inputs, graph.outputs, inits, graph.name, graph.opset)
    )


def eliminate_dead_nodes(graph: Graph) -> Graph:
    """Keep only nodes that some graph output depends on; forward Identity/Dropout readers to
    the input; drop initializers no node reads."""
    outputs = {v.name for v in graph.outputs}
    rename: dict[str, str] = {}
    nodes = []
    for node in graph.topological_order():
        node = node.copy()
        node.inputs = [rename.get(i, i) for i in node.inputs]
        identity = node.op in ("Identity", "Dropout") and len([o for o in node.outputs if o]) == 1
        if identity and node.outputs[0] not in outputs:
            rename[node.outputs[0]] = node.inputs[0]
            continue
        nodes.append(node)
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(o in needed for o in node.outputs):
            kept.append(node)
            needed.update(i for i in node.inputs if i)
    kept.reverse()
    inits = {k: v for k, v in graph.initializers.items() if k in needed}
    return Graph(kept, graph.inputs, graph.outputs, inits, graph.name, graph.opset)


def fuse(graph: Graph, input_shapes: dict | None = None) -> Graph:
    """Fuse Conv+BN(+act), erf-GELU, attention, and MatMul/Gemm+bias+act(+residual) chains
    (see :mod:`inferlab.graph.fusion`)."""
    shapes = analyze(graph, input_shapes).shape  # e.g. a residual Add must not broadcast
    g = graph
    for step in (fusion.fuse_conv, fusion.fuse_gelu, fusion.fuse_attention, fusion.fuse_matmul):
        rw = fusion.Rewriter(g)
        step(rw, shapes)
        g = rw.graph()
    return eliminate_dead_nodes(g)


def optimize(graph: Graph, input_shapes: dict | None = None) -> Graph:
    """fold_constants, fuse, lower_small_convs (see :mod:`inferlab.graph.lowering`), then
    eliminate_dead_nodes."""
    fused = fuse(fold_constants(graph, input_shapes), input_shapes)
    return eliminate_dead_nodes(lower_small_convs(fused, input_shapes))
