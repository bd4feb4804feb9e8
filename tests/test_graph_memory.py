"""Memory planning: liveness numbers on a graph small enough to count by hand, identical
outputs in every memory mode, and a lower peak (measured with tracemalloc) when values are
freed after their last use or written into a reused pool."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from inferlab.graph import Executor, Graph, Node, Value
from inferlab.graph.memory import describe, measure_peak, plan_memory
from inferlab.graph.passes import fuse, optimize
from inferlab.onnx import load

torch = pytest.importorskip("torch")
nn = torch.nn


def chain() -> Graph:
    """x -> Neg -> Exp -> Relu -> Abs -> y, all (1000,) float32 (4000 bytes each)."""
    ops = ["Neg", "Exp", "Relu", "Abs"]
    names = ["x", "a", "b", "c", "y"]
    nodes = [Node(op, [names[i]], [names[i + 1]], name=op) for i, op in enumerate(ops)]
    return Graph(nodes, [Value("x", (1000,), np.float32)], [Value("y", (1000,), np.float32)])


def test_liveness_by_hand():
    plan = plan_memory(chain())
    assert plan.sizes == {"a": 4000, "b": 4000, "c": 4000, "y": 4000}
    assert (plan.first["b"], plan.last["b"]) == (1, 2) and plan.last["y"] == 3  # y lives on
    assert plan.live_bytes() == [4000, 8000, 8000, 8000]
    assert plan.naive_peak_bytes == 16000 and plan.freed_peak_bytes == 8000
    # Exp and Relu overwrite their dying input: 4000 bytes of arena serve a, b and c.
    assert plan.pool_bytes == 4000 and plan.inplace == ["b", "c"]
    assert plan.offsets == {"a": 0, "b": 0, "c": 0}
    assert plan.planned_peak_bytes == 8000  # the pool + y (an output is never pooled)
    assert "keep all (naive)" in plan.summary() and "in place" in plan.summary()
    assert "MemoryPlan(naive=16,000 B" in repr(plan) and "a" in describe(plan)


def test_views_extend_the_life_of_what_they_view():
    g = Graph(
        [
            Node("Neg", ["x"], ["a"]),
            Node("Reshape", ["a", "s"], ["v"]),
            Node("Exp", ["x"], ["b"]),
            Node("Add", ["v", "b"], ["y"]),
        ],
        [Value("x", (4, 6), np.float32)],
        [Value("y")],
        {"s": np.array([4, 6])},
    )
    plan = plan_memory(g)
    assert plan.root["v"] == "a" and plan.last["a"] == 3 and "v" not in plan.sizes
    assert plan.offsets["a"] != plan.offsets["b"]  # a is still viewed when b is written
    assert plan.offsets["b"] % 64 == 0 and plan.pool_bytes == 128 + 96
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(Executor(g, memory="plan").run({"x": x})["y"], -x + np.exp(x))


def _models():
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Linear(64, 512),
        nn.GELU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.Tanh(),
        nn.Linear(512, 10),
    )
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    return {"mlp": (mlp, (64,)), "cnn": (cnn, (1, 8, 8)), "encoder": (Encoder(), (16, 64))}


class Encoder(nn.Module):
    """A post-LN transformer encoder layer (BERT's layout), attention spelled out."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.h, self.ln1, self.ln2 = heads, nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.f1, self.f2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)
        q, k, v = (t.reshape(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / (C // self.h) ** 0.5).softmax(-1)
        x = self.ln1(x + self.o((att @ v).transpose(1, 2).reshape(B, T, C)))
        return self.ln2(x + self.f2(nn.functional.gelu(self.f1(x))))


@pytest.fixture(scope="module")
def graphs():
    out = {}
    for name, (module, shape) in _models().items():
        x = torch.zeros((2, *shape))
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (x,),
                buf,
                input_names=["x"],
                output_names=["y"],
                dynamo=False,
                opset_version=17,
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )
        out[name] = load(buf.getvalue())
    return out


def _feeds(graph, batch):
    shape = (batch, *graph.inputs[0].shape[1:])
    return {"x": np.random.default_rng(batch).standard_normal(shape).astype(np.float32)}


@pytest.mark.parametrize("name", ["mlp", "cnn", "encoder"])
@pytest.mark.parametrize("optimized", [False, True])
def test_every_memory_mode_gives_identical_outputs(graphs, name, optimized):
    graph = optimize(graphs[name]) if optimized else graphs[name]
    executors = {m: Executor(graph, memory=m) for m in ("keep", "free", "plan")}
    for batch in (2, 5, 2):
        feeds = _feeds(graph, batch)
        outs = {m: ex.run(feeds)["y"] for m, ex in executors.items()}
        np.testing.assert_array_equal(outs["free"], outs["keep"])
        np.testing.assert_array_equal(outs["plan"], outs["keep"])
    assert executors["plan"].plan is not None


@pytest.mark.parametrize(
    ("name", "optimized"), [("mlp", False), ("encoder", False), ("encoder", True)]
)
def test_measured_peak_drops(graphs, name, optimized):
    graph = optimize(graphs[name]) if optimized else graphs[name]
    feeds = _feeds(graph, 256 if name == "mlp" else 64)
    peaks = {m: measure_peak(Executor(graph, memory=m), feeds) for m in ("keep", "free", "plan")}
    plan = plan_memory(graph, {"x": feeds["x"].shape})
    assert peaks["free"] < 0.8 * peaks["keep"] and peaks["plan"] < 0.8 * peaks["keep"], peaks
    assert plan.freed_peak_bytes < plan.naive_peak_bytes
    assert plan.planned_peak_bytes < plan.naive_peak_bytes
    # The naive executor holds at least every activation the plan counts.
    assert peaks["keep"] >= plan.naive_peak_bytes


def test_fusion_lowers_the_measured_peak(graphs):
    feeds = _feeds(graphs["encoder"], 64)
    plain = measure_peak(Executor(graphs["encoder"], memory="keep"), feeds)
    fused = measure_peak(Executor(optimize(graphs["encoder"]), memory="keep"), feeds)
    assert fused < 0.6 * plain


def test_plan_matches_inferred_sizes(graphs):
    graph = fuse(graphs["cnn"])  # (optimize would lower these small convolutions to GEMMs)
    plan = plan_memory(graph, {"x": (64, 1, 8, 8)})
    first_conv = next(n for n in graph.nodes if n.op == "FusedConv")
    assert plan.sizes[first_conv.outputs[0]] == 64 * 16 * 8 * 8 * 4
    assert plan.pool_bytes <= plan.naive_peak_bytes
