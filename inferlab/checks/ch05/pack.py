"""Exercise 05, task 6: ``pack_int4`` — its fresh cases, known mistakes and diagnosis.

4-bit codes are stored two per byte along the last axis, in the order of ONNX's int4/uint4 types
and ONNX Runtime's ``MatMulNBits``: element ``2j`` in the LOW nibble of byte ``j``, element
``2j + 1`` in its high nibble; an odd count leaves the last high nibble 0::

    packed[..., j] = q[..., 2j] | (q[..., 2j + 1] << 4)        (uint8, shape (..., ceil(n/2)))

Each row is packed on its own (a MatMulNBits weight is ``(N, k_blocks, block_size/2)``). The
reference is :func:`inferlab.quant.blockwise.pack_nibbles`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch05._common import (
    _rng,
    as_ints,
    int_symptom,
    mistakes,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.quant import blockwise

_ODD = frozenset({"odd"})


def _pack_cases() -> list[Case]:
    rng = _rng(6)

    def codes(*shape, dtype=np.uint8):
        return rng.integers(0, 16, shape).astype(dtype)

    return [
        Case((codes(16),), note="16 codes"),
        Case((np.array([1, 2, 15, 0, 0, 15], np.uint8),), note="[1, 2, 15, 0, 0, 15]"),
        Case((codes(7),), note="an odd count: the last high nibble is 0", tags=_ODD),
        Case((codes(1),), note="a single code", tags=_ODD),
        Case((codes(3, 10),), note="2-D: each row packed on its own"),
        Case((codes(4, 5),), note="2-D rows of odd length", tags=_ODD),
        Case((codes(2, 3, 16),), note="MatMulNBits' (N, k_blocks, block_size) codes"),
        Case((codes(12, dtype=np.int64),), note="codes in an int64 array"),
        Case((np.full(8, 15, np.uint8),), note="all 15"),
    ]


def _reference(q):
    return blockwise.pack_nibbles(q)


def _encode(result) -> np.ndarray:
    arr = as_ints(result, "the packed bytes")
    if arr.dtype != np.uint8:
        raise TypeError(
            f"return bytes: a uint8 array (.astype(np.uint8)); got {arr.dtype}. Each byte holds "
            "two codes, so every value is in [0, 255]."
        )
    return arr.astype(np.float64)


def _student(q, *, order="low = even", odd="pad", rows="each row"):
    """A student's packer with switches for their mistakes."""
    q = np.asarray(q).astype(np.uint8)
    if rows == "flattened":
        q = q.reshape(-1)
    n = q.shape[-1]
    if n % 2:
        if odd == "pad":
            q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.uint8)], axis=-1)
        else:  # drop the last code
            q = q[..., : n - 1]
    if order == "halves":  # llama.cpp Q4_0: first half in the low nibbles
        half = q.shape[-1] // 2
        lo, hi = q[..., :half], q[..., half:]
    else:
        lo, hi = q[..., 0::2], q[..., 1::2]
        if order == "high = even":
            lo, hi = hi, lo
    return (lo | (hi << np.uint8(4))).astype(np.uint8)


_SLIPS = {
    "order": [
        ("low = even", None),
        (
            "high = even",
            "the nibbles are swapped: element 2j goes in the LOW nibble (bits 3..0) of byte j "
            "and element 2j + 1 in the high nibble: q[..., 0::2] | (q[..., 1::2] << 4).",
        ),
        (
            "halves",
            "pair NEIGHBOURS: byte j holds elements 2j (low nibble) and 2j + 1 (high nibble). "
            "Putting the first half in the low nibbles and the second half in the high ones is "
            "llama.cpp's Q4_0 order, not ONNX's / MatMulNBits'.",
        ),
    ],
    "odd": [
        ("pad", None),
        (
            "drop",
            "an odd number of codes needs ceil(n / 2) bytes: pad each row with one 0 code "
            "(np.concatenate or np.pad along the last axis) so the last code is not lost; its "
            "byte's high nibble is 0.",
        ),
    ],
    "rows": [
        ("each row", None),
        (
            "flattened",
            "pack along the LAST axis and keep the leading axes: (..., n) -> (..., ceil(n/2)). "
            "Flattening the array first mixes codes of different rows (or blocks) in one byte.",
        ),
    ],
}


def _pack_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "odd" in o.case.tags:
        return _SLIPS["odd"][1][1]
    if o.got is None:
        return None
    return several_slips(PACK, _student, _SLIPS, outcomes)


PACK = Task(
    name="pack_int4",
    arg_names=("q",),
    reference=_reference,
    cases=_pack_cases,
    covers="odd counts, a single code, 2-D and 3-D codes packed row by row, and int64 input",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_pack_diagnose,
    encode=_encode,
    symptom=lambda o: int_symptom(o),
    shape_hint="q of shape (..., n) packs into (..., ceil(n / 2)) bytes: one byte per pair of "
    "neighbouring codes along the last axis.",
    fallback_hint="pad each row to an even length, then packed = q[..., 0::2] | (q[..., 1::2] "
    "<< 4) as uint8: [1, 2, 15] packs into [0x21, 0x0F] = [33, 15].",
    forbidden=(blockwise.pack_nibbles, blockwise.quantize_4bits),
    forbidden_hint="write the packing yourself: inferlab.quant.blockwise.pack_nibbles is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_pack_int4(fn) -> None:
    """Check your ``pack_int4(q)`` against ``inferlab.quant.blockwise.pack_nibbles``
    (ONNX int4 / MatMulNBits nibble order)."""
    __tracebackhide__ = True
    run(PACK, fn)
