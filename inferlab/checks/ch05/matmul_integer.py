"""Exercise 05, task 4: ``matmul_integer`` — its fresh cases, known mistakes and diagnosis.

ONNX ``MatMulInteger``: ``(a - a_zero_point) @ (b - b_zero_point)`` exactly, in int32. The
inputs are 8-bit (uint8 activations and int8 weights, as ``quantize_dynamic`` writes them), so
the classic slips are arithmetic in the inputs' own types: ``uint8 - zero_point`` wraps around,
NumPy multiplies uint8 by int8 in int16, which overflows after a few products, and float32
rounds any sum above 2**24. The cases include long rows of large values (K up to 2048) where
all of them show. The reference is :func:`inferlab.quant.matmul_integer`.

Answers are compared exactly (int32 sums of 5e7 spelled in base-256 digits, see
:func:`inferlab.checks.ch05._common.encode_ints`).
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
from inferlab.checks.core import Case, Outcome, Task, fails_only_on, first_failure, run
from inferlab.quant import integer

_LARGE = frozenset({"large"})


def _matmul_integer_cases() -> list[Case]:
    rng = _rng(4)

    def u8(*shape, lo=0, hi=256):
        return rng.integers(lo, hi, shape).astype(np.uint8)

    def i8(*shape, lo=-128, hi=128):
        return rng.integers(lo, hi, shape).astype(np.int8)

    return [
        Case(
            (u8(4, 64), i8(64, 10), np.uint8(131), np.int8(0)),
            note="uint8 activations, int8 weights (quantize_dynamic's MatMulInteger)",
        ),
        Case(
            (u8(3, 48), i8(48, 7), np.uint8(97), np.int8(-5)),
            note="both zero points nonzero",
        ),
        Case((u8(5, 1), i8(1, 6), np.uint8(128), np.int8(3)), note="K = 1: an outer product"),
        Case((u8(1, 300), i8(300, 9), np.uint8(12), np.int8(0)), note="M = 1: a GEMV, K = 300"),
        Case(
            (u8(3, 2048, lo=200), i8(2048, 5, hi=-99), np.uint8(0), np.int8(0)),
            note="K = 2048 of large values: sums of -5e7",
            tags=_LARGE,
        ),
        Case(
            (u8(2, 1024, hi=40), i8(1024, 4, lo=90), np.uint8(255), np.int8(-128)),
            note="K = 1024, zero points 255 and -128",
            tags=_LARGE,
        ),
        Case(
            (u8(4, 32), u8(32, 6), np.uint8(120), np.uint8(128)),
            note="uint8 × uint8 (zero point 128)",
        ),
        Case((i8(6, 20), i8(20, 3), np.int8(0), np.int8(0)), note="int8 × int8, zero points 0"),
        Case(
            (np.full((2, 8), 77, np.uint8), i8(8, 8), np.uint8(77), np.int8(1)),
            note="a = its zero point: the answer is all zeros",
        ),
    ]


def _reference(a, b, a_zero_point, b_zero_point):
    return integer.matmul_integer(a, b, a_zero_point, b_zero_point)


def _student(a, b, a_zero_point, b_zero_point, *, arithmetic="int32", zero_points="both"):
    """A student's integer matmul with switches for their mistakes."""
    az, bz = a_zero_point, b_zero_point
    if zero_points == "expanded without K·az·bz":
        a32, b32 = a.astype(np.int32), b.astype(np.int32)
        return (
            a32 @ b32
            - np.int32(az) * b32.sum(axis=0, keepdims=True)
            - np.int32(bz) * a32.sum(axis=1, keepdims=True)
        )
    if zero_points == "none":
        az, bz = type(az)(0), type(bz)(0)
    elif zero_points == "a only":
        bz = type(bz)(0)
    elif zero_points == "b only":
        az = type(az)(0)
    with np.errstate(all="ignore"):
        if arithmetic == "int32":
            return (a.astype(np.int32) - az) @ (b.astype(np.int32) - bz)
        if arithmetic == "8-bit":
            return (a - az) @ (b - bz)  # wraps in uint8/int8, then multiplies in int16
        if arithmetic == "widen after subtracting":
            return (a - az).astype(np.int32) @ (b - bz).astype(np.int32)
        if arithmetic == "int16":
            return (a.astype(np.int16) - az) @ (b.astype(np.int16) - bz)
        # float32
        acc = (a.astype(np.float32) - np.float32(az)) @ (b.astype(np.float32) - np.float32(bz))
        return acc.astype(np.int32)


