"""The executor: run a graph's nodes in topological order, each by its NumPy kernel.

    >>> outputs = run(graph, {"x": x})                    # one-off
    >>> ex = Executor(graph)                              # build once ...
    >>> ex.run({"x": x})                                  # ... run many times
    >>> outputs, records = ex.run({"x": x}, profile=True) # + seconds per node

Everything that does not depend on the input values is done once in ``Executor.__init__``:
the node order, the kernel of each node, its parsed attributes, and the integer slot of every
value (a list index is faster than a dict lookup). A run is then one tight loop.

Memory (``memory=``): ``"keep"`` holds every intermediate value until the run ends (the naive
engine); ``"free"`` (default) drops each value after its last reader; ``"plan"`` also writes
outputs into buffers reused across nodes and runs, as planned by :mod:`inferlab.graph.memory`
for the input shapes seen (best for fixed shapes; a run with new shapes plans again, and the
last ``MAX_PLANS`` plans are kept). A planned executor is not re-entrant: one run at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError
from inferlab.graph.ir import Graph, NodeError, UnsupportedOpError, format_shape
from inferlab.graph.kernels import KERNELS, OUT_KERNELS, prepare_attrs

MAX_PLANS = 4  # memory plans (with their buffers) kept per executor, one per input shapes


@dataclass(frozen=True)
class NodeRecord:
    """One node's share of a profiled run: its name, op type and wall time in seconds."""

    name: str
    op: str
    seconds: float


