"""Graph-editing helpers shared by :mod:`~inferlab.quant.dynamic` and
:mod:`~inferlab.quant.static`: argument checks, node renames, ORT's naming of DequantizeLinear
nodes and initializer suffixes, the weight parameters (``quant_utils.compute_data_quant_params``)
and the size of a graph's weights."""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError, describe
from inferlab.graph.ir import Graph, Node
from inferlab.graph.shapes import infer_shapes
from inferlab.quant.params import QParams, qparams_of

DYNAMIC_OP_TYPES = ("MatMul",)
_FOLDED = ("Relu", "Clip")  # QDQRemovableActivation
_SAME_AS_INPUT = (  # QDQDirect8BitOp, QDQMaxPool: the output shares the input's scale and zp
    "MaxPool",
    "AveragePool",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Slice",
)
_ALL_IO = ("Add", "Mul", "Concat", "Softmax", "Sigmoid", "LeakyRelu", "GlobalAveragePool", "ArgMax")
STATIC_OP_TYPES = ("Conv", "Gemm", "MatMul", *_FOLDED, *_SAME_AS_INPUT, *_ALL_IO)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))
_SYMMETRIC_WEIGHTS = ("int8", "int16", "int4")  # BaseQuantizer.is_weight_symmetric


# ---- arguments ------------------------------------------------------------------------------
def _check_graph(graph, op: str) -> None:
    if not isinstance(graph, Graph):
        raise InvalidValueError(f"{op} needs an inferlab.graph.Graph; got {describe(graph)}")


def _check_op_types(op_types, supported: tuple, op: str) -> tuple:
    if isinstance(op_types, str):
        op_types = (op_types,)
    op_types = tuple(op_types)
    unknown = [t for t in op_types if t not in supported]
    if unknown or not op_types:
        raise InvalidValueError(
            f"{op} quantizes the op types {', '.join(supported)}; got {list(op_types)}"
            + (f" ({', '.join(map(repr, unknown))} unknown)" if unknown else " (none)")
        )
    return op_types


def _check_choice(value, choices: tuple, name: str, op: str) -> None:
    if value not in choices:
        raise InvalidValueError(f"{op} needs {name} in {choices}; got {value!r}")


def _dtypes(graph: Graph) -> dict:
    """Value name -> dtype (None if unknown: such a tensor is left in float, as ORT leaves a
    tensor shape inference could not type), from the engine's shape inference."""
    return {name: dtype for name, (_, dtype) in infer_shapes(graph).items()}


def _topo(graph: Graph) -> Graph:
    graph.nodes = graph.topological_order()  # ONNX wants producers first
    return graph


def _drop_unused(graph: Graph) -> None:
    """onnx_model.clean_initializers: keep only initializers some node or output reads."""
    used = {i for n in graph.nodes for i in n.inputs} | {v.name for v in graph.outputs}
    graph.initializers = {k: v for k, v in graph.initializers.items() if k in used}


def _rename(nodes, old: str, new: str, *, outputs: bool) -> None:
    for n in nodes:
        names = n.outputs if outputs else n.inputs
        for i, name in enumerate(names):
            if name == old:
                names[i] = new


def _dq(inputs, output: str, name: str, axis: int | None = None) -> Node:
    """A DequantizeLinear node named as ORT names them (``{tensor}_DequantizeLinear``)."""
    attrs = {} if axis is None else {"axis": axis}
    return Node("DequantizeLinear", inputs, [output], attrs, f"{name}_DequantizeLinear")


def _largest_suffix(names, prefix: str) -> int:
    """onnx_model.get_largest_initializer_name_suffix: -1 if no ``prefix<int>`` name exists."""
    out = -1
    for name in names:
        if name.startswith(prefix):
            try:
                out = max(out, int(name[len(prefix) :]))
            except ValueError:
                continue
    return out


def _weight_qparams(w, dtype, *, symmetric, reduce_range, axis=None) -> QParams:
    # quant_utils.compute_data_quant_params over the whole tensor or each w.take(i, axis).
    return qparams_of(
        w, dtype, symmetric=symmetric, reduce_range=reduce_range, convention="ort", axis=axis
    )


# ---- size ---------------------------------------------------------------------------------
def weight_bytes(graph: Graph) -> int:
    """Bytes of all initializers (weights, biases, scales, zero points, constants)."""
    _check_graph(graph, "weight_bytes")
    return int(sum(np.asarray(a).nbytes for a in graph.initializers.values()))


def size_by_dtype(graph: Graph) -> dict[str, int]:
    """Initializer bytes per dtype, largest first: where a quantized model's bytes are."""
    _check_graph(graph, "size_by_dtype")
    out: dict[str, int] = {}
    for a in graph.initializers.values():
        a = np.asarray(a)
        out[str(a.dtype)] = out.get(str(a.dtype), 0) + int(a.nbytes)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
