"""The profiler: one record per node, shares that add up, FLOPs and bytes from inferlab.ops'
cost functions, a text table, plain records and a matplotlib figure."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from inferlab import ops
from inferlab.graph import Graph, Node, Value
from inferlab.graph.passes import optimize
from inferlab.graph.profile import Profile, ProfileRecord, node_cost, plot_profile, profile
from inferlab.graph.shapes import infer_shapes

rng = np.random.default_rng(0)


def small_cnn() -> Graph:
    """x (N, 1, 8, 8) -> Conv(4, 3x3, pad 1) -> Relu -> MaxPool 2 -> Reshape -> Gemm -> Softmax."""
    return Graph(
        [
            Node("Conv", ["x", "w", "b"], ["c"], {"pads": [1, 1, 1, 1]}, name="conv"),
            Node("Relu", ["c"], ["r"], name="relu"),
            Node("MaxPool", ["r"], ["p"], {"kernel_shape": [2, 2], "strides": [2, 2]}, name="pool"),
            Node("Reshape", ["p", "shape"], ["f"], name="flatten"),
            Node("Gemm", ["f", "fw", "fb"], ["z"], {"transB": 1}, name="fc"),
            Node("Softmax", ["z"], ["y"], {"axis": -1}, name="softmax"),
        ],
        [Value("x", ("N", 1, 8, 8), np.float32)],
        [Value("y", ("N", 10), np.float32)],
        {
            "w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
            "b": rng.standard_normal(4).astype(np.float32),
            "shape": np.array([0, -1]),
            "fw": rng.standard_normal((10, 64)).astype(np.float32),
            "fb": rng.standard_normal(10).astype(np.float32),
        },
        name="small_cnn",
    )


@pytest.fixture(scope="module")
def prof():
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    return profile(small_cnn(), {"x": x}, repeat=3)


def test_one_record_per_node_and_shares_add_up(prof):
    assert [r.name for r in prof.records] == ["conv", "relu", "pool", "flatten", "fc", "softmax"]
    assert all(isinstance(r, ProfileRecord) and r.seconds > 0 for r in prof.records)
    assert sum(r.share for r in prof.records) == pytest.approx(1.0)
    assert prof.total_seconds == pytest.approx(sum(r.seconds for r in prof.records))


def test_flops_and_bytes_come_from_ops_costs(prof):
    rec = {r.name: r for r in prof.records}
    conv = ops.conv2d_cost((16, 1, 8, 8), (4, 1, 3, 3), padding=1)
    assert rec["conv"].flops == conv.flops and rec["conv"].bytes == conv.bytes
    assert rec["fc"].flops == ops.matmul_cost((16, 64), (64, 10)).flops + 16 * 10
    assert rec["relu"].flops == ops.relu_cost((16, 4, 8, 8)).flops
    assert rec["softmax"].flops == ops.softmax_cost((16, 10)).flops
    assert rec["pool"].flops == ops.pool2d_cost((16, 4, 8, 8), 2).flops
    assert rec["flatten"].flops == 0 and rec["flatten"].bytes == 0  # a view moves nothing
    assert rec["relu"].bytes == 2 * 16 * 4 * 8 * 8 * 4
    assert rec["conv"].gflops_per_s > 0 and rec["conv"].intensity > rec["relu"].intensity


def test_fused_node_costs_its_parts_but_moves_fewer_bytes():
    g = Graph(
        [
            Node("MatMul", ["x", "w"], ["m"]),
            Node("Add", ["m", "b"], ["a"]),
            Node("Relu", ["a"], ["y"]),
        ],
        [Value("x", (32, 64), np.float32)],
        [Value("y")],
        {"w": np.ones((64, 48), np.float32), "b": np.ones(48, np.float32)},
    )
    fused = optimize(g)
    assert [n.op for n in fused.nodes] == ["FusedMatMul"]
    costs = [node_cost(n, infer_shapes(g)) for n in g.nodes]
    fcost = node_cost(fused.nodes[0], infer_shapes(fused))
    assert fcost.flops == sum(c.flops for c in costs)
    assert fcost.bytes < sum(c.bytes for c in costs)


def test_table_records_and_aggregation(prof):
    text = prof.table()
    assert text.splitlines()[0].split()[:3] == ["op", "n", "ms"]
    assert "Conv" in text and "total" in text and "GFLOP/s" in text
    assert "conv (Conv)" in prof.table(by="node")
    assert "(2 more)" in prof.table(by="node", top=4)
    by_op = prof.by_op()
    assert {r.op for r in by_op} == {"Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Softmax"}
    assert by_op == sorted(by_op, key=lambda r: -r.seconds)
    rows = prof.to_records()
    assert rows[0]["name"] == "conv" and {
        "seconds",
        "share",
        "flops",
        "bytes",
        "gflops_per_s",
    } <= set(rows[0])
    assert len(prof.to_records(by="op")) == 6 and str(prof) == prof.table()


def test_plot_returns_a_figure(prof):
    fig = plot_profile(prof)
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    assert len(ax.patches) == 6 and "small_cnn" in ax.get_title()
    fig2 = plot_profile(prof, by="node", top=3)
    assert len(fig2.axes[0].patches) == 3
    matplotlib.pyplot.close("all")


def test_profile_of_an_empty_profile_is_harmless():
    empty = Profile([], "nothing")
    assert empty.total_seconds == 0 and "total" in empty.table()
