"""Exercise 04, task 2: ``roofline`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch04._common import (
    A100,
    CORAL_INT8,
    H100,
    L4,
    MI300X,
    RPI5_FP32,
    SCALE,
    TPU_V5E,
    XEON_FP32,
    _rng,
    compare,
    is_number,
    kind,
    mistakes,
    several_slips,
    times,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.hw.roofline import roofline_time

BOUNDS = ("memory", "compute")  # encoded as 0 and 1


def _roofline_cases() -> list[Case]:
    rng = _rng(2)
    k = 12288  # GPT-3's width
    cases = [
        Case((2 * k * k, 2 * (k + k * k + k), *H100), note="a bf16 GEMV on an H100"),
        Case((2 * k**3, 2 * 3 * k * k, *H100), note="a 12288³ bf16 matmul on an H100"),
        Case((1.561e11, 1e9, *A100), note="2 % above the A100's ridge point (153 FLOP/byte)"),
        Case((1.581e11, 4e8, *L4), note="2 % below the L4's ridge point (403 FLOP/byte)"),
        Case((0, 2 * 256 * 2**20, *RPI5_FP32), note="a copy: no arithmetic at all"),
        Case((2, 12, *XEON_FP32), note="one fp32 multiply-add: a tiny op"),
        Case((2 * 70e9 * 32768, 140e9, *MI300X), note="a 32k-token prefill of a 70B model"),
        Case((11.5e9, 43e6, *CORAL_INT8), note="a 43 MB int8 CNN on a Coral, weights over USB"),
        Case((5 * 2**26, 4 * 2**26, *TPU_V5E), note="an elementwise op on a TPU v5e"),
        Case((3.7e21, 1.1e12, *times(H100, 16)), note="a huge op on 16 H100s"),
    ]
    while len(cases) < 13:
        peak, bw, nbytes = (
            float(f"{10**e:.4g}") for e in rng.uniform([11, 9.5, 3], [15.5, 13, 12])
        )
        ratio = 10 ** float(rng.uniform(-2, 2))  # intensity / ridge point
        if abs(np.log(ratio)) < 0.03:
            continue  # too close to a tie between the two roofs
        flops = float(f"{ratio * peak / bw * nbytes:.4g}")
        cases.append(Case((flops, nbytes, peak, bw), note="a random op"))
    return cases


def _reference(flops, nbytes, peak_flops, mem_bw):
    estimate = roofline_time(flops, nbytes, peak_flops, mem_bw)
    return estimate.seconds, estimate.bound


def _encode(result) -> np.ndarray:
    if isinstance(result, str | bytes) or not isinstance(result, tuple | list | np.ndarray):
        raise TypeError(
            f"return a pair `(seconds, bound)`: the time and 'compute' or 'memory'; got "
            f"{kind(result)}."
        )
    if len(result) != 2:
        raise TypeError(f"return a pair `(seconds, bound)`; got {len(result)} values.")
    seconds, bound = result
    if isinstance(seconds, str) and is_number(bound):
        raise TypeError("return `(seconds, bound)` in this order: the time first, then the label.")
    if not is_number(seconds):
        raise TypeError(f"seconds must be a number; got {kind(seconds)}.")
    if not isinstance(bound, str) or bound not in BOUNDS:
        raise TypeError(
            f"bound must be the string 'compute' or 'memory' (whichever roof sets the time); "
            f"got {kind(bound)}."
        )
    return np.array([float(seconds) * SCALE, BOUNDS.index(bound)])


def _symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != (2,):
        return None
    parts = []
    (seconds, bound), (got_s, got_b) = o.expected, o.got
    if not np.isclose(got_s, seconds, rtol=1e-6, atol=0):
        parts.append("seconds: " + compare(got_s / SCALE, seconds / SCALE, " s"))
    if got_b != bound:
        parts.append(f"bound: expected {BOUNDS[int(bound)]!r}, got {BOUNDS[int(got_b)]!r}")
    return "; ".join(parts) or None


def _student(flops, nbytes, peak_flops, mem_bw, *, time="max", bound="right"):
    """A student's roofline with switches for their mistakes."""
    compute, memory = flops / peak_flops, nbytes / mem_bw
    seconds = {
        "max": max(compute, memory),
        "sum": compute + memory,
        "min": min(compute, memory),
        "flop/s": min(peak_flops, flops / nbytes * mem_bw),
        "ms": 1e3 * max(compute, memory),
    }[time]
    compute_bound = {
        "right": compute >= memory,
        "swapped": compute < memory,
        "raw": flops >= nbytes,
    }[bound]
    return seconds, "compute" if compute_bound else "memory"


