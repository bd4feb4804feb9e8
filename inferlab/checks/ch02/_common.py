"""Helpers shared by the chapter-02 checks: fresh graphs, encodings of the answers, a hang guard.

The graphs are made by :func:`random_graph` from seeds of the checks' own: graph inputs are named
``x0, x1, ...``, initializers ``w0, w1, ...``, activations (node outputs) ``t0, t1, ...`` and
node ``i`` of ``graph.nodes`` is named ``n{i}``, so an answer (a list of nodes, a dict keyed by
value names) can be compared as an array (:func:`encode_order`, :func:`encode_names`).
"""

from __future__ import annotations

import functools
import re
import sys

import numpy as np

from inferlab.graph import CycleError, Graph, Node, Value


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook uses default_rng(0), the checks never do.
    return np.random.default_rng([2, task_number, 0xC4EC])


_OPS = {1: ("Relu", "Sigmoid", "Tanh", "Exp"), 2: ("Add", "Mul", "MatMul", "Sub"), 3: ("Sum",)}


def random_graph(
    rng: np.random.Generator,
    n_nodes: int,
    *,
    n_inputs: int = 1,
    n_weights: int = 2,
    n_outputs: int = 1,
    dead: int = 0,
    two_outputs: int = 0,
    shuffle: bool = True,
    twice: bool = False,
) -> Graph:
    """A random DAG: each node reads 1-3 earlier values (recent ones more often), ``two_outputs``
    nodes write two values (a Split), ``dead`` nodes' outputs are never read, ``n_outputs``
    values (the last one and random others, possibly read by later nodes too) are graph outputs.
    ``shuffle`` stores the nodes out of order; ``twice``: one node reads a value twice."""
    inputs = [f"x{i}" for i in range(n_inputs)]
    weights = {f"w{i}": np.zeros((1,), np.float32) for i in range(n_weights)}
    pool = inputs + list(weights)
    acts: list[str] = []
    nodes: list[Node] = []
    split_at = set(rng.choice(n_nodes, size=min(two_outputs, n_nodes), replace=False).tolist())
    dead_at = set(
        rng.choice(np.arange(n_nodes - 1), size=min(dead, n_nodes - 1), replace=False).tolist()
    )
    readable: list[str] = list(pool)
    for i in range(n_nodes):
        k = 1 if i in split_at else int(rng.choice([1, 2, 2, 3]))
        k = min(k, len(readable))
        # recent activations more often: weight grows with position in the pool
        p = np.arange(1, len(readable) + 1, dtype=float) ** 1.5
        picks = rng.choice(len(readable), size=k, replace=False, p=p / p.sum())
        ins = [readable[j] for j in picks]
        # every node reads at least one activation once there are some (a connected graph)
        if acts and not any(v.startswith("t") for v in ins):
            live = [a for a in readable if a.startswith("t")]
            if live:
                ins[0] = live[-1]
        outs = [f"t{len(acts)}"] + ([f"t{len(acts) + 1}"] if i in split_at else [])
        acts += outs
        op = "Split" if i in split_at else str(rng.choice(_OPS[len(ins)]))
        nodes.append(Node(op, ins, outs))
        if i not in dead_at:
            readable += outs
    if twice:
        j = int(rng.integers(1, n_nodes))
        nodes[j].op, nodes[j].inputs = "Mul", [nodes[j - 1].outputs[0]] * 2
    outputs = [nodes[-1].outputs[0]]
    others = [a for a in acts if a not in outputs and a in readable]
    extra = rng.choice(len(others), size=min(n_outputs - 1, len(others)), replace=False)
    outputs += [others[j] for j in sorted(extra.tolist())]
    order = rng.permutation(n_nodes) if shuffle else np.arange(n_nodes)
    nodes = [nodes[j] for j in order]
    for i, node in enumerate(nodes):
        node.name = f"n{i}"
    return Graph(
        nodes,
        [Value(x, (4, 4), np.float32) for x in inputs],
        [Value(o) for o in outputs],
        weights,
        name=f"random_{n_nodes}",
    )


def with_cycle(rng: np.random.Generator, graph: Graph, length: int) -> Graph:
    """``graph`` plus a cycle of ``length`` nodes hanging off one of its activations."""
    g = graph.copy()
    acts = [o for n in g.nodes for o in n.outputs]
    base = acts[int(rng.integers(len(acts)))]
    names = [f"c{i}" for i in range(length)]
    ring = [
        Node("Add", [base, names[i - 1]], [names[i]])
        if i == 0
        else Node("Relu", [names[i - 1]], [names[i]])
        for i in range(length)
    ]
    if length == 1:
        ring = [Node("Add", [base, names[0]], [names[0]])]
    at = int(rng.integers(len(g.nodes) + 1))
    g.nodes[at:at] = ring
    for i, node in enumerate(g.nodes):
        node.name = f"n{i}"
    return g


# ----------------------------------------------------------------------------------- encodings

RAISED_CYCLE = "raised a cycle error"  # what a wrapped function returns when it reports a cycle


