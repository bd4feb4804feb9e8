"""inferlab.onnx.save / to_model: the inverse of the loader, checked by onnxruntime.

A course model loaded and written back must be a valid ONNX file (``onnx.checker``, full check)
whose outputs in onnxruntime equal the original file's bit for bit, and which loads back into
the same IR. Hand-built graphs cover what the course models do not: symbolic and unknown dims,
attributes given with the wrong Python type, every initializer dtype, a com.microsoft operator.
Bad input (an array ONNX cannot store, an engine-only operator, an unwritable path) is an
InferlabError naming the culprit.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from inferlab.errors import DTypeError, InferlabError
from inferlab.graph import Graph, Node, Value, optimize
from inferlab.onnx import OnnxError, OnnxUnsupportedError, load, save, to_model
from inferlab.reference.export import export_onnx, ort_session

ort = pytest.importorskip("onnxruntime")
rng = np.random.default_rng(0)

FEEDS = {
    "mlp": {"x": rng.random((5, 64), dtype=np.float32)},
    "cnn": {"x": rng.random((5, 1, 8, 8), dtype=np.float32)},
    "gpt": {"ids": rng.integers(0, 75, (2, 16))},
    "minilm": {
        "input_ids": rng.integers(0, 1000, (2, 12)),
        "attention_mask": np.ones((2, 12), np.int64),
        "token_type_ids": np.zeros((2, 12), np.int64),
    },
}


def _ir(graph: Graph) -> list:
    """A graph's content as comparable data (arrays by dtype, shape and bytes)."""

    def norm(v):
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, v.tobytes())
        return v

    nodes = [
        (n.op, n.name, n.inputs, n.outputs, {k: norm(v) for k, v in n.attrs.items()})
        for n in graph.nodes
    ]
    inits = {k: norm(v) for k, v in graph.initializers.items()}
    return [nodes, inits, [str(v) for v in graph.inputs], [str(v) for v in graph.outputs]]


@pytest.mark.parametrize("name", ["mlp", "cnn", "gpt", "minilm"])
def test_round_trip_runs_identically_in_onnxruntime(name, tmp_path):
    src = export_onnx(name)
    graph = load(src)
    out = save(graph, tmp_path / f"{name}.onnx")
    assert out == tmp_path / f"{name}.onnx" and out.is_file()
    onnx.checker.check_model(str(out), full_check=True)  # types and shapes inferred, too
    for optimize_level in (False, True):
        want = ort_session(src, 1, optimize=optimize_level).run(None, FEEDS[name])
        got = ort_session(out, 1, optimize=optimize_level).run(None, FEEDS[name])
        for w, g in zip(want, got, strict=True):
            np.testing.assert_array_equal(
                g, w, err_msg=f"{name}: the re-written file computes something else"
            )
    assert _ir(load(out)) == _ir(graph), "load(save(g)) must give back the same IR"


def test_values_dims_and_opset(tmp_path):
    """Symbolic dims become dim_param, unknown ones empty dims; opset and IR version fit ORT."""
    g = Graph(
        [Node("Relu", ["x"], ["y"])],
        [Value("x", ("batch", None, 3), np.float32)],
        [Value("y", ("batch", None, 3), np.float32)],
        opset=13,
    )
    m = to_model(g, check=True)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[2].dim_value == 3
    assert not dims[1].HasField("dim_param") and not dims[1].HasField("dim_value")
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 13)]
    assert m.ir_version == onnx.helper.find_min_ir_version_for(m.opset_import)
    assert to_model(g, opset=17).opset_import[0].version == 17
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    (y,) = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_attributes_take_the_schema_types():
    """alpha=1 (an int) must be written as FLOAT, pads given as an array as INTS, an empty
    list keeps its type, a tensor attribute stays a tensor, strings stay strings."""
    g = Graph(
        [
            Node("Gemm", ["a", "b"], ["c"], {"alpha": 1, "beta": np.float32(1), "transB": True}),
            Node("Pad", ["c", "pads"], ["d"], {"mode": "constant"}),
            Node("Constant", [], ["k"], {"value": np.array([2.5], np.float32)}),
            Node("Mul", ["d", "k"], ["e"]),
            Node("Transpose", ["e"], ["f"], {"perm": np.array([1, 0])}),
            Node("Squeeze", ["f"], ["y"], {}),
        ],
        [Value("a", (2, 3), np.float32), Value("b", (4, 3), np.float32)],
        [Value("y", None, np.float32)],
        {"pads": np.array([0, 1, 0, 1], np.int64)},
        opset=17,
    )
    m = to_model(g, check=True)
    types = {a.name: a.type for n in m.graph.node for a in n.attribute}
    A = onnx.AttributeProto
    assert types == {
        "alpha": A.FLOAT,
        "beta": A.FLOAT,
        "transB": A.INT,
        "mode": A.STRING,
        "value": A.TENSOR,
        "perm": A.INTS,
    }
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    (y,) = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"a": a, "b": b}
    )
    want = (np.pad(a @ b.T, [(0, 0), (1, 1)]) * np.float32(2.5)).T
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_initializers_of_every_dtype_are_bit_exact():
    import ml_dtypes

    arrays = {
        "f32": rng.standard_normal((3, 2)).astype(np.float32),
        "f16": rng.standard_normal(5).astype(np.float16),
        "f64": np.array(np.pi),
        "i8": np.array([-128, 0, 127], np.int8),
        "u8": np.array([[0, 255]], np.uint8),
        "i16": np.array([-32768, 7], np.int16),
        "i32": np.array([-(2**31), 2**31 - 1], np.int32),
        "i64": np.array(2**40, np.int64),
        "u64": np.array([2**63], np.uint64),
        "b": np.array([True, False]),
        "i4": np.array([-8, -1, 0, 7, 3], ml_dtypes.int4),
        "u4": np.array([[0, 15], [9, 1]], ml_dtypes.uint4),
    }
    g = Graph(
        [Node("Identity", ["x"], ["y"])],
        [Value("x", (1,), np.float32)],
        [Value("y", (1,), np.float32)],
        arrays,
    )
    m = to_model(g, check=True)
    assert m.ir_version >= 10, "int4 tensors need IR version 10"
    back = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for name, a in arrays.items():
        assert back[name].dtype == a.dtype and back[name].shape == a.shape, name
        assert back[name].tobytes() == a.tobytes(), name


