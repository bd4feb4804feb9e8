"""Exercise 04, task 1: ``matmul_intensity`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import math

from inferlab.checks.ch04._common import (
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    several_slips,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.hw.roofline import matmul_intensity as _reference


def _intensity_cases() -> list[Case]:
    rng = _rng(1)
    cases = [
        Case((1, 4096, 4096, 2), note="one token through a 4096×4096 bf16 layer: a GEMV"),
        Case((16, 8192, 28672, 1), note="16 tokens through an int8 MLP weight"),
        Case((4096, 4096, 4096, 2), note="a big square bf16 matmul"),
        Case((1, 1, 1, 4), note="1×1×1 in fp32: one multiply-add"),
        Case((3, 5, 7, 0.5), note="odd sizes, int4"),
        Case((50000, 64, 50000, 2), note="tall times wide: the output dominates the bytes"),
        Case((1, 1_000_000, 1, 4), note="a dot product of two 1M-element fp32 vectors"),
        Case((65536, 65536, 65536, 1), note="huge: 65536³ in int8"),
        Case((512, 768, 3072, 4), note="BERT-base's first MLP layer over 512 tokens, fp32"),
    ]
    for _ in range(3):
        m, k, n = (int(v) for v in 2 ** rng.uniform(0, 14, size=3))
        b = [4, 2, 1, 0.5][int(rng.integers(4))]
        cases.append(Case((m, k, n, b), note="random sizes"))
    return cases


def _student(m, k, n, b, *, ops="2mkn", size="bytes", traffic="all", rounding="none"):
    """A student's intensity with switches for their mistakes."""
    flops = {"2mkn": 2 * m * k * n, "mkn": m * k * n}[ops]
    per_element = {"bytes": b, "bits": 8 * b, "elements": 1}[size]
    elements = {
        "all": m * k + k * n + m * n,
        "inputs": m * k + k * n,
        "weights": k * n,
        "output twice": m * k + k * n + 2 * m * n,
    }[traffic]
    value = flops / (per_element * elements)
    return math.floor(value) if rounding == "floor" else value


_SLIPS = {
    "ops": [
        ("2mkn", None),
        (
            "mkn",
            "a multiply-add is 2 FLOPs: (m, k) @ (k, n) does 2·m·k·n FLOPs, and you counted the "
            "m·k·n multiply-adds. Peaks in FLOP/s count both operations, so intensity must too.",
        ),
    ],
    "size": [
        ("bytes", None),
        (
            "bits",
            "bytes_per_element is already in bytes (2 for bf16, 0.5 for int4): don't multiply "
            "it by 8, which counts bits and makes the traffic 8× too big.",
        ),
        (
            "elements",
            "intensity is FLOPs per BYTE: multiply the element counts by bytes_per_element "
            "(a bf16 element is 2 bytes).",
        ),
    ],
    "traffic": [
        ("all", None),
        (
            "inputs",
            "count the output too: C (m×n) is written once, m·n·bytes_per_element more bytes "
            "(for a square matmul a third of the traffic).",
        ),
        (
            "weights",
            "all three matrices move: A (m×k) and B (k×n) are read, C (m×n) is written. "
            "Counting the weights alone gives 2m / bytes, close only when m ≪ k and n.",
        ),
        (
            "output twice",
            "the output is written once, not read and then written: count m·n once "
            "(bytes = bytes_per_element · (m·k + k·n + m·n)).",
        ),
    ],
    "rounding": [
        ("none", None),
        (
            "floor",
            "use `/`, not `//`: floor division rounds the intensity down (a 1×1×1 fp32 "
            "matmul does 1/6 FLOP per byte, not 0).",
        ),
    ],
}


def _intensity_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(INTENSITY, _student, _SLIPS, outcomes) or zero_hint(o)


INTENSITY = Task(
    name="matmul_intensity",
    arg_names=("m", "k", "n", "bytes_per_element"),
    reference=_reference,
    cases=_intensity_cases,
    covers="a GEMV, 1×1×1, a dot product, 65536³, odd sizes and int4 to fp32",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_intensity_diagnose,
    encode=encode_number("the FLOPs per byte moved"),
    symptom=number_symptom(" FLOP/byte"),
    fallback_hint="intensity = 2·m·k·n / (bytes_per_element · (m·k + k·n + m·n)): FLOPs of the "
    "product over the bytes of A and B read once and C written once. For m=k=n=2 in bf16 that "
    "is 16 / 24 = 0.667 FLOP/byte.",
    forbidden=(_reference,),
    forbidden_hint="write the formula yourself: inferlab.hw.matmul_intensity is the reference "
    "the check compares with (use it to test your function in a cell of your own).",
)


def check_matmul_intensity(fn) -> None:
    """Check your ``matmul_intensity(m, k, n, bytes_per_element)`` against
    ``inferlab.hw.matmul_intensity``."""
    __tracebackhide__ = True
    run(INTENSITY, fn)
