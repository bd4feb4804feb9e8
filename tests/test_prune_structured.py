"""Structured pruning (inferlab.prune.structured) and per-layer sensitivity scans
(inferlab.prune.sensitivity).

A structurally pruned graph must compute exactly what the masked model computes: for the
digits CNN and MLP, several plans (amounts 0.25/0.5/0.75, L1 and L2 norms), the smaller graph's
logits equal the masked graph's (allclose 1e-5), its weights have the closed-form shapes and
parameter count, onnxruntime runs its ONNX export to the same outputs, the channels chosen are
those of torch's ``prune.ln_structured``, and conv2's FLOPs drop by the kept fraction of its
input times output channels ((1-a)^2). Hand-built graphs cover BatchNormalization, a Reshape to
(N, C*H*W) with an explicit size, MatMul (in, out) weights and a bias Add; multi-head attention
graphs cover head pruning. Sensitivity scans run with the real digits test accuracy.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils import prune as torch_prune

from inferlab import data
from inferlab.errors import InferlabError, InvalidValueError
from inferlab.graph import Executor, Graph, GraphError, Node, Value, fold_constants, infer_shapes
from inferlab.graph.profile import node_cost
from inferlab.onnx import load, save
from inferlab.prune.heads import head_importance, masked_heads, prune_heads
from inferlab.prune.sensitivity import prunable_layers, sensitivity_scan
from inferlab.prune.structured import channel_importance, masked_channels, prune_channels
from inferlab.reference.digits import load_torch
from inferlab.reference.export import export_onnx, ort_session

torch.set_num_threads(1)  # pytest-xdist runs 2 workers on 2 cores: do not oversubscribe

CNN_LAYERS = ("/conv1/Conv", "/conv2/Conv", "/fc1/Gemm")
MLP_LAYERS = ("/layers.0/Gemm", "/layers.1/Gemm")
AMOUNTS = (0.25, 0.5, 0.75)


@pytest.fixture(scope="module")
def split():
    return data.digits_split()


@pytest.fixture(scope="module")
def cnn():
    return load(export_onnx("cnn"))


@pytest.fixture(scope="module")
def mlp():
    return load(export_onnx("mlp"))


def _logits(graph, x):
    return Executor(graph).run({"x": x})[graph.outputs[0].name]


def _kept(amount, n):
    return n - round(amount * n)  # torch: round(amount * n) pruned, banker's rounding


def _snapshot(graph):
    return {k: v.copy() for k, v in graph.initializers.items()}


def _assert_untouched(graph, before):
    assert graph.initializers.keys() == before.keys()
    for k, v in before.items():
        np.testing.assert_array_equal(graph.initializers[k], v)


# ---- digits CNN ---------------------------------------------------------------------------
@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("amount", AMOUNTS)
def test_cnn_pruned_equals_masked(cnn, split, amount, norm, tmp_path):
    before = _snapshot(cnn)
    plan = dict.fromkeys(CNN_LAYERS, amount)
    small, masked = prune_channels(cnn, plan, norm=norm), masked_channels(cnn, plan, norm=norm)
    x = split.x_test[:, None]
    y_small = _logits(small, x)
    np.testing.assert_allclose(y_small, _logits(masked, x), rtol=1e-5, atol=1e-6)
    _assert_untouched(cnn, before)
    k1, k2, k3 = _kept(amount, 16), _kept(amount, 32), _kept(amount, 64)
    shapes = {k: v.shape for k, v in small.initializers.items()}
    assert shapes == {
        "conv1.weight": (k1, 1, 3, 3),
        "conv1.bias": (k1,),
        "conv2.weight": (k2, k1, 3, 3),
        "conv2.bias": (k2,),
        "fc1.weight": (k3, k2 * 2 * 2),  # channel c covers flattened columns 4c .. 4c+3
        "fc1.bias": (k3,),
        "fc2.weight": (10, k3),
        "fc2.bias": (10,),
    }
    assert (
        small.num_parameters() == 9 * k1 + k1 + 9 * k1 * k2 + k2 + 4 * k2 * k3 + k3 + 10 * k3 + 10
    )
    assert masked.num_parameters() == cnn.num_parameters()
    # onnxruntime runs the exported smaller model to the same logits
    path = save(small, tmp_path / "small.onnx")
    y_ort = ort_session(path, threads=1, optimize=False).run(None, {"x": x})[0]
    np.testing.assert_allclose(y_ort, y_small, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("amount", AMOUNTS)
def test_cnn_channels_are_torch_ln_structured(cnn, amount, norm):
    model = load_torch("cnn")
    small = prune_channels(cnn, dict.fromkeys(CNN_LAYERS, amount), norm=norm)
    keeps = {}
    for layer in ("conv1", "conv2", "fc1"):
        module = getattr(model, layer)
        w = module.weight.detach().numpy().copy()
        scores = channel_importance(cnn, f"{layer}.weight", norm=norm)
        assert len(np.unique(scores)) == len(scores)  # tie-free, so the choice is defined
        torch_prune.ln_structured(module, "weight", amount=amount, n=norm, dim=0)
        keeps[layer] = np.flatnonzero(module.weight_mask.numpy().reshape(len(w), -1).any(axis=1))
        want = w[keeps[layer]]
        # conv2 and fc1 also lose the inputs of the channels the layer before lost
        if layer == "conv2":
            want = want[:, keeps["conv1"]]
        if layer == "fc1":
            want = want[:, (keeps["conv2"][:, None] * 4 + np.arange(4)).ravel()]
        np.testing.assert_array_equal(small.initializers[f"{layer}.weight"], want)


def test_cnn_flops_drop(cnn):
    """conv2 keeps k1 of 16 inputs and k2 of 32 filters: FLOPs x (k1*k2)/(16*32) = (1-a)^2."""
    n = 256
    for amount in AMOUNTS:
        small = prune_channels(cnn, dict.fromkeys(CNN_LAYERS, amount))
        flops = {}
        for name, g in (("dense", cnn), ("small", small)):
            shapes = infer_shapes(g, {"x": (n, 1, 8, 8)})
            flops[name] = {node.name: node_cost(node, shapes).flops for node in g.nodes}
        k1, k2 = _kept(amount, 16), _kept(amount, 32)
        conv2 = flops["small"]["/conv2/Conv"]
        assert conv2 == n * k2 * 16 * (2 * 9 * k1 + 1)  # 4x4 outputs, multiply-add + bias
        ratio = conv2 / flops["dense"]["/conv2/Conv"]
        assert ratio == pytest.approx((1 - amount) ** 2, rel=0.02)  # the bias adds a little
        total = sum(flops["small"].values()) / sum(flops["dense"].values())
        assert total < (1 - amount) + 0.01  # every layer shrinks; conv2 by (1-a)^2


def test_explicit_keep_indices_and_bool_mask(cnn, split):
    keep = [0, 3, 5, 15]
    a = prune_channels(cnn, {"/conv1/Conv": keep})
    b = prune_channels(cnn, {"conv1.weight": np.isin(np.arange(16), keep)})
    np.testing.assert_array_equal(
        a.initializers["conv1.weight"], cnn.initializers["conv1.weight"][keep]
    )
    np.testing.assert_array_equal(a.initializers["conv2.weight"], b.initializers["conv2.weight"])
    x = split.x_test[:50, None]
    np.testing.assert_allclose(
        _logits(a, x), _logits(masked_channels(cnn, {"/conv1/Conv": keep}), x), rtol=1e-5, atol=1e-6
    )
    # an int amount is a count (torch): 4 of 16 filters pruned
    assert prune_channels(cnn, {"/conv1/Conv": 4}).initializers["conv1.bias"].shape == (12,)


# ---- digits MLP ---------------------------------------------------------------------------
@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("amount", AMOUNTS)
def test_mlp_pruned_equals_masked(mlp, split, amount, norm, tmp_path):
    plan = dict.fromkeys(MLP_LAYERS, amount)
    small, masked = prune_channels(mlp, plan, norm=norm), masked_channels(mlp, plan, norm=norm)
    x = split.x_test.reshape(-1, 64)
    y_small = _logits(small, x)
    np.testing.assert_allclose(y_small, _logits(masked, x), rtol=1e-5, atol=1e-6)
    h1, h2 = _kept(amount, 128), _kept(amount, 64)
    assert small.initializers["layers.0.weight"].shape == (h1, 64)
    assert small.initializers["layers.1.weight"].shape == (h2, h1)
    assert small.initializers["layers.2.weight"].shape == (10, h2)
    assert small.num_parameters() == 64 * h1 + h1 + h1 * h2 + h2 + 10 * h2 + 10
    model = load_torch("mlp")
    for i in (0, 1):
        torch_prune.ln_structured(model.layers[i], "weight", amount=amount, n=norm, dim=0)
        keep = np.flatnonzero(model.layers[i].weight_mask.numpy().any(axis=1))
        np.testing.assert_array_equal(
            small.initializers[f"layers.{i}.bias"], mlp.initializers[f"layers.{i}.bias"][keep]
        )
    path = save(small, tmp_path / "small.onnx")
    y_ort = ort_session(path, threads=1, optimize=False).run(None, {"x": x})[0]
    np.testing.assert_allclose(y_ort, y_small, rtol=1e-5, atol=1e-5)


# ---- hand-built graphs: BatchNormalization, Reshape, MatMul (in, out), bias Add ---------------
def _bn_graph(seed=0):
    """x (N, 3, 6, 6) -> Conv 8 -> BN -> Relu -> MaxPool 2 -> Conv 6 (no bias) -> Relu ->
    Reshape [0, 54] -> MatMul (54, 12) -> Add b -> Relu -> Gemm (12, 5) transB=0 -> y."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    inits = {
        "w1": r(8, 3, 3, 3), "b1": r(8),
        "gamma": r(8), "beta": r(8), "mean": r(8), "var": rng.uniform(0.5, 2, 8).astype(np.float32),
        "w2": r(6, 8, 3, 3), "flat": np.array([0, 54], np.int64),
        "w3": r(54, 12), "b3": r(12), "w4": r(12, 5), "b4": r(5),
    }  # fmt: skip
    pad = {"pads": [1, 1, 1, 1]}
    nodes = [
        Node("Conv", ["x", "w1", "b1"], ["c1"], pad, "conv1"),
        Node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"], {}, "bn"),
        Node("Relu", ["bn"], ["r1"]),
        Node("MaxPool", ["r1"], ["p1"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Node("Conv", ["p1", "w2"], ["c2"], pad, "conv2"),
        Node("Relu", ["c2"], ["r2"]),
        Node("Reshape", ["r2", "flat"], ["f"], {}, "flatten"),
        Node("MatMul", ["f", "w3"], ["m3"], {}, "fc1"),
        Node("Add", ["m3", "b3"], ["a3"], {}, "fc1_bias"),
        Node("Relu", ["a3"], ["r3"]),
        Node("Gemm", ["r3", "w4", "b4"], ["y"], {}, "fc2"),
    ]
    return Graph(
        nodes,
        [Value("x", ("batch", 3, 6, 6), np.float32)],
        [Value("y", ("batch", 5), np.float32)],
        inits,
        "bn_net",
        opset=17,
    )


def test_batchnorm_reshape_matmul_chain(tmp_path):
    g = _bn_graph()
    before = _snapshot(g)
    x = np.random.default_rng(1).standard_normal((7, 3, 6, 6)).astype(np.float32)
    for plan in ({"conv1": 0.5, "conv2": 0.5, "fc1": 0.25}, {"conv2": [1, 4]}, {"w3": 0.75}):
        small, masked = prune_channels(g, plan), masked_channels(g, plan)
        y = _logits(small, x)
        np.testing.assert_allclose(y, _logits(masked, x), rtol=1e-5, atol=1e-5)
        y_ort = ort_session(save(small, tmp_path / "bn.onnx"), threads=1, optimize=False).run(
            None, {"x": x}
        )[0]
        np.testing.assert_allclose(y_ort, y, rtol=1e-5, atol=1e-5)
    _assert_untouched(g, before)
    small = prune_channels(g, {"conv1": 0.5, "conv2": 0.5, "fc1": 0.25})
    assert {k: v.shape for k, v in small.initializers.items() if k != "flat"} == {
        "w1": (4, 3, 3, 3), "b1": (4,), "gamma": (4,), "beta": (4,), "mean": (4,), "var": (4,),
        "w2": (3, 4, 3, 3), "w3": (27, 9), "b3": (9,), "w4": (9, 5), "b4": (5,),
    }  # fmt: skip
    assert small.initializers["flat"].tolist() == [0, 27]  # the Reshape constant follows
    masked = masked_channels(g, {"conv1": [0, 1]})
    assert (masked.initializers["gamma"][2:] == 0).all()  # BN scale/shift zeroed, stats kept
    np.testing.assert_array_equal(masked.initializers["var"], g.initializers["var"])


def _two_branch(join):
    """x -> conv a -> Relu -> conv b -> join(Relu output, conv b) -> ... (a residual/concat)."""
    rng = np.random.default_rng(0)
    inits = {
        "wa": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
        "wb": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
    }
    pad = {"pads": [1, 1, 1, 1]}
    attrs = {"axis": 1} if join == "Concat" else {}
    nodes = [
        Node("Conv", ["x", "wa"], ["a"], pad, "conv_a"),
        Node("Relu", ["a"], ["ra"]),
        Node("Conv", ["ra", "wb"], ["b"], pad, "conv_b"),
        Node(join, ["ra", "b"], ["j"], attrs, "join"),
        Node("GlobalAveragePool", ["j"], ["y"]),
    ]
    return Graph(nodes, [Value("x", (2, 4, 5, 5), np.float32)], [Value("y")], inits, "branches")


def test_refuses_what_it_cannot_follow(cnn, mlp):
    with pytest.raises(GraphError, match="output layer cannot be pruned"):
        prune_channels(cnn, {"/fc2/Gemm": 0.5})
    with pytest.raises(GraphError, match="output layer"):
        masked_channels(mlp, {"layers.2.weight": 0.3})
    for join in ("Add", "Concat"):
        with pytest.raises(GraphError, match="'join'.*another branch"):
            prune_channels(_two_branch(join), {"conv_a": 0.5})
    with pytest.raises(GraphError, match="all 16 channels"):
        prune_channels(cnn, {"/conv1/Conv": []})
    with pytest.raises(GraphError, match="all 16 channels"):
        prune_channels(cnn, {"/conv1/Conv": 16})  # an int count that prunes every filter
    with pytest.raises(GraphError, match="all 16 channels"):
        prune_channels(cnn, {"/conv1/Conv": 0.99})  # round(15.84) = 16
    shared = mlp.copy()
    shared.nodes.append(Node("Gemm", ["/Relu_output_0", "layers.1.weight"], ["z"], {"transB": 1}))
    with pytest.raises(GraphError, match="'layers.1.weight' is read by 2 nodes"):
        prune_channels(shared, {"/layers.1/Gemm": 0.5})
    with pytest.raises(GraphError, match="must be an initializer"):
        g = _bn_graph()
        g.initializers.pop("w3")
        g.inputs.append(Value("w3", (54, 12), np.float32))
        prune_channels(g, {"conv2": 0.5})


def test_bad_input(cnn):
    cases = [
        (lambda: prune_channels(cnn, {"/conv1/Conv": 1.0}), "\\[0, 1\\)"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": -0.1}), "\\[0, 1\\)"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": [0, 0, 1]}), "distinct ints in \\[0, 16\\)"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": [16]}), "distinct ints"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": "half"}), "amount"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": np.ones(5, bool)}), "bool mask of shape"),
        (lambda: prune_channels(cnn, {"nope": 0.5}), "no Conv/Gemm/MatMul node"),
        (lambda: prune_channels(cnn, {}), "non-empty dict"),
        (lambda: prune_channels(cnn, [("/conv1/Conv", 0.5)]), "non-empty dict"),
        (lambda: prune_channels("cnn.onnx", {"/conv1/Conv": 0.5}), "needs an inferlab.graph.Graph"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": 0.5}, norm=3), "norm must be"),
        (lambda: channel_importance(cnn, "/Relu"), "works on Conv, Gemm, MatMul"),
        (lambda: prune_channels(cnn, {"/conv1/Conv": 0.5, "conv1.weight": 0.25}), "twice"),
    ]
    for fn, message in cases:
        with pytest.raises(InferlabError, match=message):
            fn()
    with pytest.raises(InvalidValueError):
        prune_channels(cnn, {"/conv1/Conv": 1.0})


