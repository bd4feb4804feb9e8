"""Write an inferlab graph back to ONNX: the inverse of :mod:`inferlab.onnx.loader`.

    >>> from inferlab import onnx as ilonnx
    >>> graph = ilonnx.load("model.onnx")
    >>> qgraph = inferlab.quant.ptq.quantize_dynamic(graph)   # any graph transform
    >>> ilonnx.save(qgraph, "model.int8.onnx")               # onnxruntime runs this file
    >>> proto = ilonnx.to_model(qgraph)                      # or keep the ModelProto in memory

One ONNX node per IR node, one ``TensorProto`` per initializer, a ``ValueInfoProto`` (element
type and shape; a symbolic dimension such as ``"batch"`` becomes a ``dim_param``) per graph
input and output, and ``opset_import`` entries for the default domain and, where a node needs
it (``MatMulNBits``, ``DynamicQuantizeMatMul``, ...), onnxruntime's ``com.microsoft`` domain.

Attributes go back to the type the operator's schema declares (``onnx.defs``): an ``alpha``
written as the int ``1`` becomes the float ``1.0``, an empty list keeps its INTS/FLOATS type.
An operator with no schema (``com.microsoft``) takes its types from the Python values.

Engine-only operators made by :mod:`inferlab.graph.fusion` (``FusedMatMul``, ``FusedConv``,
``FusedAttention``) have no ONNX equivalent: save a graph before fusing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from inferlab.errors import DTypeError
from inferlab.graph.ir import Graph, Node, Value
from inferlab.onnx.errors import OnnxError, OnnxGraphError, OnnxUnsupportedError

__all__ = ["DEFAULT_OPSET", "MS_DOMAIN", "MS_OPS", "save", "to_model"]

DEFAULT_OPSET = 17  # the course's exports (reference/export.py); used when graph.opset is None
MS_DOMAIN = "com.microsoft"
# onnxruntime contrib operators (onnxruntime/core/graph/contrib_ops/*.cc) a graph may hold.
MS_OPS = frozenset(
    {
        "MatMulNBits",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearConcat",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearAveragePool",
        "QLinearGlobalAveragePool",
        "QLinearSoftmax",
        "Gelu",  # com.microsoft::Gelu predates ONNX's (opset 20); see _domain
        "QuickGelu",
        "BiasGelu",
        "FastGelu",
        "SkipLayerNormalization",
        "EmbedLayerNormalization",
        "Attention",
        "MultiHeadAttention",
        "GroupQueryAttention",
    }
)
_ENGINE_ONLY = frozenset({"FusedMatMul", "FusedConv", "FusedAttention"})

# numpy dtype -> ONNX element type. Anything else (object, str, complex, datetime) is refused.
_ELEM_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.int16): TensorProto.INT16,
    np.dtype(np.uint16): TensorProto.UINT16,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.uint32): TensorProto.UINT32,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint64): TensorProto.UINT64,
    np.dtype(np.bool_): TensorProto.BOOL,
}
try:  # 4-bit arrays (ONNX INT4/UINT4, IR version 10) exist in NumPy only through ml_dtypes
    import ml_dtypes

    _ELEM_TYPES[np.dtype(ml_dtypes.int4)] = TensorProto.INT4
    _ELEM_TYPES[np.dtype(ml_dtypes.uint4)] = TensorProto.UINT4
    _ELEM_TYPES[np.dtype(ml_dtypes.bfloat16)] = TensorProto.BFLOAT16
except ImportError:  # pragma: no cover (onnx depends on ml_dtypes)
    pass
_INT4 = (TensorProto.INT4, TensorProto.UINT4)


def elem_type(dtype, what: str) -> int:
    """The ONNX element type of a NumPy dtype; DTypeError naming ``what`` if it has none."""
    try:
        return _ELEM_TYPES[np.dtype(dtype)]
    except (KeyError, TypeError):
        known = ", ".join(sorted(str(d) for d in _ELEM_TYPES))
        raise DTypeError(
            f"{what} has dtype {dtype}, which ONNX cannot store; expected one of {known}"
        ) from None


def _tensor(array, name: str, what: str) -> TensorProto:
    """A NumPy array as a TensorProto (raw little-endian bytes, as exporters write them)."""
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    elem_type(array.dtype, what)
    return numpy_helper.from_array(array, name)


def _domain(op: str, opset: int, domains: dict) -> str:
    if op in domains:
        return domains[op]
    if onnx.defs.has(op, ""):
        # Gelu joined the default domain in opset 20; before that only com.microsoft has it.
        try:
            onnx.defs.get_schema(op, opset, "")
            return ""
        except onnx.defs.SchemaError:
            pass
    if op in MS_OPS:
        return MS_DOMAIN
    if op in _ENGINE_ONLY:
        raise OnnxUnsupportedError(
            f"'{op}' is an inferlab-only operator made by the fuse pass and has no ONNX "
            "equivalent; save the graph before inferlab.graph.optimize / fuse"
        )
    raise OnnxUnsupportedError(
        f"operator '{op}' is neither an ONNX operator of opset {opset} nor a known "
        f"onnxruntime '{MS_DOMAIN}' operator; pass domains={{'{op}': '...'}} to name its domain"
    )


def _schema_types(op: str, opset: int, domain: str) -> dict:
    try:
        schema = onnx.defs.get_schema(op, opset, domain)
    except onnx.defs.SchemaError:
        return {}
    return {name: int(a.type) for name, a in schema.attributes.items()}


def _attribute(name: str, value, kind: int | None, node: Node) -> AttributeProto:
    """A Python value as an AttributeProto of type ``kind`` (from the schema) or inferred."""
    what = f"attribute '{name}' of node '{node.name}' ({node.op})"
    if isinstance(value, np.ndarray) and kind != AttributeProto.TENSOR and value.ndim <= 1:
        value = value.tolist()  # e.g. pads given as an int array
    if isinstance(value, (np.generic,)):
        value = value.item()
    try:
        if kind == AttributeProto.FLOAT:
            return helper.make_attribute(name, float(value))
        if kind == AttributeProto.INT:
            return helper.make_attribute(name, int(value))
        if kind == AttributeProto.STRING:
            return helper.make_attribute(name, value if isinstance(value, bytes) else str(value))
        if kind == AttributeProto.FLOATS:
            return helper.make_attribute(
                name, [float(v) for v in value], attr_type=AttributeProto.FLOATS
            )
        if kind == AttributeProto.INTS:
            return helper.make_attribute(
                name, [int(v) for v in value], attr_type=AttributeProto.INTS
            )
        if kind == AttributeProto.STRINGS:
            return helper.make_attribute(
                name, [str(v) for v in value], attr_type=AttributeProto.STRINGS
            )
        if isinstance(value, (np.ndarray, TensorProto)) or kind == AttributeProto.TENSOR:
            tensor = value if isinstance(value, TensorProto) else _tensor(value, "", what)
            return helper.make_attribute(name, tensor)
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (list, tuple)) and not value:
            raise ValueError("an empty list needs a type and the operator has no schema")
        return helper.make_attribute(name, value)
    except DTypeError:
        raise
    except (TypeError, ValueError) as e:
        raise OnnxGraphError(f"{what}: cannot write {value!r} as an ONNX attribute: {e}") from None


def _value_info(value: Value, what: str, inferred: dict):
    """A Value as a ValueInfoProto; what it leaves unknown comes from ONNX shape inference
    (``inferred``), since the checker wants an element type and a shape on graph inputs and
    outputs."""
    known = inferred.get(value.name)
    if value.dtype is None:
        if known is None:
            raise OnnxGraphError(
                f"{what} '{value.name}' has no dtype and ONNX shape inference could not find "
                "one; give the graph's Value a dtype"
            )
        return known
    elem = elem_type(value.dtype, f"{what} '{value.name}'")
    # ints -> dim_value, strings -> dim_param, None -> an empty (unknown) dimension
    info = helper.make_tensor_value_info(
        value.name, elem, None if value.shape is None else list(value.shape)
    )
    if value.shape is None and known is not None and known.type.tensor_type.HasField("shape"):
        info.type.tensor_type.shape.CopyFrom(known.type.tensor_type.shape)
    return info


def _infer(model: onnx.ModelProto) -> dict:
    """Graph input/output name -> ValueInfoProto as ONNX shape inference types them."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 (inference is a best effort for untyped values)
        return {}
    g = inferred.graph
    return {v.name: v for v in [*g.value_info, *g.output] if v.type.tensor_type.elem_type}


