"""Exercise 05, task 2: ``quantize`` — its fresh cases, known mistakes and diagnosis.

ONNX ``QuantizeLinear`` (ONNX Runtime's ``core/mlas/lib/quantize.cpp``):

    q = saturate(rint(x / scale) + zero_point)      # float32 divide, round half to even,
                                                    # THEN add the zero point, clip to the type

Libraries disagree by one step exactly at ties (``x / scale`` ending in .5): torch's
``quantize_per_tensor`` multiplies by the reciprocal and adds the zero point before rounding, so
the cases include two grids of ties, one at a power-of-two scale (every tie exact) with an odd
zero point, one at scale 0.3 where dividing, multiplying by 1/scale and dividing in float64
round differently. The reference is :func:`inferlab.quant.quantize` (convention ``"ort"``).
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
from inferlab.quant import affine, params

# (qmin, qmax) of each integer type the task saturates to
_TYPES = {(0, 255): "uint8", (-128, 127): "int8", (0, 15): "uint4", (-8, 7): "int4"}

_TIES = frozenset({"ties"})
_SATURATE = frozenset({"saturate"})


def _ties(scale: float, lo: int, hi: int) -> np.ndarray:
    """x = (k + 0.5) · scale for k in [lo, hi): values whose x / scale is (about) a tie."""
    return ((np.arange(lo, hi) + 0.5) * np.float64(np.float32(scale))).astype(np.float32)


def _quantize_cases() -> list[Case]:
    rng = _rng(2)
    u8, i8, u4, i4 = (0, 255), (-128, 127), (0, 15), (-8, 7)

    act = rng.normal(0.8, 1.2, 96).astype(np.float32)
    qp = params.qparams(act.min(), act.max(), "uint8")
    wide = rng.normal(0.0, 3.0, 80).astype(np.float32)  # calibrated on [-2, 4]: outliers clip
    qw = params.qparams(-2.0, 4.0, "uint8")
    w = rng.normal(0, 0.05, (12, 20)).astype(np.float32)
    sw = np.float32(np.abs(w).max() / 127)
    w4 = rng.normal(0, 0.3, (2, 3, 8)).astype(np.float32)
    return [
        Case((act, qp.scale[()], int(qp.zero_point), *u8), note="uint8 activations"),
        Case(
            (wide, qw.scale[()], int(qw.zero_point), *u8),
            note="values beyond the calibrated range: they saturate",
            tags=_SATURATE,
        ),
        Case((w, sw, 0, *i8), note="int8 weights, 2-D, zero point 0"),
        Case(
            (_ties(0.25, -24, 24), np.float32(0.25), 3, *u8),
            note="exact ties (scale 0.25) and an odd zero point",
            tags=_TIES,
        ),
        Case(
            (_ties(0.3, -60, 60), np.float32(0.3), 7, *u8),
            note="x = (k + 0.5) · 0.3: ties and near-ties",
            tags=_TIES,
        ),
        Case(
            (_ties(0.125, -30, 30), np.float32(0.125), -3, *i8),
            note="int8 ties, zero point -3",
            tags=_TIES,
        ),
        Case(
            (
                np.array([-1e3, -40.0, -0.01, 0.0, 0.01, 40.0, 1e3], np.float32),
                np.float32(0.1),
                128,
                *u8,
            ),
            note="far outside the range on both sides",
            tags=_SATURATE,
        ),
        Case(
            (rng.normal(0, 1.5, 40).astype(np.float32), np.float32(0.2), -1, *i4),
            note="int4 [-8, 7]",
            tags=_SATURATE,
        ),
        Case((w4, np.float32(0.06), 8, *u4), note="uint4 [0, 15], 3-D"),
        Case((np.zeros(5, np.float32), np.float32(0.02), 77, *u8), note="zeros map to zero_point"),
        Case((np.array([0.7], np.float32), np.float32(0.3), 0, *i8), note="a single value"),
    ]


def _reference(x, scale, zero_point, qmin, qmax):
    qp = params.QParams(scale, zero_point, _TYPES[(qmin, qmax)])
    return affine.quantize(x, qp)


def _student(
    x,
    scale,
    zero_point,
    qmin,
    qmax,
    *,
    divide="float32",
    rounding="half-even",
    order="round, then zero point",
    saturate="clip",
):
    """A student's quantizer with switches for their mistakes."""
    v = {
        "float32": lambda: x / scale,
        "reciprocal": lambda: x * (np.float32(1) / scale),
        "float64": lambda: x.astype(np.float64) / np.float64(scale),
    }[divide]()
    r = {
        "half-even": np.rint,
        "half-up": lambda t: np.floor(t + 0.5),
        "floor": np.floor,
        "truncate": np.trunc,
    }[rounding]
    q = r(v + zero_point) if order == "zero point, then round" else r(v) + zero_point
    if saturate == "clip":
        return np.clip(q, qmin, qmax).astype(np.int32)
    q = q.astype(np.int64)
    if saturate == "none":
        return q
    return np.clip(q.astype(np.int8 if qmin < 0 else np.uint8), qmin, qmax)  # wraps, then clips