def test_channel_importance(cnn):
    w = cnn.initializers["conv2.weight"]
    np.testing.assert_allclose(
        channel_importance(cnn, "/conv2/Conv", 1), np.abs(w).sum((1, 2, 3)), rtol=1e-6
    )
    np.testing.assert_allclose(
        channel_importance(cnn, "conv2.weight"), np.sqrt((w**2).sum((1, 2, 3))), rtol=1e-6
    )
    np.testing.assert_allclose(
        channel_importance(cnn, "/fc2/Gemm", np.inf),
        np.abs(cnn.initializers["fc2.weight"]).max(1),
        rtol=1e-6,
    )


# ---- attention heads ----------------------------------------------------------------------
H, DH, D, S = 4, 5, 12, 6


def _mha_graph(k_layout="direct", seed=0):
    """x (batch, S, D) -> q/k/v MatMul + bias -> Reshape (B, S, H, Dh) -> Transpose ->
    scores * 1/sqrt(Dh) + causal mask -> Softmax -> @ v -> Transpose -> Reshape (B, S, H*Dh)
    -> out_proj MatMul + bias. k_layout "direct": k Transpose (0,2,3,1); "two": (0,2,1,3)
    then (0,1,3,2)."""
    rng = np.random.default_rng(seed)
    inits = {
        "split": np.array([0, 0, H, DH], np.int64),
        "merge": np.array([0, 0, H * DH], np.int64),
    }
    nodes = []
    heads = {}
    for p in "qkv":
        inits[f"w{p}"] = rng.standard_normal((D, H * DH)).astype(np.float32) / 3
        inits[f"b{p}"] = rng.standard_normal(H * DH).astype(np.float32) / 3
        nodes += [
            Node("MatMul", ["x", f"w{p}"], [f"{p}0"], {}, f"{p}_proj"),
            Node("Add", [f"{p}0", f"b{p}"], [f"{p}1"], {}, f"{p}_bias"),
            Node("Reshape", [f"{p}1", "split"], [f"{p}2"], {}, f"{p}_split"),
        ]
        perm = (0, 2, 3, 1) if p == "k" and k_layout == "direct" else (0, 2, 1, 3)
        nodes.append(Node("Transpose", [f"{p}2"], [f"{p}h"], {"perm": list(perm)}))
        heads[p] = f"{p}h"
    if k_layout == "two":
        nodes.append(Node("Transpose", ["kh"], ["khT"], {"perm": [0, 1, 3, 2]}))
        heads["k"] = "khT"
    inits["scale"] = np.array(1 / np.sqrt(DH), np.float32)
    inits["mask"] = np.triu(np.full((S, S), -1e4, np.float32), 1)
    inits["wo"] = rng.standard_normal((H * DH, D)).astype(np.float32) / 3
    inits["bo"] = rng.standard_normal(D).astype(np.float32)
    nodes += [
        Node("MatMul", [heads["q"], heads["k"]], ["s0"], {}, "scores"),
        Node("Mul", ["s0", "scale"], ["s1"]),
        Node("Add", ["s1", "mask"], ["s2"]),
        Node("Softmax", ["s2"], ["p"], {"axis": -1}),
        Node("MatMul", ["p", heads["v"]], ["c0"], {}, "weighted"),
        Node("Transpose", ["c0"], ["c1"], {"perm": [0, 2, 1, 3]}),
        Node("Reshape", ["c1", "merge"], ["c2"], {}, "merge_heads"),
        Node("MatMul", ["c2", "wo"], ["o0"], {}, "out_proj"),
        Node("Add", ["o0", "bo"], ["y"], {}, "out_bias"),
    ]
    return Graph(
        nodes, [Value("x", ("batch", S, D), np.float32)], [Value("y", ("batch", S, D), np.float32)],
        inits, "mha", opset=17,
    )  # fmt: skip


