"""Helpers shared by the chapter-03 checks."""

from __future__ import annotations

import numpy as np


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook uses default_rng(0), the checks never do.
    return np.random.default_rng([3, task_number, 0xC4EC])


def latencies(rng: np.random.Generator, n: int, median_s: float = 5e-3, sigma: float = 0.5):
    """``n`` latencies in seconds, lognormal like real ones: skewed, with a long slow tail."""
    return median_s * np.exp(sigma * rng.standard_normal(n))


def ordinal(k: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
