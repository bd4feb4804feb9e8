"""Shape inference: symbolic dims flow through handmade and exported graphs, and with concrete
input shapes every inferred shape and dtype equals what the executor actually produces."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from inferlab.graph import Executor, Graph, Node, Value
from inferlab.graph.passes import optimize
from inferlab.graph.shapes import broadcast, infer_shapes
from inferlab.onnx import load

torch = pytest.importorskip("torch")
nn = torch.nn


def test_broadcast_with_symbols():
    assert broadcast((3, 1), (4,)) == (3, 4)
    assert broadcast(("batch", 1, 5), (7, 1)) == ("batch", 7, 5)
    assert broadcast(("batch", 5), (1, 5)) == ("batch", 5)
    assert broadcast(("b", 5), None) is None


def test_handmade_graph_with_a_symbolic_batch():
    g = Graph(
        [
            Node("MatMul", ["x", "w"], ["h"]),
            Node("Relu", ["h"], ["r"]),
            Node("Shape", ["r"], ["s"]),
            Node("Reshape", ["r", "flat"], ["y"]),
            Node("ReduceMean", ["r"], ["m"], {"axes": [1], "keepdims": 0}),
            Node("Equal", ["r", "r"], ["e"]),
        ],
        [Value("x", ("batch", 4), np.float32)],
        [Value("y"), Value("s"), Value("m"), Value("e")],
        {"w": np.ones((4, 6), np.float32), "flat": np.array([0, 2, 3])},
    )
    shapes = infer_shapes(g)
    assert shapes["h"] == (("batch", 6), np.float32)
    assert shapes["y"] == (("batch", 2, 3), np.float32)
    assert shapes["s"] == ((2,), np.int64) and shapes["m"] == (("batch",), np.float32)
    assert shapes["e"][1] == np.bool_
    assert infer_shapes(g, {"x": (7, 4)})["y"][0] == (7, 2, 3)


class Attention(nn.Module):
    def __init__(self, d=16, heads=2):
        super().__init__()
        self.h, self.qkv, self.o = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)
        q, k, v = (t.reshape(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)).softmax(-1)
        return self.o((att @ v).transpose(1, 2).reshape(B, T, C)).mean(dim=1)


def _export(module, shape, dynamic=True):
    x = torch.zeros(shape)
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
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None,
        )
    return load(buf.getvalue())


@pytest.fixture(scope="module")
def graphs():
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(4, 8, 3, stride=2),
        nn.AvgPool2d(2, padding=1),
        nn.Flatten(),
        nn.Linear(32, 3),
    )
    mlp = nn.Sequential(nn.Linear(10, 20), nn.GELU(), nn.Linear(20, 2), nn.Softmax(-1))
    return {
        "cnn": (_export(cnn, (2, 1, 9, 9)), (1, 9, 9)),
        "mlp": (_export(mlp, (2, 10)), (10,)),
        "attention": (_export(Attention(), (2, 5, 16)), (5, 16)),
    }


@pytest.mark.parametrize("name", ["cnn", "mlp", "attention"])
def test_symbolic_batch_reaches_the_output(graphs, name):
    graph, tail = graphs[name]
    shape, dtype = infer_shapes(graph)["y"]
    assert dtype == np.float32 and shape[0] == "batch" and len(shape) >= 2


def _all_values(graph: Graph) -> Graph:
    """The same graph with every node output made a graph output, to see them all."""
    outs = [Value(o) for n in graph.nodes for o in n.outputs if o]
    return Graph(graph.nodes, graph.inputs, outs, graph.initializers, graph.name, graph.opset)


@pytest.mark.parametrize("name", ["cnn", "mlp", "attention"])
@pytest.mark.parametrize("optimized", [False, True])
def test_concrete_shapes_match_the_run(graphs, name, optimized):
    graph, tail = graphs[name]
    graph = optimize(graph) if optimized else graph
    x = np.random.default_rng(0).standard_normal((3, *tail)).astype(np.float32)
    shapes = infer_shapes(graph, {"x": x.shape})
    values = Executor(_all_values(graph), memory="keep").run({"x": x})
    for name_, array in values.items():
        assert shapes[name_] == (array.shape, array.dtype), name_
