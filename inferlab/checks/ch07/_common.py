"""Helpers shared by the chapter-07 checks: seeds, request streams, and how answers are compared.

Exercises 07 return times in seconds (a start and a finish per request), a rate (requests per
second), a waiting time or a batch size. Times are compared as arrays to float tolerance; a single
number is scaled first (:func:`encode_number`, as in chapter 04) so that the comparison is purely
relative: a waiting time of 2 ms must be right to 1e-6 of itself, not to an absolute 1e-8.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch04._common import SCALE, encode_number, number_symptom, zero_hint
from inferlab.checks.ch06._common import arrays_symptom, encode_arrays
from inferlab.checks.slips import is_number, kind, mistakes, several_slips

__all__ = [
    "SCALE",
    "arrays_symptom",
    "encode_arrays",
    "encode_count",
    "encode_number",
    "is_number",
    "kind",
    "mistakes",
    "number_symptom",
    "poisson",
    "several_slips",
    "zero_hint",
]


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook uses default_rng(0), the checks never do.
    return np.random.default_rng([7, task_number, 0xC4EC])


def poisson(rng: np.random.Generator, rate: float, n: int, start: float = 0.0) -> np.ndarray:
    """n Poisson arrival times (s) at ``rate`` per second: exponential gaps, the first one too."""
    return start + np.cumsum(rng.exponential(1.0 / rate, n))


def encode_count(what: str):
    """An ``encode`` for a task returning a whole number (a batch size): int, np.integer or a
    float equal to an integer; a bool, a list or 2.5 are refused with a hint."""

    def encode(result) -> np.ndarray:
        if isinstance(result, np.ndarray) and result.shape == () and result.dtype.kind in "fiu":
            result = result.item()
        if not is_number(result) or not np.isfinite(result) or float(result) != int(result):
            raise TypeError(f"return one whole number, {what}; got {kind(result)}.")
        return np.asarray(float(result))

    return encode