_SLIPS = {
    "divide": [
        ("float32", None),
        (
            "reciprocal",
            "divide by the scale, as ONNX QuantizeLinear does: x / scale. Multiplying by "
            "1 / scale (torch's quantize_per_tensor does) rounds differently and lands one step "
            "off on some ties.",
        ),
        (
            "float64",
            "divide in float32 (x / scale with both float32), as ONNX Runtime does: in float64 "
            "some quotients that float32 rounds to exactly k + 0.5 end up just above or below "
            "it and round the other way.",
        ),
    ],
    "rounding": [
        ("half-even", None),
        (
            "half-up",
            "round half to EVEN (np.rint or np.round): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2. "
            "floor(v + 0.5) rounds every tie up, one step off on half of them.",
        ),
        (
            "floor",
            "round to the NEAREST integer with np.rint (half to even), not down with floor: "
            "flooring biases every value by half a step.",
        ),
        (
            "truncate",
            "round with np.rint before casting: `.astype(int)` truncates toward zero (2.7 -> 2, "
            "-2.7 -> -2), so about half the values land one step off.",
        ),
    ],
    "order": [
        ("round, then zero point", None),
        (
            "zero point, then round",
            "round x / scale first, THEN add the zero point: rint(x / scale) + zero_point "
            "(ONNX QuantizeLinear). rint(x / scale + zero_point) differs at ties when the zero "
            "point is odd: 2.5 + 3 = 5.5 rounds to 6, rint(2.5) + 3 = 5. (torch's "
            "quantize_per_tensor adds first; ONNX Runtime does not.)",
        ),
    ],
    "saturate": [
        ("clip", None),
        (
            "none",
            "saturate: np.clip(q, qmin, qmax). Values beyond the calibrated range must stick "
            "to the ends of the grid, not leave it.",
        ),
        (
            "cast first",
            "clip BEFORE casting to the 8-bit type: .astype(np.uint8) wraps around (256 -> 0, "
            "-1 -> 255), turning the largest values into the smallest. np.clip first, then cast.",
        ),
    ],
}


def _quotient(o: Outcome, idx: tuple) -> str:
    x, scale, zero_point = o.case.args[:3]
    v = x[idx] / scale
    return f" (x = {x[idx]:.9g}, x / scale = {v:.9g} in float32, zero_point = {zero_point})"


def _symptom(o: Outcome) -> str | None:
    return int_symptom(o, detail=_quotient)


def _quantize_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None or o.got.shape != o.expected.shape:
        return None
    hint = several_slips(QUANTIZE, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    failing = [f for f in outcomes if not f.ok and f.got is not None]
    if not all(f.got.shape == f.expected.shape for f in failing):
        return None
    outside = at_ties = wrapped = True
    for f in failing:
        x, scale, zero_point, qmin, qmax = f.case.args
        wrong = f.got != f.expected
        v = x / scale
        raw = np.rint(v) + zero_point  # before saturation
        got, expected, raw = f.got[wrong], f.expected[wrong], raw[wrong]
        outside &= bool(np.all((raw < qmin) | (raw > qmax)))
        at_ties &= bool(np.all(np.abs(np.abs(v[wrong] % 1) - 0.5) < 1e-3))
        # cast to an 8-bit type (either one) before or without clipping
        casts = [np.clip(raw.astype(np.int64).astype(t), qmin, qmax) for t in (np.uint8, np.int8)]
        like = ((got - expected) % 256 == 0) | ((got - raw) % 256 == 0)
        wrapped &= bool(np.all(like | (got == casts[0]) | (got == casts[1])))
    if outside:
        return (
            "every wrong value lies outside [qmin, qmax] before saturating: clip with "
            "np.clip(q, qmin, qmax) and only then cast to the integer type (a cast alone "
            "wraps around)."
        )
    if wrapped:
        return (
            "your wrong values are right ones wrapped around modulo 256 (300 became 44, -3 "
            "became 253): clip with np.clip(q, qmin, qmax) first, then cast to a type that "
            "holds [qmin, qmax] (np.int8 for a signed range, np.uint8 for an unsigned one; "
            "np.int32 always works)."
        )
    if at_ties:
        return (
            "you are off only at (near-)ties, where x / scale ends in .5: divide in float32, "
            "round half to even with np.rint, then add the zero point."
        )
    return None


QUANTIZE = Task(
    name="quantize",
    arg_names=("x", "scale", "zero_point", "qmin", "qmax"),
    reference=_reference,
    cases=_quantize_cases,
    covers="exact ties with odd zero points, near-ties at scale 0.3, saturation on both "
    "sides, uint8/int8/uint4/int4 and 1-D to 3-D inputs",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_quantize_diagnose,
    encode=encode_ints("the quantized values"),
    symptom=_symptom,
    shape_hint="quantize returns one integer per value of x: an array of x's shape.",
    fallback_hint="q = np.clip(np.rint(x / scale) + zero_point, qmin, qmax), then cast to an "
    "integer type: with scale 0.25 and zero point 3, x = [0.375, -0.125, 100] gives [5, 3, 255] "
    "in uint8.",
    forbidden=(affine.quantize, affine.fake_quant),
    forbidden_hint="write the rounding and saturation yourself: inferlab.quant.quantize is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_quantize(fn) -> None:
    """Check your ``quantize(x, scale, zero_point, qmin, qmax)`` against
    ``inferlab.quant.quantize`` (ONNX QuantizeLinear)."""
    __tracebackhide__ = True
    run(QUANTIZE, fn)
