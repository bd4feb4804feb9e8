"""Helpers shared by the chapter-08 checks: seeds, and how numbers and tuples are compared.

Exercises 08 return numbers (bytes of KV cache: up to ~1e12), tuples of numbers (a request's
TTFT, TPOT and end-to-end latency in seconds), tuples of arrays (attention output and the grown
cache), block tables (a dict of lists) and integer token counts. Numbers are compared through
chapter 04's :func:`~inferlab.checks.ch04._common.encode_number` (purely relative), tuples of
arrays through chapter 06's :func:`~inferlab.checks.ch06._common.encode_arrays`; block tables
are spelled as one integer array by :func:`encode_tables`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch04._common import encode_number, number_symptom, zero_hint
from inferlab.checks.ch06._common import arrays_symptom, encode_arrays, split_arrays
from inferlab.checks.slips import is_number, kind, mistakes, several_slips

__all__ = [
    "arrays_symptom",
    "encode_arrays",
    "encode_number",
    "is_number",
    "kind",
    "mistakes",
    "number_symptom",
    "several_slips",
    "split_arrays",
    "zero_hint",
]


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebooks' examples use default_rng(0), the checks never do.
    return np.random.default_rng([8, task_number, 0xC4EC])
