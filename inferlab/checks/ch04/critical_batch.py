"""Exercise 04, task 3: ``critical_batch`` — its fresh cases, known mistakes and diagnosis.

One decode step multiplies a batch of B token vectors by every weight: ``2 · B · P`` FLOPs for
``P · bytes_per_param`` bytes of weights. Compute time catches up with the weight read at

    2 · B · P / peak = P · bytes_per_param / BW   →   B* = peak · bytes_per_param / (2 · BW)

which is the ridge point ``peak / BW`` for 2-byte (bf16) weights and half of it for int8 ones.
"""

from __future__ import annotations

import math

from inferlab.checks.ch04._common import (
    A100,
    B200,
    CORAL_INT8,
    H100,
    H200,
    L4,
    MI300X,
    ORIN_NANO,
    RPI5_FP32,
    TPU_V6E,
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    several_slips,
    times,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.hw.roofline import ridge_point


def _critical_batch_cases() -> list[Case]:
    rng = _rng(3)
    cases = [
        Case((*H200, 2), note="an H200, bf16 weights"),
        Case((*A100, 1), note="an A100, int8 weights"),
        Case((*MI300X, 0.5), note="an MI300X, int4 weights"),
        Case((*TPU_V6E, 2), note="a TPU v6e, bf16 weights"),
        Case((*L4, 1), note="an L4, int8 weights"),
        Case((*B200, 0.5), note="a B200, int4 weights"),
        Case((*ORIN_NANO, 2), note="a Jetson Orin Nano Super, bf16 weights"),
        Case((*RPI5_FP32, 4), note="a Raspberry Pi 5 in fp32: 4-byte weights"),
        Case((*CORAL_INT8, 1), note="a Coral Edge TPU streaming int8 weights over USB"),
        Case((*times(H100, 8), 1), note="8 H100s, int8 weights"),
    ]
    for _ in range(2):
        peak, bw = (float(f"{10**e:.4g}") for e in rng.uniform([11, 9.5], [15.5, 13]))
        cases.append(Case((peak, bw, [4, 2, 1, 0.5][int(rng.integers(4))]), note="a random chip"))
    return cases


def _reference(peak_flops, mem_bw, bytes_per_param):
    # 2·B·P / peak = P·bytes / BW  ->  B* = (peak / BW) · bytes / 2
    return ridge_point(peak_flops, mem_bw) * bytes_per_param / 2


def _student(peak, bw, bytes_per_param, *, weights="bytes", flops="2", result="none"):
    """A student's critical batch with switches for their mistakes."""
    b = {"bytes": bytes_per_param, "ignored": 2, "bits": 8 * bytes_per_param}.get(weights)
    value = peak / (bw * bytes_per_param) if weights == "divided" else peak * b / bw
    value /= {"2": 2, "1": 1, "times 2": 0.5}[flops]
    if result == "inverted":
        return 1 / value
    rounded = {"ceil": math.ceil, "floor": math.floor, "round": round}.get(result)
    return rounded(value) if rounded else value


_ROUND = (
    "return the exact B* = peak_flops · bytes_per_param / (2 · mem_bw) as a float, not rounded "
    "(the batch you would run is math.ceil of it)."
)

_SLIPS = {
    "weights": [
        ("bytes", None),
        (
            "ignored",
            "the weights' format matters: with int8 weights (1 byte) the weight read takes half "
            "as long, so compute catches up at half the batch. The ridge point peak / BW is B* "
            "only for 2-byte (bf16) weights; in general B* = peak · bytes_per_param / (2 · BW).",
        ),
        (
            "divided",
            "B* grows with bytes_per_param: more bytes per weight make the weight read longer, "
            "so it takes a bigger batch for compute to catch up. Multiply by bytes_per_param.",
        ),
        (
            "bits",
            "bytes_per_param is already in bytes (1 for int8): don't multiply it by 8.",
        ),
    ],
    "flops": [
        ("2", None),
        (
            "1",
            "a weight costs 2 FLOPs per token (a multiply-add): the compute time is "
            "2 · B · P / peak, so B* = peak · bytes_per_param / (2 · BW). Divide by 2.",
        ),
        (
            "times 2",
            "the 2 FLOPs per weight go in the compute time, 2 · B · P / peak: solving "
            "2 · B · P / peak = P · bytes_per_param / BW DIVIDES by 2.",
        ),
    ],
    "result": [
        ("none", None),
        ("ceil", _ROUND),
        ("round", _ROUND),
        ("floor", _ROUND),
        (
            "inverted",
            "you have 1 / B*: solve 2 · B · P / peak = P · bytes_per_param / BW for B, which "
            "gives B* = peak · bytes_per_param / (2 · BW), in the hundreds for a datacenter GPU.",
        ),
    ],
}


def _critical_batch_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(CRITICAL_BATCH, _student, _SLIPS, outcomes) or zero_hint(o)


CRITICAL_BATCH = Task(
    name="critical_batch",
    arg_names=("peak_flops", "mem_bw", "bytes_per_param"),
    reference=_reference,
    cases=_critical_batch_cases,
    covers="bf16, int8, int4 and fp32 weights, from a Coral over USB to 8 H100s",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_critical_batch_diagnose,
    encode=encode_number("the batch size B* (a float)"),
    symptom=number_symptom(" sequences"),
    fallback_hint="set the compute time of one decode step, 2 · B · P / peak_flops, equal to "
    "its weight read, P · bytes_per_param / mem_bw, and solve for B: "
    "B* = peak_flops · bytes_per_param / (2 · mem_bw).",
)


def check_critical_batch(fn) -> None:
    """Check your ``critical_batch(peak_flops, mem_bw, bytes_per_param)`` against
    ``inferlab.hw.ridge_point(peak, bw) · bytes_per_param / 2``."""
    __tracebackhide__ = True
    run(CRITICAL_BATCH, fn)
