"""Load an ``.onnx`` file into the inferlab graph IR.

An ONNX file is a protobuf ``ModelProto``: a ``graph`` with ``node`` (op_type, inputs,
outputs, attributes), ``initializer`` (the weights, as ``TensorProto``), ``input`` and
``output`` (names with types and shapes), plus ``opset_import`` (which version of each
operator's semantics applies). The ``onnx`` package parses the protobuf; everything after that
is plain Python: one IR node per ONNX node, one NumPy array per initializer.

A file is checked as it loads, so that a broken one fails here with a clear
:class:`~inferlab.onnx.errors.OnnxError`, not deep inside a later run: parse errors, operators
without a kernel, wrong numbers of inputs or missing required attributes (against the
operator's schema in ``onnx.defs``), undefined values and cycles.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, numpy_helper

from inferlab.graph.executor import check_supported
from inferlab.graph.ir import BadAttributeError, CycleError, Graph, GraphError, Node, Value
from inferlab.graph.kernels import ONNX_DTYPES, prepare_attrs
from inferlab.onnx.errors import (
    OnnxAttributeError,
    OnnxCycleError,
    OnnxDecodeError,
    OnnxError,
    OnnxGraphError,
    OnnxUnsupportedError,
)

_DEFAULT_DOMAINS = ("", "ai.onnx")


def _read(source) -> tuple[onnx.ModelProto, Path | None]:
    """Parse a path, bytes or a ModelProto; any parser failure becomes OnnxDecodeError."""
    if isinstance(source, onnx.ModelProto):
        return source, None
    base = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise OnnxError(f"cannot read ONNX file '{path}': {e.strerror or e}") from None
        base = path.parent
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise OnnxError(
            f"load needs a path, bytes or an onnx.ModelProto; got {type(source).__name__}"
        )
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 (protobuf raises DecodeError, RuntimeWarning, ...)
        raise OnnxDecodeError(
            f"not a valid ONNX model ({len(data):,} bytes; truncated or corrupt?): {e}"
        ) from None
    if not model.HasField("graph") or not model.graph.output:
        raise OnnxDecodeError(
            f"not a valid ONNX model ({len(data):,} bytes): it has no graph or no outputs"
        )
    return model, base


def _array(tensor, what: str, base: Path | None) -> np.ndarray:
    """A TensorProto as a NumPy array (external data read from ``base``, the model's folder)."""
    if tensor.data_type not in ONNX_DTYPES:
        raise OnnxUnsupportedError(f"{what}: tensor type {tensor.data_type} is not supported")
    try:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            if base is None:
                raise OnnxError(f"{what} is stored in an external file; load the model by path")
            onnx.external_data_helper.load_external_data_for_tensor(tensor, str(base))
        array = numpy_helper.to_array(tensor)
    except OnnxError:
        raise
    except Exception as e:  # noqa: BLE001 (size mismatch, missing file, bad dims, ...)
        dims = list(tensor.dims)
        raise OnnxDecodeError(f"{what} (dims {dims}) cannot be read: {e}") from None
    return array if array.flags.c_contiguous else array.copy()  # (ascontiguousarray makes 0-d 1-d)


def _attribute(attr, node_name: str, base: Path | None):
    """An AttributeProto as a Python value: int, float, str, list, or NumPy array."""
    kind = attr.type
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.FLOAT:
        return float(attr.f)
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == AttributeProto.TENSOR:
        return _array(attr.t, f"attribute '{attr.name}' of node '{node_name}'", base)
    known = kind in AttributeProto.AttributeType.values()
    type_name = AttributeProto.AttributeType.Name(kind) if known else kind
    raise OnnxUnsupportedError(
        f"node '{node_name}': attribute '{attr.name}' has type {type_name} "
        "(subgraphs, sparse tensors and type protos are unsupported)"
    )


def _value(info, what: str) -> Value:
    """A ValueInfoProto (name, element type, dims) as a Value; dims: int, 'symbol' or None."""
    kind = info.type.WhichOneof("value")
    if kind is None:  # no type given: anything goes
        return Value(info.name)
    ttype = info.type.tensor_type if kind == "tensor_type" else None
    if ttype is None:
        raise OnnxUnsupportedError(
            f"{what} '{info.name}' is not a tensor (sequences, maps unsupported)"
        )
    dtype = None
    if ttype.elem_type:
        if ttype.elem_type not in ONNX_DTYPES:
            raise OnnxUnsupportedError(
                f"{what} '{info.name}' has unsupported type {ttype.elem_type}"
            )
        dtype = ONNX_DTYPES[ttype.elem_type]
    shape = None
    if ttype.HasField("shape"):
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in ttype.shape.dim
        )
    return Value(info.name, shape, dtype)