def check_supported(graph: Graph, error=UnsupportedOpError) -> None:
    """Raise ``error`` naming every node whose op has no kernel."""
    missing = [n for n in graph.nodes if n.op not in KERNELS]
    if missing:
        listed = ", ".join(f"'{n.op}' (node '{n.name}')" for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise error(
            f"unsupported operator {listed}{more}; inferlab supports "
            f"{len(KERNELS)} ops, see inferlab.graph.KERNELS"
        )


class Executor:
    """A graph compiled for repeated runs. ``memory``: "keep" | "free" | "plan" (see module)."""

    def __init__(self, graph: Graph, memory: str = "free"):
        if memory not in ("keep", "free", "plan"):
            raise InvalidValueError(
                f"Executor memory must be 'keep', 'free' or 'plan'; got {memory!r}"
            )
        self.graph, self.memory = graph, memory
        self.order = graph.topological_order()  # GraphError / CycleError
        check_supported(graph)
        slots: dict[str, int] = {"": -1}
        for name in [v.name for v in graph.inputs] + list(graph.initializers):
            slots.setdefault(name, len(slots) - 1)
        for node in self.order:
            for name in node.outputs:
                if name:
                    slots.setdefault(name, len(slots) - 1)
        self.slots = slots
        self._template: list = [None] * (len(slots) - 1)
        for name, array in graph.initializers.items():
            self._template[slots[name]] = array
        # One step per node: (kernel, attrs, input slots, output slots, node).
        self.steps = [
            (
                KERNELS[n.op],
                prepare_attrs(n, graph.opset),
                tuple(slots[i] for i in n.inputs),
                tuple(slots[o] for o in n.outputs),
                n,
            )
            for n in self.order
        ]
        self._inputs = [(v, slots[v.name]) for v in graph.inputs]
        self._outputs = [(v.name, slots[v.name]) for v in graph.outputs]
        self._free = self._free_lists() if memory != "keep" else [()] * len(self.steps)
        self._plans: dict = {}  # input shapes -> (MemoryPlan, per-step out buffers)
        self.plan = None

    def _free_lists(self) -> list[tuple[int, ...]]:
        """Slots to drop after each step: node outputs past their last reader."""
        keep = {slot for _, slot in self._outputs}
        last: dict[int, int] = {}
        for i, (_, _, ins, outs, _) in enumerate(self.steps):
            for s in outs:
                last.setdefault(s, i)  # written but never read: drop right away
            for s in ins:
                last[s] = i
        produced = {s for step in self.steps for s in step[3]}
        free: list[list[int]] = [[] for _ in self.steps]
        for slot, i in last.items():
            if slot in produced and slot not in keep and slot >= 0:
                free[i].append(slot)
        return [tuple(f) for f in free]

    # ---- feeds ---------------------------------------------------------------------------
    def check_feeds(self, feeds: dict) -> list:
        """The value list with the feeds in place; clear errors for wrong names/shapes/dtypes."""
        if not isinstance(feeds, dict):
            raise InvalidValueError(
                f"feeds must be a dict of input name -> array; got {type(feeds).__name__}"
            )
        expected = {v.name for v, _ in self._inputs}
        unknown = [k for k in feeds if k not in expected]
        missing = [
            v
            for v, _ in self._inputs
            if v.name not in feeds and v.name not in self.graph.initializers
        ]
        if unknown or missing:
            wanted = "; ".join(
                f"'{v.name}' {format_shape(v.shape)} {v.dtype or ''}" for v, _ in self._inputs
            )
            problem = (
                f"unknown input {unknown}"
                if unknown
                else f"missing input {[v.name for v in missing]}"
            )
            raise InvalidValueError(f"{problem}; graph '{self.graph.name}' takes: {wanted}")
        vals = list(self._template)
        bound: dict[str, tuple[int, str]] = {}
        for value, slot in self._inputs:
            if value.name not in feeds:
                continue
            x = feeds[value.name]
            x = x if isinstance(x, np.ndarray) else np.asarray(x)
            _check_input(value, x, bound)
            vals[slot] = x
        return vals

    # ---- running -------------------------------------------------------------------------
    def run(self, feeds: dict, profile: bool = False):
        """Outputs by name; with ``profile=True`` also a list of :class:`NodeRecord`."""
        vals = self.check_feeds(feeds)
        outs = self._buffers(vals) if self.memory == "plan" else None
        records: list[NodeRecord] = []
        i = 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            try:
                for i, (fn, attrs, ins, outs_, node) in enumerate(self.steps):
                    args = [vals[s] if s >= 0 else None for s in ins]
                    if profile:
                        t0 = time.perf_counter()
                    out = outs[i] if outs is not None else None
                    res = fn(args, attrs) if out is None else _run_into(fn, args, attrs, out, node)
                    if profile:
                        records.append(NodeRecord(node.name, node.op, time.perf_counter() - t0))
                    for s, r in zip(outs_, res, strict=False):  # optional outputs may be absent
                        if s >= 0:
                            vals[s] = r
                    for s in self._free[i]:
                        vals[s] = None
            except Exception as e:  # noqa: BLE001 (any kernel failure becomes a NodeError)
                raise _node_error(
                    e, self.steps[i][4], [vals[s] if s >= 0 else None for s in self.steps[i][2]]
                ) from e
        result = {name: vals[s] for name, s in self._outputs}
        return (result, records) if profile else result

    def _buffers(self, vals: list):
        """Per-step output buffers of the memory plan for these input shapes (built once)."""
        key = tuple(
            None if v is None else (v.shape, v.dtype.str) for v in vals[: len(self._inputs)]
        )
        if key not in self._plans:
            from inferlab.graph.memory import allocate, plan_memory

            if len(self._plans) >= MAX_PLANS:  # e.g. a growing sequence: keep the newest
                self._plans.pop(next(iter(self._plans)))
            shapes = {v.name: vals[s].shape for v, s in self._inputs if vals[s] is not None}
            plan = plan_memory(self.graph, shapes)
            self._plans[key] = (plan, allocate(plan, [step[4] for step in self.steps]))
        self.plan, buffers = self._plans[key]
        return buffers

    def __call__(self, **feeds):
        return self.run(feeds)


def _run_into(fn, args, attrs, out, node):
    """The kernel writing into the planned buffer ``out``; if the plan's shape turns out wrong
    (NumPy refuses the ``out=`` before writing anything), the plain kernel instead."""
    try:
        return OUT_KERNELS[node.op](args, attrs, out)
    except ValueError:
        return fn(args, attrs)


def _check_input(value, x: np.ndarray, bound: dict) -> None:
    """Shape and dtype of one feed against its Value; symbolic dims must agree across inputs."""
    dtype = value.dtype or "of any dtype"
    want = f"graph input '{value.name}' needs shape {format_shape(value.shape)} {dtype}"
    got = f"got {format_shape(x.shape)} {x.dtype}"
    if value.shape is not None:
        ok = len(value.shape) == x.ndim and all(
            d is None or isinstance(d, str) or d == n
            for d, n in zip(value.shape, x.shape, strict=True)
        )
        if not ok:
            raise ShapeError(f"{want}; {got}")
        for d, n in zip(value.shape, x.shape, strict=True):
            if isinstance(d, str):
                if d in bound and bound[d][0] != n:
                    raise ShapeError(
                        f"{want}; {got}: dim '{d}' is {n} here but {bound[d][0]} "
                        f"in input '{bound[d][1]}'"
                    )
                bound.setdefault(d, (n, value.name))
    if value.dtype is not None and x.dtype != value.dtype:
        raise DTypeError(f"{want}; {got}; convert with x.astype(np.{value.dtype})")


def _node_error(e: Exception, node, args) -> InferlabError:
    shapes = ", ".join(
        "None" if a is None else f"{format_shape(np.shape(a))} {getattr(a, 'dtype', '')}"
        for a in args
    )
    where = f"node '{node.name}' ({node.op}) on inputs [{shapes}]"
    if isinstance(e, InferlabError):
        try:
            return type(e)(f"{where}: {e}")
        except TypeError:
            pass
    return NodeError(f"{where} failed: {type(e).__name__}: {e}")


def run(graph: Graph, feeds: dict, memory: str = "free") -> dict:
    """Run ``graph`` once on ``feeds`` (name -> array); returns output name -> array."""
    return Executor(graph, memory=memory).run(feeds)
