"""inferlab.quant.params / affine against the real thing: onnxruntime QuantizeLinear,
DequantizeLinear and quant_utils, torch quantize_per_* / fake_quantize_* / observers.

Bit-exact (assert_array_equal) everywhere: a quantizer that is off by one integer on a tie is
wrong, not "close". ORT sessions run with ORT_DISABLE_ALL (fused kernels may round differently).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto as T
from onnx import helper as h
from onnxruntime.quantization import quant_utils

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.quant.affine import dequantize, fake_quant, quantize, sqnr_db
from inferlab.quant.params import INT_DTYPES, QParams, qparams, qparams_of, qrange

ONNX_TYPE = {
    "int8": T.INT8,
    "uint8": T.UINT8,
    "int16": T.INT16,
    "uint16": T.UINT16,
    "int4": T.INT4,
    "uint4": T.UINT4,
}
# 4-bit tensors cannot cross the numpy boundary of ORT's Python API: cast to/from 8 bits inside.
WIDE = {"int4": ("int8", T.INT8), "uint4": ("uint8", T.UINT8)}
# torch warns that quantized dtypes are deprecated; they are still the reference they were.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*quantized tensor creation:UserWarning"),
    pytest.mark.filterwarnings("ignore:Please use quant_min and quant_max:UserWarning"),
]
TIES = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32)


def session(nodes, inputs, outputs, inits=(), opset=19):
    graph = h.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _attrs(qp: QParams) -> dict:
    attrs = {} if qp.axis is None else {"axis": qp.axis}
    if qp.block_size is not None:
        attrs["block_size"] = qp.block_size
    return attrs


def _params(qp: QParams):
    s = h.make_tensor("s", T.FLOAT, qp.scale.shape, qp.scale.reshape(-1).tolist())
    z = h.make_tensor(
        "z", ONNX_TYPE[qp.dtype], qp.zero_point.shape, qp.zero_point.reshape(-1).tolist()
    )
    return [s, z]


def ort_quantize(x: np.ndarray, qp: QParams, opset: int = 19) -> np.ndarray:
    """A one-node QuantizeLinear model (a Cast after it for 4-bit outputs)."""
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **_attrs(qp))]
    out_t = ONNX_TYPE[qp.dtype]
    if qp.dtype in WIDE:
        out_t = WIDE[qp.dtype][1]
        nodes.append(h.make_node("Cast", ["q"], ["y"], to=out_t))
    else:
        nodes[0].output[0] = "y"
    sess = session(
        nodes,
        [h.make_tensor_value_info("x", T.FLOAT, x.shape)],
        [h.make_tensor_value_info("y", out_t, x.shape)],
        _params(qp),
        opset,
    )
    return sess.run(None, {"x": x})[0]


def ort_dequantize(q: np.ndarray, qp: QParams, opset: int = 19) -> np.ndarray:
    in_t = ONNX_TYPE[qp.dtype]
    nodes = [h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **_attrs(qp))]
    if qp.dtype in WIDE:
        nodes.insert(0, h.make_node("Cast", ["qw"], ["q"], to=in_t))
        nodes[1].input[0] = "q"
        in_name, in_t = "qw", WIDE[qp.dtype][1]
    else:
        in_name = "q"
    nodes[-1].input[0] = "q"
    sess = session(
        nodes,
        [h.make_tensor_value_info(in_name, in_t, q.shape)],
        [h.make_tensor_value_info("y", T.FLOAT, q.shape)],
        _params(qp),
        opset,
    )
    return sess.run(None, {in_name: q})[0]


def opset_for(qp: QParams) -> int:
    # 4/16-bit types and blocked scales need opset 21; 8-bit per-tensor/axis run at 19.
    return 21 if qp.block_size is not None or qp.dtype not in ("int8", "uint8") else 19


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- ORT QuantizeLinear ---------


def test_tie_grid_ort_rounds_then_adds_zero_point():
    qp = QParams(np.float32(1.0), 3, "int8")
    ours = quantize(TIES, qp)
    np.testing.assert_array_equal(ours, [3, 5, 5, 3, 1])
    np.testing.assert_array_equal(ours, ort_quantize(TIES, qp))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int4", "uint4"])
def test_quantize_per_tensor_matches_ort_on_1e5_values(rng, dtype):
    x = (rng.standard_normal(100_000) * 3).astype(np.float32)
    x[:5] = TIES * 0.05  # a few exact ties too (scale 0.05 is not exact, most ties are near)
    lo, hi = INT_DTYPES[dtype]
    qp = QParams(np.float32(6.0 / (hi - lo)), (lo + hi + 1) // 2 + 1, dtype)  # odd-ish zp
    ours = quantize(x, qp)
    assert ours.dtype == np.dtype(
        "int8" if dtype == "int4" else "uint8" if dtype == "uint4" else dtype
    )
    theirs = ort_quantize(x, qp, opset_for(qp))
    np.testing.assert_array_equal(ours, theirs, err_msg=f"{dtype}: divide, round, then add zp")
    # and the range actually got used, including saturation at both ends
    assert ours.min() == lo and ours.max() == hi


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_quantize_saturates_like_ort(dtype):
    x = np.array([-1e30, -1e4, -3.0, 0.0, 3.0, 1e4, 1e30, 3.4e38], np.float32)
    qp = qparams(-1.0, 1.0, dtype)
    ours = quantize(x, qp)
    np.testing.assert_array_equal(ours, ort_quantize(x, qp))
    lo, hi = INT_DTYPES[dtype]
    assert ours[0] == lo and ours[-1] == hi


def test_quantize_saturates_to_dtype_not_to_reduced_range():
    # ORT's QuantizeLinear op (and quantize_nparray) clip to the full dtype, whatever range the
    # scale was fitted to; narrow=True is the opt-in to clip to [qmin, qmax].
    qp = qparams(-1.0, 1.0, "int8", symmetric=True, reduce_range=True)
    assert (qp.qmin, qp.qmax) == (-64, 64)
    x = np.array([-5.0, 5.0], np.float32)
    np.testing.assert_array_equal(quantize(x, qp), ort_quantize(x, qp))
    np.testing.assert_array_equal(quantize(x, qp), [-128, 127])
    np.testing.assert_array_equal(quantize(x, qp, narrow=True), [-64, 64])


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quantize_dequantize_per_axis_match_ort(rng, dtype, axis):
    x = (rng.standard_normal((3, 5, 7)) * rng.uniform(0.1, 10, (3, 1, 1))).astype(np.float32)
    qp = qparams_of(x, dtype, axis=axis)
    assert qp.scale.shape == (x.shape[axis],)
    q = quantize(x, qp)
    np.testing.assert_array_equal(q, ort_quantize(x, qp))
    np.testing.assert_array_equal(dequantize(q, qp), ort_dequantize(q, qp))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4"])
@pytest.mark.parametrize(("shape", "axis", "block"), [((6, 10), 1, 4), ((8, 5), 0, 2)])
def test_quantize_dequantize_blocked_match_ort(rng, dtype, shape, axis, block):
    x = rng.standard_normal(shape).astype(np.float32)
    qp = qparams_of(x, dtype, axis=axis, block_size=block)
    nb = -(-shape[axis] // block)  # ONNX allows a short last block: 10 = 4 + 4 + 2
    assert qp.scale.shape[axis] == nb
    q = quantize(x, qp)
    np.testing.assert_array_equal(q, ort_quantize(x, qp, 21))
    np.testing.assert_array_equal(dequantize(q, qp), ort_dequantize(q, qp, 21))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4", "int16"])
def test_dequantize_per_tensor_matches_ort_over_whole_range(dtype):
    lo, hi = INT_DTYPES[dtype]
    q = np.arange(lo, hi + 1).astype(quantize(np.zeros(1, np.float32), qparams(0, 1, dtype)).dtype)
    qp = QParams(np.float32(0.0173), (lo + hi) // 2 + 1, dtype)
    np.testing.assert_array_equal(dequantize(q, qp), ort_dequantize(q, qp, opset_for(qp)))


# ---------------------------------------------------------------- torch --------------------


def test_torch_convention_adds_zero_point_before_rounding():
    qp = QParams(np.float32(1.0), 3, "uint8", convention="torch")
    real = torch.quantize_per_tensor(torch.from_numpy(TIES), 1.0, 3, torch.quint8).int_repr()
    np.testing.assert_array_equal(quantize(TIES, qp), [4, 4, 6, 2, 0])
    np.testing.assert_array_equal(quantize(TIES, qp), real.numpy())
    # torch's fake quantization rounds first: the ORT-like answer
    fake = torch.fake_quantize_per_tensor_affine(torch.from_numpy(TIES), 1.0, 3, 0, 255)
    np.testing.assert_array_equal(fake_quant(TIES, qp), fake.numpy())
    np.testing.assert_array_equal(fake.numpy(), np.array([3, 5, 5, 3, 1]) - 3.0)
    # so torch's real and fake paths disagree at these ties (2.5 -> 3 really, 2 fake), ...
    real_dq = (real.numpy().astype(np.float32) - 3) * 1.0
    assert np.sum(real_dq != fake.numpy()) == 5, "every tie moves by one with odd zp"
    # ... and torch's real path disagrees with ORT
    assert np.all(quantize(TIES, qp) != quantize(TIES, QParams(np.float32(1), 3, "uint8")))


@pytest.mark.parametrize(("dtype", "tdtype"), [("int8", torch.qint8), ("uint8", torch.quint8)])
def test_torch_quantize_per_tensor_1e5(rng, dtype, tdtype):
    x = (rng.standard_normal(100_000) * 2).astype(np.float32)
    qp = qparams_of(x, dtype, convention="torch")
    ref = torch.quantize_per_tensor(
        torch.from_numpy(x), float(qp.scale), int(qp.zero_point), tdtype
    ).int_repr()
    np.testing.assert_array_equal(quantize(x, qp), ref.numpy())
    fq = torch.fake_quantize_per_tensor_affine(
        torch.from_numpy(x), float(qp.scale), int(qp.zero_point), qp.qmin, qp.qmax
    )
    np.testing.assert_array_equal(fake_quant(x, qp), fq.numpy())


@pytest.mark.parametrize(("dtype", "tdtype"), [("int8", torch.qint8), ("uint8", torch.quint8)])
def test_torch_per_channel(rng, dtype, tdtype):
    x = (rng.standard_normal((6, 500)) * rng.uniform(0.1, 5, (6, 1))).astype(np.float32)
    x[0, :5] = TIES * 0.25  # exact ties in channel 0 (scale 0.25 set below)
    qp = qparams_of(x, dtype, convention="torch", axis=0)
    scale = qp.scale.copy()
    scale[0] = 0.25
    zp = qp.zero_point.astype(np.int64)
    zp[0] = 3 if dtype == "uint8" else -3
    qp = QParams(scale, zp, dtype, axis=0, qmin=qp.qmin, qmax=qp.qmax, convention="torch")
    s_t, z_t = torch.from_numpy(scale.astype(np.float64)), torch.from_numpy(zp)
    ref = torch.quantize_per_channel(torch.from_numpy(x), s_t, z_t, 0, tdtype).int_repr()
    np.testing.assert_array_equal(quantize(x, qp), ref.numpy())
    fq = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x), s_t.float(), z_t.int(), 0, qp.qmin, qp.qmax
    )
    np.testing.assert_array_equal(fake_quant(x, qp), fq.numpy())
    # the tie row: real and fake disagree on every one of the five ties
    real_dq = (
        quantize(x[:1, :5], QParams(np.float32(0.25), zp[0], dtype, convention="torch")).astype(
            np.float32
        )
        - zp[0]
    ) * 0.25
    assert np.all(real_dq != fq.numpy()[0, :5])


def test_torch_and_ort_differ_on_few_random_values(rng):
    """Reciprocal-multiply vs divide: a handful of the 1e5 non-tie values land differently."""
    x = (rng.standard_normal(100_000) * 2).astype(np.float32)
    ort_qp = QParams(np.float32(0.3), 0, "int8")
    torch_qp = QParams(np.float32(0.3), 0, "int8", convention="torch")
    diff = quantize(x, ort_qp).astype(int) - quantize(x, torch_qp).astype(int)
    assert np.abs(diff).max() <= 1, "the conventions only ever disagree by one step"


# ---------------------------------------------------------------- qparams vs ORT -----------


DATA = {
    "normal": np.random.default_rng(1).standard_normal(1000).astype(np.float32) * 3 + 0.5,
    "positive": np.random.default_rng(2).uniform(0.2, 7, 1000).astype(np.float32),
    "constant": np.full(10, 2.5, np.float32),
    "negative_constant": np.full(10, -3.0, np.float32),
    "zeros": np.zeros(10, np.float32),
    "tiny": np.full(4, 1e-39, np.float32),  # a denormal range: ORT's finfo.tiny fallback
}


@pytest.mark.parametrize("name", DATA)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int4", "uint4"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_qparams_match_ort_compute_data_quant_params(name, dtype, symmetric, reduce_range):
    x = DATA[name]
    zp, scale = quant_utils.compute_data_quant_params(x, ONNX_TYPE[dtype], symmetric, reduce_range)
    qp = qparams_of(x, dtype, symmetric=symmetric, reduce_range=reduce_range)
    assert qp.scale.dtype == np.float32
    np.testing.assert_array_equal(qp.scale, scale, err_msg="scale: float64 division, then fp32")
    assert int(qp.zero_point) == int(zp), f"zero point: ours {qp.zero_point}, ORT {zp}"
    if name == "zeros":
        assert float(qp.scale) == 1.0 and int(qp.zero_point) == 0, "no range -> scale 1, zp 0"
    # and the weights ORT would store (quantize_nparray) are ours
    np.testing.assert_array_equal(
        quantize(x, qp), quant_utils.quantize_nparray(ONNX_TYPE[dtype], x, scale, zp)
    )


@pytest.mark.parametrize("symmetric", [False, True])
def test_qparams_from_ranges_match_compute_scale_zp(rng, symmetric):
    rmin = rng.uniform(-5, 1, 50).astype(np.float32)
    rmax = rmin + rng.uniform(0, 6, 50).astype(np.float32)
    qp = qparams(rmin, rmax, "uint8", symmetric=symmetric, axis=0)
    qmin, qmax = quant_utils.get_qmin_qmax_for_qType(T.UINT8, symmetric=symmetric)
    for i in range(50):
        zp, s = quant_utils.compute_scale_zp(rmin[i], rmax[i], qmin, qmax, symmetric)
        assert qp.scale[i] == s and qp.zero_point[i] == zp, f"channel {i}"


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_blocked_qparams_match_compute_scale_zp_blocked(rng, dtype, symmetric):
    w = rng.standard_normal((10, 6)).astype(np.float32)
    w[4:8, 2] = 0  # an all-zero block: scale 1
    zp, s = quant_utils.compute_scale_zp_blocked(w, ONNX_TYPE[dtype], 0, 4, symmetric)
    qp = qparams_of(w, dtype, symmetric=symmetric, axis=0, block_size=4)
    np.testing.assert_array_equal(qp.scale, s)
    np.testing.assert_array_equal(qp.zero_point.astype(int), zp.astype(int))


def test_qrange_tables():
    assert qrange("int8", symmetric=True) == (-127, 127)
    assert qrange("int8", reduce_range=True) == (-64, 64)
    assert qrange("uint8", reduce_range=True) == (0, 127)
    assert qrange("int4", symmetric=True) == (-8, 7)  # ORT has no narrow int4 symmetric range
    assert qrange("int8", symmetric=True, convention="torch") == (-128, 127)
    assert qrange("int8", reduce_range=True, convention="torch") == (-64, 63)
    assert qrange("uint8", reduce_range=True, convention="torch") == (0, 127)
    for dtype, tq in [("int8", T.INT8), ("uint8", T.UINT8), ("int16", T.INT16)]:
        for sym in (False, True):
            for red in (False, True):
                want = quant_utils.get_qmin_qmax_for_qType(tq, reduce_range=red, symmetric=sym)
                assert qrange(dtype, symmetric=sym, reduce_range=red) == tuple(map(int, want))


# ---------------------------------------------------------------- qparams vs torch ---------


TORCH_DTYPES = {"int8": torch.qint8, "uint8": torch.quint8}


@pytest.mark.parametrize("name", ["normal", "positive", "constant", "negative_constant", "zeros"])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_qparams_match_torch_minmax_observer(name, dtype, symmetric, reduce_range):
    x = DATA[name]
    scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    if symmetric and reduce_range and dtype == "uint8":  # torch refuses: so do we
        with pytest.raises(NotImplementedError, match="Cannot reduce range"):
            torch.ao.quantization.MinMaxObserver(
                dtype=TORCH_DTYPES[dtype], qscheme=scheme, reduce_range=reduce_range
            )
        with pytest.raises(InvalidValueError, match="no symmetric reduce_range for unsigned"):
            qparams_of(x, dtype, symmetric=True, reduce_range=True, convention="torch")
        return
    obs = torch.ao.quantization.MinMaxObserver(
        dtype=TORCH_DTYPES[dtype], qscheme=scheme, reduce_range=reduce_range
    )
    obs(torch.from_numpy(x))
    scale, zp = obs.calculate_qparams()
    qp = qparams_of(x, dtype, symmetric=symmetric, reduce_range=reduce_range, convention="torch")
    np.testing.assert_array_equal(qp.scale.reshape(1), scale.numpy())
    np.testing.assert_array_equal(qp.zero_point.reshape(1).astype(int), zp.numpy())
    assert (qp.qmin, qp.qmax) == (obs.quant_min, obs.quant_max)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_qparams_match_torch_per_channel_observer(rng, dtype, symmetric, reduce_range):
    w = (rng.standard_normal((8, 3, 3)) * rng.uniform(0.01, 4, (8, 1, 1))).astype(np.float32)
    w[3] = 0.0  # an all-zero channel: scale clamps to eps
    w[5] = np.abs(w[5])  # an all-positive channel
    scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    if symmetric and reduce_range and dtype == "uint8":
        with pytest.raises(InvalidValueError, match="no symmetric reduce_range for unsigned"):
            qparams_of(w, dtype, symmetric=True, reduce_range=True, convention="torch", axis=0)
        return
    obs = torch.ao.quantization.PerChannelMinMaxObserver(
        ch_axis=0, dtype=TORCH_DTYPES[dtype], qscheme=scheme, reduce_range=reduce_range
    )
    obs(torch.from_numpy(w))
    scale, zp = obs.calculate_qparams()
    qp = qparams_of(
        w, dtype, symmetric=symmetric, reduce_range=reduce_range, convention="torch", axis=0
    )
    np.testing.assert_array_equal(qp.scale, scale.numpy())
    np.testing.assert_array_equal(qp.zero_point.astype(int), zp.numpy())


def test_symmetric_int8_scales_differ_between_ort_and_torch():
    x = np.array([-2.0, 1.0], np.float32)
    assert float(qparams_of(x, "int8", symmetric=True).scale) == np.float32(2.0 / 127)
    assert float(qparams_of(x, "int8", symmetric=True, convention="torch").scale) == np.float32(
        np.float32(2.0) / np.float32(127.5)
    )


# ---------------------------------------------------------------- errors -------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_is_named(bad):
    x = np.array([[1.0, 2.0], [3.0, bad]], np.float32)
    kind = "NaN" if np.isnan(bad) else "Inf"
    with pytest.raises(InvalidValueError, match=rf"finite x; got {kind} at index \(1, 1\)"):
        qparams_of(x)
    with pytest.raises(InvalidValueError, match=f"finite x; got {kind}"):
        quantize(x, qparams(0, 1))
    with pytest.raises(InvalidValueError, match=f"finite rmax; got {kind}"):
        qparams(0.0, bad)
    with pytest.raises(InvalidValueError, match="finite rmin; got NaN"):
        qparams(np.nan, 1.0)
    with pytest.raises(InvalidValueError, match="finite scale"):
        QParams(np.float32(bad), 0)


def test_zero_and_constant_ranges_are_safe():
    for conv in ("ort", "torch"):
        for x in (np.zeros(5, np.float32), np.full(5, 4.0, np.float32)):
            qp = qparams_of(x, "int8", convention=conv)
            assert np.isfinite(qp.scale) and qp.scale > 0
            x_hat = fake_quant(x, qp)
            assert np.all(np.isfinite(x_hat))
            np.testing.assert_allclose(x_hat, x, atol=float(qp.scale))
    assert float(qparams_of(np.zeros(3, np.float32)).scale) == 1.0


@pytest.mark.parametrize("dtype", ["int3", "int9", "int32", "float8", np.int8])
def test_unsupported_dtype(dtype):
    with pytest.raises(DTypeError, match=r"dtype to be one of int8, uint8.*got"):
        qparams(0, 1, dtype)
    with pytest.raises(DTypeError, match="dtype to be one of"):
        qrange(dtype)


def test_bad_params_messages():
    with pytest.raises(InvalidValueError, match="scale > 0"):
        QParams(np.float32(0), 0)
    with pytest.raises(InvalidValueError, match="scale > 0"):
        QParams(np.array([1.0, -1.0], np.float32), 0, axis=0)
    with pytest.raises(InvalidValueError, match=r"int8's range \[-128, 127\]; got values in \[200"):
        QParams(np.float32(1), 200, "int8")
    with pytest.raises(InvalidValueError, match=r"uint4's range \[0, 15\]; got values in \[-1"):
        QParams(np.float32(1), -1, "uint4")
    with pytest.raises(InvalidValueError, match="convention 'ort' or 'torch'; got 'tf'"):
        qparams(0, 1, convention="tf")
    with pytest.raises(InvalidValueError, match=r"rmin <= rmax; got rmin=.*2.* > rmax=.*1"):
        qparams(2.0, 1.0)
    with pytest.raises(ShapeError, match="one scale; got shape"):
        QParams(np.ones(3, np.float32), 0)


def test_axis_and_block_errors(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    with pytest.raises(InvalidValueError, match=r"axis 2 is out of range for x of shape \(4, 6\)"):
        qparams_of(x, axis=2)
    qp = qparams_of(x, axis=0)  # 4 scales
    with pytest.raises(ShapeError, match=r"needs 6 scales \(x.shape\[0\]\); got scale of shape"):
        quantize(x.T, qp)
    with pytest.raises(ShapeError, match=r"axis 3 is out of range"):
        quantize(x, QParams(np.ones(4, np.float32), 0, axis=3))
    for bs in (0, -2, 1.5):
        with pytest.raises(InvalidValueError, match="block_size to be an int >= 1"):
            qparams_of(x, axis=1, block_size=bs)
    qp = qparams_of(x, axis=1, block_size=4)  # 6 = 4 + 2: two blocks
    assert qp.scale.shape == (4, 2)
    with pytest.raises(ShapeError, match=r"needs scale of shape \(4, 3\).*ceil\(6/2\) = 3"):
        quantize(x, QParams(qp.scale, 0, axis=1, block_size=2))
    with pytest.raises(InvalidValueError, match="needs an axis"):
        qparams_of(x, block_size=2)
    with pytest.raises(DTypeError, match="needs a float x"):
        quantize(np.arange(4), qparams(0, 1))
    with pytest.raises(DTypeError, match="needs integer q"):
        dequantize(np.ones(4, np.float32), qparams(0, 1))


def test_sqnr_grows_6db_per_bit(rng):
    x = rng.standard_normal(50_000).astype(np.float32)
    db8 = sqnr_db(x, fake_quant(x, qparams_of(x, "int8", symmetric=True)))
    db4 = sqnr_db(x, fake_quant(x, qparams_of(x, "int4", symmetric=True)))
    assert 3.5 * 6.02 < db8 - db4 < 4.5 * 6.02, (db8, db4)
    assert sqnr_db(x, x) == np.inf