_SLIPS = {
    "arithmetic": [
        ("int32", None),
        (
            "8-bit",
            "convert to int32 BEFORE subtracting and multiplying: a.astype(np.int32) - "
            "a_zero_point. In uint8, 3 - 128 wraps around to 131, and NumPy multiplies uint8 by "
            "int8 in int16, which overflows after a few products (255 · 127 = 32385 already "
            "fills it).",
        ),
        (
            "widen after subtracting",
            "widen to int32 before subtracting the zero point, not after: (a - a_zero_point) "
            "is computed in uint8 and wraps around (3 - 128 = 131) before .astype(np.int32) "
            "sees it.",
        ),
        (
            "int16",
            "accumulate in int32, not int16: one product can reach 255 · 255 = 65025 and a "
            "sum of K of them needs 32 bits (MatMulInteger's output is int32).",
        ),
        (
            "float32",
            "accumulate in integers (int32), not float32: float32 has a 24-bit mantissa, so a "
            "sum beyond 2**24 = 16,777,216 loses its last digits (here sums reach 5e7). "
            "Integer matmuls are exact; that is what lets int8 kernels match bit for bit.",
        ),
    ],
    "zero_points": [
        ("both", None),
        (
            "none",
            "subtract the zero points: the integers stand for a_scale · (a - a_zero_point), "
            "so the product is (a - a_zero_point) @ (b - b_zero_point).",
        ),
        (
            "a only",
            "subtract b's zero point too: (a - a_zero_point) @ (b - b_zero_point); weights may "
            "have a nonzero zero point as well.",
        ),
        (
            "b only",
            "subtract a's zero point too: (a - a_zero_point) @ (b - b_zero_point); uint8 "
            "activations almost always have one (128 for a range centred on 0).",
        ),
        (
            "expanded without K·az·bz",
            "the expansion (a - az) @ (b - bz) = a @ b - az · colsum(b) - bz · rowsum(a) "
            "+ K · az · bz has four terms: you left out K · az · bz (K = a.shape[1]).",
        ),
    ],
}


def _matmul_integer_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    hint = several_slips(MATMUL_INTEGER, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    if fails_only_on(outcomes, "large"):
        return (
            "you are right on short rows and wrong only on long rows of large values: the "
            "accumulator overflowed (int8/int16) or rounded (float32, beyond 2**24). Convert "
            "both inputs to int32 before subtracting the zero points and multiplying."
        )
    return None


MATMUL_INTEGER = Task(
    name="matmul_integer",
    arg_names=("a", "b", "a_zero_point", "b_zero_point"),
    reference=_reference,
    cases=_matmul_integer_cases,
    covers="uint8 × int8 and uint8 × uint8, zero points 0 to 255, K = 1 to 2048 with sums "
    "beyond 2**24, and a GEMV",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_matmul_integer_diagnose,
    encode=encode_ints("the int32 accumulators", digits=True),
    symptom=lambda o: int_symptom(o, digits=True),
    shape_hint="(M, K) @ (K, N) gives (M, N): one int32 per row of a and column of b.",
    fallback_hint="(a.astype(np.int32) - a_zero_point) @ (b.astype(np.int32) - b_zero_point): "
    "widen first, subtract, multiply, all in int32.",
    forbidden=(integer.matmul_integer, integer.qlinear_matmul),
    forbidden_hint="write the integer matmul yourself: inferlab.quant.matmul_integer is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_matmul_integer(fn) -> None:
    """Check your ``matmul_integer(a, b, a_zero_point, b_zero_point)`` against
    ``inferlab.quant.matmul_integer`` (ONNX MatMulInteger)."""
    __tracebackhide__ = True
    run(MATMUL_INTEGER, fn)
