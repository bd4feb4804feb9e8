"""Exercise 05, task 5: ``qlinear_matmul`` — its fresh cases, known mistakes and diagnosis.

ONNX ``QLinearMatMul``: integers in, integers out, with one float multiply per output:

    acc = (a - a_zero_point) @ (b - b_zero_point)                      # exact, int32
    y = saturate(rint(acc · (a_scale · b_scale / y_scale)) + y_zero_point)   # float32

``rint`` rounds half to even and the zero point is added after rounding, as in QuantizeLinear;
``y`` has the type of ``y_zero_point`` (uint8 or int8). Two cases use power-of-two scales so that
``acc · multiplier`` hits exact ties with an odd output zero point. The reference is
:func:`inferlab.quant.qlinear_matmul`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch05._common import (
    _rng,
    encode_ints,
    int_symptom,
    mistakes,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.quant import integer

_TIES = frozenset({"ties"})
_F = np.float32


def _qlinear_cases() -> list[Case]:
    rng = _rng(5)

    def u8(*shape, lo=0, hi=256):
        return rng.integers(lo, hi, shape).astype(np.uint8)

    def i8(*shape, lo=-128, hi=128):
        return rng.integers(lo, hi, shape).astype(np.int8)

    # a layer's activations (uint8, zp 118) times int8 weights, y_scale from the output range
    return [
        Case(
            (
                u8(4, 64),
                _F(0.0235),
                np.uint8(118),
                i8(64, 12, lo=-60, hi=61),
                _F(0.0041),
                np.int8(0),
                _F(0.0712),
                np.uint8(131),
            ),
            note="a quantized linear layer: uint8 × int8 -> uint8",
        ),
        Case(
            (
                u8(6, 24, lo=118, hi=139),
                _F(0.5),
                np.uint8(128),
                i8(24, 8, lo=-3, hi=4),
                _F(0.25),
                np.int8(0),
                _F(0.25),
                np.uint8(101),
            ),
            note="multiplier 1/2: exact ties, odd output zero point",
            tags=_TIES,
        ),
        Case(
            (
                i8(5, 24, lo=-1, hi=16),
                _F(0.125),
                np.int8(7),
                i8(24, 7, lo=-4, hi=5),
                _F(0.5),
                np.int8(3),
                _F(0.25),
                np.int8(-3),
            ),
            note="int8 × int8 -> int8, ties, zero point -3",
            tags=_TIES,
        ),
        Case(
            (
                u8(5, 96),
                _F(0.05),
                np.uint8(128),
                i8(96, 4),
                _F(0.02),
                np.int8(-2),
                _F(0.01),
                np.uint8(128),
            ),
            note="outputs far beyond the range: they saturate",
        ),
        Case(
            (
                i8(1, 200),
                _F(0.0173),
                np.int8(12),
                i8(200, 8, lo=-40, hi=41),
                _F(0.0029),
                np.int8(0),
                _F(0.0557),
                np.int8(4),
            ),
            note="M = 1, K = 200, int8 × int8 -> int8",
        ),
        Case(
            (
                u8(3, 16),
                _F(0.3),
                np.uint8(200),
                u8(16, 3, lo=110, hi=150),
                _F(0.07),
                np.uint8(128),
                _F(1.7),
                np.uint8(60),
            ),
            note="uint8 × uint8",
        ),
    ]


def _reference(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    return integer.qlinear_matmul(
        a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point
    )


def _student(
    a,
    a_scale,
    a_zero_point,
    b,
    b_scale,
    b_zero_point,
    y_scale,
    y_zero_point,
    *,
    zero_points="subtract",
    multiplier="a·b/y",
    rounding="half-even",
    order="round, then zero point",
    saturate="clip",
):
    """A student's QLinearMatMul with switches for their mistakes."""
    az, bz = (a_zero_point, b_zero_point) if zero_points == "subtract" else (0, 0)
    acc = (a.astype(np.int32) - az) @ (b.astype(np.int32) - bz)
    m = {
        "a·b/y": a_scale * b_scale / y_scale,
        "a·b": a_scale * b_scale,
        "a·b·y": a_scale * b_scale * y_scale,
        "y/(a·b)": y_scale / (a_scale * b_scale),
    }[multiplier]
    v = acc.astype(np.float32) * np.float32(m)
    r = {
        "half-even": np.rint,
        "half-up": lambda t: np.floor(t + 0.5),
        "truncate": np.trunc,
    }[rounding]
    yz = np.float32(y_zero_point)
    if order == "no zero point":
        yz = np.float32(0)
    q = r(v + yz) if order == "zero point, then round" else r(v) + yz
    info = np.iinfo(np.asarray(y_zero_point).dtype)
    with np.errstate(all="ignore"):
        if saturate == "clip":
            return np.clip(q, info.min, info.max).astype(np.asarray(y_zero_point).dtype)
        if saturate == "none":
            return q.astype(np.int64)
        return q.astype(np.int64).astype(np.asarray(y_zero_point).dtype)  # wraps around


