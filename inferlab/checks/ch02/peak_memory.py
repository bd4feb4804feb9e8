"""Exercise 02, task 4: ``peak_activation_bytes`` — how much memory a run needs.

Walk ``order = graph.topological_order()``; at step ``i`` the outputs of ``order[i]`` are
allocated (its inputs are still alive while it runs) and the peak is read; then, when
``free_after_last_use``, every activation whose last use (task 3's definition) is ``i`` is freed.
Graph inputs and initializers are never counted; graph outputs are never freed. Without freeing
the answer is the sum of all activations (a naive engine). The reference is
:func:`inferlab.checks.ch02._common.reference_peak`, equal to
:attr:`inferlab.graph.MemoryPlan.freed_peak_bytes` / ``naive_peak_bytes`` on graphs without views.
"""

from __future__ import annotations

from inferlab.checks.ch02._common import (
    _rng,
    random_graph,
    random_sizes,
    reference_last_uses,
    reference_peak,
)
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run
from inferlab.graph import Graph

_BEFORE_HINT = (
    "allocate the node's outputs BEFORE freeing its dead inputs: while a node runs, its inputs "
    "and its outputs are in memory together (an engine can free an input only after the "
    "kernel that reads it returned). Read the peak right after allocating."
)
_OWNED_HINT = (
    "count activations only (names in some node.outputs): graph inputs belong to the caller "
    "and initializers are the weights, loaded once; sizes lists them too, don't add them."
)
_NO_FREE_HINT = (
    "with free_after_last_use=True, subtract each activation's bytes after the step of its "
    "last use (task 3): that is the whole point of liveness, the peak then drops well below "
    "the sum of all activations."
)
_ALWAYS_FREE_HINT = (
    "with free_after_last_use=False nothing is freed (a naive engine keeps every "
    "activation): the answer is the sum of all activations' bytes."
)
_DEAD_HINT = (
    "free an activation that no node reads right after its producer ran (its last use is its "
    "producer's step): otherwise unused outputs stay allocated until the end."
)
_OUTPUTS_HINT = (
    "graph outputs are never freed during the run (they are returned to the caller), even "
    "when their last reader has run."
)


def _cases() -> list[Case]:
    rng = _rng(4)
    specs = [
        (random_graph(rng, 3, shuffle=False), True, "a chain"),
        (random_graph(rng, 3, shuffle=False), False, "a chain, not freeing"),
        (random_graph(rng, 10), True, "10 nodes"),
        (random_graph(rng, 12, n_outputs=3, n_weights=4), True, "3 outputs"),
        (random_graph(rng, 12, n_outputs=2, dead=3), True, "unused nodes"),
        (random_graph(rng, 12, n_outputs=2, dead=2), False, "unused nodes, not freeing"),
        (random_graph(rng, 10, two_outputs=4, n_outputs=2), True, "nodes with two outputs"),
        (random_graph(rng, 9, twice=True), True, "a node that reads a value twice"),
        (random_graph(rng, 40, n_inputs=3, n_weights=8, n_outputs=4, dead=4), True, "40 nodes"),
        (random_graph(rng, 40, n_inputs=3, n_weights=8, n_outputs=4, dead=4), False, "40 nodes"),
    ]
    cases = []
    for graph, free, note in specs:
        sizes = random_sizes(rng, graph)
        tags = frozenset({"free" if free else "keep"})
        cases.append(Case((graph, sizes, free), note=note, tags=tags))
    return cases


def _student(
    graph: Graph,
    sizes: dict,
    free_after_last_use: bool = True,
    *,
    when="after",
    owned=False,
    free="flag",
    dead=True,
    outputs=True,
):
    """A student's peak_activation_bytes with switches for their mistakes."""
    order = graph.topological_order()
    last = reference_last_uses(graph)
    if not dead:  # values nobody reads stay until the end
        read = {n for node in order for n in node.inputs}
        last = {k: (len(order) if k not in read else v) for k, v in last.items()}
    if not outputs:  # graph outputs freed after their last reader (or producer)
        for value in graph.outputs:
            readers = [i for i, n in enumerate(order) if value.name in n.inputs]
            producer = next(i for i, n in enumerate(order) if value.name in n.outputs)
            last[value.name] = max(readers, default=producer)
    freeing = free_after_last_use if free == "flag" else free == "always"
    live = sum(sizes[v.name] for v in graph.inputs) + sum(sizes[w] for w in graph.initializers)
    live = live if owned else 0
    peak = live
    for i, node in enumerate(order):
        if freeing and when == "before":
            live -= sum(sizes[n] for n, step in last.items() if step == i and n not in node.outputs)
        live += sum(sizes[o] for o in node.outputs)
        if when != "peak after free":
            peak = max(peak, live)
        if freeing:
            if when == "before":
                live -= sum(sizes[o] for o in node.outputs if last[o] == i)
            else:
                live -= sum(sizes[n] for n, step in last.items() if step == i)
        if when == "peak after free":
            peak = max(peak, live)
    return peak


def _diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None or o.got.shape != ():
        return None
    graph, sizes, free = o.case.args
    total = sum(sizes[n] for node in graph.nodes for n in node.outputs)
    if free and int(o.got) == total:
        return _NO_FREE_HINT
    if not free and int(o.got) < total:
        return _ALWAYS_FREE_HINT
    return None


PEAK = Task(
    name="peak_activation_bytes",
    arg_names=("graph", "sizes", "free_after_last_use"),
    reference=reference_peak,
    cases=_cases,
    covers="freeing and keeping, unused values, two-output nodes and graphs of up to 40 nodes",
    mistakes=(
        Mistake(lambda g, s, f: _student(g, s, f, when="before"), _BEFORE_HINT),
        Mistake(lambda g, s, f: _student(g, s, f, when="peak after free"), _BEFORE_HINT),
        Mistake(lambda g, s, f: _student(g, s, f, owned=True), _OWNED_HINT),
        Mistake(lambda g, s, f: _student(g, s, f, free="never"), _NO_FREE_HINT),
        Mistake(lambda g, s, f: _student(g, s, f, free="always"), _ALWAYS_FREE_HINT),
        Mistake(lambda g, s, f: _student(g, s, f, dead=False), _DEAD_HINT),
        Mistake(lambda g, s, f: _student(g, s, f, outputs=False), _OUTPUTS_HINT),
    ),
    diagnose=_diagnose,
    symptom=lambda o: (
        f"expected a peak of {int(o.expected):,} bytes, got {float(o.got):,.0f}"
        if o.got is not None and o.got.shape == ()
        else None
    ),
    shape_hint="return one number: the peak in bytes (an int).",
    fallback_hint="print the live bytes after each step (allocate the node's outputs, read the "
    "peak, then free what dies at this step) on a 3-node chain and check them by hand.",
)


def check_peak_activation_bytes(fn) -> None:
    """Check your ``peak_activation_bytes(graph, sizes, free_after_last_use)``."""
    __tracebackhide__ = True
    run(PEAK, fn)
