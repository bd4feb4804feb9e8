"""Helpers shared by the chapter-01 checks."""

from __future__ import annotations

import numpy as np


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook uses default_rng(0), the checks never do.
    return np.random.default_rng([1, task_number, 0xC4EC])


def _stable_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)
