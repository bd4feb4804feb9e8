"""The inference engine (chapter 02): a graph IR, an executor on :mod:`inferlab.ops`, shape
inference, graph passes (constant folding, dead-node elimination, fusion), memory planning and
a per-node profiler.

    >>> from inferlab.graph import Executor, optimize, profile
    >>> graph = optimize(inferlab.onnx.load("cnn.onnx"))
    >>> Executor(graph).run({"x": x})["logits"]

Modules, one concept each: ``ir`` (Value, Node, Graph), ``executor``, ``kernels`` (op type ->
NumPy kernel, in ``kernels_*``), ``shapes`` (+ ``shape_rules``), ``passes`` (+ ``fusion``),
``memory``, ``profile``.
"""

from inferlab.graph.executor import Executor, NodeRecord, check_supported, run
from inferlab.graph.ir import (
    BadAttributeError,
    CycleError,
    Graph,
    GraphError,
    Node,
    NodeError,
    UnsupportedOpError,
    Value,
    format_shape,
)
from inferlab.graph.kernels import KERNELS, SUPPORTED_OPS
from inferlab.graph.memory import MemoryPlan, measure_peak, plan_memory
from inferlab.graph.passes import eliminate_dead_nodes, fold_constants, fuse, optimize
from inferlab.graph.profile import Profile, ProfileRecord, plot_profile, profile
from inferlab.graph.shapes import infer_shapes

__all__ = [
    "KERNELS",
    "SUPPORTED_OPS",
    "BadAttributeError",
    "CycleError",
    "Executor",
    "Graph",
    "GraphError",
    "MemoryPlan",
    "Node",
    "NodeError",
    "NodeRecord",
    "Profile",
    "ProfileRecord",
    "UnsupportedOpError",
    "Value",
    "check_supported",
    "eliminate_dead_nodes",
    "fold_constants",
    "format_shape",
    "fuse",
    "infer_shapes",
    "measure_peak",
    "optimize",
    "plan_memory",
    "plot_profile",
    "profile",
    "run",
]
