"""What can go wrong loading an ONNX file. Every error is an :class:`OnnxError` (an
InferlabError); the graph-level kinds also inherit the matching :mod:`inferlab.graph` error, so
``except CycleError`` catches a cycle whether the graph came from a file or was built by hand.
"""

from __future__ import annotations

from inferlab.errors import InferlabError
from inferlab.graph.ir import BadAttributeError, CycleError, GraphError, UnsupportedOpError


class OnnxError(InferlabError, ValueError):
    """An ONNX model could not be loaded."""


class OnnxDecodeError(OnnxError):
    """The bytes are not a readable ONNX model (truncated, corrupt, or not ONNX at all)."""


class OnnxUnsupportedError(OnnxError, UnsupportedOpError):
    """The model uses an operator (or a feature) inferlab does not implement."""


class OnnxGraphError(OnnxError, GraphError):
    """The model's graph is malformed: an undefined value, a missing output, wrong arity."""


class OnnxCycleError(OnnxGraphError, CycleError):
    """The model's graph has a cycle."""


class OnnxAttributeError(OnnxError, BadAttributeError):
    """A node's attribute is missing or invalid."""
