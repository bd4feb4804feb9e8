"""The graph IR: values, nodes and a graph, the data structure every inference engine runs.

A model is a directed acyclic graph. Each :class:`Node` applies one operator (``op``, e.g.
``"MatMul"``) to named input values and writes named output values; each name is written by
exactly one node (or is a graph input or an initializer, i.e. a weight). A :class:`Value`
describes a graph input or output: its name, shape (ints, or strings such as ``"batch"`` for
dimensions only known at run time) and dtype.

    >>> g = Graph(
    ...     nodes=[Node("MatMul", ["x", "w"], ["h"]), Node("Relu", ["h"], ["y"])],
    ...     inputs=[Value("x", ("batch", 4), np.float32)],
    ...     outputs=[Value("y", ("batch", 3), np.float32)],
    ...     initializers={"w": np.ones((4, 3), np.float32)},
    ... )

Operator names and semantics are ONNX's (https://onnx.ai/onnx/operators/), so an ONNX file
maps onto this IR one node for one node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inferlab.errors import InferlabError


class GraphError(InferlabError, ValueError):
    """A graph is malformed: a value nobody produces, a name written twice, a missing output."""


class CycleError(GraphError):
    """The graph has a cycle, so no node order can run it; the message names the nodes."""


class UnsupportedOpError(GraphError, NotImplementedError):
    """A node uses an operator the executor has no kernel for; names the op and the node."""


class BadAttributeError(GraphError):
    """A node's attribute is missing or has a value the operator does not accept."""


class NodeError(GraphError):
    """A node failed while running; the message names it and the shapes it was given."""


def _dims(shape) -> tuple | None:
    if shape is None:
        return None
    return tuple(d if isinstance(d, str) or d is None else int(d) for d in shape)


@dataclass(frozen=True)
class Value:
    """A named tensor: ``shape`` has ints, strings (symbolic, like "batch") or None (unknown)."""

    name: str
    shape: tuple | None = None
    dtype: np.dtype | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", _dims(self.shape))
        if self.dtype is not None:
            object.__setattr__(self, "dtype", np.dtype(self.dtype))

    def __str__(self) -> str:
        return f"{self.name}: {format_shape(self.shape)} {self.dtype or '?'}"


def format_shape(shape) -> str:
    """``(batch, 64)`` for a shape with a symbolic dimension, ``?`` for an unknown shape."""
    if shape is None:
        return "?"
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


@dataclass
class Node:
    """One operator application: ``outputs = op(inputs, **attrs)``.

    ``inputs`` are value names; ``""`` marks an omitted optional input (ONNX's convention).
    ``name`` identifies the node in error messages and profiles (defaults to op + first output).
    """

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    name: str = ""

    def __post_init__(self):
        self.inputs, self.outputs, self.attrs = (
            list(self.inputs),
            list(self.outputs),
            dict(self.attrs),
        )
        if not self.name:
            self.name = f"{self.op}_{self.outputs[0]}" if self.outputs else self.op

    def copy(self) -> Node:
        return Node(self.op, list(self.inputs), list(self.outputs), dict(self.attrs), self.name)

    def __str__(self) -> str:
        args = ", ".join(i or "<none>" for i in self.inputs)
        return f"{', '.join(self.outputs)} = {self.op}({args})  # {self.name}"


