"""Model-level post-training quantization (inferlab.quant.ptq) against onnxruntime's own tool.

For the digits MLP and CNN, every static configuration ORT offers for QDQ (MinMax, Percentile,
Entropy; per tensor and per channel) must give *the same model*: the same nodes with the same
names, and initializers (int8 weights, scales, zero points, int32 biases) equal bit for bit.
Then ORT (ORT_DISABLE_ALL) running our file gives exactly the outputs of ORT's file, and the
engine running our graph lands on the same uint8 grid, at most 1 LSB away where its float
Conv/Gemm sums round differently. quantize_dynamic is checked the same way on the MLP and on
all-MiniLM-L6-v2. Calibration: 96 training digits in 3 batches of 32.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from inferlab import data
from inferlab.errors import DTypeError, InferlabError, InvalidValueError
from inferlab.graph import Executor, Graph
from inferlab.onnx import load, save, to_model
from inferlab.quant import ptq
from inferlab.reference.export import export_onnx, ort_session

ortq = pytest.importorskip("onnxruntime.quantization")
QT = ortq.QuantType
ORT_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
SHAPES = {"mlp": (-1, 64), "cnn": (-1, 1, 8, 8)}


class _Reader(ortq.CalibrationDataReader):
    def __init__(self, feeds):
        self.feeds = iter(feeds)

    def get_next(self):
        return next(self.feeds, None)


def _private_copy(name, folder):
    """The exported model copied to ``folder``: ORT's quantizers write a ``-inferred`` file
    next to their input and delete it, which races with another process doing the same on
    the shared export cache."""
    path = folder / f"{name}.onnx"
    shutil.copyfile(export_onnx(name), path)
    return path


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """model -> (float graph, its ONNX file, calibration feeds, x_test, y_test)."""
    split, folder = data.digits_split(), tmp_path_factory.mktemp("models")
    out = {}
    for name, shape in SHAPES.items():
        x = split.x_train[:96].reshape(shape)
        feeds = [{"x": x[i : i + 32]} for i in range(0, 96, 32)]
        path = _private_copy(name, folder)
        out[name] = (load(path), path, feeds, split.x_test.reshape(shape), split.y_test)
    return out


@pytest.fixture(scope="module")
def ort_static(digits, tmp_path_factory):
    """ORT's quantize_static(QDQ, QUInt8 activations, QInt8 weights, ...), cached per call."""
    folder, cache = tmp_path_factory.mktemp("ort_static"), {}
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT's "please consider pre-processing" warnings

    def get(model, **kwargs):
        key = (model, repr(sorted(kwargs.items())))
        if key not in cache:
            _, path, feeds, _, _ = digits[model]
            kwargs = {"activation_type": QT.QUInt8, "weight_type": QT.QInt8, **kwargs}
            out = folder / f"{len(cache)}.onnx"
            ortq.quantize_static(
                path, out, _Reader(feeds), quant_format=ortq.QuantFormat.QDQ, **kwargs
            )
            cache[key] = out
        return cache[key]

    yield get
    root.setLevel(level)


def assert_same_model(ours: Graph, theirs_path) -> onnx.ModelProto:
    """Our graph, written, must equal ORT's model: nodes (op, name, inputs, outputs,
    attributes) as a multiset, initializers by name with equal dtype, shape and bits."""
    mine, ref = to_model(ours, check=True), onnx.load(str(theirs_path))

    def nodes(m):
        return sorted(
            (
                n.op_type,
                n.name,
                tuple(n.input),
                tuple(n.output),
                n.domain,
                tuple(
                    sorted((a.name, str(onnx.helper.get_attribute_value(a))) for a in n.attribute)
                ),
            )
            for n in m.graph.node
        )

    a, b = nodes(mine), nodes(ref)
    assert a == b, (
        f"node sets differ; only ours: {sorted(set(a) - set(b))[:4]}, "
        f"only ORT's: {sorted(set(b) - set(a))[:4]}"
    )
    ia = {t.name: numpy_helper.to_array(t) for t in mine.graph.initializer}
    ib = {t.name: numpy_helper.to_array(t) for t in ref.graph.initializer}
    assert sorted(ia) == sorted(ib), (
        f"only ours: {set(ia) - set(ib)}, only ORT's: {set(ib) - set(ia)}"
    )
    for k in ia:
        assert (ia[k].dtype, ia[k].shape) == (ib[k].dtype, ib[k].shape), k
        np.testing.assert_array_equal(ia[k], ib[k], err_msg=f"initializer {k!r} differs")
    return mine