def _mha_reference(g, x, keep):
    """NumPy multi-head attention using only the heads in ``keep`` (weights of graph g)."""
    w = g.initializers
    out = np.zeros((x.shape[0], S, H * DH), np.float64)
    for h in keep:
        cols = slice(h * DH, (h + 1) * DH)
        q, k, v = (x @ w[f"w{p}"][:, cols] + w[f"b{p}"][cols] for p in "qkv")
        s = q @ k.transpose(0, 2, 1) / np.sqrt(DH) + w["mask"]
        p = np.exp(s - s.max(-1, keepdims=True))
        out[:, :, cols] = (p / p.sum(-1, keepdims=True)) @ v
    return out.astype(np.float32) @ w["wo"] + w["bo"]


@pytest.mark.parametrize("k_layout", ["direct", "two"])
def test_prune_heads(k_layout, tmp_path):
    g = _mha_graph(k_layout)
    before = _snapshot(g)
    x = np.random.default_rng(2).standard_normal((3, S, D)).astype(np.float32)
    np.testing.assert_allclose(_logits(g, x), _mha_reference(g, x, range(H)), rtol=1e-4, atol=1e-4)
    keep = [0, 2]
    small = prune_heads(g, {"out_proj": keep})
    y = _logits(small, x)
    np.testing.assert_allclose(
        y, _logits(masked_heads(g, {"out_proj": keep}), x), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(y, _mha_reference(g, x, keep), rtol=1e-4, atol=1e-4)
    for p in "qkv":
        assert small.initializers[f"w{p}"].shape == (D, 2 * DH)
        assert small.initializers[f"b{p}"].shape == (2 * DH,)
    assert small.initializers["wo"].shape == (2 * DH, D)
    assert small.initializers["split"].tolist() == [0, 0, 2, DH]
    assert small.initializers["merge"].tolist() == [0, 0, 2 * DH]
    _assert_untouched(g, before)
    y_ort = ort_session(save(small, tmp_path / "mha.onnx"), threads=1, optimize=False).run(
        None, {"x": x}
    )[0]
    np.testing.assert_allclose(y_ort, y, rtol=1e-5, atol=1e-5)
    # by amount: the heads with the largest Ln norm of their q/k/v columns and out-proj rows
    w = g.initializers
    parts = [w[f"w{p}"].T.reshape(H, -1) for p in "qkv"] + [w["wo"].reshape(H, -1)]
    scores = np.linalg.norm(np.concatenate(parts, 1), axis=1)
    np.testing.assert_allclose(head_importance(g, "out_proj"), scores, rtol=1e-6)
    chosen = np.sort(np.argsort(-scores)[:2])
    np.testing.assert_allclose(
        _logits(prune_heads(g, {"wo": 0.5}), x), _mha_reference(g, x, chosen), rtol=1e-4, atol=1e-4
    )


def test_prune_heads_refusals():
    g = _mha_graph()
    with pytest.raises(GraphError, match="all 4 heads"):
        prune_heads(g, {"out_proj": []})
    with pytest.raises(InvalidValueError, match="\\[0, 1\\)"):
        prune_heads(g, {"out_proj": 1.0})
    with pytest.raises(GraphError, match="expected 'x' to come from Reshape"):
        prune_heads(g, {"q_proj": 0.5})  # not an output projection
    shared = _mha_graph()
    shared.nodes.append(Node("Reshape", ["c2", "merge"], ["other"], {}, "other_reader"))
    with pytest.raises(GraphError, match="'merge'.*other_reader"):
        prune_heads(shared, {"out_proj": 0.5})
    gpt = load(export_onnx("gpt"))  # its shapes are computed at run time from Shape(ids)
    with pytest.raises(GraphError, match="fold_constants"):
        prune_heads(gpt, {"/blocks.0/attn/proj/MatMul": 0.5})


def test_prune_heads_tiny_gpt(tmp_path):
    """The course's tiny GPT (4 blocks, 4 heads of 24, fused qkv cut by Slice), its shape
    computations folded for (2, 16) token ids: half the heads of every block removed."""
    gpt = fold_constants(load(export_onnx("gpt")), {"ids": (2, 16)})
    ids = np.random.default_rng(0).integers(0, 75, (2, 16))
    plan = {f"/blocks.{i}/attn/proj/MatMul": 0.5 for i in range(4)}
    small, masked = prune_heads(gpt, plan), masked_heads(gpt, plan)
    y = Executor(small).run({"ids": ids})["logits"]
    np.testing.assert_allclose(
        y, Executor(masked).run({"ids": ids})["logits"], rtol=1e-5, atol=1e-5
    )
    # per block: qkv (96, 288) -> (96, 144) and its bias, out-proj (96, 96) -> (48, 96)
    assert gpt.num_parameters() - small.num_parameters() == 4 * (96 * 144 + 144 + 48 * 96)
    assert small.initializers["blocks.0.attn.qkv.bias"].shape == (144,)
    assert small.initializers["/blocks.0/attn/Concat_output_0"].tolist() == [2, 16, 2, 24]
    assert small.initializers["/blocks.0/attn/Unsqueeze_2_output_0"].tolist() == [96]  # k end
    keep_all = masked_heads(gpt, dict.fromkeys(plan, 0.0))
    np.testing.assert_array_equal(
        Executor(keep_all).run({"ids": ids})["logits"], Executor(gpt).run({"ids": ids})["logits"]
    )
    y_ort = ort_session(save(small, tmp_path / "gpt.onnx"), threads=1, optimize=False).run(
        None, {"ids": ids}
    )[0]
    np.testing.assert_allclose(y_ort, y, rtol=1e-4, atol=1e-4)


def test_prune_heads_minilm(tmp_path):
    """all-MiniLM-L6-v2 (6 layers, 12 heads of 32, BERT's (B, 1, 1, T) padding mask): 6 heads
    of every layer removed equals the torch BertModel with those heads' output-projection
    inputs zeroed (transformers 5 no longer has ``prune_heads``)."""
    from inferlab.reference import minilm

    path = minilm.export_onnx(tmp_path / "minilm.onnx")
    ids = np.array(
        [[101, 2023, 2003, 1037, 3231, 6251, 1012, 102], [101, 7592, 2088, 102] + [0] * 4]
    )
    feeds = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}
    feeds["token_type_ids"] = np.zeros_like(ids)
    graph = fold_constants(load(path), dict.fromkeys(feeds, ids.shape))
    outs = [n.name for n in graph.nodes if n.name.endswith("attention/output/dense/MatMul")]
    keep = [0, 2, 5, 7, 8, 11]
    small = prune_heads(graph, dict.fromkeys(outs, keep))
    assert len(outs) == 6 and graph.num_parameters() - small.num_parameters() == 6 * (
        3 * (384 * 192 + 192) + 192 * 384
    )
    ours = Executor(small).run(feeds)["last_hidden_state"]
    bert = copy.deepcopy(minilm.bert_model())  # the cached model stays intact for other tests
    dropped = np.setdiff1d(np.arange(12), keep)
    cols = torch.from_numpy((dropped[:, None] * 32 + np.arange(32)).ravel())
    with torch.no_grad():
        for layer in bert.encoder.layer:
            layer.attention.output.dense.weight[:, cols] = 0
        theirs = bert(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state
    real = feeds["attention_mask"].astype(bool)
    np.testing.assert_allclose(ours[real], theirs.numpy()[real], rtol=1e-4, atol=2e-5)


# ---- sensitivity scans --------------------------------------------------------------------
def _accuracy(split, model):
    x = split.x_test[:, None] if model == "cnn" else split.x_test.reshape(-1, 64)

    def evaluate(graph):
        return float((_logits(graph, x).argmax(1) == split.y_test).mean())

    return evaluate


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_sensitivity_scan(model, cnn, mlp, split):
    g = cnn if model == "cnn" else mlp
    before = _snapshot(g)
    evaluate = _accuracy(split, model)
    dense = evaluate(g)
    assert dense > 0.95
    sparsities = (0.1, 0.5, 0.9)
    for method in ("l1", "channels"):
        scan = sensitivity_scan(g, evaluate, sparsities=sparsities, method=method)
        layers = [n.name for n in g.nodes if n.op == "Gemm" or n.op == "Conv"]
        assert list(scan) == (layers if method == "l1" else layers[:-1])  # not the output layer
        assert list(scan) == prunable_layers(g, method)
        for layer, accs in scan.items():
            assert len(accs) == 3 and all(isinstance(a, float) and 0 <= a <= 1 for a in accs)
            assert accs[2] <= accs[0], (method, layer, accs)  # 90 % hurts more than 10 %
            assert accs[0] >= dense - 0.03  # 10 % barely matters
    _assert_untouched(g, before)
    one = sensitivity_scan(g, evaluate, layers=prunable_layers(g)[0], sparsities=[0.0])
    assert list(one.values()) == [[dense]]  # sparsity 0 is the dense model


def test_sensitivity_scan_bad_input(cnn, split):
    evaluate = _accuracy(split, "cnn")
    cases = [
        (dict(sparsities=(0.5, 1.0)), "floats in \\[0, 1\\)"),
        (dict(sparsities=()), "non-empty"),
        (dict(sparsities=(-0.1,)), "floats in"),
        (dict(sparsities="0.5"), "floats in"),
        (dict(method="l2"), "method must be one of"),
        (dict(layers=["/nope"]), "no Conv/Gemm/MatMul node"),
        (dict(layers=[]), "no layers"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidValueError, match=message):
            sensitivity_scan(cnn, evaluate, **kwargs)
    with pytest.raises(InvalidValueError, match="evaluate must be a function"):
        sensitivity_scan(cnn, 0.98)
    with pytest.raises(InvalidValueError, match="evaluate must return a number"):
        sensitivity_scan(cnn, lambda g: "good", sparsities=[0.5])
    with pytest.raises(GraphError, match="output layer"):
        sensitivity_scan(cnn, evaluate, layers=["/fc2/Gemm"], method="channels")
    with pytest.raises(InvalidValueError, match="needs an inferlab.graph.Graph"):
        sensitivity_scan(torch.nn.Linear(2, 2), evaluate)
