"""Every supported ONNX operator, one handcrafted single-node model each, against onnxruntime.

Each case builds a model with onnx.helper (float/int inputs as graph inputs, shape-like
parameters as initializers), loads it with inferlab.onnx.load, runs it with inferlab and with
onnxruntime, and compares dtype, shape and values.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from onnx import numpy_helper

from inferlab.graph import run
from inferlab.onnx import load

ort = pytest.importorskip("onnxruntime")
rng = np.random.default_rng(0)
I64 = np.int64
BIG, SMALL = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def f32(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=I64)


def make_model(op, feeds, consts=None, attrs=None, n_out=1, opset=17, order=None):
    """A one-node model: ``feeds`` become graph inputs, ``consts`` initializers.

    ``order`` lists the node's input names (default: feeds then consts); "" = omitted.
    """
    consts = consts or {}
    names = order if order is not None else [*feeds, *consts]
    outs = [f"y{i}" for i in range(n_out)]
    node = oh.make_node(op, names, outs, **(attrs or {}))
    inputs = [
        oh.make_tensor_value_info(k, oh.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for k, v in feeds.items()
    ]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    graph = oh.make_graph(
        [node], "g", inputs, [oh.make_empty_tensor_value_info(o) for o in outs], inits
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8 if opset < 19 else 9
    return model.SerializeToString()


def check(op, feeds, consts=None, attrs=None, n_out=1, opset=17, order=None, rtol=1e-5, atol=1e-6):
    data = make_model(op, feeds, consts, attrs, n_out, opset, order)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    got = run(load(data), feeds)
    for i, w in enumerate(want):
        g = got[f"y{i}"]
        assert g.dtype == w.dtype, (op, i, g.dtype, w.dtype)
        assert g.shape == w.shape, (op, i, g.shape, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=op)
        else:
            np.testing.assert_array_equal(g, w, err_msg=op)


X = f32(2, 3, 4)
POS = f32(2, 3, 4, lo=0.1, hi=3.0)
INTS = np.array([[-7, -3, 0], [3, 7, 9]], dtype=I64)
DIVS = np.array([[2, -2, 5], [-2, 2, 4]], dtype=I64)
B = f32(4)

ELEMENTWISE = [
    ("Add", {"a": X, "b": B}),
    ("Sub", {"a": X, "b": f32(3, 1)}),
    ("Mul", {"a": X, "b": X}),
    ("Div", {"a": X, "b": POS}),
    ("Div", {"a": INTS, "b": DIVS}),
    ("Add", {"a": INTS, "b": DIVS}),
    ("Pow", {"a": POS, "b": np.array(2.0, np.float32)}),
    ("Pow", {"a": POS, "b": np.array(0.5, np.float32)}),
    ("Pow", {"a": POS, "b": np.array(3.0, np.float32)}),
    ("Pow", {"a": POS, "b": X}),
    ("Sqrt", {"x": POS}),
    ("Exp", {"x": X}),
    ("Log", {"x": POS}),
    ("Neg", {"x": X}),
    ("Abs", {"x": X}),
    ("Reciprocal", {"x": POS}),
    ("Floor", {"x": X}),
    ("Ceil", {"x": X}),
    ("Round", {"x": np.float32([0.5, 1.5, 2.5, -0.5, -1.5, 1.2])}),
    ("Sign", {"x": X}),
    ("Sin", {"x": X}),
    ("Cos", {"x": X}),
    ("Relu", {"x": X}),
    ("Sigmoid", {"x": f32(50, lo=-100, hi=100)}),
    ("Tanh", {"x": X}),
    ("Erf", {"x": f32(100, lo=-4, hi=4)}),
    ("Softplus", {"x": X}),
    ("HardSwish", {"x": X}),
    ("Equal", {"a": INTS, "b": DIVS}),
    ("Less", {"a": X, "b": B}),
    ("Greater", {"a": X, "b": B}),
    ("LessOrEqual", {"a": INTS, "b": DIVS}),
    ("GreaterOrEqual", {"a": INTS, "b": DIVS}),
    ("And", {"a": X > 0, "b": POS > 1}),
    ("Or", {"a": X > 0, "b": POS > 1}),
    ("Xor", {"a": X > 0, "b": POS > 1}),
    ("Not", {"x": X > 0}),
    ("Where", {"c": X > 0, "a": X, "b": f32(4)}),
    ("Max", {"a": X, "b": B, "c": f32(3, 1)}),
    ("Min", {"a": X, "b": B}),
    ("Sum", {"a": X, "b": B, "c": X}),
    ("Mean", {"a": X, "b": B}),
    ("IsNaN", {"x": np.float32([1, np.nan, np.inf])}),
    ("Identity", {"x": X}),
    ("IsInf", {"x": np.float32([1, np.nan, np.inf, -np.inf])}),
    ("PRelu", {"x": X, "s": B}),
]


@pytest.mark.parametrize(("op", "feeds"), ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise(op, feeds):
    check(op, feeds)


@pytest.mark.parametrize(
    ("op", "attrs"),
    [
        ("LeakyRelu", {"alpha": 0.2}),
        ("Elu", {"alpha": 0.7}),
        ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
        ("IsInf", {"detect_negative": 0}),
        ("Mod", {"fmod": 1}),
    ],
)
def test_elementwise_attributes(op, attrs):
    if op == "Mod":
        check(op, {"a": X, "b": POS}, attrs=attrs)
        check(op, {"a": INTS, "b": DIVS}, attrs={})
    elif op == "IsInf":
        check(op, {"x": np.float32([1, np.nan, np.inf, -np.inf])}, attrs=attrs)
    else:
        check(op, {"x": X}, attrs=attrs)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset20(approximate):
    check("Gelu", {"x": f32(64, lo=-6, hi=6)}, attrs={"approximate": approximate}, opset=20)


def test_clip_inputs_and_legacy_attributes():
    check("Clip", {"x": X}, {"lo": np.float32(-0.5), "hi": np.float32(0.7)})
    check("Clip", {"x": X}, {"hi": np.float32(0.7)}, order=["x", "", "hi"])
    check("Clip", {"x": X}, attrs={"min": -0.5, "max": 0.5}, opset=6)


@pytest.mark.parametrize(
    "op",
    [
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceSumSquare",
        "ReduceLogSumExp",
    ],
)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reductions_axes_as_input_opset18(op, keepdims):
    check(op, {"x": X}, {"axes": i64(0, -1)}, attrs={"keepdims": keepdims}, opset=18)
    check(op, {"x": X}, attrs={"keepdims": keepdims}, opset=18)  # no axes: reduce all


def test_reduce_mean_axes_attribute_opset17_and_noop():
    check("ReduceMean", {"x": X}, attrs={"axes": [1], "keepdims": 0}, opset=17)
    check("ReduceSum", {"x": X}, {"axes": i64(1)}, opset=13)
    check("ReduceSum", {"x": X}, {"axes": np.zeros(0, I64)}, attrs={"noop_with_empty_axes": 1})


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_reductions(op):
    x = np.array([[1, 3, 3, 0], [2, 2, 1, 2]], dtype=np.float32)
    check(op, {"x": x}, attrs={"axis": 1})
    check(op, {"x": x}, attrs={"axis": -1, "keepdims": 0, "select_last_index": 1})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 6)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
    ],
)
def test_matmul(a, b):
    check("MatMul", {"a": f32(*a), "b": f32(*b)})


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (5,), (3, 5), (1, 5), (3, 1), ()])
def test_gemm(trans_a, trans_b, c_shape):
    a = f32(4, 3) if trans_a else f32(3, 4)
    b = f32(5, 4) if trans_b else f32(4, 5)
    consts = {"b": b} if c_shape is None else {"b": b, "c": f32(*c_shape)}
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": 0.5, "beta": 2.0}
    check("Gemm", {"a": a}, consts, attrs=attrs)


CONV_CASES = [
    {},
    {"pads": [1, 1, 1, 1]},
    {"pads": [0, 1, 2, 1], "strides": [2, 1]},
    {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
    {"auto_pad": "VALID", "strides": [2, 2]},
]


@pytest.mark.parametrize("attrs", CONV_CASES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(attrs, bias):
    x, w = f32(2, 3, 9, 8), f32(4, 3, 3, 3)
    consts = {"w": w, "b": f32(4)} if bias else {"w": w}
    check("Conv", {"x": x}, consts, attrs=attrs, atol=1e-5)  # sums of 27 terms of size ~5


def test_conv_groups_and_1d():
    x = f32(2, 4, 7, 7)
    check("Conv", {"x": x}, {"w": f32(4, 1, 3, 3)}, attrs={"group": 4, "pads": [1] * 4}, atol=1e-5)
    check("Conv", {"x": x}, {"w": f32(6, 2, 3, 3)}, attrs={"group": 2}, atol=1e-5)
    w1, b1 = {"w": f32(5, 3, 3), "b": f32(5)}, {"pads": [1, 2], "strides": [2]}
    check("Conv", {"x": f32(2, 3, 10)}, w1, attrs=b1, atol=1e-5)
    check("Conv", {"x": f32(2, 3, 10)}, w1, attrs={"pads": [2, 0]}, atol=1e-5)


POOL_CASES = [
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [0, 1, 1, 0]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "strides": [1, 1], "auto_pad": "SAME_LOWER"},
]


@pytest.mark.parametrize("attrs", POOL_CASES, ids=str)
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "AveragePool+pad"])
def test_pooling(op, attrs):
    attrs = dict(attrs)
    if op == "AveragePool+pad":
        op, attrs["count_include_pad"] = "AveragePool", 1
    check(op, {"x": f32(2, 3, 9, 8)}, attrs=attrs)


def test_pooling_dilation_1d_and_global():
    check("MaxPool", {"x": f32(1, 2, 9, 9)}, attrs={"kernel_shape": [2, 2], "dilations": [2, 2]})
    check(
        "MaxPool", {"x": f32(2, 3, 11)}, attrs={"kernel_shape": [3], "strides": [2], "pads": [1, 1]}
    )
    check("AveragePool", {"x": f32(2, 3, 11)}, attrs={"kernel_shape": [3], "pads": [1, 1]})
    check("GlobalAveragePool", {"x": f32(2, 3, 5, 4)})
    check("GlobalMaxPool", {"x": f32(2, 3, 5, 4)})


def test_norms_and_softmax():
    check(
        "BatchNormalization",
        {"x": f32(2, 3, 4, 5)},
        {"s": f32(3), "b": f32(3), "m": f32(3), "v": f32(3, lo=0.5, hi=2)},
        attrs={"epsilon": 1e-3},
    )
    x = f32(2, 5, 8)
    check("LayerNormalization", {"x": x}, {"s": f32(8), "b": f32(8)})
    check("LayerNormalization", {"x": x}, {"s": f32(8)}, attrs={"epsilon": 1e-3})
    check(
        "LayerNormalization", {"x": x}, {"s": f32(5, 8), "b": f32(5, 8)}, attrs={"axis": 1}, n_out=3
    )
    check("LayerNormalization", {"x": x}, {"s": f32(8), "b": f32(8)}, n_out=3)
    for axis in (0, 1, -1):
        check("Softmax", {"x": x * 10}, attrs={"axis": axis}, opset=13)
        check("LogSoftmax", {"x": x}, attrs={"axis": axis}, opset=13)
        check("Softmax", {"x": x}, attrs={"axis": axis}, opset=11)  # legacy: flatten to 2-D
    check("Softmax", {"x": x}, opset=11)  # legacy default axis 1


def test_shape_ops():
    x = f32(2, 3, 4)
    check("Reshape", {"x": x}, {"s": i64(0, -1)})
    check("Reshape", {"x": x}, {"s": i64(4, 0, 2)})
    check(
        "Reshape",
        {"x": np.zeros((0, 3), np.float32)},
        {"s": i64(3, 0)},
        attrs={"allowzero": 1},
        opset=14,
    )
    for axis in (0, 1, 2, 3, -1):
        check("Flatten", {"x": x}, attrs={"axis": axis})
    check("Transpose", {"x": x}, attrs={"perm": [1, 2, 0]})
    check("Transpose", {"x": x})
    check("Concat", {"a": x, "b": f32(2, 3, 2)}, attrs={"axis": -1})
    check("Split", {"x": x}, {"s": i64(1, 3)}, attrs={"axis": 2}, n_out=2, opset=13)
    check("Split", {"x": x}, attrs={"axis": 1}, n_out=3, opset=13)
    check("Split", {"x": f32(7, 2)}, attrs={"num_outputs": 3}, n_out=3, opset=18)
    check("Split", {"x": x}, attrs={"axis": 2, "split": [3, 1]}, n_out=2, opset=11)
    check("Squeeze", {"x": f32(2, 1, 3, 1)}, {"a": i64(-1)}, opset=13)
    check("Squeeze", {"x": f32(2, 1, 3, 1)}, opset=13)
    check("Squeeze", {"x": f32(2, 1, 3, 1)}, attrs={"axes": [1]}, opset=11)
    check("Unsqueeze", {"x": x}, {"a": i64(0, -1)}, opset=13)
    check("Unsqueeze", {"x": x}, attrs={"axes": [1, 4]}, opset=11)
    check("Shape", {"x": x})
    check("Shape", {"x": x}, attrs={"start": 1, "end": -1}, opset=15)
    check("Size", {"x": x})
    check("Expand", {"x": f32(3, 1)}, {"s": i64(2, 1, 4)})
    check("Tile", {"x": f32(2, 3)}, {"r": i64(2, 1)})


def test_gather_and_slice():
    x = f32(5, 4, 3)
    check("Gather", {"x": x}, {"i": np.array([[0, -1], [2, 4]], I64)})
    check("Gather", {"x": x}, {"i": np.array(-2, I64)}, attrs={"axis": 1})
    check("Gather", {"x": x}, {"i": np.array([1, 0], np.int32)}, attrs={"axis": -1})
    check(
        "GatherElements",
        {"x": f32(3, 4)},
        {"i": np.array([[0, -1], [2, 1], [3, 3]], I64)},
        attrs={"axis": 1},
    )
    check("Slice", {"x": x}, {"s": i64(1, 0), "e": i64(4, BIG), "a": i64(0, 2)})
    check("Slice", {"x": x}, {"s": i64(-1), "e": i64(SMALL), "a": i64(0), "st": i64(-2)})
    check(
        "Slice",
        {"x": x},
        {"s": i64(10, -100), "e": i64(-10, 100), "a": i64(1, -1), "st": i64(-1, 2)},
    )
    check("Slice", {"x": x}, {"s": i64(0, 1, 0), "e": i64(3, 3, 2)})
    check("Slice", {"x": x}, attrs={"starts": [1], "ends": [-1], "axes": [1]}, opset=9)


def test_cast_and_constants():
    x = f32(2, 3) * 5
    for to in (
        onnx.TensorProto.INT64,
        onnx.TensorProto.INT32,
        onnx.TensorProto.BOOL,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.UINT8,
    ):
        check("Cast", {"x": np.abs(x)}, attrs={"to": to})
    check("Cast", {"x": INTS}, attrs={"to": onnx.TensorProto.FLOAT})
    check("CastLike", {"x": INTS, "like": B})
    check("ConstantOfShape", {}, {"s": i64(2, 3)})
    value = numpy_helper.from_array(np.array([7], I64))
    check("ConstantOfShape", {}, {"s": i64(4)}, attrs={"value": value})
    check("Constant", {}, attrs={"value": numpy_helper.from_array(f32(2, 2))})
    check("Constant", {}, attrs={"value_float": 1.5})
    check("Constant", {}, attrs={"value_ints": [1, 2, 3]})
    check("Range", {}, {"a": np.array(1, I64), "b": np.array(10, I64), "c": np.array(3, I64)})
    check("Range", {}, {"a": np.float32(0.5), "b": np.float32(-2), "c": np.float32(-0.75)})


def test_misc_tensor_ops():
    x = f32(2, 4, 4)
    check("Trilu", {"x": x})
    check("Trilu", {"x": x}, {"k": np.array(-1, I64)}, attrs={"upper": 0})
    for mode in ("constant", "reflect", "edge"):
        check("Pad", {"x": f32(2, 3, 4)}, {"p": i64(0, 1, 2, 0, 2, 1)}, attrs={"mode": mode})
    check("Pad", {"x": f32(2, 3)}, {"p": i64(1, 1, 1, 1), "v": np.float32(3)})
    check("NonZero", {"x": np.array([[1, 0], [0, 3]], np.float32)})
    check("CumSum", {"x": x}, {"a": np.array(1, I64)})
    check("CumSum", {"x": x}, {"a": np.array(-1, I64)}, attrs={"exclusive": 1, "reverse": 1})
    check("Einsum", {"a": f32(2, 3, 4), "b": f32(2, 4, 5)}, attrs={"equation": "bij,bjk->bik"})
    check("Dropout", {"x": x}, opset=13)
