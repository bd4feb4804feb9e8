"""Exercise 05, task 1: ``affine_qparams`` — its fresh cases, known mistakes and diagnosis.

ONNX Runtime's rule (``quantization/quant_utils.py`` ``compute_scale_zp``), asymmetric:

    rmin, rmax = min(rmin, 0), max(rmax, 0)        # 0 must be exactly representable
    scale = (rmax - rmin) / (qmax - qmin)           # float64, stored as float32
    zero_point = round_half_even(qmin - rmin / scale)   # with the unrounded float64 scale
    scale 1, zero point 0 when the range is empty (an all-zero tensor)

The reference is :func:`inferlab.quant.qparams`, the cases' ranges are float32 numbers (what a
calibrator returns) given as Python floats.
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.checks.ch04._common import compare, is_number
from inferlab.checks.ch05._common import SCALE, _rng, kind, mistakes, several_slips
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.quant import params

# (qmin, qmax) -> the dtype and reduce_range flag whose ORT range it is
_RANGES = {
    (0, 255): ("uint8", False),
    (-128, 127): ("int8", False),
    (0, 15): ("uint4", False),
    (-8, 7): ("int4", False),
    (0, 127): ("uint8", True),
    (-64, 64): ("int8", True),
}

_EMPTY = frozenset({"empty"})


def _f32(v: float) -> float:
    """A Python float that float32 holds exactly (a calibrated range is float32)."""
    return float(np.float32(v))


def _qparams_cases() -> list[Case]:
    rng = _rng(1)
    cases = [
        Case((_f32(-1.93), _f32(4.27), 0, 255), note="uint8 activations"),
        Case((0.0, 6.0, 0, 255), note="after ReLU6: rmin = 0"),
        Case((_f32(0.37), _f32(5.12), 0, 255), note="all positive: widen to include 0"),
        Case((-5.0, -1.0, 0, 255), note="all negative: widen to include 0"),
        Case((_f32(-0.3), _f32(2.9), -128, 127), note="int8, asymmetric"),
        Case((_f32(-1.25), _f32(0.6), -8, 7), note="int4"),
        Case((_f32(-0.2), _f32(1.7), 0, 15), note="uint4"),
        Case((_f32(-3.1), _f32(2.2), 0, 127), note="uint8 with reduce_range: [0, 127]"),
        Case((_f32(-0.45), _f32(0.8), -64, 64), note="int8 with reduce_range: [-64, 64]"),
        Case((-0.625, 63.125, 0, 255), note="qmin - rmin/scale = 2.5 exactly: a tie"),
        Case((-2.25, 125.25, -128, 127), note="qmin - rmin/scale = -123.5 exactly: a tie"),
        # float64 says 79.49999983 -> 79; the float32-rounded scale says 79.5... -> 80
        Case((-1.291353702545166, 2.850724220275879, 0, 255), note="a near-tie"),
        Case((-2.665409564971924, 0.40312063694000244, -128, 127), note="an int8 near-tie"),
        Case((2.5, 2.5, 0, 255), note="a constant 2.5: the range is [0, 2.5]"),
        Case((0.0, 0.0, 0, 255), note="an all-zero tensor: no range", tags=_EMPTY),
        Case((0.0, 0.0, -128, 127), note="an all-zero tensor in int8", tags=_EMPTY),
    ]
    choices = list(_RANGES)
    for _ in range(4):
        lo, hi = np.sort(rng.normal(0, 2, size=2))
        qmin, qmax = choices[int(rng.integers(len(choices)))]
        cases.append(Case((_f32(lo), _f32(hi), qmin, qmax), note="a random range"))
    return cases


def _reference(rmin, rmax, qmin, qmax):
    dtype, reduce_range = _RANGES[(qmin, qmax)]
    qp = params.qparams(rmin, rmax, dtype, reduce_range=reduce_range)
    return qp.scale, qp.zero_point


def _scalar(value):
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "fiu":
        return value.item()
    return value


def _encode(result) -> np.ndarray:
    if isinstance(result, str | bytes) or not isinstance(result, tuple | list):
        raise TypeError(f"return a pair `(scale, zero_point)`; got {kind(result)}.")
    if len(result) != 2:
        raise TypeError(f"return a pair `(scale, zero_point)`; got {len(result)} values.")
    scale, zero_point = (_scalar(v) for v in result)
    for name, value in (("scale", scale), ("zero_point", zero_point)):
        if not is_number(value):
            raise TypeError(f"{name} must be one number; got {kind(value)}.")
    return np.array([float(scale) * SCALE, float(zero_point)])


def _symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != (2,):
        return None
    parts = []
    (scale, zp), (got_s, got_z) = o.expected, o.got
    if not np.isclose(got_s, scale, rtol=1e-6, atol=0, equal_nan=True):
        parts.append("scale: " + compare(got_s / SCALE, scale / SCALE, ""))
    if got_z != zp:
        parts.append(f"zero_point: expected {zp:g}, got {got_z:.10g}")
    return "; ".join(parts) or None


def _student(
    rmin,
    rmax,
    qmin,
    qmax,
    *,
    widen="yes",
    steps="qmax-qmin",
    zp="qmin-rmin/scale",
    rounding="half-even",
    precision="float64",
    guard="yes",
):
    """A student's scale and zero point with switches for their mistakes."""
    if widen == "yes":
        rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    n = {"qmax-qmin": qmax - qmin, "levels": qmax - qmin + 1, "qmax": qmax}[steps]
    scale = np.float64(rmax - rmin) / n
    if guard == "yes" and scale < np.finfo(np.float32).tiny:
        return np.float32(1.0), 0
    if precision == "float32":
        scale = np.float32(scale)  # and qmin - rmin / scale then runs in float32
    with np.errstate(all="ignore"):
        v = {
            "qmin-rmin/scale": qmin - rmin / scale,
            "qmin+rmin/scale": qmin + rmin / scale,
            "-rmin/scale": -rmin / scale,
        }[zp]
        z = {
            "half-even": np.round,
            "half-up": lambda t: np.floor(t + 0.5),
            "truncate": np.trunc,
            "none": lambda t: t,
        }[rounding](v)
    return np.float32(scale), z


