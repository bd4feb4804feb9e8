"""Lowering: rewrite an op into a cheaper equivalent for the shapes at hand.

:func:`lower_small_convs`: a convolution is a *linear map* from the C*H*W input pixels of an
image to its OC*OH*OW output pixels, i.e. a matrix (mostly zeros: each output sees only a
KH x KW window). For tiny images, like the 8x8 digits, that dense matrix is small, and

    Reshape(x, (N, C*H*W)) @ dense (C*H*W, OC*OH*OW) + bias -> Reshape to (N, OC, OH, OW)

is one big, efficient GEMM with no window copying at all, while the direct forms spend their
time on copies of tiny windows or on tiny per-image products. The price is wasted
multiplications by zero: H*W / (KH*KW) times the useful work, so this only pays for small
images. The dense matrix is built by running the convolution itself on the C*H*W unit
images (the columns of the identity), so padding, stride, dilation and groups come for free.

A following MaxPool with non-overlapping k x k windows folds in too: order the dense matrix's
columns window offset first, (a, b, OC, OH/k, OW/k), and pooling becomes the elementwise max
of k*k contiguous column blocks (``FusedMatMul(max_blocks=k*k)``), already in NCHW order.
The bias is the same within a window and ReLU, sigmoid and tanh never change which element
is largest, so both are applied after the max, on k*k times fewer elements.
"""

from __future__ import annotations

import numpy as np

from inferlab.graph.ir import Graph, Node
from inferlab.graph.kernels import KERNELS, prepare_attrs
from inferlab.graph.shapes import analyze

MAX_DENSE_ELEMENTS = 1 << 22  # 16 MiB of float32 per lowered convolution
MAX_WASTE = 8.0  # at most 8x the useful multiply-adds


_MONOTONE = ("", "Relu", "Sigmoid", "Tanh")  # activations that commute with max


def _poolable(pool: Node | None, node: Node, y_shape) -> int:
    """k if ``pool`` is a MaxPool of non-overlapping k x k windows tiling the conv output."""
    if pool is None or pool.op != "MaxPool" or node.attrs.get("activation", "") not in _MONOTONE:
        return 0
    a = pool.attrs
    k = tuple(a.get("kernel_shape", ()))
    plain = a.get("auto_pad", "NOTSET") in ("NOTSET", "VALID") and not any(a.get("pads") or ())
    if len(k) != 2 or k[0] != k[1] or tuple(a.get("strides") or (1, 1)) != k or not plain:
        return 0
    if any(d != 1 for d in a.get("dilations") or ()) or len(pool.outputs) != 1:
        return 0
    return k[0] if y_shape[2] % k[0] == 0 and y_shape[3] % k[0] == 0 else 0


def _dense(node: Node, graph: Graph, shapes: dict, pool: Node | None) -> list[Node] | None:
    """Reshape + FusedMatMul + Reshape replacing ``node`` (and ``pool`` when it folds in), or
    None when that does not pay."""
    if node.op not in ("Conv", "FusedConv") or len(node.outputs) != 1:
        return None
    w = graph.initializers.get(node.inputs[1])
    b = graph.initializers.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    has_bias = len(node.inputs) > 2 and node.inputs[2]
    x_shape, y_shape = shapes.get(node.inputs[0]), shapes.get(node.outputs[0])
    if w is None or w.ndim != 4 or (has_bias and b is None) or w.dtype != np.float32:
        return None
    if x_shape is None or y_shape is None or len(x_shape) != 4 or len(y_shape) != 4:
        return None
    if not all(isinstance(d, int) for d in (*x_shape[1:], *y_shape[1:])):
        return None
    n_in, n_out = int(np.prod(x_shape[1:])), int(np.prod(y_shape[1:]))
    waste = x_shape[2] * x_shape[3] / (w.shape[2] * w.shape[3])
    if n_in * n_out > MAX_DENSE_ELEMENTS or waste > MAX_WASTE:
        return None
    attrs = {k: v for k, v in node.attrs.items() if k != "activation"}
    plain = Node("Conv", [node.inputs[0], node.inputs[1]], node.outputs, attrs, node.name)
    basis = np.eye(n_in, dtype=w.dtype).reshape(n_in, *x_shape[1:])
    dense = KERNELS["Conv"]([basis, w], prepare_attrs(plain, graph.opset))[0]
    if dense.shape[1:] != tuple(y_shape[1:]):
        return None
    k = _poolable(pool, node, y_shape)
    oc, oh, ow = y_shape[1:]
    if k:  # columns (a, b, OC, OH/k, OW/k): window offset first
        dense = dense.reshape(n_in, oc, oh // k, k, ow // k, k).transpose(0, 3, 5, 1, 2, 4)
        oh, ow, out = oh // k, ow // k, pool.outputs[0]
    else:
        out = node.outputs[0]
    tag = node.name
    graph.initializers[f"{tag}_dense_w"] = np.ascontiguousarray(dense.reshape(n_in, n_out))
    graph.initializers[f"{tag}_rows"] = np.array([0, n_in], dtype=np.int64)
    graph.initializers[f"{tag}_image"] = np.array([0, oc, oh, ow], dtype=np.int64)
    inputs = [f"{out}_rows_in", f"{tag}_dense_w"]
    if b is not None:  # bias per output channel, repeated over its OH*OW pixels (NCHW order)
        graph.initializers[f"{tag}_dense_b"] = np.repeat(b, oh * ow)
        inputs.append(f"{tag}_dense_b")
    act = {"activation": node.attrs["activation"]} if node.attrs.get("activation") else {}
    if k:
        act["max_blocks"] = k * k
    return [
        Node("Reshape", [node.inputs[0], f"{tag}_rows"], [f"{out}_rows_in"], name=f"{tag}_rows"),
        Node("FusedMatMul", inputs, [f"{out}_rows_out"], act, name=f"{tag}_dense"),
        Node("Reshape", [f"{out}_rows_out", f"{tag}_image"], [out], name=f"{tag}_image"),
    ]


def lower_small_convs(graph: Graph, input_shapes: dict | None = None) -> Graph:
    """Replace convolutions on small images by one dense GEMM each (see the module docstring).

    Needs the images' C, H, W (from the graph's input shapes or ``input_shapes``); the batch
    dimension may stay symbolic. Other convolutions are left alone.
    """
    shapes = analyze(graph, input_shapes).shape
    g = graph.copy()
    readers = g.consumer_map()
    outputs = {v.name for v in g.outputs}
    nodes, folded = [], set()
    for node in g.nodes:
        if id(node) in folded:
            continue
        after = readers.get(node.outputs[0], []) if node.outputs else []
        pool = after[0] if len(after) == 1 and node.outputs[0] not in outputs else None
        new = _dense(node, g, shapes, pool)
        if new and pool is not None and new[-1].outputs[0] == pool.outputs[0]:
            folded.add(id(pool))
        nodes.extend(new or [node])
    g.nodes = nodes
    return g