def _check_schema(node: Node, opset: int) -> None:
    """Input/output counts and required attributes, from the operator's ONNX schema."""
    try:
        schema = onnx.defs.get_schema(node.op, opset, "")
    except Exception:  # noqa: BLE001 (SchemaError: an op we run but ONNX never defined)
        return
    n_in = len(node.inputs)
    if (
        not schema.min_input <= n_in <= schema.max_input
        or not schema.min_output <= len(node.outputs) <= schema.max_output
    ):
        raise OnnxGraphError(
            f"node '{node.name}' ({node.op}) has {n_in} inputs and {len(node.outputs)} outputs; "
            f"opset {opset} allows {schema.min_input}..{schema.max_input} inputs and "
            f"{schema.min_output}..{schema.max_output} outputs"
        )
    for name, attr in schema.attributes.items():
        if attr.required and name not in node.attrs:
            raise OnnxAttributeError(f"node '{node.name}' ({node.op}) needs attribute '{name}'")


def to_graph(model: onnx.ModelProto, base: Path | None = None) -> Graph:
    """Convert a parsed ModelProto to a checked :class:`~inferlab.graph.Graph`."""
    opsets = {o.domain: o.version for o in model.opset_import}
    opset = next((opsets[d] for d in _DEFAULT_DOMAINS if d in opsets), None)
    g = model.graph
    if g.sparse_initializer:
        raise OnnxUnsupportedError("sparse initializers are not supported")
    inits = {t.name: _array(t, f"initializer '{t.name}'", base) for t in g.initializer}
    # Inputs that also have an initializer are weights with a default (old exporters list
    # them as inputs): keep them as initializers only.
    inputs = [_value(v, "input") for v in g.input if v.name not in inits]
    outputs = [_value(v, "output") for v in g.output]
    nodes, seen = [], set()
    for i, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{i}"
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        if n.domain not in _DEFAULT_DOMAINS:
            raise OnnxUnsupportedError(
                f"unsupported operator '{n.domain}::{n.op_type}' (node '{name}'); only the "
                "default ONNX domain is supported"
            )
        attrs = {a.name: _attribute(a, name, base) for a in n.attribute}
        nodes.append(Node(n.op_type, list(n.input), list(n.output), attrs, name))
    graph = Graph(nodes, inputs, outputs, inits, name=g.name or "onnx_graph", opset=opset)
    check(graph)
    return graph


def check(graph: Graph) -> None:
    """Everything that can be checked before running, as OnnxError subclasses."""
    check_supported(graph, error=OnnxUnsupportedError)
    opset = graph.opset or onnx.defs.onnx_opset_version()
    for node in graph.nodes:
        _check_schema(node, opset)
    try:
        graph.topological_order()
    except CycleError as e:
        raise OnnxCycleError(str(e)) from None
    except GraphError as e:
        raise OnnxGraphError(str(e)) from None
    for node in graph.nodes:
        try:
            prepare_attrs(node, graph.opset)
        except BadAttributeError as e:
            raise OnnxAttributeError(str(e)) from None
        except Exception as e:  # noqa: BLE001 (a mistyped attribute value)
            raise OnnxAttributeError(
                f"node '{node.name}' ({node.op}): bad attribute: {e}"
            ) from None


def load(source) -> Graph:
    """Load an ONNX model (a path, bytes or an ``onnx.ModelProto``) as a checked Graph.

    Raises an :class:`~inferlab.onnx.errors.OnnxError` subclass for a file that cannot be
    read, parsed, or run by inferlab (the message names the operator and node at fault).
    """
    model, base = _read(source)
    try:
        return to_graph(model, base)
    except OnnxError:
        raise
    except Exception as e:  # noqa: BLE001 (a corrupt field we did not foresee)
        raise OnnxDecodeError(f"malformed ONNX model: {type(e).__name__}: {e}") from None
