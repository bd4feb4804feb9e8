"""Exercise 02, task 5: ``fuse_matmul_add_relu`` — a fusion pass, checked by running the graphs.

Every chain ``t = MatMul(x, W)``, ``u = Add(t, b)`` (or ``Add(b, t)``) with ``b`` an initializer,
``y = Relu(u)`` becomes one ``Node("FusedMatMul", [x, W, b], [y], {"activation": "Relu"})``,
unless ``t`` or ``u`` is read by another node or is a graph output (then it must stay). The
answer is encoded as the count of FusedMatMul nodes, the count of all nodes and the outputs the
engine's :class:`~inferlab.graph.Executor` computes from fixed inputs, so any correct rewrite
(whatever its node names and order) matches the reference.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch02._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run
from inferlab.errors import InferlabError
from inferlab.graph import Executor, Graph, Node, Value

_SHARED_HINT = (
    "fuse only when the intermediate values are read by the next node of the chain and by "
    "nothing else: if another node (or the graph's outputs) reads t = MatMul(...) or "
    "u = Add(...), the fused node would no longer write it and that reader breaks; keep "
    "such a chain as it is."
)
_ORDER_HINT = (
    "Add is commutative: the bias may be its first input, Add(b, t), as well as its second; "
    "take the Add input that is not t."
)
_BIAS_HINT = (
    "fuse only a bias: the Add's other input must be an initializer of shape (N,) (a weight), "
    "not an activation, which FusedMatMul's bias input does not take."
)
_KEEP_HINT = (
    "return a new graph WITHOUT the fused chains' MatMul, Add and Relu nodes: the fused node "
    "replaces them (and writes the Relu's output)."
)


_NODE_HINT = (
    "Check the fused nodes: Node('FusedMatMul', [x, W, b], [y], {'activation': 'Relu'}) takes "
    "the MatMul's two inputs and the bias, in this order, and writes the Relu's output y."
)


def _feeds(graph: Graph) -> dict:
    rng = np.random.default_rng(2024)
    return {v.name: rng.standard_normal(v.shape).astype(np.float32) for v in graph.inputs}


def encode_graph(result) -> np.ndarray:
    """[number of FusedMatMul nodes, number of nodes, the outputs, flattened]."""
    if not isinstance(result, Graph):
        raise TypeError("return a Graph (a new one, e.g. Graph(nodes, graph.inputs, ...)).")
    try:
        values = Executor(result).run(_feeds(result))
    except InferlabError as e:
        hint = ""
        if "reads '" in str(e) or "graph output" in str(e):
            hint = " Did you fuse a chain whose intermediate value is still needed? " + _SHARED_HINT
            if "graph output" in str(e):
                hint += " " + _NODE_HINT
        else:
            hint = " " + _NODE_HINT
        raise ValueError(f"the engine cannot run the graph you returned ({e}).{hint}") from None
    fused = sum(n.op == "FusedMatMul" for n in result.nodes)
    parts = [np.array([fused, len(result.nodes)], np.float64)]
    parts += [np.asarray(values[v.name], np.float64).ravel() for v in result.outputs]
    return np.concatenate(parts)


def _mlp(rng, layers, traps=(), *, shuffle=False, batch=3, width=5) -> Graph:
    """An MLP of ``layers`` MatMul + Add + Relu chains, with ``traps`` on some layers:
    {layer: "shared t" | "shared u" | "output u" | "bias first" | "no add" | "tanh" |
    "activation bias"}."""
    traps = dict(traps)
    nodes, weights, outputs = [], {}, []
    h = "x0"
    for i in range(layers):
        trap = traps.get(i, "")
        w, b = f"w{i}", f"b{i}"
        weights[w] = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        t, u, y = f"t{3 * i}", f"t{3 * i + 1}", f"t{3 * i + 2}"
        nodes.append(Node("MatMul", [h, w], [t]))
        if trap == "no add":
            nodes.append(Node("Relu", [t], [y]))
            h = y
            continue
        if trap == "activation bias":
            bias = h  # (batch, width): an activation, not a bias
        else:
            bias = b
            weights[b] = rng.standard_normal(width).astype(np.float32)
        nodes.append(Node("Add", [bias, t] if trap == "bias first" else [t, bias], [u]))
        nodes.append(Node("Tanh" if trap == "tanh" else "Relu", [u], [y]))
        if trap == "shared t":
            nodes.append(Node("Sigmoid", [t], [f"s{i}"]))
            outputs.append(f"s{i}")
        if trap == "shared u":
            nodes.append(Node("Sigmoid", [u], [f"s{i}"]))
            outputs.append(f"s{i}")
        if trap == "output u":
            outputs.append(u)
        h = y
    outputs.append(h)
    if shuffle:
        nodes = [nodes[j] for j in rng.permutation(len(nodes))]
    for k, node in enumerate(nodes):
        node.name = f"n{k}"
    return Graph(
        nodes,
        [Value("x0", (batch, width), np.float32)],
        [Value(o) for o in outputs],
        weights,
        name=f"mlp_{layers}",
    )


def _cases() -> list[Case]:
    rng = _rng(5)
    specs = [
        (_mlp(rng, 1), "one layer"),
        (_mlp(rng, 3), "3 layers"),
        (_mlp(rng, 3, {1: "bias first"}), "Add(b, t): the bias first"),
        (_mlp(rng, 3, {0: "shared t"}), "a MatMul output read by another node too"),
        (_mlp(rng, 3, {2: "shared u"}), "an Add output read by another node too"),
        (_mlp(rng, 2, {0: "output u"}), "an Add output that is a graph output"),
        (_mlp(rng, 3, {1: "no add", 2: "tanh"}), "MatMul + Relu and MatMul + Add + Tanh"),
        (_mlp(rng, 2, {1: "activation bias"}), "an Add of two activations"),
        (_mlp(rng, 5, {3: "shared t"}, shuffle=True), "5 layers stored out of order"),
    ]
    return [Case((g,), note=note) for g, note in specs]


def _fuse(graph: Graph, *, shared=False, output=False, either=True, any_bias=False, drop=True):
    """A fusion pass with switches for the students' mistakes."""
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in dict.fromkeys(node.inputs):
            readers.setdefault(name, []).append(node)
    outs = {v.name for v in graph.outputs}

    def only(name):
        r = readers.get(name, [])
        if not shared and (len(r) != 1 or (name in outs and not output)):
            return None
        return r[0] if r else None

    removed, new_nodes = set(), []
    fused_at = {}
    for mm in graph.nodes:
        if mm.op != "MatMul":
            continue
        t = mm.outputs[0]
        add = only(t)
        if add is None or add.op != "Add":
            continue
        if not either and add.inputs[0] != t:
            continue
        b = add.inputs[1] if add.inputs[0] == t else add.inputs[0]
        if not any_bias and (b not in graph.initializers or graph.initializers[b].ndim != 1):
            continue
        relu = only(add.outputs[0])
        if relu is None or relu.op != "Relu":
            continue
        fused = Node(
            "FusedMatMul", [mm.inputs[0], mm.inputs[1], b], relu.outputs, {"activation": "Relu"}
        )
        fused_at[id(relu)] = fused
        if drop:
            removed |= {id(mm), id(add)}
    for node in graph.nodes:
        if id(node) in fused_at:
            if not drop:
                new_nodes.append(node)
            new_nodes.append(fused_at[id(node)])
        elif id(node) not in removed:
            new_nodes.append(node)
    if not drop:
        new_nodes = [n for n in new_nodes if n.op != "Relu" or id(n) not in fused_at]
    return Graph(new_nodes, graph.inputs, graph.outputs, graph.initializers, graph.name)


