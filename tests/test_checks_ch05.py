"""Every check of exercises 05 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/05_quantization.ipynb (extracted from the
notebook's own cells and exec'd) passes; the generated stub in exercises/05_quantization.ipynb is
"not attempted"; every slip a check knows fails with its hint, alone and two at once; plausible
wrong answers, written the way students write them, fail with a specific hint; and equivalent
right answers pass. The checks' references agree with onnxruntime itself on the checks' own
cases (ties included). The grader grades both notebooks end to end (marked ``slow``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
    slip_tests,
)
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import quant_utils

from inferlab.checks import ch05
from inferlab.checks.ch05 import matmul_integer, pack, per_channel, qlinear, qparams, quantize
from inferlab.checks.ch05._common import decode_digits, encode_ints
from inferlab.quant import affine, blockwise, integer, params

ROOT = Path(__file__).resolve().parents[1]
TASKS = [
    "affine_qparams",
    "quantize",
    "quantize_per_channel",
    "matmul_integer",
    "qlinear_matmul",
    "pack_int4",
]
MODULES = {
    "affine_qparams": qparams,
    "quantize": quantize,
    "quantize_per_channel": per_channel,
    "matmul_integer": matmul_integer,
    "qlinear_matmul": qlinear,
    "pack_int4": pack,
}

SOLUTION = notebook_functions(ROOT / "solutions" / "05_quantization.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "05_quantization.ipynb", TASKS)


check, fails = check_helpers(ch05)


def cases(task: str):
    return ch05.TASKS[task].cases()


# ----------------------------------------------------------------------------- the references


@pytest.mark.parametrize(
    ("task", "library"),
    [
        ("affine_qparams", params.qparams),
        ("quantize", affine.quantize),
        ("quantize_per_channel", params.qparams_of),
        ("matmul_integer", integer.matmul_integer),
        ("qlinear_matmul", integer.qlinear_matmul),
        ("pack_int4", blockwise.pack_nibbles),
    ],
)
def test_a_library_function_itself_is_refused(task, library):
    assert "needs your own" in fails(task, library)


def run_ort(op_type: str, inputs: list, out_type: int) -> np.ndarray:
    """One ONNX op in onnxruntime, graph optimizations off (each op runs as written)."""
    names = [f"in{i}" for i in range(len(inputs))]
    node = helper.make_node(op_type, names, ["out"])
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in zip(names, inputs, strict=True)]
    out = helper.make_tensor_value_info("out", out_type, None)
    graph = helper.make_graph([node], op_type, [], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), so, ["CPUExecutionProvider"])
    return session.run(None, {})[0]


ONNX_TYPE = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8}


def test_the_qparams_reference_is_onnxruntimes_compute_scale_zp():
    for case in cases("affine_qparams"):
        rmin, rmax, qmin, qmax = case.args
        dtype = np.int8 if qmin < 0 else np.uint8
        zp, scale = quant_utils.compute_scale_zp(
            np.array(rmin, np.float32), np.array(rmax, np.float32), dtype(qmin), dtype(qmax)
        )
        ours = qparams._reference(*case.args)
        assert float(ours[0]) == float(scale) and int(ours[1]) == int(zp), case.note


def test_the_quantize_reference_is_onnxruntimes_quantize_linear():
    checked = 0
    for case in cases("quantize"):
        x, scale, zero_point, qmin, qmax = case.args
        if (qmin, qmax) not in ((0, 255), (-128, 127)):
            continue  # int4 outputs don't convert to NumPy
        dtype = np.uint8 if qmin == 0 else np.int8
        ort_q = run_ort("QuantizeLinear", [x, scale, dtype(zero_point)], ONNX_TYPE[np.dtype(dtype)])
        np.testing.assert_array_equal(quantize._reference(*case.args), ort_q, err_msg=case.note)
        checked += 1
    assert checked >= 8


def test_the_per_channel_reference_is_onnxruntimes_quantize_data_per_channel():
    for case in cases("quantize_per_channel"):
        w, axis = case.args
        q, scale = per_channel._reference(w, axis)
        for c in range(w.shape[axis]):
            channel = np.take(w, c, axis=axis)
            zp, s, q_c = quant_utils.quantize_data(channel, TensorProto.INT8, symmetric=True)
            assert int(zp) == 0 and float(s) == float(scale[c]), (case.note, c)
            np.testing.assert_array_equal(np.take(q, c, axis=axis), q_c, err_msg=case.note)


def test_the_integer_references_are_onnxruntimes_ops():
    for case in cases("matmul_integer"):
        ort_acc = run_ort("MatMulInteger", list(case.args), TensorProto.INT32)
        np.testing.assert_array_equal(matmul_integer._reference(*case.args), ort_acc)
    for case in cases("qlinear_matmul"):
        out_type = ONNX_TYPE[np.asarray(case.args[-1]).dtype]
        ort_y = run_ort("QLinearMatMul", list(case.args), out_type)
        np.testing.assert_array_equal(qlinear._reference(*case.args), ort_y, err_msg=case.note)


def test_the_pack_reference_is_the_closed_form():
    for case in cases("pack_int4"):
        q = np.asarray(case.args[0]).astype(np.int64)
        if q.shape[-1] % 2:
            q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.int64)], axis=-1)
        np.testing.assert_array_equal(pack._reference(*case.args), q[..., ::2] + 16 * q[..., 1::2])


@pytest.mark.parametrize("task", TASKS)
def test_the_generated_stub_is_not_attempted(task):
    assert "not attempted yet" in fails(task, STUB[task])


# ----------------------------------------------------------------------------- every known slip


TWO_SLIPS = [
    ("affine_qparams", {"widen": "no", "rounding": "half-up"}),
    ("quantize", {"divide": "reciprocal", "order": "zero point, then round"}),  # torch's rule
    ("quantize", {"rounding": "half-up", "saturate": "none"}),
    ("quantize_per_channel", {"divisor": 127.5, "amax": "signed"}),
    ("matmul_integer", {"arithmetic": "float32", "zero_points": "b only"}),
    ("qlinear_matmul", {"multiplier": "a·b", "saturate": "wrap"}),
    ("pack_int4", {"order": "high = even", "odd": "drop"}),
]

# every slip alone, the switches left alone, two slips at once: the same for every chapter
globals().update(slip_tests(MODULES, check, fails, TWO_SLIPS))


# ----------------------------------------------------------------------------- wrong answers


def aq(rmin, rmax, qmin, qmax, *, widen=True, levels=False, rnd=round, guard=True):
    if widen:
        rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    scale = (rmax - rmin) / (qmax - qmin + 1 if levels else qmax - qmin)
    if guard and scale == 0:
        return 1.0, 0
    return scale, rnd(qmin - rmin / scale)


def aq_int_half_up(rmin, rmax, qmin, qmax):
    return aq(rmin, rmax, qmin, qmax, rnd=lambda v: math.floor(v + 0.5))


def aq_float32_scale(rmin, rmax, qmin, qmax):
    rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    scale = np.float32((rmax - rmin) / (qmax - qmin))
    if scale == 0:
        return np.float32(1), 0
    return scale, int(np.round(qmin - np.float32(rmin) / scale))


def aq_swapped(rmin, rmax, qmin, qmax):
    scale, zp = aq(rmin, rmax, qmin, qmax)
    return zp, scale  # compute_scale_zp's order


def aq_numpy_no_guard(rmin, rmax, qmin, qmax):
    rmin, rmax = np.minimum(rmin, 0.0), np.maximum(rmax, 0.0)
    scale = (rmax - rmin) / (qmax - qmin)
    return np.float32(scale), np.round(qmin - rmin / scale)


def aq_library(rmin, rmax, qmin, qmax):
    dtype = {(0, 255): "uint8", (-128, 127): "int8"}.get((qmin, qmax), "int8")
    qp = params.qparams(rmin, rmax, dtype)
    return qp.scale, qp.zero_point


def aq_dict(rmin, rmax, qmin, qmax):
    scale, zp = aq(rmin, rmax, qmin, qmax)
    return {"scale": scale, "zero_point": zp}


def qz(x, scale, zero_point, qmin, qmax, *, rnd=np.rint, clip=True, first=False, dtype=np.int32):
    v = x / scale
    q = rnd(v + zero_point) if first else rnd(v) + zero_point
    return (np.clip(q, qmin, qmax) if clip else q).astype(dtype)


def qz_torch(x, scale, zero_point, qmin, qmax):
    return np.clip(np.rint(x * (1 / scale) + zero_point), qmin, qmax).astype(np.int32)


def qz_astype_int(x, scale, zero_point, qmin, qmax):
    return np.clip((x / scale).astype(np.int32) + zero_point, qmin, qmax)


def qz_cast_first(x, scale, zero_point, qmin, qmax):
    q = (np.rint(x / scale) + zero_point).astype(np.uint8 if qmin == 0 else np.int8)
    return np.clip(q, qmin, qmax)


def qz_uint8_always(x, scale, zero_point, qmin, qmax):
    return np.clip((np.rint(x / scale) + zero_point).astype(np.uint8), qmin, qmax)


def qz_float(x, scale, zero_point, qmin, qmax):
    return np.clip(np.rint(x / scale) + zero_point, qmin, qmax)


def qz_float64(x, scale, zero_point, qmin, qmax):
    return qz(x.astype(np.float64), float(scale), zero_point, qmin, qmax)


def qz_library(x, scale, zero_point, qmin, qmax):
    return affine.quantize(x, params.QParams(scale, zero_point, "uint8" if qmin == 0 else "int8"))


def pc(w, axis, *, divisor=127, absolute=True, guard=True, keep=None):
    axis = axis % w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    a = np.abs(w) if absolute else w
    amax = a.max(axis=others if keep is None else keep, keepdims=True)
    scale = (amax / np.float32(divisor)).astype(np.float32)
    if guard:
        scale[scale == 0] = 1
    with np.errstate(all="ignore"):
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale.ravel()


def pc_per_tensor(w, axis):
    scale = np.abs(w).max() / np.float32(127)
    return np.rint(w / scale).astype(np.int8), scale


def pc_per_tensor_copies(w, axis):
    q, scale = pc_per_tensor(w, axis)
    return q, np.full(w.shape[axis], scale)


def pc_axis_as_reduction(w, axis):
    scale = np.abs(w).max(axis=axis) / 127  # one per index of the other axis
    return np.rint(w / scale).astype(np.int8), scale


def pc_keepdims_scale(w, axis):
    axis = axis % w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    scale = np.abs(w).max(axis=others, keepdims=True) / np.float32(127)
    scale[scale == 0] = 1
    return np.rint(w / scale).astype(np.int8), scale


def pc_float_q(w, axis):
    q, scale = pc(w, axis)
    return q.astype(np.float32), scale


def pc_library(w, axis):
    qp = params.qparams_of(w, "int8", symmetric=True, axis=axis)
    return affine.quantize(w, qp), qp.scale


def mi_8bit(a, b, az, bz):
    return (a - az) @ (b - bz)


def mi_widen_after(a, b, az, bz):
    return (a - az).astype(np.int32) @ (b - bz).astype(np.int32)


def mi_float32(a, b, az, bz):
    return (a.astype(np.float32) - az) @ (b.astype(np.float32) - bz)


def mi_float32_cast(a, b, az, bz):
    return mi_float32(a, b, az, bz).astype(np.int32)


def mi_no_zero_points(a, b, az, bz):
    return a.astype(np.int32) @ b.astype(np.int32)


def mi_expanded(a, b, az, bz):
    a32, b32 = a.astype(np.int64), b.astype(np.int64)
    return (a32 @ b32 - int(az) * b32.sum(0) - int(bz) * a32.sum(1)[:, None]).astype(np.int32)


def mi_torch(a, b, az, bz):
    return torch.from_numpy(a.astype(np.int32) - az) @ torch.from_numpy(b.astype(np.int32) - bz)


def mi_library(a, b, az, bz):
    return integer.matmul_integer(a, b, az, bz)


def ql(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp, *, mult=None, first=False, clip=True):
    acc = (a.astype(np.int32) - a_zp) @ (b.astype(np.int32) - b_zp)
    m = a_s * b_s / y_s if mult is None else mult(a_s, b_s, y_s)
    v = acc.astype(np.float32) * m
    y = np.rint(v + y_zp) if first else np.rint(v) + y_zp
    info = np.iinfo(y_zp.dtype)
    if clip:
        y = np.clip(y, info.min, info.max)
    return y.astype(np.int64).astype(y_zp.dtype)


def ql_real(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
    return ((a.astype(np.int32) - a_zp) @ (b.astype(np.int32) - b_zp)) * (a_s * b_s)


def ql_no_input_zero_points(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
    return ql(a, a_s, 0 * a_zp, b, b_s, 0 * b_zp, y_s, y_zp)


def ql_forgot_y_zero_point(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
    return ql(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp * 0)


def ql_dequantize_then_quantize(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
    # float path: dequantize both inputs, float matmul, quantize with torch's rule
    x = (a.astype(np.float32) - a_zp) * a_s
    w = (b.astype(np.float32) - b_zp) * b_s
    info = np.iinfo(y_zp.dtype)
    return np.clip(np.rint((x @ w) * (1 / y_s) + y_zp), info.min, info.max).astype(y_zp.dtype)


def ql_left_to_right(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
    acc = (a.astype(np.int32) - a_zp) @ (b.astype(np.int32) - b_zp)
    y = np.rint(acc.astype(np.float32) * a_s * b_s / y_s) + y_zp
    info = np.iinfo(y_zp.dtype)
    return np.clip(y, info.min, info.max).astype(y_zp.dtype)


def ql_float64(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
    acc = (a.astype(np.int64) - a_zp) @ (b.astype(np.int64) - b_zp)
    y = np.rint(acc * (float(a_s) * float(b_s) / float(y_s))) + int(y_zp)
    info = np.iinfo(y_zp.dtype)
    return np.clip(y, info.min, info.max).astype(y_zp.dtype)


def ql_library(*args):
    return integer.qlinear_matmul(*args)


def pk(q, *, swap=False, pad=True):
    q = np.asarray(q).astype(np.uint8)
    if pad and q.shape[-1] % 2:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.uint8)], axis=-1)
    lo, hi = q[..., 0::2], q[..., 1::2]
    if swap:
        lo, hi = hi, lo
    return lo | (hi << 4)


def pk_halves(q):
    q = np.asarray(q).astype(np.uint8)
    n = q.shape[-1]
    half = (n + 1) // 2
    hi = np.zeros((*q.shape[:-1], half), np.uint8)
    hi[..., : n - half] = q[..., half:]
    return q[..., :half] | (hi << 4)


def pk_flat(q):
    return pk(np.asarray(q).reshape(-1))


def pk_int64(q):
    q = np.asarray(q).astype(np.int64)
    if q.shape[-1] % 2:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.int64)], axis=-1)
    return q[..., 0::2] + 16 * q[..., 1::2]


def pk_list(q):
    return [int(v) for v in pk(np.asarray(q).reshape(-1))]


def pk_library(q):
    return blockwise.pack_nibbles(q)


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("affine_qparams", functools.partial(aq, widen=False), "include 0 in the range first"),
    ("affine_qparams", functools.partial(aq, levels=True), "not onto 2**bits = 256"),
    ("affine_qparams", aq_int_half_up, "round half to EVEN"),
    ("affine_qparams", functools.partial(aq, rnd=int), "int() and np.trunc cut toward zero"),
    ("affine_qparams", functools.partial(aq, rnd=lambda v: v), "round the zero point"),
    ("affine_qparams", functools.partial(aq, guard=False), "an all-zero tensor has"),
    ("affine_qparams", aq_numpy_no_guard, "an all-zero tensor has"),
    ("affine_qparams", aq_float32_scale, "before rounding the scale to float32"),
    ("affine_qparams", aq_swapped, "in this order: the scale first"),
    ("affine_qparams", aq_dict, "return a pair `(scale, zero_point)`"),
    ("affine_qparams", aq_library, "calls `inferlab.quant.params.qparams`"),
    (
        "affine_qparams",
        functools.partial(aq, widen=False, rnd=int),
        "2 slips at once: (1) include 0",
    ),
    ("quantize", functools.partial(qz, rnd=lambda v: np.floor(v + 0.5)), "round half to EVEN"),
    ("quantize", functools.partial(qz, rnd=np.floor), "not down with floor"),
    ("quantize", qz_astype_int, "`.astype(int)` truncates toward zero"),
    ("quantize", functools.partial(qz, first=True), "round x / scale first, THEN add"),
    ("quantize", qz_torch, "2 slips at once"),
    ("quantize", functools.partial(qz, clip=False), "saturate: np.clip(q, qmin, qmax)"),
    ("quantize", qz_cast_first, "clip BEFORE casting"),
    ("quantize", qz_uint8_always, "wrapped around modulo 256 (300 became 44, -3"),
    ("quantize", qz_float, "return the quantized values as integers, not float32"),
    ("quantize", qz_float64, "divide in float32"),
    ("quantize", qz_library, "calls `inferlab.quant.affine.quantize`"),
    ("quantize_per_channel", pc_per_tensor, "one scale PER CHANNEL"),
    ("quantize_per_channel", pc_per_tensor_copies, "one scale PER CHANNEL"),
    ("quantize_per_channel", pc_axis_as_reduction, "Reduce |w| over the OTHER axes"),
    ("quantize_per_channel", functools.partial(pc, keep=1), "you returned 48. Reduce |w|"),
    ("quantize_per_channel", functools.partial(pc, divisor=127.5), "torch's symmetric observer"),
    ("quantize_per_channel", functools.partial(pc, divisor=128), "grid is [-127, 127]"),
    ("quantize_per_channel", functools.partial(pc, absolute=False), "the largest MAGNITUDE"),
    ("quantize_per_channel", functools.partial(pc, guard=False), "an all-zero (pruned) channel"),
    ("quantize_per_channel", pc_keepdims_scale, "return the scales as a 1-D array"),
    ("quantize_per_channel", pc_float_q, "return q (the quantized weights) as integers"),
    ("quantize_per_channel", pc_library, "calls `inferlab.quant.params.qparams_of`"),
    ("matmul_integer", mi_8bit, "convert to int32 BEFORE subtracting"),
    ("matmul_integer", mi_widen_after, "widen to int32 before subtracting the zero point"),
    ("matmul_integer", mi_float32_cast, "not float32: float32 has a 24-bit mantissa"),
    ("matmul_integer", mi_float32, "return the int32 accumulators as integers"),
    ("matmul_integer", mi_no_zero_points, "subtract the zero points"),
    ("matmul_integer", mi_expanded, "you left out K · az · bz"),
    ("matmul_integer", mi_torch, "calls `torch."),
    ("matmul_integer", mi_library, "calls `inferlab.quant.integer.matmul_integer`"),
    ("qlinear_matmul", functools.partial(ql, mult=lambda a, b, y: a * b), "is the REAL output"),
    ("qlinear_matmul", functools.partial(ql, mult=lambda a, b, y: y / (a * b)), "inverted"),
    ("qlinear_matmul", functools.partial(ql, first=True), "round first, THEN add y_zero_point"),
    ("qlinear_matmul", functools.partial(ql, clip=False), "clip BEFORE casting"),
    ("qlinear_matmul", ql_real, "return the quantized outputs y as integers"),
    ("qlinear_matmul", ql_no_input_zero_points, "subtract the input zero points"),
    ("qlinear_matmul", ql_forgot_y_zero_point, "add y_zero_point after rounding"),
    ("qlinear_matmul", ql_dequantize_then_quantize, "round first, THEN add y_zero_point"),
    ("qlinear_matmul", ql_library, "calls `inferlab.quant.integer.qlinear_matmul`"),
    ("pack_int4", functools.partial(pk, swap=True), "the nibbles are swapped"),
    ("pack_int4", functools.partial(pk, pad=False), "an odd number of codes needs"),
    ("pack_int4", pk_halves, "llama.cpp's Q4_0 order"),
    ("pack_int4", pk_flat, "pack along the LAST axis"),
    ("pack_int4", pk_int64, "return bytes: a uint8 array"),
    ("pack_int4", pk_list, "return bytes: a uint8 array"),
    ("pack_int4", pk_library, "calls `inferlab.quant.blockwise.pack_nibbles`"),
]


@pytest.mark.parametrize(
    ("task", "fn", "hint"),
    WRONG,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(WRONG)],
)
def test_a_wrong_answer_fails_with_its_hint(task, fn, hint):
    message = fails(task, fn)
    assert "Hint: " in message, message
    assert hint in message, message


def test_every_task_has_wrong_answers():
    assert {t for t, _, _ in WRONG} == set(TASKS)


def test_the_student_helpers_are_right_without_mistakes(capsys):
    check("affine_qparams", aq)
    check("quantize", qz)
    check("quantize_per_channel", pc)
    check("qlinear_matmul", ql)
    check("pack_int4", pk)
    assert capsys.readouterr().out.count("✓") == 5


def test_equivalent_right_answers_pass(capsys):
    check("affine_qparams", lambda *a: tuple(float(v) for v in aq(*a)))  # plain Python floats
    check("affine_qparams", lambda *a: (aq(*a)[0], np.round(np.float64(aq(*a)[1]))))
    check("quantize", functools.partial(qz, rnd=np.round, dtype=np.int64))
    check("quantize", lambda x, *a: qz(x, *a, dtype=np.uint8 if a[2] == 0 else np.int8))
    check("quantize", lambda x, *a: np.vectorize(round)(qz(x, *a)))  # Python ints per element

    def pc_loop(w, axis):
        moved = np.moveaxis(w, axis, 0)
        scales = np.array([np.abs(c).max() / 127 or 1.0 for c in moved], np.float32)
        q = np.stack([np.rint(c / s) for c, s in zip(moved, scales, strict=True)])
        return np.moveaxis(q.astype(np.int8), 0, axis), scales

    check("quantize_per_channel", pc_loop)
    check(
        "matmul_integer", lambda a, b, az, bz: (a.astype(np.int64) - az) @ (b.astype(np.int64) - bz)
    )
    check(
        "matmul_integer",  # float64 sums of these sizes are exact
        lambda a, b, az, bz: ((a - np.float64(az)) @ (b - np.float64(bz))).astype(np.int32),
    )
    check("qlinear_matmul", lambda *args: ql(*args).astype(np.int32))
    check("qlinear_matmul", ql_left_to_right)  # float32 roundings in another order
    check("qlinear_matmul", ql_float64)

    def pk_loop(q):
        q = np.asarray(q)
        out = np.zeros((*q.shape[:-1], (q.shape[-1] + 1) // 2), np.uint8)
        for j in range(q.shape[-1]):
            out[..., j // 2] |= (q[..., j].astype(np.uint8) << (4 * (j % 2))).astype(np.uint8)
        return out

    check("pack_int4", pk_loop)
    assert capsys.readouterr().out.count("✓") == 12


# ----------------------------------------------------------------------------- messages


def test_messages_show_what_differs():
    message = fails("affine_qparams", aq_int_half_up)
    assert "zero_point: expected 2, got 3" in message and "scale:" not in message, message
    message = fails("affine_qparams", functools.partial(aq, levels=True))
    assert "(0.9961× the answer)" in message, message
    message = fails("quantize", functools.partial(qz, first=True))
    assert "x = -0.625, x / scale = -2.5 in float32, zero_point = 3" in message, message
    message = fails("quantize_per_channel", functools.partial(pc, divisor=128))
    assert "16 of 16 scales differ; channel 0:" in message and "(0.9922× the answer)" in message
    message = fails("pack_int4", functools.partial(pk, swap=True))
    assert "values differ; the first at index (0,)" in message, message


def test_large_integers_are_compared_and_shown_exactly():
    # float32 sums are off by a few units in 5e7: an exact comparison must catch them all
    message = fails("matmul_integer", mi_float32_cast)
    assert "K = 2048 of large values" in message, message
    assert "expected -5" in message and "values differ" in message, message
    encode = encode_ints("x", digits=True)
    values = np.array([[-(2**31), -53264392, -1, 0, 255, 256, 2**31 - 1]], np.int64)
    np.testing.assert_array_equal(decode_digits(encode(values)), values)
    off_by_one = encode(values + 1)
    assert not np.allclose(encode(values), off_by_one, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- the inputs


def test_inputs_are_fresh_and_deterministic():
    for task in ch05.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 6
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs


def test_the_cases_cover_what_the_hints_talk_about():
    ranges = [c.args for c in cases("affine_qparams")]
    assert any(lo > 0 for lo, *_ in ranges) and any(hi < 0 for _, hi, *_ in ranges)
    assert any(lo == hi == 0 for lo, hi, *_ in ranges)
    ties = 0
    for case in cases("quantize"):
        x, scale, zero_point, qmin, qmax = case.args
        v = x / scale
        ties += int(np.sum((v % 1 == 0.5) & (zero_point % 2 == 1)))
        if "saturate" in case.tags:
            assert np.any((np.rint(v) + zero_point < qmin) | (np.rint(v) + zero_point > qmax))
    assert ties >= 40
    weights = [c.args for c in cases("quantize_per_channel")]
    assert {axis for _, axis in weights} >= {0, 1, -1}
    assert any(np.any(np.abs(w).max(axis=0) == 0) for w, axis in weights if axis == 1)
    sums = [np.abs(matmul_integer._reference(*c.args)).max() for c in cases("matmul_integer")]
    assert max(sums) > 2**24
    assert any(c.args[0].shape[-1] % 2 for c in cases("pack_int4"))
    assert any(c.args[0].ndim == 3 for c in cases("pack_int4"))


def test_the_checks_never_show_the_notebooks_examples():
    assert not {(-1.0, 3.0, 0, 255), (-1.0, 3.0, -128, 127)} & {
        c.args for c in cases("affine_qparams")
    }
    shown = np.array([0.375, 0.625, -0.125, 100.0], np.float32)
    for case in cases("quantize"):
        assert not np.array_equal(case.args[0], shown)
    for case in cases("quantize_per_channel"):
        assert case.args[0].shape != (2, 2)
    for case in cases("pack_int4"):
        assert not np.array_equal(case.args[0], [1, 2, 15])


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def quantize(x, scale, zero_point, qmin, qmax):\n"
        "    return np.clip(np.rint(x / scale + zero_point), qmin, qmax).astype(np.int32)"
    )
    folder = tmp_path_factory.mktemp("student05")
    return grade_three(folder, ROOT, "05_quantization", "quantize", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_wrong_quantize_with_its_hint(graded):
    assert_one_failure(graded["student"], "quantize", "round x / scale first, THEN add")
