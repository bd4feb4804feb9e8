"""The graph IR and the executor on handmade graphs: order, lookups, copies, display, kernels,
memory modes, profiling records and the errors a reader meets when building graphs by hand."""

from __future__ import annotations

import numpy as np
import pytest

from inferlab import ops
from inferlab.errors import InvalidValueError
from inferlab.graph import (
    KERNELS,
    BadAttributeError,
    CycleError,
    Executor,
    Graph,
    GraphError,
    Node,
    NodeRecord,
    UnsupportedOpError,
    Value,
    run,
)

rng = np.random.default_rng(0)
W1, B1 = rng.standard_normal((8, 16)).astype(np.float32), rng.standard_normal(16).astype(np.float32)
W2, B2 = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)


def two_layer() -> Graph:
    """x (batch, 8) -> MatMul + Add -> Relu -> MatMul + Add -> y (batch, 4)."""
    return Graph(
        nodes=[
            Node("MatMul", ["x", "w1"], ["h0"], name="fc1"),
            Node("Add", ["h0", "b1"], ["h1"], name="bias1"),
            Node("Relu", ["h1"], ["h2"], name="act"),
            Node("MatMul", ["h2", "w2"], ["h3"], name="fc2"),
            Node("Add", ["h3", "b2"], ["y"], name="bias2"),
        ],
        inputs=[Value("x", ("batch", 8), np.float32)],
        outputs=[Value("y", ("batch", 4), np.float32)],
        initializers={"w1": W1, "b1": B1, "w2": W2, "b2": B2},
        name="two_layer",
    )


def reference(x):
    return np.maximum(x @ W1 + B1, 0) @ W2 + B2


def test_value_and_node_basics():
    v = Value("x", ["batch", 8], "float32")
    assert v.shape == ("batch", 8) and v.dtype == np.float32
    assert str(v) == "x: (batch, 8) float32"
    assert str(Value("s")) == "s: ? ?"
    n = Node("Relu", ["a"], ["b"])
    assert n.name == "Relu_b" and n.attrs == {}
    assert str(n) == "b = Relu(a)  # Relu_b"
    m = n.copy()
    m.inputs.append("c")
    assert n.inputs == ["a"]


def test_two_layer_graph_runs_like_numpy():
    x = rng.standard_normal((5, 8)).astype(np.float32)
    y = run(two_layer(), {"x": x})["y"]
    np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-5)
    assert y.dtype == np.float32 and y.shape == (5, 4)


def test_topological_order_is_valid_and_deterministic():
    g = two_layer()
    shuffled = Graph(g.nodes[::-1], g.inputs, g.outputs, g.initializers)
    order = shuffled.topological_order()
    assert [n.name for n in order] == ["fc1", "bias1", "act", "fc2", "bias2"]
    x = rng.standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(run(shuffled, {"x": x})["y"], reference(x), rtol=1e-5, atol=1e-5)


def test_producer_consumers_copy_and_summary():
    g = two_layer()
    assert g.producer("h1").name == "bias1" and g.producer("x") is None
    assert [n.name for n in g.consumers("h2")] == ["fc2"] and g.consumers("y") == []
    c = g.copy()
    c.nodes[0].inputs[0] = "changed"
    c.initializers.pop("w1")
    assert g.nodes[0].inputs[0] == "x" and "w1" in g.initializers
    text = g.summary()
    assert "5 nodes" in text and "212 parameters" in text and "MatMul x2" in text
    assert "x: (batch, 8) float32" in repr(g) and g.op_counts() == {
        "Add": 2,
        "MatMul": 2,
        "Relu": 1,
    }


def test_graph_errors():
    dup = Graph([Node("Relu", ["x"], ["y"]), Node("Neg", ["x"], ["y"])], [Value("x")], [Value("y")])
    with pytest.raises(GraphError, match="written by two nodes"):
        dup.topological_order()
    cyc = Graph(
        [Node("Relu", ["b"], ["a"], name="n1"), Node("Neg", ["a"], ["b"], name="n2")],
        [Value("x")],
        [Value("b")],
    )
    with pytest.raises(CycleError, match="'n1' \\(Relu\\) -> 'n2' \\(Neg\\)"):
        cyc.topological_order()
    bad = Graph([Node("Relu", ["x"], ["y"])], [Value("x")], [Value("nope")])
    with pytest.raises(GraphError, match="output 'nope'"):
        bad.topological_order()


