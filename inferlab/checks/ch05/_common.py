"""Helpers shared by the chapter-05 checks: seeds, how integer and (integers, scales) answers are
compared and described, and the search for several slips at once (chapter 04's machinery).

Most answers of exercises 05 are integers (quantized values, int32 accumulators, packed bytes),
and integers must match **exactly**: a quantizer one step off at a tie is the whole point of
several tasks. The core compares with a relative tolerance (1e-6 at best), which would let an
int32 accumulator of 1e8 be off by 100, so :func:`encode_ints` can spell large integers in base
256 digits (each below 2**15, compared exactly). Scales are floats compared relatively: they are
multiplied by :data:`SCALE` so that the core's absolute tolerance never hides a tiny scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inferlab.checks.core import Outcome
from inferlab.checks.slips import kind, mistakes, several_slips

__all__ = [
    "SCALE",
    "as_ints",
    "decode_digits",
    "encode_ints",
    "int_symptom",
    "kind",
    "mistakes",
    "several_slips",
]

# Multiplies every compared scale: a scale of 1e-5 becomes 10, far above the core's atol.
SCALE = 1e6


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook's examples use default_rng(0), the checks never do.
    return np.random.default_rng([5, task_number, 0xC4EC])


def as_ints(result, what: str) -> np.ndarray:
    """``result`` as an integer NumPy array, or TypeError saying what to return."""
    if result is None or isinstance(result, str | bytes | dict | tuple):
        raise TypeError(f"return {what} as one NumPy array of integers; got {kind(result)}.")
    try:
        arr = np.asarray(result)
    except Exception:
        raise TypeError(
            f"return {what} as a NumPy array of integers; got {kind(result)}."
        ) from None
    if arr.dtype.kind == "f":
        raise TypeError(
            f"return {what} as integers, not {arr.dtype}: np.rint, np.round and np.clip keep a "
            "float dtype, so finish with `.astype(...)` to an integer type (np.uint8 / np.int8 "
            "for quantized values, np.int32 for accumulators)."
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(f"return {what} as a NumPy array of integers; got {arr.dtype} values.")
    return arr


def encode_ints(what: str, *, digits: bool = False) -> Callable[[object], np.ndarray]:
    """An ``encode`` for a task returning one integer array (``what`` names it in messages).

    digits=True spells each value in base 256, ``(..., 3)``: ``v = d0·65536 + d1·256 + d2`` with
    every digit below 2**15 for int32 values, so the core's tolerance compares them exactly.
    """

    def encode(result) -> np.ndarray:
        arr = as_ints(result, what).astype(np.int64)
        if not digits:
            return arr.astype(np.float64)
        return np.stack([arr >> 16, (arr >> 8) & 255, arr & 255], axis=-1).astype(np.float64)

    return encode


def decode_digits(a: np.ndarray) -> np.ndarray:
    """The integers :func:`encode_ints` spelled in base-256 digits, back as int64."""
    d = np.asarray(a, dtype=np.float64).astype(np.int64)
    return (d[..., 0] << 16) + (d[..., 1] << 8) + d[..., 2]


def _index(flat: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def int_symptom(
    o: Outcome, *, digits: bool = False, detail: Callable[[Outcome, tuple], str] | None = None
) -> str | None:
    """``3 of 40 values differ; the first at index (1, 2): expected 5, got 4`` (plus ``detail``
    about that index, e.g. the value of x / scale there)."""
    if o.got is None:
        return None
    got, expected = o.got, o.expected
    if digits:
        got, expected = decode_digits(got), decode_digits(expected)
    if got.shape != expected.shape:
        return f"expected an array of shape {expected.shape}, got shape {got.shape}"
    wrong = np.flatnonzero(got.reshape(-1) != expected.reshape(-1))
    if not wrong.size:
        return None
    idx = _index(int(wrong[0]), expected.shape)
    e, g = int(expected[idx]), int(got[idx])
    text = (
        f"{wrong.size} of {expected.size} values differ; the first at index {idx}: "
        f"expected {e}, got {g}"
    )
    if detail is not None:
        text += detail(o, idx)
    return text
