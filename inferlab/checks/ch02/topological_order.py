"""Exercise 02, task 1: ``topological_order`` — its fresh graphs, known mistakes and diagnosis.

The answer is unique: Kahn's algorithm that, among the ready nodes, always runs the one that
comes first in ``graph.nodes`` — the engine's own :meth:`inferlab.graph.Graph.topological_order`.
A graph with a cycle must raise an error that says so (the check accepts any exception whose
message mentions "cycle", or :class:`~inferlab.graph.CycleError`); an endless loop is stopped.
"""

from __future__ import annotations

import heapq

import numpy as np

from inferlab.checks.ch02._common import (
    RAISED_CYCLE,
    TooManySteps,
    _rng,
    encode_order,
    guarded,
    random_graph,
    with_cycle,
)
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run
from inferlab.graph import CycleError, Graph

_FILE_ORDER_HINT = (
    "graph.nodes is in file order, and a file may list a node before the producer of its "
    "input (the check shuffles them). Run a node only once all its inputs exist: count, for "
    "each node, the inputs still missing, and start from the nodes with none."
)
_AVAILABLE_HINT = (
    "graph inputs (graph.inputs) and initializers (graph.initializers, the weights) exist "
    "before any node runs: only values written by another node are missing at the start. "
    "Counting them as missing leaves nodes that read a weight waiting forever."
)
_CYCLE_HINT = (
    "when no node is ready but some are left, those nodes wait on each other: the graph has "
    "a cycle and no order can run it. Raise an error then, e.g. `raise CycleError(...)` or "
    "`raise ValueError('cycle: ...')`, instead of returning the nodes ordered so far."
)
_TWICE_HINT = (
    "it fails only on graphs where a node reads the same value twice (Mul(t, t)) or two "
    "outputs of the same node (a Split): count each missing VALUE once per node "
    "(set(node.inputs)), and when a node runs, decrement once per output it writes."
)
_TIE_HINT = (
    "your order is valid, but the task asks for the engine's tie-break: whenever several "
    "nodes are ready, run the one that comes first in graph.nodes (keep the ready indices in "
    "a heap, heapq.heappop gives the smallest). A FIFO queue or a depth-first search runs them "
    "in another order."
)


def _cases() -> list[Case]:
    rng = _rng(1)
    acyclic = [
        (random_graph(rng, 3, shuffle=False), "a chain stored in order"),
        (random_graph(rng, 6), "6 nodes stored out of order"),
        (random_graph(rng, 12, n_inputs=2, n_weights=4, n_outputs=2), "two inputs, two outputs"),
        (random_graph(rng, 15, dead=3), "unused nodes"),
        (random_graph(rng, 10, two_outputs=3), "nodes with two outputs"),
        (random_graph(rng, 8, twice=True), "a node that reads a value twice"),
        (random_graph(rng, 30, n_inputs=3, n_weights=8, n_outputs=3, dead=2), "30 nodes"),
        (random_graph(rng, 1), "a single node"),
    ]
    cases = [Case((g,), note=note, tags=frozenset({"acyclic"})) for g, note in acyclic]
    cases[5] = Case(cases[5].args, note=cases[5].note, tags=frozenset({"acyclic", "twice"}))
    cyclic = [
        (with_cycle(rng, random_graph(rng, 6), 3), "a cycle of 3 nodes"),
        (with_cycle(rng, random_graph(rng, 10, dead=2), 2), "a cycle of 2 nodes"),
        (with_cycle(rng, random_graph(rng, 4), 1), "a node that reads its own output"),
    ]
    cases += [Case((g,), note=note, tags=frozenset({"cycle"})) for g, note in cyclic]
    return cases


def _reference(graph: Graph):
    try:
        return graph.topological_order()
    except CycleError:
        return RAISED_CYCLE