def test_unsupported_op_and_bad_attribute_fail_when_building():
    g = Graph(
        [Node("Relu", ["x"], ["a"]), Node("Frobnicate", ["a"], ["y"], name="frob")],
        [Value("x")],
        [Value("y")],
    )
    with pytest.raises(UnsupportedOpError, match="'Frobnicate' \\(node 'frob'\\)"):
        Executor(g)
    g = Graph([Node("Concat", ["x", "x"], ["y"], name="cat")], [Value("x")], [Value("y")])
    with pytest.raises(BadAttributeError, match="'cat' \\(Concat\\) needs attribute 'axis'"):
        Executor(g)
    with pytest.raises(InvalidValueError, match="memory"):
        Executor(two_layer(), memory="fast")


def test_kernels_can_be_called_directly():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    (y,) = KERNELS["Softmax"]([x], {"axis": -1})
    np.testing.assert_allclose(y, ops.softmax(x), rtol=1e-6)
    (y,) = KERNELS["Gemm"]([x, W1[:4].T.copy(), B1], {"transB": 1, "alpha": 2.0})
    np.testing.assert_allclose(y, 2 * x @ W1[:4] + B1, rtol=1e-5, atol=1e-5)
    (r,) = KERNELS["Reshape"]([x, np.array([0, 2, -1])], {})
    assert r.shape == (3, 2, 2) and np.shares_memory(r, x)  # a view, no copy
    (t,) = KERNELS["Transpose"]([x], {"perm": [1, 0]})
    assert np.shares_memory(t, x)
    assert len(KERNELS) >= 90


@pytest.mark.parametrize("memory", ["keep", "free", "plan"])
def test_memory_modes_and_batch_changes(memory):
    ex = Executor(two_layer(), memory=memory)
    for batch in (3, 7, 3):
        x = rng.standard_normal((batch, 8)).astype(np.float32)
        np.testing.assert_allclose(ex.run({"x": x})["y"], reference(x), rtol=1e-5, atol=1e-5)
    assert ex(x=x)["y"].shape == (3, 4)


def test_profile_records_every_node():
    ex = Executor(two_layer())
    x = rng.standard_normal((4, 8)).astype(np.float32)
    out, records = ex.run({"x": x}, profile=True)
    np.testing.assert_allclose(out["y"], reference(x), rtol=1e-5, atol=1e-5)
    assert [r.name for r in records] == ["fc1", "bias1", "act", "fc2", "bias2"]
    assert all(isinstance(r, NodeRecord) and r.seconds >= 0 for r in records)
    assert records[0].op == "MatMul"


def test_outputs_can_be_inputs_or_initializers_and_outputs_survive_runs():
    g = Graph(
        [Node("Neg", ["x"], ["y"])],
        [Value("x", (2,), np.float32)],
        [Value("y"), Value("x"), Value("w")],
        {"w": np.ones(2, np.float32)},
    )
    ex = Executor(g, memory="plan")
    a = ex.run({"x": np.float32([1, 2])})
    b = ex.run({"x": np.float32([3, 4])})
    np.testing.assert_array_equal(a["y"], [-1, -2])  # not overwritten by the second run
    np.testing.assert_array_equal(b["x"], [3, 4])
    np.testing.assert_array_equal(b["w"], [1, 1])


def test_initializer_inputs_are_optional_feeds():
    g = Graph(
        [Node("Mul", ["x", "k"], ["y"])],
        [Value("x"), Value("k")],
        [Value("y")],
        {"k": np.float32(2)},
    )
    np.testing.assert_array_equal(run(g, {"x": np.float32([1, 2])})["y"], [2, 4])
    np.testing.assert_array_equal(
        run(g, {"x": np.float32([1, 2]), "k": np.float32(3)})["y"], [3, 6]
    )