_SLIPS = {
    "time": [
        ("max", None),
        (
            "sum",
            "compute and memory traffic overlap (a good kernel loads the next tile while it "
            "multiplies this one): the time is max(flops / peak_flops, nbytes / mem_bw). Their "
            "sum is the no-overlap upper bound.",
        ),
        (
            "min",
            "the SLOWER roof sets the time: max(flops / peak_flops, nbytes / mem_bw), not min.",
        ),
        (
            "flop/s",
            "return the time in seconds, not the attainable FLOP/s min(peak, intensity · "
            "mem_bw): seconds = max(flops / peak_flops, nbytes / mem_bw).",
        ),
        ("ms", "return seconds, not milliseconds: FLOPs / (FLOP/s) is already in seconds."),
    ],
    "bound": [
        ("right", None),
        (
            "raw",
            "compare the two TIMES (or the intensity flops / nbytes with the ridge point "
            "peak_flops / mem_bw), not FLOPs with bytes: an H100 does ~295 FLOPs in the time it "
            "reads one byte.",
        ),
        (
            "swapped",
            "the labels are swapped: the op is 'compute'-bound when its compute time is the "
            "larger one (flops / peak_flops >= nbytes / mem_bw, i.e. intensity >= ridge point), "
            "'memory'-bound otherwise.",
        ),
    ],
}


def _roofline_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is not None and isinstance(o.error, ZeroDivisionError) and o.case.args[0] == 0:
        return (
            "an op can do no arithmetic at all (flops = 0: a copy, a transpose): don't divide "
            "by flops. Compare the two times, flops / peak_flops and nbytes / mem_bw."
        )
    if o is None or o.got is None or o.got.shape != (2,):
        return None
    hint = several_slips(ROOFLINE, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    failing = [f for f in outcomes if not f.ok and f.got is not None]
    if all(np.isclose(f.got[0], f.expected[0], rtol=1e-6, atol=0) for f in failing):
        return (
            "the time is right, the label is not: 'compute' when flops / peak_flops >= "
            "nbytes / mem_bw (the compute roof sets the time), else 'memory'."
        )
    return None


ROOFLINE = Task(
    name="roofline",
    arg_names=("flops", "nbytes", "peak_flops", "mem_bw"),
    reference=_reference,
    cases=_roofline_cases,
    covers="both bounds, 2 % either side of the ridge, a copy with 0 FLOPs, a tiny op and a "
    "huge one, from a Raspberry Pi to 16 H100s",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_roofline_diagnose,
    encode=_encode,
    symptom=_symptom,
    fallback_hint="compute_s = flops / peak_flops, memory_s = nbytes / mem_bw; return "
    "(max(compute_s, memory_s), 'compute' if compute_s >= memory_s else 'memory').",
    forbidden=(roofline_time,),
    forbidden_hint="write the roofline yourself: inferlab.hw.roofline_time is the reference "
    "the check compares with (use it to test your function in a cell of your own).",
)


def check_roofline(fn) -> None:
    """Check your ``roofline(flops, nbytes, peak_flops, mem_bw)`` against
    ``inferlab.hw.roofline_time``."""
    __tracebackhide__ = True
    run(ROOFLINE, fn)
