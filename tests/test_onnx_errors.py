"""Bad input gives a clear InferlabError, never a hang or a raw traceback from deep inside.

Truncated and corrupt files, unsupported operators, missing attributes, cycles, undefined
values, wrong feeds at run time, and a seeded fuzz test: 200 mutations of valid serialized
models (byte flips, truncations, deleted nodes and attributes, renamed values, changed op
types and dims), each of which must load and run (also optimized, with a memory plan), or
fail with an InferlabError.
"""

from __future__ import annotations

import io
import time
import warnings

import numpy as np
import onnx
import onnx.helper as oh
import pytest

from inferlab.errors import DTypeError, InferlabError, InvalidValueError, ShapeError
from inferlab.graph import (
    CycleError,
    Executor,
    Graph,
    Node,
    NodeError,
    UnsupportedOpError,
    Value,
    optimize,
)
from inferlab.onnx import (
    OnnxAttributeError,
    OnnxCycleError,
    OnnxDecodeError,
    OnnxError,
    OnnxGraphError,
    OnnxUnsupportedError,
    load,
)

torch = pytest.importorskip("torch")


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = oh.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def _vi(name, shape, elem=onnx.TensorProto.FLOAT):
    return oh.make_tensor_value_info(name, elem, shape)


@pytest.fixture(scope="module")
def models():
    """Serialized TorchScript exports of three small models, and a feed for each."""
    torch.manual_seed(0)
    nn = torch.nn
    mlp = nn.Sequential(nn.Linear(16, 12), nn.GELU(), nn.Linear(12, 4)).eval()
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).eval()

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0].softmax(-1)

    out = {}
    for name, m, x in [
        ("mlp", mlp, np.ones((2, 16), np.float32)),
        ("cnn", cnn, np.ones((2, 1, 8, 8), np.float32)),
        ("attn", Attn().eval(), np.ones((2, 5, 8), np.float32)),
    ]:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                m, (torch.from_numpy(x),), buf, input_names=["x"], dynamo=False, opset_version=17
            )
        out[name] = (buf.getvalue(), {"x": x})
    return out


