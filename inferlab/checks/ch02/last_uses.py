"""Exercise 02, task 3: ``last_uses`` — when can the engine free each activation?

``last_uses(graph)`` maps every activation (a value written by a node) to the index, in
``order = graph.topological_order()``, of the last node that reads it; to its producer's index
when no node reads it; to ``len(order)`` when it is a graph output (the caller gets it: never
freed during the run). Graph inputs and initializers are not in the dict (the engine does not own
them). The reference is :func:`inferlab.checks.ch02._common.reference_last_uses`, the liveness of
:func:`inferlab.graph.plan_memory` without views.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch02._common import (
    _rng,
    encode_names,
    random_graph,
    reference_last_uses,
    slot_name,
)
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run
from inferlab.graph import Graph

_FIRST_HINT = (
    "that is the FIRST node that reads each value; a value must stay alive until its LAST "
    "reader has run: walk the whole order and overwrite last[name] = i at every read."
)
_OUTPUTS_HINT = (
    "a graph output is returned to the caller, so it is never freed during the run: map every "
    "name in graph.outputs to len(order), even when a later node reads it too."
)
_OUTPUTS_END_HINT = (
    "graph outputs map to len(order), one past the last index: the value outlives the run, "
    "len(order) - 1 would free it after the last node."
)
_OWNED_HINT = (
    "only activations (names in some node.outputs) go in the dict: graph inputs belong to "
    "the caller and initializers are the model's weights; the engine never frees either."
)
_DEAD_HINT = (
    "every activation needs an entry, also one that no node reads (an unused output, e.g. of "
    "a Split): it can be freed right after its producer runs, so map it to the producer's "
    "index."
)
_FILE_INDEX_HINT = (
    "the indices are positions in the topological order (order = graph.topological_order()), "
    "not in graph.nodes (file order): `for i, node in enumerate(order)`."
)


def _cases() -> list[Case]:
    rng = _rng(3)
    graphs = [
        (random_graph(rng, 3, shuffle=False), "a chain"),
        (random_graph(rng, 8), "8 nodes stored out of order"),
        (random_graph(rng, 12, n_inputs=2, n_weights=4, n_outputs=3), "3 outputs"),
        (random_graph(rng, 14, dead=3), "unused nodes"),
        (random_graph(rng, 10, two_outputs=3, n_outputs=2), "nodes with two outputs"),
        (random_graph(rng, 9, twice=True, n_outputs=2), "a node that reads a value twice"),
        (random_graph(rng, 36, n_inputs=3, n_weights=8, n_outputs=4, dead=4), "36 nodes"),
        (random_graph(rng, 1), "a single node"),
    ]
    return [Case((g,), note=note) for g, note in graphs]


def _student(graph: Graph, *, first=False, outputs="end", owned=False, dead=True, index="topo"):
    """A student's last_uses with switches for their mistakes."""
    order = graph.topological_order()
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    last: dict[str, int] = {}
    if owned:
        last.update({v.name: 0 for v in graph.inputs})
        last.update({name: 0 for name in graph.initializers})
    read: set[str] = set()
    for i, node in enumerate(order):
        step = i if index == "topo" else position[id(node)]
        if dead:
            last.update({name: step for name in node.outputs})
        for name in node.inputs:
            if name in graph.initializers or any(v.name == name for v in graph.inputs):
                if not owned:
                    continue
            if not (first and name in read):
                last[name] = step
            read.add(name)
    for value in graph.outputs:
        if outputs == "end":
            last[value.name] = len(order)
        elif outputs == "end - 1":
            last[value.name] = len(order) - 1
    return last


def _diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None or o.got.shape != o.expected.shape:
        return None
    extra = [slot_name(k) for k in np.flatnonzero((o.expected == -1) & (o.got != -1))]
    missing = [slot_name(k) for k in np.flatnonzero((o.expected != -1) & (o.got == -1))]
    graph = o.case.args[0]
    if extra and all(n in graph.initializers or n.startswith("x") for n in extra):
        return _OWNED_HINT
    read = {n for node in graph.nodes for n in node.inputs}
    if missing and all(n not in read for n in missing):
        return _DEAD_HINT
    return None


def _symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    wrong = [k for k in range(len(o.got)) if o.got[k] != o.expected[k]]
    parts = []
    for k in wrong[:3]:
        name, e, g = slot_name(k), int(o.expected[k]), int(o.got[k])
        if e == -1:
            parts.append(f"'{name}' should not be a key (you map it to {g})")
        elif g == -1:
            parts.append(f"'{name}' is missing (expected {e})")
        else:
            parts.append(f"'{name}': expected {e}, got {g}")
    more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
    return "; ".join(parts) + more


LAST_USES = Task(
    name="last_uses",
    arg_names=("graph",),
    reference=reference_last_uses,
    cases=_cases,
    covers="shuffled node lists, unused values, outputs read by later nodes and two-output nodes",
    mistakes=(
        Mistake(lambda g: _student(g, first=True), _FIRST_HINT),
        Mistake(lambda g: _student(g, outputs="ignored"), _OUTPUTS_HINT),
        Mistake(lambda g: _student(g, outputs="end - 1"), _OUTPUTS_END_HINT),
        Mistake(lambda g: _student(g, owned=True), _OWNED_HINT),
        Mistake(lambda g: _student(g, dead=False), _DEAD_HINT),
        Mistake(lambda g: _student(g, index="file"), _FILE_INDEX_HINT),
    ),
    diagnose=_diagnose,
    encode=encode_names,
    symptom=_symptom,
    fallback_hint="print order = graph.topological_order() and, for each activation, find the "
    "last node in it that lists the activation in node.inputs; compare with your dict.",
)


def check_last_uses(fn) -> None:
    """Check your ``last_uses(graph)`` against the engine's liveness."""
    __tracebackhide__ = True
    run(LAST_USES, fn)
