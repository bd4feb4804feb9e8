"""Graph passes: each is pure (Graph -> new Graph, input untouched) and output-preserving on
real exported models; constant folding, dead-node elimination and fusion do what they say."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from inferlab import ops
from inferlab.graph import Executor, Graph, Node, Value
from inferlab.graph.memory import plan_memory
from inferlab.graph.passes import eliminate_dead_nodes, fold_constants, fuse, optimize
from inferlab.onnx import load

torch = pytest.importorskip("torch")
nn = torch.nn


class Block(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.h, self.ln1, self.ln2 = heads, nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.f1, self.f2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.reshape(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / (C // self.h) ** 0.5).softmax(-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.f2(nn.functional.gelu(self.f1(self.ln2(x))))


def _models():
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5)
    )
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 3),
    )
    bn = cnn[1]
    (
        bn.running_mean.uniform_(-1, 1),
        bn.running_var.uniform_(0.5, 2),
        bn.weight.data.uniform_(0.5, 2),
    )
    return {"mlp": (mlp, (3, 16)), "cnn": (cnn, (3, 1, 8, 8)), "block": (Block(), (3, 5, 32))}


@pytest.fixture(scope="module")
def models():
    """name -> (graph, feeds, torch output): TorchScript exports without constant folding."""
    out = {}
    for name, (module, shape) in _models().items():
        module.eval()
        x = torch.from_numpy(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (x,),
                buf,
                input_names=["x"],
                output_names=["y"],
                dynamo=False,
                opset_version=17,
                do_constant_folding=False,
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )
        with torch.no_grad():
            ref = module(x).numpy()
        out[name] = (load(buf.getvalue()), {"x": x.numpy()}, ref)
    return out


def _snapshot(g: Graph):
    """Everything a pass could mutate: node text, attribute dicts, initializer identities."""
    attrs = [{k: id(v) for k, v in n.attrs.items()} for n in g.nodes]
    inits = {k: id(v) for k, v in g.initializers.items()}
    return [str(n) for n in g.nodes], attrs, inits, list(g.inputs), list(g.outputs)


PASSES = {
    "fold_constants": fold_constants,
    "fold_constants(static)": lambda g: fold_constants(g, {"x": (3, *g.inputs[0].shape[1:])}),
    "eliminate_dead_nodes": eliminate_dead_nodes,
    "fuse": fuse,
    "optimize": optimize,
}


@pytest.mark.parametrize("name", ["mlp", "cnn", "block"])
@pytest.mark.parametrize("pass_name", list(PASSES))
def test_passes_are_pure_and_preserve_outputs(models, name, pass_name):
    graph, feeds, ref = models[name]
    before = _snapshot(graph)
    new = PASSES[pass_name](graph)
    after = _snapshot(graph)
    assert (
        before[0] == after[0]
        and before[1:] == after[1:]
        or all(a is b for a, b in zip(before[2].values(), after[2].values(), strict=True))
    )
    assert [str(n) for n in graph.nodes] == before[0]
    assert new is not graph and len(new.nodes) <= len(graph.nodes)
    want = Executor(graph).run(feeds)["y"]
    got = Executor(new).run(feeds)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_fold_constants_removes_shape_arithmetic_given_static_shapes(models):
    graph, feeds, _ = models["block"]
    assert "Shape" in graph.op_counts() and "Constant" in graph.op_counts()
    dynamic = fold_constants(graph)
    static = fold_constants(graph, {"x": (3, 5, 32)})
    assert "Constant" not in dynamic.op_counts() and len(static.nodes) < len(dynamic.nodes)
    assert not {"Shape", "Gather", "Concat", "Unsqueeze"} & set(static.op_counts())
    np.testing.assert_allclose(
        Executor(static).run(feeds)["y"], Executor(graph).run(feeds)["y"], rtol=1e-6, atol=1e-6
    )


def test_eliminate_dead_nodes_drops_dead_branches_identities_and_unused_weights():
    g = Graph(
        [
            Node("Identity", ["x"], ["a"]),
            Node("Relu", ["a"], ["y"]),
            Node("Neg", ["x"], ["dead1"]),
            Node("Mul", ["dead1", "w_dead"], ["dead2"]),
        ],
        [Value("x")],
        [Value("y")],
        {"w_dead": np.ones(2, np.float32), "w_unused": np.ones(2, np.float32)},
    )
    new = eliminate_dead_nodes(g)
    assert [n.op for n in new.nodes] == ["Relu"] and new.nodes[0].inputs == ["x"]
    assert new.initializers == {} and len(g.nodes) == 4 and len(g.initializers) == 2


def test_fuse_makes_fused_nodes(models):
    mlp = fuse(models["mlp"][0])
    acts = sorted(n.attrs.get("activation", "") for n in mlp.nodes if n.op == "FusedMatMul")
    assert acts == ["Gelu", "Relu"] and "Erf" not in mlp.op_counts()
    cnn = fuse(models["cnn"][0])
    assert "BatchNormalization" not in cnn.op_counts() and cnn.op_counts().get("FusedConv") == 2
    block = fuse(models["block"][0])
    residual = [n for n in block.nodes if n.op == "FusedMatMul" and len(n.inputs) == 4]
    assert len(residual) == 2  # attention output and MLP output both add the residual in place


@pytest.mark.parametrize("name", ["mlp", "cnn", "block"])
def test_fusion_needs_fewer_temporaries(models, name):
    graph, feeds, _ = models[name]
    shapes = {"x": feeds["x"].shape}
    before = plan_memory(fold_constants(graph, shapes), shapes)
    after = plan_memory(optimize(graph, shapes), shapes)
    assert after.naive_peak_bytes < before.naive_peak_bytes
    assert len(after.sizes) < len(before.sizes)


def test_conv_batchnorm_fold_numerics():
    rng = np.random.default_rng(0)
    w, b = (
        rng.standard_normal((4, 2, 3, 3)).astype(np.float32),
        rng.standard_normal(4).astype(np.float32),
    )
    stats = [rng.uniform(0.5, 2, 4).astype(np.float32) for _ in range(4)]
    g = Graph(
        [
            Node("Conv", ["x", "w", "b"], ["c"], {"pads": [1, 1, 1, 1]}),
            Node("BatchNormalization", ["c", "s", "t", "m", "v"], ["y"], {"epsilon": 1e-3}),
        ],
        [Value("x")],
        [Value("y")],
        dict(zip("wbstmv", [w, b, *stats], strict=True)),
    )
    fused = fuse(g)
    assert [n.op for n in fused.nodes] == ["Conv"] and set(fused.initializers) == {
        "Conv_c_bnfold_w",
        "Conv_c_bnfold_b",
    }
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(
        Executor(fused).run({"x": x})["y"], Executor(g).run({"x": x})["y"], rtol=1e-5, atol=1e-5
    )


def test_gelu_pattern_with_half_first():
    c = {k: np.float32(v) for k, v in {"half": 0.5, "r2": 0.5**0.5, "one": 1.0}.items()}
    g = Graph(
        [
            Node("Mul", ["x", "half"], ["h"]),
            Node("Mul", ["x", "r2"], ["s"]),
            Node("Erf", ["s"], ["e"]),
            Node("Add", ["e", "one"], ["a"]),
            Node("Mul", ["h", "a"], ["y"]),
        ],
        [Value("x")],
        [Value("y")],
        c,
    )
    fused = fuse(g)
    assert [n.op for n in fused.nodes] == ["Gelu"]
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    np.testing.assert_allclose(
        Executor(fused).run({"x": x})["y"], Executor(g).run({"x": x})["y"], rtol=1e-5, atol=1e-6
    )


def test_fusion_skips_values_read_twice():
    w = np.ones((3, 3), np.float32)
    g = Graph(
        [Node("MatMul", ["x", "w"], ["m"]), Node("Relu", ["m"], ["y"]), Node("Neg", ["m"], ["z"])],
        [Value("x")],
        [Value("y"), Value("z")],
        {"w": w},
    )
    assert [n.op for n in fuse(g).nodes] == ["MatMul", "Relu", "Neg"]


def _attention_graph(mask_kind: str, kt_batch: int = 2) -> Graph:
    """q (2, 3, 5, 4), k (kt_batch, 3, 5, 4), v (2, 3, 5, 6): scores / 2, masked, softmax, @ v."""
    nodes = [
        Node("Transpose", ["k"], ["kt"], {"perm": [0, 1, 3, 2]}),
        Node("MatMul", ["q", "kt"], ["s"]),
        Node("Div", ["s", "two"], ["d"]),
    ]
    if mask_kind == "add":
        nodes.append(Node("Add", ["m", "d"], ["a"]))
    elif mask_kind == "where_true":
        nodes.append(Node("Where", ["c", "ninf", "d"], ["a"]))
    else:
        nodes.append(Node("Where", ["c", "d", "ninf"], ["a"]))
    nodes += [Node("Softmax", ["a"], ["p"], {"axis": -1}), Node("MatMul", ["p", "v"], ["y"])]
    inputs = [
        Value("q", (2, 3, 5, 4), np.float32),
        Value("k", (kt_batch, 3, 5, 4), np.float32),
        Value("v", (2, 3, 5, 6), np.float32),
    ]
    inputs += (
        [Value("m", (2, 1, 1, 5), np.float32)]
        if mask_kind == "add"
        else [Value("c", (5, 5), np.bool_)]
    )
    return Graph(nodes, inputs, [Value("y")], {"two": np.float32(2), "ninf": np.float32(-np.inf)})


@pytest.mark.parametrize("kind", ["add", "where_true", "where_false"])
@pytest.mark.parametrize("kt_batch", [2, 1])
def test_attention_fusion(kind, kt_batch):
    rng = np.random.default_rng(0)
    g = _attention_graph(kind, kt_batch)
    fused = fuse(g)
    assert fused.op_counts() == {"FusedAttention": 1, "Transpose": 1}
    feeds = {
        "q": rng.standard_normal((2, 3, 5, 4)),
        "k": rng.standard_normal((kt_batch, 3, 5, 4)),
        "v": rng.standard_normal((2, 3, 5, 6)),
    }
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    causal = np.tril(np.ones((5, 5), bool))
    if kind == "add":
        feeds["m"] = np.where(rng.uniform(size=(2, 1, 1, 5)) < 0.3, -1e9, 0).astype(np.float32)
    else:
        feeds["c"] = ~causal if kind == "where_true" else causal
    want = Executor(g).run(feeds)["y"]
    for memory in ("free", "plan"):
        np.testing.assert_allclose(
            Executor(fused, memory=memory).run(feeds)["y"], want, rtol=1e-6, atol=1e-6
        )
    if kind != "add":
        ref = ops.scaled_dot_product_attention(
            feeds["q"], feeds["k"], feeds["v"], mask=causal, scale=0.5
        )
        np.testing.assert_allclose(want, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("attrs", "act", "pool"),
    [
        ({"pads": [1, 1, 1, 1]}, "Relu", 2),
        ({"pads": [1, 1, 1, 1]}, "", 0),
        ({"pads": [0, 1, 1, 0], "strides": [2, 1]}, "Tanh", 0),
        ({"dilations": [2, 2], "pads": [2, 2, 2, 2], "group": 2}, "Sigmoid", 2),
        ({"pads": [1, 1, 1, 1]}, "Gelu", 2),  # GELU does not commute with max: pool stays
    ],
)
def test_small_convs_lower_to_one_dense_gemm(attrs, act, pool):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    op = "FusedConv" if act else "Conv"
    nodes = [Node(op, ["x", "w", "b"], ["c"], {**attrs, **({"activation": act} if act else {})})]
    if pool:
        nodes.append(Node("MaxPool", ["c"], ["y"], {"kernel_shape": [2, 2], "strides": [2, 2]}))
    channels = 2 * attrs.get("group", 1)
    x_value = Value("x", ("N", channels, 6, 6), np.float32)
    g = Graph(nodes, [x_value], [Value("y" if pool else "c")], {"w": w, "b": b})
    lowered = optimize(g)
    ops_left = lowered.op_counts()
    assert ops_left.get("FusedMatMul") == 1 and op not in ops_left
    assert ("MaxPool" in ops_left) == (pool and act == "Gelu")
    x = rng.standard_normal((3, channels, 6, 6)).astype(np.float32)
    name = g.outputs[0].name
    want = Executor(g).run({"x": x})[name]
    for memory in ("free", "plan"):
        np.testing.assert_allclose(
            Executor(lowered, memory=memory).run({"x": x})[name], want, rtol=1e-5, atol=1e-5
        )


def test_large_images_keep_their_convolution():
    w = np.ones((4, 3, 3, 3), np.float32)
    g = Graph(
        [Node("Conv", ["x", "w"], ["y"], {"pads": [1, 1, 1, 1]})],
        [Value("x", ("N", 3, 32, 32), np.float32)],
        [Value("y")],
        {"w": w},
    )
    assert optimize(g).op_counts() == {"Conv": 1}  # 32*32 / 9 = 114x wasted work: no
