"""inferlab.quant.integer against onnxruntime's integer ops, bit for bit (ORT_DISABLE_ALL)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.quant.integer import (
    dynamic_quant_linear,
    dynamic_quantize_linear,
    exact_in_float32,
    matmul_integer,
    max_exact_k,
    qlinear_matmul,
)

NP2ONNX = {np.dtype(np.uint8): T.UINT8, np.dtype(np.int8): T.INT8, np.dtype(np.float32): T.FLOAT}


def run_ort(nodes, feeds: dict, out_types: list, inits=(), opset=19) -> list:
    """One ORT session over ``nodes`` with the arrays of ``feeds`` as graph inputs."""
    inputs = [h.make_tensor_value_info(k, NP2ONNX[v.dtype], v.shape) for k, v in feeds.items()]
    outputs = [h.make_tensor_value_info(f"y{i}", t, None) for i, t in enumerate(out_types)]
    graph = h.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 9
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def ort_dql(x):
    node = h.make_node("DynamicQuantizeLinear", ["x"], ["y0", "y1", "y2"])
    return run_ort([node], {"x": x}, [T.UINT8, T.FLOAT, T.UINT8])


def rand_int(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- DynamicQuantizeLinear ----


@pytest.mark.parametrize(
    "case", ["normal", "positive", "negative", "zeros", "constant", "wide", "one"]
)
def test_dynamic_quantize_linear_matches_ort(rng, case):
    x = {
        "normal": rng.standard_normal((37, 300)),
        "positive": rng.uniform(0.5, 3, (5, 8)),
        "negative": -rng.uniform(0.5, 3, (5, 8)),
        "zeros": np.zeros((3, 4)),
        "constant": np.full((3, 4), 1.7),
        "wide": rng.standard_normal(20_000) * 1e4,
        "one": np.array([-0.3]),
    }[case].astype(np.float32)
    q, s, z = dynamic_quantize_linear(x)
    rq, rs, rz = ort_dql(x)
    np.testing.assert_array_equal(q, rq, err_msg=f"{case}: quantized values")
    assert s.dtype == np.float32 and z.dtype == np.uint8
    assert s == rs and z == rz, f"{case}: ours scale {s} zp {z}, ORT {rs} {rz}"
    if case == "zeros":
        assert s == 1.0 and z == 0, "an all-zero input must not divide by zero"


def test_dynamic_quantize_linear_ties_follow_division_order():
    # rmin = -1.25 and rmax = 1.3: scale 2.55/255 ~ 0.01, so x = k * scale +- half steps
    x = np.array([-1.25, 1.3, 0.005, 0.015, -0.005, 0.025, 1.0], np.float32)
    q, s, z = dynamic_quantize_linear(x)
    rq, rs, rz = ort_dql(x)
    np.testing.assert_array_equal(q, rq)
    assert (s, z) == (rs, rz)


# ---------------------------------------------------------------- MatMulInteger ------------


@pytest.mark.parametrize(
    ("m", "k", "n"), [(1, 1, 1), (3, 7, 5), (16, 64, 33), (9, 300, 17), (2, 300, 1)]
)
@pytest.mark.parametrize(
    ("adt", "bdt"),
    [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8), (np.int8, np.uint8)],
)
def test_matmul_integer_matches_ort(rng, m, k, n, adt, bdt):
    a, b = rand_int(rng, (m, k), adt), rand_int(rng, (k, n), bdt)
    az = rand_int(rng, (), adt)
    bz = rand_int(rng, (), bdt)
    node = h.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y0"])
    (ref,) = run_ort([node], {"a": a, "b": b, "az": az, "bz": bz}, [T.INT32])
    ours = matmul_integer(a, b, az, bz)
    assert ours.dtype == np.int32
    np.testing.assert_array_equal(ours, ref)
    # and without zero points (optional inputs omitted)
    node = h.make_node("MatMulInteger", ["a", "b"], ["y0"])
    (ref,) = run_ort([node], {"a": a, "b": b}, [T.INT32])
    np.testing.assert_array_equal(matmul_integer(a, b), ref)


def test_matmul_integer_per_column_b_zero_point_and_batch(rng):
    a = rand_int(rng, (2, 3, 6, 40), np.uint8)
    b = rand_int(rng, (40, 11), np.int8)
    bz = rand_int(rng, (11,), np.int8)
    node = h.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y0"])
    feeds = {"a": a, "b": b, "az": np.array(7, np.uint8), "bz": bz}
    (ref,) = run_ort([node], feeds, [T.INT32])
    np.testing.assert_array_equal(matmul_integer(a, b, 7, bz), ref)


def test_matmul_integer_per_row_a_zero_point_is_exact(rng):
    # ORT's CPU kernel only takes a scalar a_zero_point; the ONNX spec allows one per row.
    a, b = rand_int(rng, (5, 30), np.uint8), rand_int(rng, (30, 4), np.int8)
    az = rand_int(rng, (5,), np.uint8)
    want = (a.astype(np.int64) - az[:, None]) @ b.astype(np.int64)
    np.testing.assert_array_equal(matmul_integer(a, b, az), want)


# ---------------------------------------------------------------- QLinearMatMul ------------


@pytest.mark.parametrize(
    ("m", "k", "n"), [(1, 1, 1), (4, 9, 3), (13, 64, 10), (7, 300, 21), (32, 300, 32)]
)
@pytest.mark.parametrize(
    ("adt", "bdt"), [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8)]
)
def test_qlinear_matmul_matches_ort(rng, m, k, n, adt, bdt):
    a, b = rand_int(rng, (m, k), adt), rand_int(rng, (k, n), bdt)
    az = np.array(3 if adt == np.uint8 else -5, adt)  # odd zero points: ties shift
    bz = np.array(131 if bdt == np.uint8 else 1, bdt)
    a_s, b_s = np.float32(0.02), np.float32(0.007)
    # y_scale so the outputs fill the 8-bit range (and some saturate)
    y_s = np.float32(a_s * b_s * np.sqrt(k) * 128 * 64 / 40)
    yz = np.array(127 if adt == np.uint8 else 7, adt)  # odd
    feeds = {
        "a": a,
        "as": np.array(a_s),
        "az": az,
        "b": b,
        "bs": np.array(b_s),
        "bz": bz,
        "ys": np.array(y_s),
        "yz": yz,
    }
    node = h.make_node("QLinearMatMul", list(feeds), ["y0"])
    (ref,) = run_ort([node], feeds, [NP2ONNX[np.dtype(adt)]])
    ours = qlinear_matmul(a, a_s, az, b, b_s, bz, y_s, yz)
    assert ours.dtype == adt
    np.testing.assert_array_equal(ours, ref)
    assert len(np.unique(ours)) > min(m * n // 2, 20), "the test should exercise many outputs"


def test_qlinear_matmul_per_column_b_scale(rng):
    a, b = rand_int(rng, (6, 50), np.uint8), rand_int(rng, (50, 8), np.int8)
    b_s = rng.uniform(0.001, 0.01, 8).astype(np.float32)
    bz = np.zeros(8, np.int8)
    feeds = {
        "a": a,
        "as": np.array(0.05, np.float32),
        "az": np.array(128, np.uint8),
        "b": b,
        "bs": b_s,
        "bz": bz,
        "ys": np.array(0.03, np.float32),
        "yz": np.array(120, np.uint8),
    }
    node = h.make_node("QLinearMatMul", list(feeds), ["y0"])
    (ref,) = run_ort([node], feeds, [T.UINT8])
    ours = qlinear_matmul(a, 0.05, 128, b, b_s, bz, 0.03, np.uint8(120))
    np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------- quantize_dynamic subgraph -


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_dynamic_quant_linear_matches_ort_subgraph(rng, per_channel, bias):
    x = rng.standard_normal((2, 10, 300)).astype(np.float32)
    n = 24
    w_q = rand_int(rng, (300, n), np.int8)
    w_s = (rng.uniform(0.001, 0.01, n) if per_channel else np.array(0.004)).astype(np.float32)
    w_z = np.zeros(n if per_channel else (), np.int8)
    bvec = rng.standard_normal(n).astype(np.float32)
    inits = [
        h.make_tensor("wq", T.INT8, w_q.shape, w_q.reshape(-1).tolist()),
        h.make_tensor("ws", T.FLOAT, w_s.shape, w_s.reshape(-1).tolist()),
        h.make_tensor("wz", T.INT8, w_z.shape, w_z.reshape(-1).tolist()),
        h.make_tensor("b", T.FLOAT, (n,), bvec.tolist()),
    ]
    nodes = [
        h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        h.make_node("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"]),
        h.make_node("Cast", ["acc"], ["accf"], to=T.FLOAT),
        h.make_node("Mul", ["xs", "ws"], ["scales"]),  # ORT: x_scale * w_scale first
        h.make_node("Mul", ["accf", "scales"], ["y0" if not bias else "mm"]),
    ]
    if bias:
        nodes.append(h.make_node("Add", ["mm", "b"], ["y0"]))
    (ref,) = run_ort(nodes, {"x": x}, [T.FLOAT], inits)
    ours = dynamic_quant_linear(x, w_q, w_s, w_z, bvec if bias else None)
    assert ours.dtype == np.float32 and ours.shape == (2, 10, n)
    np.testing.assert_array_equal(ours, ref)


# ---------------------------------------------------------------- float32 exactness -------


def test_max_exact_k_values():
    assert max_exact_k("uint8", "int8", a_zero_point=False) == 514  # 255 * 128 * 514 <= 2**24
    assert max_exact_k("uint8", "int8", a_zero_point=True) == 514
    assert max_exact_k("int8", "int8", False, False) == 1024  # 128 * 128
    assert max_exact_k("uint8", "uint8", True, True) == 258  # 255 * 255
    assert max_exact_k("int8", "int8", 0, 0) == 1024  # explicit zero points
    assert max_exact_k("uint8", "int8", 128, False) == 1024  # centred zp: |a - 128| <= 128
    assert exact_in_float32(514) and not exact_in_float32(515)


@pytest.mark.parametrize(
    ("adt", "bdt", "azp"),
    [("uint8", "int8", True), ("int8", "int8", False), ("uint8", "uint8", True)],
)
def test_float32_blas_is_exact_within_the_bound(rng, adt, bdt, azp):
    k = max_exact_k(adt, bdt, a_zero_point=azp, b_zero_point=False)
    a = rand_int(rng, (16, k), np.dtype(adt))
    b = rand_int(rng, (k, 16), np.dtype(bdt))
    # the worst case in row 0 / column 0: every product as large as it can be
    info_a, info_b = np.iinfo(np.dtype(adt)), np.iinfo(np.dtype(bdt))
    az = int(info_a.max) if azp else 0  # a - az reaches -(max - min)
    a[0] = info_a.min
    b[:, 0] = info_b.min if info_b.min < 0 else info_b.max
    exact = matmul_integer(a, b, az if azp else 0)
    a_f = a.astype(np.float32) - np.float32(az)  # the zp subtraction is exact too (< 2**24)
    fp32 = a_f @ b.astype(np.float32)  # BLAS sgemm, summing in whatever order it likes
    assert abs(int(exact[0, 0])) > 2**24 - 2**17, "row 0 x col 0 should sit at the bound"
    np.testing.assert_array_equal(fp32.astype(np.int64), exact.astype(np.int64))


def test_float32_blas_fails_beyond_the_bound():
    # K = 601 products of 255 * 127 = 32385 (odd): the exact sum 19,463,385 is odd and above
    # 2**24, where float32 has only even integers, so no summation order can get it right.
    k = 601
    assert not exact_in_float32(k, "uint8", "int8", a_zero_point=False)
    a = np.full((1, k), 255, np.uint8)
    b = np.full((k, 1), 127, np.int8)
    exact = int(matmul_integer(a, b)[0, 0])
    assert exact == 601 * 255 * 127 == 19_463_385
    fp32 = (a.astype(np.float32) @ b.astype(np.float32))[0, 0]
    assert int(fp32) != exact, f"float32 gave {int(fp32)} for {exact}"
    assert abs(int(fp32) - exact) <= 64  # close, but not exact
    # while just above the bound the guarantee is gone but the values may still be lucky:
    # products that are multiples of 128 keep every partial sum a float32 integer.
    a2, b2 = np.full((1, 515), 255, np.uint8), np.full((515, 1), -128, np.int8)
    assert int((a2.astype(np.float32) @ b2.astype(np.float32))[0, 0]) == matmul_integer(a2, b2)


# ---------------------------------------------------------------- errors -------------------


def test_integer_errors(rng):
    a, b = rand_int(rng, (3, 4), np.uint8), rand_int(rng, (4, 2), np.int8)
    with pytest.raises(DTypeError, match=r"a as int8 or uint8 \(ONNX\); got array .* float32"):
        matmul_integer(a.astype(np.float32), b)
    with pytest.raises(ShapeError, match=r"\(\.\.\., M, K\) @ \(\.\.\., K, N\); got \(3, 4\) @"):
        matmul_integer(a, b.T.copy())
    with pytest.raises(InvalidValueError, match=r"a_zero_point in uint8's range \[0, 255\]"):
        matmul_integer(a, b, 300)
    with pytest.raises(ShapeError, match="one value per column of b"):
        matmul_integer(a, b, 0, np.zeros(3, np.int8))
    with pytest.raises(InvalidValueError, match="y_scale > 0"):
        qlinear_matmul(a, 0.1, 0, b, 0.1, 0, 0.0, np.uint8(0))
    with pytest.raises(InvalidValueError, match="finite a_scale; got NaN"):
        qlinear_matmul(a, np.nan, 0, b, 0.1, 0, 0.1, np.uint8(0))
    with pytest.raises(DTypeError, match="y_zero_point as int8 or uint8"):
        qlinear_matmul(a, 0.1, 0, b, 0.1, 0, 0.1, 0)
    with pytest.raises(InvalidValueError, match="finite x; got Inf at index"):
        dynamic_quantize_linear(np.array([1.0, np.inf], np.float32))
    with pytest.raises(InvalidValueError, match="finite x; got NaN"):
        dynamic_quant_linear(np.array([[np.nan]], np.float32), b[:1], 0.1)
    with pytest.raises(DTypeError, match="one of int8, uint8"):
        max_exact_k("int3", "int8")
    with pytest.raises(InvalidValueError, match="k to be an int >= 0"):
        exact_in_float32(-1)
