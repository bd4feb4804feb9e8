"""Fine-tuning engine graphs with torch autograd (inferlab.prune.finetune).

The torch interpreter computes what the engine computes; the digits CNN with half of the
channels of conv1, conv2 and fc1 physically removed comes back, after fine-tuning on the 1438
training images, to within 1 point of the dense model's 98.6 % test top-1 (issue 6's goal);
an 80 %-sparse masked CNN recovers most of its accuracy while every masked weight stays
exactly 0.0; training is deterministic for a seed and never changes the input graph.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inferlab import data
from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.graph import Executor, Graph, Node, NodeError, UnsupportedOpError, Value
from inferlab.onnx import load
from inferlab.prune import masks as M
from inferlab.prune.finetune import GraphModule, finetune
from inferlab.prune.structured import prune_channels
from inferlab.reference.export import export_onnx

HALF = {"/conv1/Conv": 0.5, "/conv2/Conv": 0.5, "/fc1/Gemm": 0.5}
WEIGHTS = ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight")


@pytest.fixture(scope="module")
def split():
    s = data.digits_split()
    return s, s.x_train[:, None], s.x_test[:, None]


@pytest.fixture(scope="module")
def cnn():
    return load(export_onnx("cnn"))


def _accuracy(graph, x, y):
    return float((Executor(graph).run({"x": x})["logits"].argmax(1) == y).mean())


def _snapshot(graph):
    return {k: v.copy() for k, v in graph.initializers.items()}


def test_interpreter_matches_engine(cnn, split):
    s, _, x_test = split
    mlp = load(export_onnx("mlp"))
    for graph, x in ((cnn, x_test), (mlp, s.x_test.reshape(-1, 64))):
        with torch.no_grad():
            got = GraphModule(graph)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(
            got, Executor(graph).run({"x": x})["logits"], rtol=1e-5, atol=1e-5
        )


def test_structured_half_channels_recovers(cnn, split):
    """Issue 6: 50 % structured channel pruning, fine-tuned, top-1 drop <= 1 point."""
    s, x_train, x_test = split
    dense = _accuracy(cnn, x_test, s.y_test)
    assert dense == pytest.approx(0.986, abs=0.001)
    small = prune_channels(cnn, HALF)
    before = _snapshot(small)
    pruned = _accuracy(small, x_test, s.y_test)
    tuned = finetune(small, x_train, s.y_train, epochs=10, lr=3e-3, seed=0, schedule="cosine")
    after = _accuracy(tuned, x_test, s.y_test)
    assert pruned < dense - 0.1  # without fine-tuning half the channels cost >10 points
    assert after >= dense - 0.01, (dense, pruned, after)
    assert {k: v.shape for k, v in tuned.initializers.items()} == {
        k: v.shape for k, v in small.initializers.items()
    }
    for k, v in before.items():  # the input graph is untouched
        np.testing.assert_array_equal(small.initializers[k], v)
    # deterministic for a seed; another seed trains other weights
    again = finetune(small, x_train, s.y_train, epochs=10, lr=3e-3, seed=0, schedule="cosine")
    other = finetune(small, x_train, s.y_train, epochs=10, lr=3e-3, seed=1, schedule="cosine")
    for k in tuned.initializers:
        np.testing.assert_array_equal(again.initializers[k], tuned.initializers[k])
    assert not np.array_equal(other.initializers["fc1.weight"], tuned.initializers["fc1.weight"])


def test_masked_unstructured_recovers_and_zeros_stay(cnn, split):
    s, x_train, x_test = split
    masks = {w: M.l1_unstructured(cnn.initializers[w], 0.8) for w in WEIGHTS}
    masked = cnn.copy()
    masked.initializers.update({w: M.apply_mask(cnn.initializers[w], masks[w]) for w in WEIGHTS})
    no_ft = _accuracy(masked, x_test, s.y_test)
    # from the dense weights: finetune applies the masks before the first step
    tuned = finetune(cnn, x_train, s.y_train, epochs=5, lr=1e-3, masks=masks, seed=0)
    ft = _accuracy(tuned, x_test, s.y_test)
    assert no_ft < 0.3 and ft > no_ft + 0.6, (no_ft, ft)
    for w, m in masks.items():
        got = tuned.initializers[w]
        assert (got[~m] == 0.0).all() and not np.signbit(got[~m]).any()  # exactly +0.0
        assert (got[m] != cnn.initializers[w][m]).mean() > 0.9  # the kept weights trained
    assert not (cnn.initializers["conv1.weight"] == 0).any()  # the input graph kept its weights


def _bn_net():
    rng = np.random.default_rng(0)
    inits = {
        "w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "g": np.ones(4, np.float32), "b": np.zeros(4, np.float32),
        "m": rng.standard_normal(4).astype(np.float32), "v": np.full(4, 2.0, np.float32),
        "shape": np.array([-1, 64], np.int64),
        "fc": rng.standard_normal((64, 3)).astype(np.float32) / 8,
    }  # fmt: skip
    nodes = [
        Node("Conv", ["x", "w"], ["c"], {"pads": [1, 1, 1, 1]}),
        Node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], {"epsilon": 1e-3}),
        Node("Relu", ["n"], ["r"]),
        Node("AveragePool", ["r"], ["p"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Node("Reshape", ["p", "shape"], ["f"]),
        Node("MatMul", ["f", "fc"], ["z"]),
        Node("Softmax", ["z"], ["y"], {"axis": -1}),
    ]
    return Graph(nodes, [Value("x", ("n", 1, 8, 8), np.float32)], [Value("y")], inits, "bn")


def test_batchnorm_softmax_graph_and_mse(split):
    s, x_train, _ = split
    g = _bn_net()
    x = x_train[:64]
    with torch.no_grad():
        got = GraphModule(g)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, Executor(g).run({"x": x})["y"], rtol=1e-5, atol=1e-6)
    target = np.eye(3, dtype=np.float32)[s.y_train[:64] % 3]
    tuned = finetune(g, x, target, epochs=2, loss="mse", optimizer="sgd", lr=0.1)
    for name in ("m", "v", "shape"):  # BN statistics and shape constants are not trained
        assert tuned.initializers[name] is g.initializers[name]
    for name in ("w", "g", "b", "fc"):
        assert not np.array_equal(tuned.initializers[name], g.initializers[name])


def test_unsupported_op_and_bad_input(cnn, split):
    s, x_train, _ = split
    g = Graph(
        [Node("Shape", ["x"], ["s"]), Node("Cast", ["s"], ["y"], {"to": 1})],
        [Value("x", (2, 3), np.float32)],
        [Value("y")],
    )
    with pytest.raises(UnsupportedOpError, match="'Shape' \\(node 'Shape_s'\\).*'Cast'"):
        finetune(g, np.zeros((2, 3), np.float32), np.zeros(2, np.int64))
    x, y = x_train[:32], s.y_train[:32]
    m = np.ones((16, 1, 3, 3), bool)
    cases = [
        (ShapeError, dict(masks={"conv1.weight": np.ones((16, 9), bool)}), "needs shape"),
        (InvalidValueError, dict(masks={"nope": m}), "not a trainable float initializer"),
        (DTypeError, dict(masks={"conv1.weight": m * 2}), "must be bool"),
        (InvalidValueError, dict(masks=[m]), "masks must be a dict"),
        (InvalidValueError, dict(lr=0.0), "lr > 0"),
        (InvalidValueError, dict(lr=float("nan")), "lr > 0"),
        (InvalidValueError, dict(epochs=-1), "epochs >= 0"),
        (InvalidValueError, dict(batch_size=0), "batch_size >= 1"),
        (InvalidValueError, dict(loss="hinge"), "loss must be one of"),
        (InvalidValueError, dict(optimizer="lion"), "optimizer must be one of"),
        (InvalidValueError, dict(schedule="step"), "schedule must be one of"),
        (InvalidValueError, dict(weight_decay=-1.0), "weight_decay >= 0"),
    ]
    for error, kwargs, message in cases:
        with pytest.raises(error, match=message):
            finetune(cnn, x, y, **kwargs)
    with pytest.raises(DTypeError, match="float32 x"):
        finetune(cnn, x.astype(np.float64), y)
    with pytest.raises(ShapeError, match="must fit graph input 'x'"):
        finetune(cnn, x.reshape(32, 64), y)
    with pytest.raises(ShapeError, match="same number"):
        finetune(cnn, x, y[:10])
    with pytest.raises(DTypeError, match="int class labels"):
        finetune(cnn, x, y.astype(np.float32))
    with pytest.raises(InvalidValueError, match="needs an inferlab.graph.Graph"):
        finetune("cnn.onnx", x, y)
    with pytest.raises(InvalidValueError, match="labels in \\[0, classes\\)"):
        finetune(cnn, x, y + 10)
    with pytest.raises(ShapeError, match="mse needs y of the output's shape"):
        finetune(cnn, x, np.zeros((32, 3), np.float32), loss="mse")
    bad = cnn.copy()
    bad.initializers["fc2.weight"] = bad.initializers["fc2.weight"][:, :10]  # 64 -> 10 inputs
    with pytest.raises(NodeError, match="node '/fc2/Gemm' \\(Gemm\\).*torch interpreter"):
        finetune(bad, x, y)