_SLIPS = {
    "zero_points": [
        ("subtract", None),
        (
            "ignore",
            "subtract the input zero points before multiplying: acc = (a - a_zero_point) @ "
            "(b - b_zero_point), in int32 (task 4).",
        ),
    ],
    "multiplier": [
        ("a·b/y", None),
        (
            "a·b",
            "acc · a_scale · b_scale is the REAL output; quantize it onto y's grid: divide by "
            "y_scale and add y_zero_point: rint(acc · (a_scale · b_scale / y_scale)) + "
            "y_zero_point.",
        ),
        (
            "a·b·y",
            "divide by y_scale, don't multiply: y_real = acc · a_scale · b_scale, and y_q = "
            "y_real / y_scale + y_zero_point.",
        ),
        (
            "y/(a·b)",
            "the multiplier is a_scale · b_scale / y_scale (you inverted it): acc counts steps "
            "of a_scale · b_scale, the output counts steps of y_scale.",
        ),
    ],
    "rounding": [
        ("half-even", None),
        (
            "half-up",
            "round half to EVEN with np.rint (ONNX rounds like QuantizeLinear): floor(v + 0.5) "
            "is one step off at every tie that should round down.",
        ),
        (
            "truncate",
            "round to the nearest integer with np.rint before casting: .astype() truncates "
            "toward zero.",
        ),
    ],
    "order": [
        ("round, then zero point", None),
        (
            "zero point, then round",
            "round first, THEN add y_zero_point: rint(acc · multiplier) + y_zero_point. With an "
            "odd zero point, rint(v + y_zero_point) moves every tie by one step.",
        ),
        (
            "no zero point",
            "add y_zero_point after rounding: y lives on its own shifted grid, "
            "y_real = y_scale · (y - y_zero_point), so y = rint(acc · multiplier) + "
            "y_zero_point.",
        ),
    ],
    "saturate": [
        ("clip", None),
        (
            "none",
            "saturate to y's type: np.clip(y, 0, 255) for a uint8 y_zero_point, (-128, 127) "
            "for int8, then cast to that type.",
        ),
        (
            "wrap",
            "clip BEFORE casting to uint8/int8: the cast alone wraps around (256 -> 0), so the "
            "largest outputs become the smallest.",
        ),
    ],
}


def _qlinear_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(QLINEAR, _student, _SLIPS, outcomes)


QLINEAR = Task(
    name="qlinear_matmul",
    arg_names=(
        "a",
        "a_scale",
        "a_zero_point",
        "b",
        "b_scale",
        "b_zero_point",
        "y_scale",
        "y_zero_point",
    ),
    reference=_reference,
    cases=_qlinear_cases,
    covers="uint8 × int8, int8 × int8 and uint8 × uint8, exact ties with odd zero points, "
    "saturation and a GEMV",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_qlinear_diagnose,
    encode=encode_ints("the quantized outputs y"),
    symptom=lambda o: int_symptom(o),
    shape_hint="(M, K) @ (K, N) gives (M, N) quantized outputs.",
    fallback_hint="acc = (a.astype(np.int32) - a_zero_point) @ (b.astype(np.int32) - "
    "b_zero_point); y = np.rint(acc.astype(np.float32) * (a_scale * b_scale / y_scale)) + "
    "y_zero_point; clip to y_zero_point's type and cast to it.",
    forbidden=(integer.qlinear_matmul, integer.matmul_integer),
    forbidden_hint="write the requantization yourself: inferlab.quant.qlinear_matmul is the "
    "reference the check compares with (your own matmul_integer from task 4 is welcome).",
)


def check_qlinear_matmul(fn) -> None:
    """Check your ``qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
    y_scale, y_zero_point)`` against ``inferlab.quant.qlinear_matmul`` (ONNX QLinearMatMul)."""
    __tracebackhide__ = True
    run(QLINEAR, fn)