_SLIPS = {
    "widen": [
        ("yes", None),
        (
            "no",
            "include 0 in the range first: rmin = min(rmin, 0.0), rmax = max(rmax, 0.0). Real 0 "
            "(zero padding, a ReLU's output) must map exactly onto an integer, the zero point; "
            "without widening, an all-positive range puts the zero point below qmin.",
        ),
    ],
    "steps": [
        ("qmax-qmin", None),
        (
            "levels",
            "the range maps onto qmax - qmin STEPS (255 for uint8), not onto 2**bits = 256 "
            "levels: scale = (rmax - rmin) / (qmax - qmin), so rmin lands on qmin and rmax on "
            "qmax exactly.",
        ),
        (
            "qmax",
            "divide by qmax - qmin, not by qmax: for a signed range such as int8 [-128, 127] "
            "the grid has 255 steps, not 127 (qmax alone is right only when qmin = 0).",
        ),
    ],
    "zp": [
        ("qmin-rmin/scale", None),
        (
            "qmin+rmin/scale",
            "sign slip: the zero point is the integer that real 0 maps to, qmin - rmin / scale "
            "(rmin <= 0 maps to qmin, so 0 lies -rmin / scale steps above it).",
        ),
        (
            "-rmin/scale",
            "start counting at qmin: zero_point = qmin - rmin / scale. Without qmin it is "
            "right only for unsigned types (qmin = 0); int8's qmin is -128.",
        ),
    ],
    "rounding": [
        ("half-even", None),
        (
            "half-up",
            "round half to EVEN, as ONNX Runtime does (np.round, np.rint or Python's round): "
            "2.5 -> 2, -123.5 -> -124. floor(v + 0.5) rounds every tie up.",
        ),
        (
            "truncate",
            "round to the nearest integer (np.round: half to even); int() and np.trunc cut "
            "toward zero, one step off for about half the ranges.",
        ),
        (
            "none",
            "round the zero point to an integer (np.round, half to even): it must be an "
            "integer so that real 0 is represented exactly, with no rounding error.",
        ),
    ],
    "precision": [
        ("float64", None),
        (
            "float32",
            "compute the zero point with the float64 scale, before rounding the scale to "
            "float32 (ONNX Runtime's compute_scale_zp does): your float32 scale moves "
            "qmin - rmin / scale across a .5 on near-ties such as this one.",
        ),
    ],
    "guard": [
        ("yes", None),
        (
            "no",
            "an all-zero tensor has rmin = rmax = 0, so scale = 0 and rmin / scale is 0/0: "
            "return scale 1.0 and zero point 0 when the scale is 0 (ONNX Runtime does so for "
            "any scale below float32's smallest normal number, np.finfo(np.float32).tiny).",
        ),
    ],
}

_GUARD_HINT = _SLIPS["guard"][1][1]


def _swapped(o: Outcome) -> bool:
    """The pair came back as (zero_point, scale)."""
    assert o.got is not None
    (scale, zp), (got_s, got_z) = o.expected / [SCALE, 1], o.got / [SCALE, 1]
    return bool(np.isclose(got_s, zp, rtol=1e-6) and np.isclose(got_z, scale, rtol=1e-6))


def _qparams_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem in ("exception", "nonfinite") and "empty" in o.case.tags:
        return _GUARD_HINT
    if o.got is None or o.got.shape != (2,):
        return None
    failing = [f for f in outcomes if not f.ok and f.got is not None and f.got.shape == (2,)]
    if all(_swapped(f) for f in failing):
        return (
            "return `(scale, zero_point)` in this order: the scale first. (ONNX Runtime's "
            "compute_scale_zp returns [zero_point, scale], the other way round.)"
        )
    hint = several_slips(QPARAMS, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    qmin, qmax = o.case.args[2:]
    if math.isfinite(o.got[1]) and not qmin <= o.got[1] <= qmax:
        return (
            f"a zero point must lie in [qmin, qmax] = [{qmin}, {qmax}]; yours is {o.got[1]:g}. "
            "Widen the range to include 0 first, then 0 maps inside the grid."
        )
    return None


QPARAMS = Task(
    name="affine_qparams",
    arg_names=("rmin", "rmax", "qmin", "qmax"),
    reference=_reference,
    cases=_qparams_cases,
    covers="uint8/int8/int4/uint4 and reduce_range grids, ranges not containing 0, exact ties "
    "and near-ties of the zero point, and an all-zero tensor",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_qparams_diagnose,
    encode=_encode,
    symptom=_symptom,
    fallback_hint="widen [rmin, rmax] to include 0; scale = (rmax - rmin) / (qmax - qmin) "
    "(float64); zero_point = round_half_even(qmin - rmin / scale); scale 1.0 and zero point 0 "
    "when the range is empty. E.g. [-1, 3] in uint8 gives (0.015686275, 64).",
    forbidden=(params.qparams, params.qparams_of),
    forbidden_hint="compute the scale and zero point yourself: inferlab.quant.qparams is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_affine_qparams(fn) -> None:
    """Check your ``affine_qparams(rmin, rmax, qmin, qmax)`` against
    ``inferlab.quant.qparams`` (ONNX Runtime's ``compute_scale_zp``)."""
    __tracebackhide__ = True
    run(QPARAMS, fn)
