"""Dynamic post-training quantization of an engine graph, node for node as onnxruntime's
``quantize_dynamic`` does it (see :mod:`inferlab.quant.ptq` for the picture)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from inferlab.graph.ir import Graph, Node
from inferlab.quant._graph_edit import (
    _FLOATS,
    _SYMMETRIC_WEIGHTS,
    DYNAMIC_OP_TYPES,
    _check_choice,
    _check_graph,
    _check_op_types,
    _dq,
    _drop_unused,
    _dtypes,
    _topo,
    _weight_qparams,
)
from inferlab.quant.affine import quantize


# ---- dynamic ------------------------------------------------------------------------------
def _gemm_to_matmul(graph: Graph) -> Graph:
    """onnx_model.py replace_gemm_with_matmul: Gemm(alpha=beta=1, transA=0) -> MatMul [+ Add]."""
    g = graph.copy()
    names = set(g.initializers) | {v.name for v in g.inputs + g.outputs}
    names |= {x for n in g.nodes for x in n.inputs + n.outputs}
    suffixes = ("", "_quantized", "_scale", "_zero_point")
    transposed, nodes = {}, []
    for n in g.nodes:
        a = n.attrs
        if n.op != "Gemm" or not (
            float(a.get("alpha", 1.0)) == 1.0
            and float(a.get("beta", 1.0)) == 1.0
            and int(a.get("transA", 0)) == 0
        ):
            nodes.append(n)
            continue
        b = n.inputs[1]
        if int(a.get("transB", 0)) == 1:
            if b in g.initializers:
                if b not in transposed:
                    t, k = f"{b}_Transposed", 0
                    while any(t + s in names for s in suffixes):
                        k += 1
                        t = f"{b}_Transposed_{k}"
                    names.update(t + s for s in suffixes)
                    g.initializers[t] = np.ascontiguousarray(g.initializers[b].T)
                    transposed[b] = t
                b = transposed[b]
            else:
                nodes.append(Node("Transpose", [b], [b + "_Transposed"], {}, n.name + "_Transpose"))
                b += "_Transposed"
        bias = len(n.inputs) > 2 and n.inputs[2] != ""
        out = n.outputs[0] + ("_MatMul" if bias else "")
        nodes.append(Node("MatMul", [n.inputs[0], b], [out], {}, n.name + "_MatMul"))
        if bias:
            nodes.append(Node("Add", [out, n.inputs[2]], list(n.outputs), {}, n.name + "_Add"))
    g.nodes = nodes
    return g


def quantize_dynamic(
    graph: Graph,
    *,
    per_channel: bool = False,
    op_types=DYNAMIC_OP_TYPES,
    weight_dtype: str = "int8",
    reduce_range: bool = False,
    nodes_to_exclude: Iterable[str] = (),
) -> Graph:
    """A copy of ``graph`` in which MatMuls with a constant B run on integers: ORT's
    ``quantize_dynamic(op_types_to_quantize=["MatMul"], weight_type=QInt8)`` graph, node names,
    tensor names, quantized weights and scales equal (see module doc).

    per_channel: one scale per output column (the last axis of B). weight_dtype: "int8"
    (symmetric, zero point 0) or "uint8" (asymmetric). reduce_range: 7-bit weights.
    """
    op = "quantize_dynamic"
    _check_graph(graph, op)
    op_types = _check_op_types(op_types, DYNAMIC_OP_TYPES, op)
    _check_choice(weight_dtype, ("int8", "uint8"), "weight_dtype", op)
    g = _gemm_to_matmul(graph)
    dtypes, inits, exclude = _dtypes(g), g.initializers, set(nodes_to_exclude)
    is_float = lambda v: (inits[v].dtype if v in inits else dtypes.get(v)) in _FLOATS  # noqa: E731
    qmap: dict[str, tuple] = {}  # value -> (quantized, scale, zero point, axis)
    generated = {v.name for v in g.inputs}  # values no DequantizeLinear may overwrite
    nodes: list[Node] = []

    def emit(*new):
        nodes.extend(new)
        generated.update(o for n in new for o in n.outputs)

    def weight(name, dtype, symmetric, per_channel=False, reduce_range=False):
        # base_quantizer quantize_initializer_impl / quantize_weight_per_channel_impl
        if name not in qmap:
            w = inits[name]
            axis = w.ndim - 1 if per_channel else None  # MatMulInteger passes axis=-1
            qp = _weight_qparams(
                w, dtype, symmetric=symmetric, reduce_range=reduce_range, axis=axis
            )
            inits[name + "_quantized"] = quantize(w, qp)
            inits[name + "_scale"], inits[name + "_zero_point"] = qp.scale, qp.zero_point
            qmap[name] = (name + "_quantized", name + "_scale", name + "_zero_point", axis)
        return qmap[name]

    def activation(name):  # onnx_quantizer._get_quantize_input_nodes, dynamic uint8 branch
        if name in inits:  # a constant A: quantized like a weight, as uint8 activations are
            return weight(name, "uint8", False)
        if name not in qmap:
            outs = [name + "_quantized", name + "_scale", name + "_zero_point"]
            emit(Node("DynamicQuantizeLinear", [name], outs, {}, name + "_QuantizeLinear"))
            qmap[name] = (*outs, None)
        return qmap[name]

    def dequantize_value(name):  # onnx_quantizer._dequantize_value
        if name in qmap and name not in generated:
            q, s, zp, axis = qmap[name]
            emit(_dq([q, s, zp], name, name, axis))

    for n in g.nodes:
        a, b = (n.inputs + ["", ""])[:2]
        if (
            n.op in op_types
            and n.name not in exclude
            and (is_float(a) or is_float(b))
            and b in inits  # MatMulConstBOnly, quantize_dynamic's default
        ):
            qa, sa, za, _ = activation(a)
            sym = weight_dtype in _SYMMETRIC_WEIGHTS
            qb, sb, zb, _ = weight(b, weight_dtype, sym, per_channel, reduce_range)
            out = n.outputs[0]
            mm, cast = out + "_output_quantized", out + "_output_quantized_cast_output"
            scales = n.name + "_quant_scales_mul:0"
            emit(
                Node("MatMulInteger", [qa, qb, za, zb], [mm], {}, n.name + "_quant"),
                Node("Cast", [mm], [cast], {"to": 1}, out + "_output_quantized_cast"),
                Node("Mul", [sa, sb], [scales], {}, n.name + "_quant_scales_mul"),
                Node("Mul", [cast, scales], [out], {}, n.name + "_quant_output_scale_mul"),
            )
        else:
            for name in n.inputs:
                dequantize_value(name)
            emit(n)
    for v in g.outputs:
        dequantize_value(v.name)
    g.nodes = nodes
    _drop_unused(g)
    return _topo(g)