def ort_run(path, x):
    return ort_session(path, 1, optimize=False).run(None, {"x": x})[0]


# ---- static QDQ ---------------------------------------------------------------------------
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("method", list(ORT_METHODS))
@pytest.mark.parametrize("model", list(SHAPES))
def test_quantize_static_equals_ort(model, method, per_channel, digits, ort_static, tmp_path):
    graph, path, feeds, x_test, y_test = digits[model]
    ref_path = ort_static(
        model,
        calibrate_method=getattr(ortq.CalibrationMethod, ORT_METHODS[method]),
        per_channel=per_channel,
    )  # ORT's default op types: all it knows, which on these models are ours
    q = ptq.quantize_static(
        graph, feeds, method=method, per_channel=per_channel, runner="onnxruntime"
    )
    assert_same_model(q, ref_path)

    ref = ort_run(ref_path, x_test)
    np.testing.assert_array_equal(
        ort_run(save(q, tmp_path / "ours.onnx"), x_test),
        ref,
        err_msg="ORT runs our file differently from its own",
    )
    out = Executor(q).run({"x": x_test})["logits"]
    lsb = np.abs(out - ref) / q.initializers["logits_scale"]  # logits sit on a uint8 grid
    n_off = int((out != ref).sum())
    print(f"{model} {method} per_channel={per_channel}: engine != ORT in {n_off}/{out.size}")
    assert lsb.max() <= 1 + 1e-3, "the engine may differ by one uint8 step (float sums), no more"
    assert n_off <= 0.005 * out.size
    fp32 = ort_run(path, x_test)
    drop = (fp32.argmax(1) == y_test).mean() - (ref.argmax(1) == y_test).mean()
    assert drop <= 0.01, f"int8 PTQ should cost < 1% top-1 on digits; lost {drop:.1%}"


def test_qdq_placement_on_the_cnn(digits):
    """What the placement rules do on the CNN (ORT's behaviour, spelled out)."""
    graph, _, feeds, _, _ = digits["cnn"]
    q = ptq.quantize_static(graph, _Reader(feeds))  # an ORT data reader is an iterable, too
    ops = q.op_counts()
    assert "Relu" not in ops, "Relu is folded: Conv writes the Relu's output name directly"
    # x, conv1+relu, pool1, conv2+relu, pool2, flatten, fc1+relu, logits: 8 activations
    assert ops["QuantizeLinear"] == 8
    assert ops["DequantizeLinear"] == 8 + 4 + 4  # + 4 weights + 4 biases
    # MaxPool and Flatten outputs reuse the scale/zp of their input (QDQDirect8BitOp).
    share = {n.inputs[0]: n.inputs[1] for n in q.nodes if n.op == "QuantizeLinear"}
    assert share["/MaxPool_output_0"] == "/Relu_output_0_scale"
    assert share["/Flatten_output_0"] == share["/MaxPool_1_output_0"] == "/Relu_1_output_0_scale"
    # The graph output keeps its name: it is now the output of the last DequantizeLinear.
    assert q.producer("logits").op == "DequantizeLinear"
    # Bias: int32 = round_half_even(b / (s_x * s_w)), zero point 0 (base_quantizer.py).
    i = q.initializers
    s = i["/Relu_output_0_scale"]  # conv2 reads MaxPool's output, which shares this scale
    want = np.round(
        graph.initializers["conv2.bias"].astype(np.float64)
        / np.float64(s * i["conv2.weight_scale"])
    )
    np.testing.assert_array_equal(i["conv2.bias_quantized"], want.astype(np.int32))
    assert (
        i["conv2.bias_quantized"].dtype == np.int32 and i["conv2.weight_quantized"].dtype == np.int8
    )
    assert i["x_zero_point"].dtype == np.uint8 and i["conv1.weight_zero_point"] == 0