def test_truncated_files(models):
    data, _ = models["cnn"]
    for cut in (0, 1, 7, 50, len(data) // 3, len(data) // 2, len(data) - 3):
        with pytest.raises(OnnxError) as info:
            load(data[:cut])
        assert "ONNX" in str(info.value) or "node" in str(info.value)


def test_garbage_and_wrong_sources(tmp_path):
    with pytest.raises(OnnxDecodeError, match="truncated or corrupt"):
        load(b"\xff\xfe definitely not protobuf \x00\x01" * 10)
    with pytest.raises(OnnxDecodeError):
        load(b"")
    with pytest.raises(OnnxError, match="cannot read"):
        load(tmp_path / "missing.onnx")
    with pytest.raises(OnnxError, match="path, bytes"):
        load(3.5)


def test_load_from_path_and_model_proto(models, tmp_path):
    data, feeds = models["mlp"]
    path = tmp_path / "mlp.onnx"
    path.write_bytes(data)
    a = Executor(load(path)).run(feeds)
    b = Executor(load(onnx.load_from_string(data))).run(feeds)
    np.testing.assert_array_equal(a[next(iter(a))], b[next(iter(b))])


def test_unsupported_operator_names_op_and_node():
    node = oh.make_node("NonMaxSuppression", ["x", "s"], ["y"], name="nms_7")
    data = _model([node], [_vi("x", [1, 4, 4]), _vi("s", [1, 1, 4])], [_vi("y", None)])
    with pytest.raises(OnnxUnsupportedError, match=r"'NonMaxSuppression' \(node 'nms_7'\)") as e:
        load(data)
    assert isinstance(e.value, UnsupportedOpError)
    custom = oh.make_node("FusedThing", ["x"], ["y"], name="f1", domain="com.example")
    data = _model([custom], [_vi("x", [2])], [_vi("y", None)])
    with pytest.raises(OnnxUnsupportedError, match="com.example::FusedThing.*'f1'"):
        load(data)


def test_missing_and_bad_attributes():
    concat = oh.make_node("Concat", ["a", "b"], ["y"], name="cat")
    data = _model([concat], [_vi("a", [2]), _vi("b", [2])], [_vi("y", None)])
    with pytest.raises(OnnxAttributeError, match="'cat' \\(Concat\\) needs attribute 'axis'"):
        load(data)
    cast = oh.make_node("Cast", ["a"], ["y"], name="c", to=16)  # bfloat16: no NumPy dtype
    with pytest.raises(OnnxAttributeError, match="bfloat16"):
        load(_model([cast], [_vi("a", [2])], [_vi("y", None)]))
    gelu = oh.make_node("Gelu", ["a"], ["y"], name="g", approximate="sigmoid")
    with pytest.raises(OnnxAttributeError, match="approximate"):
        load(_model([gelu], [_vi("a", [2])], [_vi("y", None)], opset=20))
    pool = oh.make_node("MaxPool", ["a"], ["y"], name="p")
    with pytest.raises(OnnxAttributeError, match="kernel_shape"):
        load(_model([pool], [_vi("a", [1, 1, 4, 4])], [_vi("y", None)]))


def test_cycles_and_undefined_values():
    nodes = [
        oh.make_node("Add", ["x", "c"], ["a"], name="first"),
        oh.make_node("Relu", ["a"], ["b"], name="second"),
        oh.make_node("Neg", ["b"], ["c"], name="third"),
    ]
    data = _model(nodes, [_vi("x", [2])], [_vi("c", None)])
    with pytest.raises(OnnxCycleError, match="'first'.*'second'.*'third'") as e:
        load(data)
    assert isinstance(e.value, CycleError)
    data = _model(
        [oh.make_node("Relu", ["nope"], ["y"], name="r")], [_vi("x", [2])], [_vi("y", None)]
    )
    with pytest.raises(OnnxGraphError, match="'r' \\(Relu\\) reads 'nope'"):
        load(data)
    data = _model([oh.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])], [_vi("z", None)])
    with pytest.raises(OnnxGraphError, match="output 'z'"):
        load(data)
    data = _model([oh.make_node("Relu", ["x", "x", "x"], ["y"])], [_vi("x", [2])], [_vi("y", None)])
    with pytest.raises(OnnxGraphError, match="3 inputs"):
        load(data)


def test_cycle_in_a_handmade_graph():
    g = Graph(
        [Node("Relu", ["b"], ["a"], name="n1"), Node("Relu", ["a"], ["b"], name="n2")],
        [Value("x")],
        [Value("b")],
    )
    with pytest.raises(CycleError, match="n1.*n2"):
        Executor(g)


def test_wrong_feeds(models):
    data, feeds = models["mlp"]
    ex = Executor(load(data))
    with pytest.raises(InvalidValueError, match="unknown input \\['y'\\].*'x' \\(2, 16\\) float32"):
        ex.run({"y": feeds["x"]})
    with pytest.raises(InvalidValueError, match="missing input"):
        ex.run({})
    with pytest.raises(
        ShapeError, match=r"graph input 'x' needs shape \(2, 16\) float32; got \(2, 15\) float32"
    ):
        ex.run({"x": np.ones((2, 15), np.float32)})
    with pytest.raises(DTypeError, match="got \\(2, 16\\) float64"):
        ex.run({"x": np.ones((2, 16))})
    with pytest.raises(InvalidValueError, match="dict"):
        ex.run([feeds["x"]])


def test_symbolic_dims_must_agree():
    g = Graph(
        [Node("Add", ["a", "b"], ["y"])],
        [Value("a", ("batch", 3), np.float32), Value("b", ("batch", 3), np.float32)],
        [Value("y")],
    )
    ex = Executor(g)
    ex.run({"a": np.ones((4, 3), np.float32), "b": np.ones((4, 3), np.float32)})
    with pytest.raises(ShapeError, match="dim 'batch' is 5 here but 4 in input 'a'"):
        ex.run({"a": np.ones((4, 3), np.float32), "b": np.ones((5, 3), np.float32)})