class Graph:
    """A computation graph: nodes, graph inputs/outputs (:class:`Value`) and initializers.

    ``initializers`` maps a name to a constant array (weights). ``opset`` is the ONNX opset
    version the node semantics follow (it matters for a few ops, e.g. Softmax before 13);
    None means the newest. Arrays are shared, never copied: treat them as read-only.
    """

    def __init__(self, nodes, inputs, outputs, initializers=None, name="graph", opset=None):
        self.nodes: list[Node] = list(nodes)
        self.inputs: list[Value] = [v if isinstance(v, Value) else Value(v) for v in inputs]
        self.outputs: list[Value] = [v if isinstance(v, Value) else Value(v) for v in outputs]
        self.initializers: dict[str, np.ndarray] = dict(initializers or {})
        self.name = name
        self.opset = opset

    # ---- lookups -------------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        """Value name -> the node that writes it (GraphError if two nodes write the same name)."""
        out: dict[str, Node] = {}
        for node in self.nodes:
            for name in node.outputs:
                if not name:
                    continue
                if name in out:
                    raise GraphError(
                        f"value '{name}' is written by two nodes, '{out[name].name}' and "
                        f"'{node.name}'; every value needs exactly one producer"
                    )
                out[name] = node
        return out

    def consumer_map(self) -> dict[str, list[Node]]:
        """Value name -> the nodes that read it, in node-list order."""
        out: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in dict.fromkeys(node.inputs):  # a node reading x twice counts once
                if name:
                    out.setdefault(name, []).append(node)
        return out

    def producer(self, value: str) -> Node | None:
        """The node that writes ``value``, or None for a graph input or initializer."""
        return self.producers().get(value)

    def consumers(self, value: str) -> list[Node]:
        """The nodes that read ``value``."""
        return self.consumer_map().get(value, [])

    # ---- order ---------------------------------------------------------------------------
    def topological_order(self) -> list[Node]:
        """The nodes in an order where each node runs after the producers of its inputs.

        Kahn's algorithm: repeatedly run a node whose inputs all exist. Raises GraphError for
        an input no one produces and CycleError (naming the nodes on a cycle) when nodes are
        left that wait on each other. Ties keep the node-list order, so it is deterministic.
        """
        producers = self.producers()
        known = {v.name for v in self.inputs} | set(self.initializers) | {""}
        for node in self.nodes:
            for name in node.inputs:
                if name not in known and name not in producers:
                    raise GraphError(
                        f"node '{node.name}' ({node.op}) reads '{name}', which is not a graph "
                        "input, an initializer or the output of any node"
                    )
        waiting = {}
        readers: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            deps = {n for n in node.inputs if n not in known}
            waiting[i] = len(deps)
            for name in deps:
                readers.setdefault(name, []).append(i)
        ready = [i for i, n in waiting.items() if n == 0]
        order: list[int] = []
        while ready:
            ready.sort(reverse=True)  # pop the smallest index: keeps the file's order
            i = ready.pop()
            order.append(i)
            for name in self.nodes[i].outputs:
                for j in readers.get(name, ()):
                    waiting[j] -= 1
                    if waiting[j] == 0:
                        ready.append(j)
        if len(order) < len(self.nodes):
            raise CycleError(self._describe_cycle(set(range(len(self.nodes))) - set(order)))
        for value in self.outputs:
            if value.name not in known and value.name not in producers:
                raise GraphError(f"graph output '{value.name}' is not produced by any node")
        return [self.nodes[i] for i in order]

    def _describe_cycle(self, stuck: set[int]) -> str:
        """Follow producer links among the stuck nodes until one repeats: that is a cycle."""
        producers = {o: i for i in stuck for o in self.nodes[i].outputs}
        i, path = min(stuck), []
        while i not in path:
            path.append(i)
            i = next(producers[n] for n in self.nodes[i].inputs if n in producers)
        cycle = path[path.index(i) :][::-1]  # producer links run backwards: reverse them
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        names = " -> ".join(f"'{self.nodes[j].name}' ({self.nodes[j].op})" for j in cycle)
        return f"the graph has a cycle, so no order can run it: {names} -> back to the first"

    # ---- copies and display ---------------------------------------------------------------
    def copy(self) -> Graph:
        """A new graph with copied nodes and dicts (arrays are shared; they are read-only)."""
        return Graph(
            [n.copy() for n in self.nodes],
            list(self.inputs),
            list(self.outputs),
            dict(self.initializers),
            self.name,
            self.opset,
        )

    def num_parameters(self) -> int:
        """Number of elements in all initializers (the weights)."""
        return int(sum(a.size for a in self.initializers.values()))

    def op_counts(self) -> dict[str, int]:
        """Op type -> how many nodes use it, most frequent first."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op] = counts.get(node.op, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary(self, max_nodes: int = 60) -> str:
        """A readable listing: inputs, outputs, op counts and the nodes (first ``max_nodes``)."""
        weight_bytes = sum(a.nbytes for a in self.initializers.values())
        lines = [
            f"Graph '{self.name}': {len(self.nodes)} nodes, {self.num_parameters():,} parameters "
            f"({weight_bytes / 1e6:.2f} MB)",
            "  inputs:  " + "; ".join(str(v) for v in self.inputs),
            "  outputs: " + "; ".join(str(v) for v in self.outputs),
            "  ops:     " + ", ".join(f"{op} x{n}" for op, n in self.op_counts().items()),
        ]
        for node in self.nodes[:max_nodes]:
            lines.append("    " + str(node))
        if len(self.nodes) > max_nodes:
            lines.append(f"    ... {len(self.nodes) - max_nodes} more nodes")
        return "\n".join(lines)

    def __repr__(self) -> str:
        ins = ", ".join(str(v) for v in self.inputs)
        outs = ", ".join(str(v) for v in self.outputs)
        return (
            f"<Graph '{self.name}': {len(self.nodes)} nodes, {len(self.initializers)} "
            f"initializers; inputs [{ins}] -> outputs [{outs}]>"
        )