OPTIONS = {  # ORT keyword arguments, ours
    "relu_not_quantized": (
        {"op_types_to_quantize": ["Conv", "Gemm"]},
        {"op_types": ("Conv", "Gemm")},
    ),
    "moving_average": (
        {"extra_options": {"CalibMovingAverage": True}},
        {"method": "moving_average"},
    ),
    "int8_activations": ({"activation_type": QT.QInt8}, {"activation_dtype": "int8"}),
    "uint8_weights": (
        {"weight_type": QT.QUInt8, "per_channel": True},
        {"weight_dtype": "uint8", "per_channel": True},
    ),
    "reduce_range": (
        {"reduce_range": True, "per_channel": True},
        {"reduce_range": True, "per_channel": True},
    ),
    "exclude_node": ({"nodes_to_exclude": ["/conv2/Conv"]}, {"nodes_to_exclude": ["/conv2/Conv"]}),
}


@pytest.mark.parametrize("case", list(OPTIONS))
def test_quantize_static_options_equal_ort(case, digits, ort_static):
    ort_kwargs, ours = OPTIONS[case]
    graph, _, feeds, _, _ = digits["cnn"]
    q = ptq.quantize_static(graph, feeds, runner="onnxruntime", **ours)
    assert_same_model(q, ort_static("cnn", **ort_kwargs))
    if case == "relu_not_quantized":
        assert q.op_counts()["Relu"] == 3, "a Relu outside op_types stays, in float"


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_tiny_bias_scale_grows_the_weight_scale(per_channel, tmp_path):
    """When s_x * s_w is too small for the bias to fit int32, ORT enlarges the weight scale
    (_adjust_weight_scale_for_int32_bias); Gemm's beta goes into the bias scale."""
    h, rng = onnx.helper, np.random.default_rng(0)
    w = (rng.standard_normal((8, 16)) * 1e-6).astype(np.float32)
    b = (rng.standard_normal(8) * 1e3).astype(np.float32)
    nodes = [
        h.make_node("Gemm", ["x", "w", "b"], ["y"], name="gemm", transB=1, beta=0.5),
        h.make_node("Relu", ["y"], ["z"], name="relu"),
    ]
    g = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", 1, ["n", 16])],
        [h.make_tensor_value_info("z", 1, ["n", 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    src = tmp_path / "gemm.onnx"
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, src)
    feeds = [{"x": (rng.standard_normal((4, 16)) * 1e-3).astype(np.float32)} for _ in range(2)]
    ref = tmp_path / "ort.onnx"
    ortq.quantize_static(
        src,
        ref,
        _Reader(feeds),
        quant_format=ortq.QuantFormat.QDQ,
        activation_type=QT.QUInt8,
        weight_type=QT.QInt8,
        per_channel=per_channel,
    )
    q = ptq.quantize_static(load(src), feeds, per_channel=per_channel, runner="onnxruntime")
    assert_same_model(q, ref)
    plain = np.abs(w).max(axis=1 if per_channel else None) / 127
    assert np.all(q.initializers["w_scale"] > 1000 * plain), "the weight scale must grow"


def test_engine_calibration_differs_only_in_the_last_bits(digits):
    """runner="engine" calibrates on the engine's activations: same graph, but a scale may
    move by an ulp where the engine's float Conv/Gemm sums round differently from ORT's."""
    graph, _, feeds, _, _ = digits["cnn"]
    a = ptq.quantize_static(graph, feeds, runner="engine")
    b = ptq.quantize_static(graph, feeds, runner="onnxruntime")
    assert [(n.op, n.inputs, n.outputs) for n in a.nodes] == [
        (n.op, n.inputs, n.outputs) for n in b.nodes
    ]
    moved = [k for k in a.initializers if not np.array_equal(a.initializers[k], b.initializers[k])]
    print("initializers that differ with engine calibration:", moved)
    for k in moved:  # activation (and so bias) scales; bias integers by one at most
        assert k.endswith(("_scale", "bias_quantized")), k
        tol = {"atol": 1, "rtol": 0} if k.endswith("_quantized") else {"rtol": 1e-6}
        np.testing.assert_allclose(a.initializers[k], b.initializers[k], **tol)
    # A runner can be any function (feeds, names) -> {name: array}: here the engine again.
    custom = ptq.quantize_static(
        graph,
        feeds,
        runner=lambda feeds, names: Executor(
            Graph(graph.nodes, graph.inputs, names, graph.initializers)
        ).run(feeds),
    )
    assert all(np.array_equal(custom.initializers[k], a.initializers[k]) for k in a.initializers)


@pytest.mark.parametrize("method", ["mse", "moving_average"])
def test_our_calibrators_make_models_onnxruntime_runs(method, digits, tmp_path):
    graph, path, feeds, x_test, y_test = digits["cnn"]
    q = ptq.quantize_static(graph, feeds, method=method, per_channel=True)
    ref = ort_run(save(q, tmp_path / "q.onnx"), x_test)
    out = Executor(q).run({"x": x_test})["logits"]
    assert np.abs(out - ref).max() <= q.initializers["logits_scale"] * (1 + 1e-3)
    acc, fp = (ref.argmax(1) == y_test).mean(), (ort_run(path, x_test).argmax(1) == y_test).mean()
    assert acc >= fp - 0.02, f"{method}: top-1 {acc:.3f} vs fp32 {fp:.3f}"


# ---- dynamic ------------------------------------------------------------------------------
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_quantize_dynamic_mlp_equals_ort(per_channel, digits, tmp_path):
    """The MLP's Gemms become MatMul + Add first (ORT's replace_gemm_with_matmul), so
    op_types=["MatMul"] quantizes them on both sides."""
    graph, path, _, x_test, _ = digits["mlp"]
    ref_path = tmp_path / "ort.onnx"
    ortq.quantize_dynamic(
        path,
        ref_path,
        op_types_to_quantize=["MatMul"],
        weight_type=QT.QInt8,
        per_channel=per_channel,
    )
    q = ptq.quantize_dynamic(graph, per_channel=per_channel)
    assert_same_model(q, ref_path)
    assert "Gemm" not in q.op_counts() and q.op_counts()["MatMulInteger"] == 3
    assert q.initializers["layers.0.weight_Transposed_quantized"].shape == (64, 128)
    ref = ort_run(ref_path, x_test)
    np.testing.assert_array_equal(ort_run(save(q, tmp_path / "ours.onnx"), x_test), ref)
    # Integer matmuls, exact elementwise float ops: the engine matches ORT exactly here.
    np.testing.assert_array_equal(Executor(q).run({"x": x_test})["logits"], ref)


def test_quantize_dynamic_minilm_equals_ort(tmp_path):
    path = _private_copy("minilm", tmp_path)
    ref_path = tmp_path / "ort.onnx"
    ortq.quantize_dynamic(path, ref_path, op_types_to_quantize=["MatMul"], weight_type=QT.QInt8)
    graph = load(path)
    q = ptq.quantize_dynamic(graph)
    assert_same_model(q, ref_path)
    assert q.op_counts()["MatMulInteger"] == 36, "6 layers x (q, k, v, out, ffn in, ffn out)"
    assert q.op_counts()["MatMul"] == 12, "attention's q @ k.T and p @ v have no constant B"
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": rng.integers(0, 1000, (2, 16)),
        "attention_mask": np.ones((2, 16), np.int64),
        "token_type_ids": np.zeros((2, 16), np.int64),
    }
    ref = ort_session(ref_path, 1, optimize=False).run(None, feeds)[0]
    ours = save(q, tmp_path / "ours.onnx", value_info=True)  # as ORT's quantizer writes it
    mine = ort_session(ours, 1, optimize=False).run(None, feeds)[0]
    np.testing.assert_array_equal(mine, ref)
    # Optimised sessions too: ORT fuses bias Adds into the quantized MatMuls only where the file
    # carries intermediate shapes (value_info), so a file without them would round differently.
    fused_ref = ort_session(ref_path, 1, optimize=True).run(None, feeds)[0]
    fused_mine = ort_session(ours, 1, optimize=True).run(None, feeds)[0]
    np.testing.assert_array_equal(fused_mine, fused_ref)
    out = Executor(q).run(feeds)["last_hidden_state"]
    # Float LayerNorm/Softmax/GELU round differently, and DynamicQuantizeLinear re-grids
    # each difference: close, not equal.
    cos = np.sum(out * ref, -1) / np.linalg.norm(out, axis=-1) / np.linalg.norm(ref, axis=-1)
    print(f"minilm dynamic: engine vs ORT max |diff| {np.abs(out - ref).max():.2e}")
    assert cos.min() > 0.9999 and np.abs(out - ref).max() < 0.05


# ---- size ---------------------------------------------------------------------------------
def test_int8_weights_are_about_4x_smaller(digits):
    graph, _, feeds, _, _ = digits["mlp"]
    for q in (ptq.quantize_dynamic(graph), ptq.quantize_static(graph, feeds)):
        ratio = ptq.weight_bytes(graph) / ptq.weight_bytes(q)
        assert 3.5 < ratio < 4.0, f"int8 weights + fp32 biases and scales: {ratio:.2f}x"
        sizes = ptq.size_by_dtype(q)
        assert next(iter(sizes)) == "int8" and sum(sizes.values()) == ptq.weight_bytes(q)
    assert ptq.weight_bytes(graph) == 4 * graph.num_parameters()


# ---- bad input ----------------------------------------------------------------------------
def test_bad_arguments_say_what_was_expected(digits):
    graph, _, feeds, _, _ = digits["mlp"]
    x = feeds[0]["x"]
    cases = [
        (dict(calibration_inputs=[{"in": x}]), r"feed the graph inputs \['x'\].*missing \['x'\]"),
        (dict(calibration_inputs=[{"x": x, "y": x}]), r"unknown \['y'\]"),
        (dict(calibration_inputs=[]), "at least one calibration batch"),
        (dict(calibration_inputs=iter(())), "at least one calibration batch"),
        (dict(calibration_inputs=[x]), "must be a dict"),
        (dict(calibration_inputs=5), "iterable of"),
        (dict(method="kl"), r"method in \('minmax', 'moving_average', 'percentile'"),
        (dict(op_types=("Gemm", "LSTM")), r"'LSTM' unknown"),
        (dict(op_types=()), r"\(none\)"),
        (dict(activation_dtype="int4"), "activation_dtype in"),
        (dict(runner="tensorrt"), "runner must be"),
        (dict(calibration_inputs=[{"x": np.full_like(x, np.nan)}]), "calibrating tensor 'x'"),
    ]
    for kwargs, match in cases:
        kwargs.setdefault("calibration_inputs", feeds)
        with pytest.raises(InvalidValueError, match=match):
            ptq.quantize_static(graph, **kwargs)
    with pytest.raises(DTypeError, match="int8 activations with uint8 weights"):
        ptq.quantize_static(graph, feeds, activation_dtype="int8", weight_dtype="uint8")
    with pytest.raises(InvalidValueError, match=r"quantize_dynamic quantizes the op types MatMul"):
        ptq.quantize_dynamic(graph, op_types=("Conv",))
    with pytest.raises(InvalidValueError, match="weight_dtype in"):
        ptq.quantize_dynamic(graph, weight_dtype="float16")
    with pytest.raises(InferlabError, match="needs an inferlab.graph.Graph"):
        ptq.quantize_dynamic("mlp.onnx")


@pytest.mark.parametrize("runner", ["engine", "onnxruntime"])
def test_ranges_of_graph_inputs_alone_need_no_run(runner):
    graph = load(export_onnx("mlp"))
    feeds = [{"x": np.linspace(-1, 2, 64 * 4, dtype=np.float32).reshape(4, 64)}]
    ranges = ptq.tensor_ranges(graph, feeds, ["x"], runner=runner)
    assert ranges == {"x": (np.float32(-1), np.float32(2))}