def test_run_time_failures_name_the_node():
    g = Graph(
        [Node("Reshape", ["x", "s"], ["y"], name="bad_reshape")],
        [Value("x", (None, 4), np.float32)],
        [Value("y")],
        {"s": np.array([3, -1], np.int64)},
    )
    with pytest.raises(ShapeError, match="node 'bad_reshape' \\(Reshape\\).*\\(2, 4\\)"):
        Executor(g).run({"x": np.ones((2, 4), np.float32)})
    g = Graph(
        [Node("Gather", ["t", "i"], ["y"], name="emb")],
        [Value("i")],
        [Value("y")],
        {"t": np.ones((5, 2), np.float32)},
    )
    with pytest.raises(NodeError, match="node 'emb' \\(Gather\\).*IndexError"):
        Executor(g).run({"i": np.array([7])})
    g = Graph([Node("ConstantOfShape", ["s"], ["y"], name="huge")], [Value("s")], [Value("y")])
    with pytest.raises(InvalidValueError, match="'huge'.*corrupt"):
        Executor(g).run({"s": np.array([1 << 20, 1 << 20], np.int64)})


# ---- fuzzing ------------------------------------------------------------------------------
def _mutate(data: bytes, rng) -> bytes:
    """One random mutation of a serialized model, at the byte or the protobuf level."""
    kind = rng.integers(8)
    if kind <= 1:  # flip 1-8 random bytes
        b = bytearray(data)
        for i in rng.integers(0, len(b), size=rng.integers(1, 9)):
            b[i] ^= int(rng.integers(1, 256))
        return bytes(b)
    if kind == 2:
        return data[: rng.integers(0, len(data))]
    m = onnx.load_from_string(data)
    nodes = m.graph.node
    n = nodes[int(rng.integers(len(nodes)))]
    if kind == 3:
        nodes.remove(n)
    elif kind == 4 and n.attribute:
        del n.attribute[int(rng.integers(len(n.attribute)))]
    elif kind == 5 and n.input:
        n.input[int(rng.integers(len(n.input)))] = str(rng.choice(["", "x", "zzz", n.output[0]]))
    elif kind == 6:
        n.op_type = str(rng.choice(["Relu", "Softmax", "Transpose", "Reshape", "Concat", "Bogus"]))
    else:
        t = m.graph.initializer[int(rng.integers(len(m.graph.initializer)))]
        if t.dims:
            t.dims[int(rng.integers(len(t.dims)))] = int(rng.choice([0, 1, 3, 1 << 40]))
    return m.SerializeToString()


def test_fuzz_mutated_models_fail_cleanly(models):
    rng = np.random.default_rng(0)
    outcomes = {"ran": 0, "failed": 0}
    for i in range(200):
        name = ["mlp", "cnn", "attn"][i % 3]
        data, feeds = models[name]
        bad = _mutate(data, rng)
        start = time.perf_counter()
        try:
            graph = load(bad)
            Executor(graph).run(feeds)
            outcomes["ran"] += 1
            # The passes and the memory planner must cope with whatever loads and runs.
            Executor(optimize(graph, {"x": feeds["x"].shape}), memory="plan").run(feeds)
        except InferlabError:
            outcomes["failed"] += 1
        except Exception as e:  # pragma: no cover (this is the failure being tested for)
            pytest.fail(f"mutation {i} of {name} raised {type(e).__name__}: {e}")
        assert time.perf_counter() - start < 5.0, f"mutation {i} took too long"
    assert outcomes["failed"] > 50 and outcomes["ran"] > 10, outcomes


def test_external_data_loads_by_path_only(models, tmp_path):
    data, feeds = models["mlp"]
    model = onnx.load_from_string(data)
    path = tmp_path / "ext.onnx"
    onnx.save_model(
        model,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="ext.onnx.data",
        size_threshold=0,
    )
    assert (tmp_path / "ext.onnx.data").exists()
    want = Executor(load(data)).run(feeds)
    got = Executor(load(path)).run(feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    with pytest.raises(OnnxError, match="external file; load the model by path"):
        load(path.read_bytes())
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(OnnxError):
        load(path)