def _diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None or o.got.shape != o.expected.shape:
        return None
    if o.got[0] == 0 and o.expected[0] > 0:
        return (
            "your graph has no FusedMatMul node: replace each MatMul + Add + Relu chain by "
            "Node('FusedMatMul', [x, W, b], [relu_output], {'activation': 'Relu'})."
        )
    if np.array_equal(o.got[:2], o.expected[:2]):
        return (
            "the fused graph computes different outputs: the fused node's inputs are the "
            "MatMul's two inputs and the bias, in this order, and it writes the Relu's output."
        )
    return None


def _symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    (ef, en), (gf, gn) = (int(v) for v in o.expected[:2]), (int(v) for v in o.got[:2])
    if (ef, en) != (gf, gn):
        return (
            f"expected {ef} FusedMatMul node{'s' * (ef != 1)} and {en} node{'s' * (en != 1)} "
            f"in all, got {gf} and {gn}"
        )
    err = float(np.max(np.abs(o.got[2:] - o.expected[2:])))
    return f"the right nodes, but the graph's outputs differ by up to {err:.3g}"


FUSION = Task(
    name="fuse_matmul_add_relu",
    arg_names=("graph",),
    reference=_fuse,
    cases=_cases,
    covers="Add(b, t), shared intermediates, an intermediate graph output and near-misses",
    mistakes=(
        Mistake(lambda g: _fuse(g, shared=True), _SHARED_HINT),
        Mistake(lambda g: _fuse(g, output=True), _SHARED_HINT),
        Mistake(lambda g: _fuse(g, either=False), _ORDER_HINT),
        Mistake(lambda g: _fuse(g, any_bias=True), _BIAS_HINT),
    ),
    diagnose=_diagnose,
    encode=encode_graph,
    symptom=_symptom,
    shape_hint="return a graph with the same graph outputs as the one you were given.",
    fallback_hint="run both graphs with Executor(graph).run({'x0': x}) on the same x, and "
    "print graph.summary() of yours.",
)


def check_fuse_matmul_add_relu(fn) -> None:
    """Check your ``fuse_matmul_add_relu(graph)`` by running it with the engine's Executor."""
    __tracebackhide__ = True
    run(FUSION, fn)
