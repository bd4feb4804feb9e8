"""Every check of exercises 02 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/02_engine.ipynb (extracted from the notebook's
own cells and exec'd) passes; the generated stub in exercises/02_engine.ipynb is "not attempted";
and plausible wrong answers, written the way students write them, fail with a specific hint. The
checks' references agree with the engine (``Graph.topological_order``, the Gemm kernel run by the
``Executor``, ``plan_memory``). The grader grades both notebooks end to end (marked ``slow``).
"""

from __future__ import annotations

import heapq
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
)

from inferlab import ops
from inferlab.checks import ch02
from inferlab.checks.ch02 import _common
from inferlab.graph import CycleError, Executor, Graph, Node, Value, plan_memory

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["topological_order", "gemm", "last_uses", "peak_activation_bytes", "fuse_matmul_add_relu"]


SOLUTION = notebook_functions(ROOT / "solutions" / "02_engine.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "02_engine.ipynb", TASKS)


check, fails = check_helpers(ch02)


# ----------------------------------------------------------------------------- the reference


def test_a_library_function_itself_is_refused():
    assert "needs your own" in fails("topological_order", Graph.topological_order)


# ----------------------------------------------------------------------------- wrong answers: 1


def _known(graph):
    return {v.name for v in graph.inputs} | set(graph.initializers)


def topo_file_order(graph):
    return list(graph.nodes)


def topo_engine(graph):
    return graph.topological_order()


def topo_names(graph):
    return [n.name for n in SOLUTION["topological_order"](graph)]


def topo_weights_missing(graph):  # only graph inputs count as available
    available = {v.name for v in graph.inputs}
    missing = {
        i: {n for n in node.inputs if n not in available} for i, node in enumerate(graph.nodes)
    }
    order, done = [], set()
    while True:
        ready = [i for i, m in missing.items() if i not in done and not m]
        if not ready:
            break
        i = min(ready)
        done.add(i)
        order.append(graph.nodes[i])
        for m in missing.values():
            m -= set(graph.nodes[i].outputs)
    if len(order) < len(graph.nodes):
        raise ValueError("cycle detected")
    return order


def topo_nothing_available_no_error(graph):  # every input counted, partial answer
    count = [len(n.inputs) for n in graph.nodes]
    ready = [i for i, c in enumerate(count) if c == 0]
    order = []
    while ready:
        i = ready.pop(0)
        order.append(graph.nodes[i])
        for j, node in enumerate(graph.nodes):
            for name in node.inputs:
                if name in graph.nodes[i].outputs:
                    count[j] -= 1
                    if count[j] == 0:
                        ready.append(j)
    return order


def topo_no_cycle_error(graph):  # returns what it ordered, even on a cycle
    available = _known(graph)
    missing = [{n for n in node.inputs if n not in available} for node in graph.nodes]
    ready = [i for i, m in enumerate(missing) if not m]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(graph.nodes[i])
        for j, m in enumerate(missing):
            if m and m & set(graph.nodes[i].outputs):
                m -= set(graph.nodes[i].outputs)
                if not m:
                    heapq.heappush(ready, j)
    return order


def topo_endless(graph):  # "repeat until every node is placed"
    available = _known(graph)
    order = []
    while len(order) < len(graph.nodes):
        for node in graph.nodes:
            if node not in order and all(n in available for n in node.inputs):
                order.append(node)
                available |= set(node.outputs)
                break
    return order


def topo_fifo(graph):
    available = _known(graph)
    missing = [{n for n in node.inputs if n not in available} for node in graph.nodes]
    queue = deque(i for i, m in enumerate(missing) if not m)
    order = []
    while queue:
        i = queue.popleft()
        order.append(graph.nodes[i])
        for j, m in enumerate(missing):
            if m and m & set(graph.nodes[i].outputs):
                m -= set(graph.nodes[i].outputs)
                if not m:
                    queue.append(j)
    if len(order) < len(graph.nodes):
        raise CycleError("cycle")
    return order


def topo_dfs(graph):  # recursive DFS, no cycle detection
    producer = {o: n for n in graph.nodes for o in n.outputs}
    order, seen = [], set()

    def visit(node):
        if id(node) in seen:
            return
        for name in node.inputs:
            if name in producer:
                visit(producer[name])
        seen.add(id(node))
        order.append(node)

    for node in graph.nodes:
        visit(node)
    return order


def topo_counts_duplicates(graph):  # len(node.inputs) missing, decremented once per value
    available = _known(graph)
    count = [sum(n not in available for n in node.inputs) for node in graph.nodes]
    ready = [i for i, c in enumerate(count) if c == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(graph.nodes[i])
        for j, node in enumerate(graph.nodes):
            if set(node.inputs) & set(graph.nodes[i].outputs):
                count[j] -= 1
                if count[j] == 0:
                    heapq.heappush(ready, j)
    if len(order) < len(graph.nodes):
        raise CycleError("the graph has a cycle")
    return order


# ----------------------------------------------------------------------------- wrong answers: 2


def gemm_no_trans_b(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    y = alpha * (a @ b)
    return y if c is None else y + beta * c


def gemm_no_trans(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    y = alpha * (a @ b)
    return y if c is None else y + beta * c


def gemm_beta_on_all(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    return alpha * (a @ b) if c is None else beta * (alpha * (a @ b) + c)


def gemm_ravel(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    y = alpha * (a @ b)
    return y if c is None else y + beta * np.ravel(c)


def gemm_no_none(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    return alpha * (a @ b) + beta * c


def gemm_in_place(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    y = alpha * (a @ b)
    if c is None:
        return y
    c *= beta
    return y + c


def gemm_no_alpha(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    return a @ b if c is None else a @ b + beta * c


def gemm_guess_transpose(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if a.shape[1] != b.shape[0] else b  # "transpose when the shapes don't fit"
    y = alpha * (a @ b)
    return y if c is None else y + beta * c


def gemm_ops(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    y = alpha * ops.matmul(a, b)
    return y if c is None else y + beta * c


# ----------------------------------------------------------------------------- wrong answers: 3


def lu_first(graph):
    order = graph.topological_order()
    last = {}
    for i, node in enumerate(order):
        for name in node.outputs:
            last[name] = i
        for name in node.inputs:
            if name in last and last[name] < i and not any(name in n.inputs for n in order[:i]):
                last[name] = i
    for v in graph.outputs:
        last[v.name] = len(order)
    return last


def lu_no_outputs(graph):
    order = graph.topological_order()
    last = {}
    for i, node in enumerate(order):
        for name in node.outputs + node.inputs:
            if name in last or name in node.outputs:
                last[name] = i
    return last


def lu_outputs_last_step(graph):
    last = SOLUTION["last_uses"](graph)
    n = len(graph.nodes)
    return {k: (n - 1 if v == n else v) for k, v in last.items()}


def lu_with_weights(graph):
    order = graph.topological_order()
    last = {}
    for i, node in enumerate(order):
        for name in node.inputs + node.outputs:
            last[name] = i
    for v in graph.outputs:
        last[v.name] = len(order)
    return last


def lu_readers_only(graph):
    order = graph.topological_order()
    produced = {o for n in order for o in n.outputs}
    last = {}
    for i, node in enumerate(order):
        for name in node.inputs:
            if name in produced:
                last[name] = i
    for v in graph.outputs:
        last[v.name] = len(order)
    return last


def lu_file_order(graph):
    last = {}
    for node in graph.topological_order():
        i = graph.nodes.index(node)
        for name in node.outputs:
            last[name] = i
        for name in node.inputs:
            if name in last:
                last[name] = i
    for v in graph.outputs:
        last[v.name] = len(graph.nodes)
    return last


def lu_list(graph):
    return list(SOLUTION["last_uses"](graph).items())


# ----------------------------------------------------------------------------- wrong answers: 4


def _dies(graph):
    dies = {}
    for name, step in SOLUTION["last_uses"](graph).items():
        dies.setdefault(step, []).append(name)
    return dies


def peak_free_before(graph, sizes, free_after_last_use=True):
    dies = _dies(graph)
    live = peak = 0
    for i, node in enumerate(graph.topological_order()):
        if free_after_last_use:
            live -= sum(sizes[n] for n in dies.get(i, []) if n not in node.outputs)
        live += sum(sizes[n] for n in node.outputs)
        peak = max(peak, live)
        if free_after_last_use:
            live -= sum(sizes[n] for n in dies.get(i, []) if n in node.outputs)
    return peak


def peak_after_free(graph, sizes, free_after_last_use=True):
    dies = _dies(graph)
    live = peak = 0
    for i, node in enumerate(graph.topological_order()):
        live += sum(sizes[n] for n in node.outputs)
        if free_after_last_use:
            live -= sum(sizes[n] for n in dies.get(i, []))
        peak = max(peak, live)
    return peak


def peak_counts_everything(graph, sizes, free_after_last_use=True):
    start = sum(sizes[v.name] for v in graph.inputs) + sum(sizes[w] for w in graph.initializers)
    return start + SOLUTION["peak_activation_bytes"](graph, sizes, free_after_last_use)


def peak_never_frees(graph, sizes, free_after_last_use=True):
    return sum(sizes[n] for node in graph.nodes for n in node.outputs)


def peak_always_frees(graph, sizes, free_after_last_use=True):
    return SOLUTION["peak_activation_bytes"](graph, sizes, True)


def peak_keeps_unused(graph, sizes, free_after_last_use=True):
    order = graph.topological_order()
    read = {n for node in order for n in node.inputs}
    dies = {}
    for name, step in SOLUTION["last_uses"](graph).items():
        if name in read:
            dies.setdefault(step, []).append(name)
    live = peak = 0
    for i, node in enumerate(order):
        live += sum(sizes[n] for n in node.outputs)
        peak = max(peak, live)
        if free_after_last_use:
            live -= sum(sizes[n] for n in dies.get(i, []))
    return peak


# ----------------------------------------------------------------------------- wrong answers: 5


def fuse(graph, *, check_readers=True, either=True, bias_check=True, drop=True, out="relu"):
    """A student's fusion pass, written with the obvious loops, with switches for mistakes."""
    consumers = {}
    for node in graph.nodes:
        for name in node.inputs:
            consumers.setdefault(name, []).append(node)
    outs = [v.name for v in graph.outputs]
    new, skip = [], set()
    by_relu = {}
    for mm in graph.nodes:
        if mm.op != "MatMul":
            continue
        t = mm.outputs[0]
        adds = [n for n in consumers.get(t, []) if n.op == "Add"]
        if not adds or (check_readers and (len(consumers[t]) > 1 or t in outs)):
            continue
        add = adds[0]
        if add.inputs[0] == t:
            b = add.inputs[1]
        elif either:
            b = add.inputs[0]
        else:
            continue
        if bias_check and b not in graph.initializers:
            continue
        u = add.outputs[0]
        relus = [n for n in consumers.get(u, []) if n.op == "Relu"]
        if not relus or (check_readers and (len(consumers[u]) > 1 or u in outs)):
            continue
        relu = relus[0]
        target = relu.outputs[0] if out == "relu" else t
        by_relu[id(relu)] = Node(
            "FusedMatMul", [mm.inputs[0], mm.inputs[1], b], [target], {"activation": "Relu"}
        )
        if drop:
            skip |= {id(mm), id(add), id(relu)}
    for node in graph.nodes:
        if id(node) in by_relu:
            new.append(by_relu[id(node)])
        if id(node) not in skip and id(node) not in by_relu:
            new.append(node)
    return Graph(new, graph.inputs, graph.outputs, graph.initializers)


def fuse_in_place(graph):  # rewrites the graph it was given and returns it: right answer
    fused = fuse(graph)
    graph.nodes[:] = fused.nodes
    return graph


def fuse_nothing(graph):
    return graph.copy()


def fuse_swapped_inputs(graph):
    g = fuse(graph)
    for node in g.nodes:
        if node.op == "FusedMatMul":
            node.inputs = [node.inputs[1], node.inputs[0], node.inputs[2]]
    return g


def fuse_list(graph):
    return fuse(graph).nodes


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("topological_order", topo_file_order, "graph.nodes is in file order"),
    ("topological_order", topo_engine, "calls `inferlab.graph.ir.topological_order`"),
    ("topological_order", topo_names, "not their names"),
    ("topological_order", topo_weights_missing, "initializers (graph.initializers, the weights)"),
    ("topological_order", topo_nothing_available_no_error, "exist before any node runs"),
    ("topological_order", topo_no_cycle_error, "the graph has a cycle and no order can run it"),
    ("topological_order", topo_endless, "your function never finished"),
    ("topological_order", topo_fifo, "the engine's tie-break"),
    ("topological_order", topo_dfs, "a depth-first search on a cycle recurses forever"),
    ("topological_order", topo_counts_duplicates, "reads the same value twice"),
    ("gemm", gemm_no_trans_b, "apply trans_b"),
    ("gemm", gemm_no_trans, "apply trans"),
    ("gemm", gemm_beta_on_all, "beta scales C only"),
    ("gemm", gemm_ravel, "a (M, 1) C adds one number per ROW"),
    ("gemm", gemm_no_none, "C is optional"),
    ("gemm", gemm_in_place, "`c *= beta` changes the caller's array"),
    ("gemm", gemm_no_alpha, "multiply the product by alpha"),
    ("gemm", gemm_guess_transpose, "apply trans_b"),
    ("gemm", gemm_ops, "calls `inferlab.ops"),
    ("last_uses", lu_first, "that is the FIRST node"),
    ("last_uses", lu_no_outputs, "map every name in graph.outputs to len(order)"),
    ("last_uses", lu_outputs_last_step, "one past the last index"),
    ("last_uses", lu_with_weights, "only activations"),
    ("last_uses", lu_readers_only, "also one that no node reads"),
    ("last_uses", lu_file_order, "not in graph.nodes (file order)"),
    ("last_uses", lu_list, "return a dict"),
    ("peak_activation_bytes", peak_free_before, "allocate the node's outputs BEFORE freeing"),
    ("peak_activation_bytes", peak_after_free, "allocate the node's outputs BEFORE freeing"),
    ("peak_activation_bytes", peak_counts_everything, "count activations only"),
    ("peak_activation_bytes", peak_never_frees, "subtract each activation's bytes"),
    ("peak_activation_bytes", peak_always_frees, "nothing is freed"),
    ("peak_activation_bytes", peak_keeps_unused, "free an activation that no node reads"),
    ("fuse_matmul_add_relu", lambda g: fuse(g, check_readers=False), "is still needed?"),
    ("fuse_matmul_add_relu", lambda g: fuse(g, either=False), "Add is commutative"),
    ("fuse_matmul_add_relu", lambda g: fuse(g, bias_check=False), "fuse only a bias"),
    ("fuse_matmul_add_relu", lambda g: fuse(g, out="t"), "the engine cannot run the graph"),
    ("fuse_matmul_add_relu", fuse_nothing, "your graph has no FusedMatMul node"),
    ("fuse_matmul_add_relu", fuse_swapped_inputs, "the MatMul's two inputs and the bias"),
    ("fuse_matmul_add_relu", fuse_list, "return a Graph"),
]


@pytest.mark.parametrize(
    ("task", "fn", "hint"),
    WRONG,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(WRONG)],
)
def test_a_wrong_answer_fails_with_its_hint(task, fn, hint):
    message = fails(task, fn)
    assert "Hint: " in message, message
    assert hint in message, message


def test_every_task_has_wrong_answers():
    assert {t for t, _, _ in WRONG} == set(TASKS)


# ----------------------------------------------------------------------------- right answers


def topo_value_error(graph):  # any error that mentions the cycle is fine
    try:
        return SOLUTION["topological_order"](graph)
    except CycleError:
        raise ValueError("Cycle detected among the remaining nodes") from None


def topo_tuple_of_copies(graph):  # a tuple of copies of the nodes is still the right order
    return tuple(n.copy() for n in SOLUTION["topological_order"](graph))


def topo_naive_scan(graph):  # O(n^3): rescan graph.nodes for the first runnable node each time
    available = {v.name for v in graph.inputs} | set(graph.initializers)
    order = []
    while len(order) < len(graph.nodes):
        for node in graph.nodes:
            if node not in order and all(n in available for n in node.inputs):
                order.append(node)
                available |= set(node.outputs)
                break
        else:
            raise RuntimeError("no node can run: there is a cycle")
    return order


def gemm_einsum(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    y = alpha * np.einsum("ki,kj->ij" if trans_a else "ik,kj->ij", a, b.T if trans_b else b)
    return y if c is None else y + beta * np.broadcast_to(c, y.shape)


def peak_numpy_int(graph, sizes, free_after_last_use=True):
    return np.int64(SOLUTION["peak_activation_bytes"](graph, sizes, free_after_last_use))


@pytest.mark.parametrize(
    ("task", "fn"),
    [
        ("topological_order", topo_value_error),
        ("topological_order", topo_tuple_of_copies),
        ("topological_order", topo_naive_scan),
        ("gemm", gemm_einsum),
        ("peak_activation_bytes", peak_numpy_int),
        ("fuse_matmul_add_relu", fuse),
        ("fuse_matmul_add_relu", fuse_in_place),
    ],
)
def test_other_right_answers_pass(task, fn, capsys):
    check(task, fn)
    assert capsys.readouterr().out.startswith(f"✓ {task}")


def test_an_endless_loop_is_stopped_quickly_and_the_tracer_removed():
    import sys
    import time

    start = time.perf_counter()
    message = fails("topological_order", topo_endless)
    assert time.perf_counter() - start < 10
    assert "raised TooManySteps" in message and "a cycle of 3 nodes" in message, message
    assert sys.gettrace() is None


# ----------------------------------------------------------------------------- the references


def test_the_topological_reference_is_the_engine_and_cycles_are_real():
    for case in ch02.TASKS["topological_order"].cases():
        graph = case.args[0]
        if "cycle" in case.tags:
            with pytest.raises(CycleError):
                graph.topological_order()
        else:
            order = graph.topological_order()
            assert [n.name for n in order] == [n.name for n in SOLUTION["topological_order"](graph)]
    shuffled = [c for c in ch02.TASKS["topological_order"].cases() if "acyclic" in c.tags]
    assert any(list(c.args[0].nodes) != c.args[0].topological_order() for c in shuffled)


def test_the_gemm_reference_is_what_the_executor_runs():
    for case in ch02.TASKS["gemm"].cases():
        a, b, c = case.args
        kw = case.kwargs
        attrs = {
            "alpha": kw.get("alpha", 1.0),
            "beta": kw.get("beta", 1.0),
            "transA": kw.get("trans_a", 0),
            "transB": kw.get("trans_b", 0),
        }
        inputs = ["a", "b"] + ([] if c is None else ["c"])
        weights = {"b": b} | ({} if c is None else {"c": c})
        graph = Graph(
            [Node("Gemm", inputs, ["y"], attrs)],
            [Value("a", a.shape, a.dtype)],
            [Value("y")],
            weights,
        )
        got = Executor(graph).run({"a": a})["y"]
        expected = ch02.TASKS["gemm"].reference(*case.args, **case.kwargs)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert got.dtype == expected.dtype == a.dtype


def mlp_graph():
    """A small MLP with a residual and an unused branch: no views, so plan_memory's liveness is
    the task's."""
    rng = np.random.default_rng(5)
    w = {f"w{i}": rng.standard_normal((16, 16)).astype(np.float32) for i in range(3)}
    nodes = [
        Node("Relu", ["t1"], ["t2"]),
        Node("MatMul", ["x0", "w0"], ["t0"]),
        Node("Sigmoid", ["t0"], ["t1"]),
        Node("MatMul", ["t2", "w1"], ["t3"]),
        Node("Add", ["t3", "t0"], ["t4"]),
        Node("Tanh", ["t1"], ["t5"]),  # unused
        Node("MatMul", ["t4", "w2"], ["t6"]),
        Node("Relu", ["t6"], ["t7"]),
    ]
    return Graph(
        nodes, [Value("x0", ("n", 16), np.float32)], [Value("t4"), Value("t7")], w, name="mlp"
    )


def test_the_fusion_reference_matches_the_engine_fuse_pass_where_they_overlap():
    # The engine's fuse also fuses MatMul + Add alone and residuals; on plain MLPs (no traps)
    # both make one FusedMatMul per layer and compute the same outputs.
    from inferlab.checks.ch02.fusion import encode_graph
    from inferlab.graph import fuse as engine_fuse

    for case in ch02.TASKS["fuse_matmul_add_relu"].cases()[:3]:
        graph = case.args[0]
        mine = encode_graph(ch02.TASKS["fuse_matmul_add_relu"].reference(graph))
        engine = encode_graph(engine_fuse(graph, {"x0": graph.inputs[0].shape}))
        np.testing.assert_allclose(mine, engine, rtol=1e-5, atol=1e-6)
        original = encode_graph(graph)
        np.testing.assert_allclose(mine[2:], original[2:], rtol=1e-5, atol=1e-6)


def test_liveness_and_peaks_agree_with_plan_memory():
    graph = mlp_graph()
    plan = plan_memory(graph, {"x0": (32, 16)})
    last = _common.reference_last_uses(graph)
    n = len(graph.nodes)
    assert {k: min(v, n - 1) for k, v in last.items()} == plan.last
    assert SOLUTION["last_uses"](graph) == last
    sizes = dict(plan.sizes) | {"x0": 32 * 16 * 4} | {k: 16 * 16 * 4 for k in graph.initializers}
    assert _common.reference_peak(graph, sizes, True) == plan.freed_peak_bytes
    assert _common.reference_peak(graph, sizes, False) == plan.naive_peak_bytes
    assert plan.freed_peak_bytes < plan.naive_peak_bytes


def test_inputs_are_fresh_and_deterministic():
    for task in ch02.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 8
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs and a.note == b.note
            for x, y in zip(a.args, b.args, strict=True):
                if isinstance(x, Graph):
                    assert [str(n) for n in x.nodes] == [str(n) for n in y.nodes]
                elif isinstance(x, np.ndarray):
                    np.testing.assert_array_equal(x, y)


def test_the_random_graphs_cover_what_the_tasks_promise():
    tasks = ("topological_order", "last_uses", "peak_activation_bytes")
    graphs = [c.args[0] for t in tasks for c in ch02.TASKS[t].cases()]
    graphs = [g for g in graphs if len(g.nodes) > 1]
    assert any(len(n.outputs) == 2 for g in graphs for n in g.nodes)  # two outputs
    assert any(len(set(n.inputs)) < len(n.inputs) for g in graphs for n in g.nodes)  # Mul(t, t)
    assert any(len(g.outputs) >= 3 for g in graphs)
    unread = [
        g
        for g in graphs
        if {o for n in g.nodes for o in n.outputs}
        - {i for n in g.nodes for i in n.inputs}
        - {v.name for v in g.outputs}
    ]
    assert unread  # values nobody reads
    read_outputs = [
        g for g in graphs if {v.name for v in g.outputs} & {i for n in g.nodes for i in n.inputs}
    ]
    assert read_outputs  # a graph output that a later node reads too


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):\n"
        "    y = alpha * (a @ b)\n"
        "    return y if c is None else y + beta * c"
    )
    folder = tmp_path_factory.mktemp("student02")
    return grade_three(folder, ROOT, "02_engine", "gemm", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_gemm_without_transposes_with_its_hint(graded):
    assert_one_failure(graded["student"], "gemm", "apply trans_b")
