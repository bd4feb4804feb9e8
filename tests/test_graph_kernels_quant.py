"""The engine's quantization kernels: ONNX models with QuantizeLinear, DequantizeLinear,
DynamicQuantizeLinear, MatMulInteger, QLinearMatMul and ConvInteger, loaded by
inferlab.onnx.load and run by inferlab.graph.Executor, equal onnxruntime bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import inferlab.onnx
from inferlab.errors import ShapeError
from inferlab.graph import Executor, infer_shapes
from inferlab.onnx import OnnxAttributeError


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def make_model(nodes, inputs, outputs, inits, opset):
    graph = h.make_graph(nodes, "quant", inputs, outputs, initializer=inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def ort_run(model, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds), strict=True))


def engine_run(model, feeds):
    graph = inferlab.onnx.load(model.SerializeToString())
    return Executor(graph).run(feeds)


def assert_same(model, feeds):
    ref, ours = ort_run(model, feeds), engine_run(model, feeds)
    assert set(ours) == set(ref)
    for name in ref:
        assert ours[name].dtype == ref[name].dtype, f"{name}: {ours[name].dtype} vs ORT"
        np.testing.assert_array_equal(ours[name], ref[name], err_msg=name)
    return ours


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def quant_model(rng, opset=21):
    """Every op at once: QDQ of the input, per-axis and blocked weights, an int32 bias, the
    quantize_dynamic pattern and a QLinearMatMul."""
    K, N = 40, 12
    w_q = rng.integers(-128, 128, (K, N)).astype(np.int8)
    w_s = rng.uniform(0.002, 0.01, N).astype(np.float32)
    w_z = rng.integers(-3, 4, N).astype(np.int8)
    blk_s = rng.uniform(0.002, 0.01, (3, N)).astype(np.float32)  # 40 = 16 + 16 + 8 along K
    blk_z = rng.integers(-2, 3, (3, N)).astype(np.int8)
    bias = rng.integers(-5000, 5000, N).astype(np.int32)
    inits = [
        init("sx", np.float32(0.023)),
        init("zx", np.uint8(131)),
        init("wq", w_q),
        init("ws", w_s),
        init("wz", w_z),
        init("bs", blk_s),
        init("bz", blk_z),
        init("bias", bias),
        init("bias_s", (0.023 * w_s).astype(np.float32)),
        init("w_s1", np.float32(0.004)),
        init("w_z1", np.int8(-1)),
        init("sy", np.float32(0.05)),
        init("zy", np.uint8(101)),
        init("s8", np.float32(0.02)),
    ]
    nodes = [
        h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        h.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["x_dq"]),
        h.make_node("QuantizeLinear", ["x", "s8"], ["xq_default"]),  # no zp: uint8
        h.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w_axis"], axis=1),
        h.make_node("DequantizeLinear", ["bias", "bias_s"], ["bias_f"], axis=0),
        h.make_node("DynamicQuantizeLinear", ["x"], ["dq", "ds", "dz"]),
        h.make_node("MatMulInteger", ["dq", "wq", "dz", "wz"], ["acc"]),
        h.make_node("Cast", ["acc"], ["acc_f"], to=T.FLOAT),
        h.make_node("Mul", ["ds", "ws"], ["scales"]),
        h.make_node("Mul", ["acc_f", "scales"], ["y_dyn"]),
        h.make_node("QLinearMatMul", ["xq", "sx", "zx", "wq", "w_s1", "w_z1", "sy", "zy"], ["y_q"]),
    ]
    outputs = ["x_dq", "xq_default", "w_axis", "bias_f", "acc", "ds", "dz", "y_dyn", "y_q"]
    if opset >= 21:
        nodes += [
            h.make_node("DequantizeLinear", ["wq", "bs", "bz"], ["w_blk"], axis=0, block_size=16),
            h.make_node("QuantizeLinear", ["w_blk", "bs", "bz"], ["w_req"], axis=0, block_size=16),
            h.make_node("QuantizeLinear", ["x", "s8"], ["xq_i8"], output_dtype=T.INT8),
        ]
        outputs += ["w_blk", "w_req", "xq_i8"]
    types = {
        "x_dq": T.FLOAT,
        "xq_default": T.UINT8,
        "w_axis": T.FLOAT,
        "bias_f": T.FLOAT,
        "acc": T.INT32,
        "ds": T.FLOAT,
        "dz": T.UINT8,
        "y_dyn": T.FLOAT,
        "y_q": T.UINT8,
        "w_blk": T.FLOAT,
        "w_req": T.INT8,
        "xq_i8": T.INT8,
    }
    value = {name: h.make_tensor_value_info(name, types[name], None) for name in outputs}
    x_info = h.make_tensor_value_info("x", T.FLOAT, ["batch", 7, K])
    return make_model(nodes, [x_info], list(value.values()), inits, opset)


@pytest.mark.parametrize("opset", [13, 19, 21])
def test_quant_ops_model_matches_ort(rng, opset):
    model = quant_model(rng, opset)
    x = (rng.standard_normal((2, 7, 40)) * 2).astype(np.float32)
    x[0, 0, :5] = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32) * 0.023  # ties on sx
    ours = assert_same(model, {"x": x})
    assert ours["acc"].dtype == np.int32 and ours["y_q"].dtype == np.uint8
    assert len(np.unique(ours["y_q"])) > 30, "the QLinearMatMul output should use its range"
    if opset >= 21:
        w_q = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "wq")
        np.testing.assert_array_equal(ours["w_req"], w_q, err_msg="Q(DQ(w)) gives w back")
        assert ours["xq_i8"].dtype == np.int8


def test_quant_ops_shapes_inferred_with_symbolic_batch(rng):
    graph = inferlab.onnx.load(quant_model(rng, 21).SerializeToString())
    shapes = infer_shapes(graph, {"x": ("batch", 7, 40)})
    assert shapes["x_dq"] == (("batch", 7, 40), np.dtype(np.float32))
    assert shapes["xq_default"] == (("batch", 7, 40), np.dtype(np.uint8))
    assert shapes["xq_i8"] == (("batch", 7, 40), np.dtype(np.int8))
    assert shapes["acc"] == (("batch", 7, 12), np.dtype(np.int32))
    assert shapes["ds"] == ((), np.dtype(np.float32))
    assert shapes["y_q"] == (("batch", 7, 12), np.dtype(np.uint8))
    assert shapes["w_blk"] == ((40, 12), np.dtype(np.float32))


@pytest.mark.parametrize(
    ("stride", "pads", "group", "w_zp_per_channel"),
    [
        (1, [1, 1, 1, 1], 1, False),
        (2, [0, 1, 2, 0], 1, False),
        (1, [1, 1, 1, 1], 2, False),
        (1, [0, 0, 0, 0], 1, True),
    ],
)
def test_conv_integer_matches_ort(rng, stride, pads, group, w_zp_per_channel):
    x = rng.integers(0, 256, (2, 4, 9, 8)).astype(np.uint8)
    w = rng.integers(0, 256, (6, 4 // group, 3, 3)).astype(np.uint8)
    wz = rng.integers(100, 150, 6 if w_zp_per_channel else ()).astype(np.uint8)
    inits = [init("w", w), init("xz", np.uint8(129)), init("wz", wz)]
    node = h.make_node(
        "ConvInteger",
        ["x", "w", "xz", "wz"],
        ["y"],
        strides=[stride, stride],
        pads=pads,
        group=group,
        kernel_shape=[3, 3],
    )
    model = make_model(
        [node],
        [h.make_tensor_value_info("x", T.UINT8, x.shape)],
        [h.make_tensor_value_info("y", T.INT32, None)],
        inits,
        10,
    )
    if w_zp_per_channel:
        # ORT's CPU ConvInteger refuses a per-channel w zero point ("Non per-tensor quantization
        # is not supported now"); ONNX allows it: check against a direct int64 sum.
        with pytest.raises(Exception, match="Non per-tensor quantization"):
            ort_run(model, {"x": x})
        xs = x.astype(np.int64) - 129
        ws = w.astype(np.int64) - wz.reshape(-1, 1, 1, 1).astype(np.int64)
        win = np.lib.stride_tricks.sliding_window_view(xs, (3, 3), axis=(2, 3))
        ref = np.einsum("nchwij,ocij->nohw", win, ws)
    else:
        ref = ort_run(model, {"x": x})["y"]
    ours = engine_run(model, {"x": x})["y"]
    assert ours.dtype == np.int32
    np.testing.assert_array_equal(ours, ref)


def test_ort_quantize_dynamic_model_runs_bit_exact(rng, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    w1 = rng.standard_normal((20, 32)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((32, 5)).astype(np.float32) * 0.3
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["h"]),
        h.make_node("Add", ["h", "b1"], ["hb"]),
        h.make_node("Relu", ["hb"], ["r"]),
        h.make_node("MatMul", ["r", "w2"], ["y"]),
    ]
    model = make_model(
        nodes,
        [h.make_tensor_value_info("x", T.FLOAT, ["batch", 20])],
        [h.make_tensor_value_info("y", T.FLOAT, ["batch", 5])],
        [init("w1", w1), init("b1", np.full(32, 0.1, np.float32)), init("w2", w2)],
        17,
    )
    src, dst = tmp_path / "mlp.onnx", tmp_path / "mlp.int8.onnx"
    onnx.save(model, src)
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)
    q_model = onnx.load(dst)
    ops = {n.op_type for n in q_model.graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops, ops
    x = rng.standard_normal((16, 20)).astype(np.float32)
    ours = assert_same(q_model, {"x": x})
    f32 = np.maximum(x @ w1 + 0.1, 0) @ w2
    assert 0 < np.abs(ours["y"] - f32).max() < 0.1, "quantized, so close but not equal"


def test_bad_quant_nodes_are_reported(rng):
    x_info = h.make_tensor_value_info("x", T.FLOAT, [2, 6])
    y_info = h.make_tensor_value_info("y", T.UINT8, None)
    node = h.make_node("QuantizeLinear", ["x", "s"], ["y"], axis=1, block_size=-2)
    model = h.make_model(
        h.make_graph([node], "g", [x_info], [y_info], [init("s", np.ones((2, 3), np.float32))]),
        opset_imports=[h.make_opsetid("", 21)],
    )
    with pytest.raises(OnnxAttributeError, match="block_size >= 0"):
        inferlab.onnx.load(model.SerializeToString())
    # a per-axis scale that does not fit x's axis: the error names both shapes
    node = h.make_node("QuantizeLinear", ["x", "s"], ["y"], axis=1)
    model = h.make_model(
        h.make_graph([node], "g", [x_info], [y_info], [init("s", np.ones(4, np.float32))]),
        opset_imports=[h.make_opsetid("", 19)],
    )
    graph = inferlab.onnx.load(model.SerializeToString())
    with pytest.raises(ShapeError, match=r"needs 6 scales \(x.shape\[1\]\); got scale of shape"):
        Executor(graph).run({"x": np.zeros((2, 6), np.float32)})