def to_model(
    graph: Graph,
    opset: int | None = None,
    *,
    domains: dict[str, str] | None = None,
    producer: str = "inferlab",
    check: bool = False,
    value_info: bool = False,
) -> onnx.ModelProto:
    """``graph`` as an ``onnx.ModelProto`` that onnxruntime can run.

    opset: the default domain's opset (None: ``graph.opset``, else :data:`DEFAULT_OPSET`).
    domains: op type -> domain, for operators this module does not know. check: run
    ``onnx.checker.check_model`` and raise :class:`OnnxGraphError` with its message.
    value_info: also store the shapes and types ONNX shape inference finds for intermediate
    values, as onnxruntime's quantizers do in the files they write. They change what ORT's graph
    optimiser fuses (with them it folds more bias Adds into quantized MatMuls), so an optimised
    session rounds like the original file only when this matches it: False for a file exported
    by torch (no value_info), True to match ``onnxruntime.quantization``'s output.
    """
    if not isinstance(graph, Graph):
        raise OnnxError(f"to_model needs an inferlab.graph.Graph; got {type(graph).__name__}")
    opset = int(opset or graph.opset or DEFAULT_OPSET)
    domains = dict(domains or {})
    nodes, used = [], {""}
    for node in graph.nodes:
        domain = _domain(node.op, opset, domains)
        used.add(domain)
        kinds = _schema_types(node.op, opset if domain == "" else 1, domain)
        attrs = [
            _attribute(name, value, kinds.get(name), node)
            for name, value in node.attrs.items()
            if not name.startswith("_")  # engine-private (e.g. "_n_out"), never ONNX's
        ]
        proto = helper.make_node(node.op, node.inputs, node.outputs, name=node.name, domain=domain)
        proto.attribute.extend(attrs)
        nodes.append(proto)
    inits = [_tensor(a, name, f"initializer '{name}'") for name, a in graph.initializers.items()]
    opsets = [helper.make_opsetid("", opset)]
    if MS_DOMAIN in used:
        opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
    opsets += [helper.make_opsetid(d, 1) for d in sorted(used - {"", MS_DOMAIN})]

    def build(inputs, outputs):
        g = helper.make_graph(nodes, graph.name or "graph", inputs, outputs, inits)
        m = helper.make_model(g, opset_imports=opsets, producer_name=producer)
        # The oldest IR version that knows these opsets (onnxruntime refuses IR versions newer
        # than it knows); 4-bit tensors need IR 10.
        ir = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
        if any(t.data_type in _INT4 for t in inits):
            ir = max(ir, 10)
        m.ir_version = ir
        return m

    untyped = [v for v in [*graph.inputs, *graph.outputs] if v.dtype is None or v.shape is None]
    inferred = {}
    if untyped:  # type the known values first, then ask ONNX shape inference for the rest

        def typed(values):
            return [
                _value_info(v, "value", {})
                if v.dtype is not None
                else helper.ValueInfoProto(name=v.name)
                for v in values
            ]

        inferred = _infer(build(typed(graph.inputs), typed(graph.outputs)))
    model = build(
        [_value_info(v, "graph input", inferred) for v in graph.inputs],
        [_value_info(v, "graph output", inferred) for v in graph.outputs],
    )
    if value_info:
        try:
            shapes = onnx.shape_inference.infer_shapes(model).graph.value_info
        except Exception:  # noqa: BLE001 (a best effort: the file runs without them)
            shapes = []
        model.graph.value_info.extend(shapes)
    if check:
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as e:
            raise OnnxGraphError(f"the written model fails onnx.checker: {e}") from None
    return model


def save(graph: Graph, path, opset: int | None = None, **kwargs) -> Path:
    """Write ``graph`` to the ONNX file ``path`` (see :func:`to_model`) and return the path.

    The bytes go to a temporary file next to ``path`` that is then renamed, so a reader never
    sees half a file. An unwritable path raises :class:`OnnxError` naming it.
    """
    path = Path(path)
    data = to_model(graph, opset, **kwargs).SerializeToString()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        raise OnnxError(f"cannot write ONNX file '{path}': {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
