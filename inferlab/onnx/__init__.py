"""ONNX import and export: ``load(path_or_bytes) -> inferlab.graph.Graph``, ``save(graph, path)``.

    >>> from inferlab import onnx as ilonnx
    >>> graph = ilonnx.load("model.onnx")
    >>> outputs = inferlab.graph.run(graph, {"x": x})

Only this package imports the ``onnx`` package (to parse the protobuf); the engine itself runs
on NumPy. Errors are :class:`OnnxError` subclasses (see ``errors``).
"""

from inferlab.onnx.errors import (
    OnnxAttributeError,
    OnnxCycleError,
    OnnxDecodeError,
    OnnxError,
    OnnxGraphError,
    OnnxUnsupportedError,
)
from inferlab.onnx.loader import check, load, to_graph
from inferlab.onnx.writer import save, to_model

__all__ = [
    "OnnxAttributeError",
    "OnnxCycleError",
    "OnnxDecodeError",
    "OnnxError",
    "OnnxGraphError",
    "OnnxUnsupportedError",
    "check",
    "load",
    "save",
    "to_graph",
    "to_model",
]