def _kahn(graph: Graph, *, known="inputs", tie="heap", cycle="raise"):
    """A student's Kahn's algorithm with switches for their mistakes."""
    available = set()
    if known in ("inputs", "no weights"):
        available |= {v.name for v in graph.inputs}
    if known == "inputs":
        available |= set(graph.initializers)
    missing = []
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        deps = [n for n in dict.fromkeys(node.inputs) if n not in available]
        missing.append(len(deps))
        for n in deps:
            readers.setdefault(n, []).append(i)
    ready = [i for i, m in enumerate(missing) if m == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        if tie == "heap":
            i = heapq.heappop(ready)
        else:
            i = ready.pop(0) if tie == "fifo" else ready.pop()
        order.append(graph.nodes[i])
        for out in graph.nodes[i].outputs:
            for j in readers.get(out, ()):
                missing[j] -= 1
                if missing[j] == 0:
                    if tie == "heap":
                        heapq.heappush(ready, j)
                    else:
                        ready.append(j)
    if len(order) < len(graph.nodes) and cycle == "raise":
        return RAISED_CYCLE
    return order


def _valid(graph: Graph, got: np.ndarray) -> bool:
    """``got`` (node indices) runs every node once, each after the producers of its inputs."""
    if len(got) != len(graph.nodes) or sorted(got.tolist()) != list(range(len(graph.nodes))):
        return False
    exists = {v.name for v in graph.inputs} | set(graph.initializers) | {""}
    for i in got.tolist():
        node = graph.nodes[i]
        if any(n not in exists for n in node.inputs):
            return False
        exists |= set(node.outputs)
    return True


def _rereads(graph: Graph) -> bool:
    """A node reads one value twice (Mul(t, t)) or two outputs of the same node (a Split)."""
    producer = {o: id(n) for n in graph.nodes for o in n.outputs}
    for node in graph.nodes:
        sources = [producer[n] for n in node.inputs if n in producer]
        if len(sources) != len(set(sources)):
            return True
    return False


def _diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, TooManySteps):
        return _CYCLE_HINT.replace("when no node", "your function never finished: when no node")
    if o.problem == "exception" and isinstance(o.error, RecursionError):
        return (
            "a depth-first search on a cycle recurses forever. Use Kahn's algorithm (a count "
            "of missing inputs per node and a heap of the ready ones): it ends on any graph and "
            "notices a cycle when nodes are left that never became ready."
        )
    failing = [x for x in outcomes if not x.ok]
    if all(_rereads(x.case.args[0]) for x in failing) and any(
        x.ok for x in outcomes if not _rereads(x.case.args[0])
    ):
        return _TWICE_HINT
    got = o.got
    if got is not None and "acyclic" in o.case.tags:
        if got.shape == (1,) and got[0] == -1:
            return "this graph has no cycle, yet your function reported one. " + _AVAILABLE_HINT
        if _valid(o.case.args[0], got):
            return _TIE_HINT
    if got is not None and "cycle" in o.case.tags and not (got.shape == (1,) and got[0] == -1):
        return _CYCLE_HINT
    return None


def _symptom(o: Outcome) -> str | None:
    expected_cycle = o.expected.shape == (1,) and o.expected[0] == -1
    got_cycle = o.got is not None and o.got.shape == (1,) and o.got[0] == -1
    if expected_cycle and not got_cycle:
        return (
            f"the graph has a cycle, so it should raise an error; it returned an order of "
            f"{len(o.got)} nodes"
        )
    if got_cycle:
        return f"it raised a cycle error on a graph without a cycle of {len(o.expected)} nodes"
    names = ", ".join(f"n{i}" for i in o.expected.tolist())
    yours = ", ".join(f"n{i}" for i in o.got.tolist())
    return f"expected [{names}], got [{yours}]"


TOPOLOGICAL_ORDER = Task(
    name="topological_order",
    arg_names=("graph",),
    reference=_reference,
    cases=_cases,
    covers="shuffled node lists, unused nodes, two outputs, a value read twice and 3 cycles",
    mistakes=(
        Mistake(lambda g: list(g.nodes), _FILE_ORDER_HINT),
        Mistake(lambda g: _kahn(g, known="nothing", cycle="return"), _AVAILABLE_HINT),
        Mistake(lambda g: _kahn(g, known="no weights", cycle="return"), _AVAILABLE_HINT),
        Mistake(lambda g: _kahn(g, cycle="return"), _CYCLE_HINT),
        Mistake(lambda g: _kahn(g, tie="fifo"), _TIE_HINT),
        Mistake(lambda g: _kahn(g, tie="stack"), _TIE_HINT),
    ),
    diagnose=_diagnose,
    encode=encode_order,
    symptom=_symptom,
    shape_hint="return every node of graph.nodes exactly once.",
    fallback_hint="run Kahn's algorithm by hand on a 3-node graph and compare with "
    "graph.topological_order() (the engine's) in a cell of your own.",
    forbidden=(Graph.topological_order,),
    forbidden_hint="write Kahn's algorithm yourself: graph.topological_order() is the engine's "
    "answer (use it to test your function in a cell of your own).",
)


def check_topological_order(fn) -> None:
    """Check your ``topological_order(graph)`` against ``Graph.topological_order``."""
    __tracebackhide__ = True
    run(TOPOLOGICAL_ORDER, guarded(fn, cycles=True) if callable(fn) else fn)