def is_cycle_error(error: BaseException) -> bool:
    return isinstance(error, CycleError) or "cycle" in str(error).lower()


def encode_order(result) -> np.ndarray:
    """A list of nodes as their indices in ``graph.nodes`` ([-1] for a reported cycle)."""
    if isinstance(result, str) and result == RAISED_CYCLE:
        return np.array([-1])
    if isinstance(result, (str, bytes, dict, Node, Graph)) or not hasattr(result, "__iter__"):
        raise TypeError("return a list of the graph's Node objects, in the order they can run.")
    out = []
    for item in result:
        if isinstance(item, str):
            raise TypeError("return the Node objects themselves (graph.nodes[i]), not their names.")
        name = getattr(item, "name", None)
        match = re.fullmatch(r"n(\d+)", name) if isinstance(name, str) else None
        if match is None:
            raise TypeError(
                f"return a list of the graph's Node objects; found {type(item).__name__} "
                f"{item!r:.40} in your list."
            )
        out.append(int(match.group(1)))
    return np.array(out, dtype=np.int64)


_PREFIXES = ("x", "w", "t")
SLOTS = 128  # names x0..x127, w0..w127, t0..t127


def encode_names(result) -> np.ndarray:
    """A dict value name -> int as a vector: slot (prefix, number) holds the int, -1 if absent."""
    if not isinstance(result, dict):
        raise TypeError("return a dict that maps value names (strings) to node indices (ints).")
    out = np.full(len(_PREFIXES) * SLOTS, -1, dtype=np.int64)
    for key, value in result.items():
        match = re.fullmatch(r"([xwt])(\d+)", key) if isinstance(key, str) else None
        if match is None or int(match.group(2)) >= SLOTS:
            raise ValueError(
                f"the keys are value names such as 't3' (the strings in node.outputs); found "
                f"the key {key!r:.40}."
            )
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(
                f"the values are node indices (ints); found {value!r:.40} for the key {key!r}."
            )
        out[_PREFIXES.index(match.group(1)) * SLOTS + int(match.group(2))] = int(value)
    return out


def slot_name(slot: int) -> str:
    return f"{_PREFIXES[slot // SLOTS]}{slot % SLOTS}"


# ----------------------------------------------------------------------------------- hangs


class TooManySteps(RuntimeError):
    """Raised inside a student's function that runs far longer than the answer needs."""


def guarded(fn, cycles: bool = False, max_lines: int = 400_000):
    """``fn`` that stops with :class:`TooManySteps` after ``max_lines`` lines of Python (an
    endless loop on a cycle), and, with ``cycles``, returns :data:`RAISED_CYCLE` when ``fn``
    raises an error about a cycle. ``NotImplementedError`` (the stub) passes through."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        previous = sys.gettrace()
        count = [0]

        def local(frame, event, arg):
            if event == "line":
                count[0] += 1
                # stop in a frame of the student's (not in a generated __eq__ of "<string>")
                if count[0] > max_lines and not frame.f_code.co_filename.startswith("<string"):
                    raise TooManySteps(
                        f"stopped after {max_lines:,} lines of Python on a graph of at most "
                        "40 nodes: an endless loop?"
                    )
            return local

        def trace(frame, event, arg):
            return local

        if previous is None:
            sys.settrace(trace)
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as e:
            if cycles and not isinstance(e, TooManySteps) and is_cycle_error(e):
                return RAISED_CYCLE
            raise
        finally:
            if previous is None:
                sys.settrace(None)

    return wrapper


# ----------------------------------------------------------------------------------- liveness


def reference_last_uses(graph: Graph) -> dict[str, int]:
    """Activation -> index (in ``graph.topological_order()``) of its last reader; its producer's
    index when nothing reads it; ``len(order)`` for a graph output (never freed during the run).
    The same liveness as :func:`inferlab.graph.plan_memory`, without its views."""
    order = graph.topological_order()
    last: dict[str, int] = {}
    for i, node in enumerate(order):
        for name in node.outputs:
            if name:
                last[name] = i
        for name in node.inputs:
            if name in last:
                last[name] = i
    for value in graph.outputs:
        if value.name in last:
            last[value.name] = len(order)
    return last


def reference_peak(graph: Graph, sizes: dict, free_after_last_use: bool = True) -> int:
    """Peak bytes of live activations, each step's outputs allocated before anything is freed."""
    order = graph.topological_order()
    last = reference_last_uses(graph)
    live = peak = 0
    for i, node in enumerate(order):
        live += sum(sizes[o] for o in node.outputs if o)
        peak = max(peak, live)
        if free_after_last_use:
            live -= sum(sizes[name] for name, step in last.items() if step == i)
    return peak


def random_sizes(rng: np.random.Generator, graph: Graph) -> dict[str, int]:
    """Bytes of every value (inputs and initializers too): multiples of 256, up to 1 MiB."""
    names = [v.name for v in graph.inputs] + list(graph.initializers)
    names += [o for node in graph.nodes for o in node.outputs]
    return {n: 256 * int(rng.integers(1, 4097)) for n in names}