def test_com_microsoft_operator_runs_in_onnxruntime():
    """MatMulNBits (int4 blockwise weights, inferlab.quant.blockwise) lives in onnxruntime's
    com.microsoft domain: the writer imports that domain and ORT runs the node."""
    from inferlab.quant.blockwise import matmul_4bits, quantize_4bits

    K, N, bs = 64, 24, 32
    w = rng.standard_normal((K, N)).astype(np.float32)
    x = rng.standard_normal((3, K)).astype(np.float32)
    packed, scales, zp = quantize_4bits(w, block_size=bs)
    attrs = {"K": K, "N": N, "bits": 4, "block_size": bs}
    g = Graph(
        [Node("MatMulNBits", ["x", "wq", "ws", "wz"], ["y"], attrs)],
        [Value("x", ("batch", K), np.float32)],
        [Value("y", ("batch", N), np.float32)],
        {"wq": packed, "ws": scales.reshape(-1), "wz": zp.reshape(-1)},
        opset=17,
    )
    m = to_model(g, check=True)
    assert {(o.domain, o.version) for o in m.opset_import} == {("", 17), ("com.microsoft", 1)}
    assert m.graph.node[0].domain == "com.microsoft"
    (y,) = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    np.testing.assert_allclose(y, matmul_4bits(x, packed, scales, zp, K, bs), atol=1e-4)


def test_untyped_output_is_typed_by_shape_inference():
    g = Graph(
        [Node("Cast", ["x"], ["y"], {"to": onnx.TensorProto.INT64})],
        [Value("x", ("n",), np.float32)],
        [Value("y")],
    )
    out = to_model(g, check=True).graph.output[0].type.tensor_type
    assert out.elem_type == onnx.TensorProto.INT64


# ---- bad input ----------------------------------------------------------------------------
def _tiny(**inits):
    return Graph(
        [Node("Relu", ["x"], ["y"])],
        [Value("x", (2,), np.float32)],
        [Value("y", (2,), np.float32)],
        inits,
    )


@pytest.mark.parametrize(
    "array",
    [np.array(["a", "b"]), np.array([object()]), np.array([1 + 2j], np.complex64)],
    ids=["str", "object", "complex"],
)
def test_unstorable_initializer_is_a_dtype_error(array):
    with pytest.raises(DTypeError, match=r"initializer 'w' has dtype .* expected one of"):
        to_model(_tiny(w=array))


def test_unwritable_path_names_it(tmp_path):
    with pytest.raises(OnnxError, match=r"cannot write ONNX file '.*no_such_dir/m\.onnx'"):
        save(_tiny(), tmp_path / "no_such_dir" / "m.onnx")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InferlabError, match="cannot write ONNX file"):
        save(_tiny(), blocker / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"], "no temporary file left"


def test_engine_only_and_unknown_operators_are_refused():
    fused = optimize(load(export_onnx("mlp")))  # Gemm + Relu fused into FusedMatMul
    assert "FusedMatMul" in fused.op_counts()
    with pytest.raises(OnnxUnsupportedError, match="save the graph before"):
        to_model(fused)
    g = Graph(
        [Node("Frobnicate", ["x"], ["y"])],
        [Value("x", (2,), np.float32)],
        [Value("y", (2,), np.float32)],
    )
    with pytest.raises(OnnxUnsupportedError, match="'Frobnicate' is neither an ONNX operator"):
        to_model(g)
    assert to_model(g, domains={"Frobnicate": "my.domain"}).graph.node[0].domain == "my.domain"
    with pytest.raises(OnnxError, match="needs an inferlab.graph.Graph"):
        to_model("model.onnx")
