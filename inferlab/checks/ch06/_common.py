"""Helpers shared by the chapter-06 checks: seeds, tie-free weights, and how masks, index arrays
and tuples of arrays are turned into one compared array and described.

Most answers of exercises 06 are **discrete**: a mask says keep or prune for each weight, a list
of kept channels, the integer index arrays of a CSR matrix. They are compared exactly (a mask
that prunes one weight too many is wrong), so the cases use **tie-free** weights: torch documents
that the order among equal magnitudes is undefined, and a check must never depend on it.

- :func:`tie_free` draws weights whose magnitudes (or scores) are all distinct;
- :func:`encode_mask` accepts a boolean mask or a 0/1 one (torch's ``weight_mask`` is float 0/1)
  and refuses the pruned weights themselves with a hint;
- :func:`encode_arrays` spells a tuple of arrays as one array: each array's shape, then its
  values, so a wrong shape is a wrong answer the symptom can name (:func:`split_arrays`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from inferlab.checks.core import Outcome
from inferlab.checks.slips import kind, mistakes, several_slips

__all__ = [
    "as_mask",
    "encode_arrays",
    "encode_mask",
    "kind",
    "mask_symptom",
    "mistakes",
    "several_slips",
    "split_arrays",
    "tie_free",
]

_MAX_NDIM = 4  # the arrays of a tuple have at most 4 dimensions (a Conv weight)


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook's examples use default_rng(0), the checks never do.
    return np.random.default_rng([6, task_number, 0xC4EC])


def tie_free(rng: np.random.Generator, *shape: int, sd: float = 0.1) -> np.ndarray:
    """float32 weights ~ N(0, sd) whose magnitudes are all distinct (redrawn until they are)."""
    while True:
        w = rng.normal(0.0, sd, shape).astype(np.float32)
        if np.unique(np.abs(w)).size == w.size:
            return w


# ----------------------------------------------------------------------------------- masks


def as_mask(result, what: str = "the mask") -> np.ndarray:
    """``result`` as a boolean array (True = keep), or TypeError saying what to return."""
    if result is None or isinstance(result, str | bytes | dict | tuple | list):
        raise TypeError(
            f"return {what} as one boolean NumPy array of w's shape (True = keep); got "
            f"{kind(result)}."
        )
    arr = np.asarray(result)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"return {what} as a boolean NumPy array; got {arr.dtype} values.")
    if not np.all((arr == 0) | (arr == 1)):
        raise TypeError(
            f"return {what}, a boolean array (True where a weight is KEPT), not the pruned "
            "weights: `np.abs(w) > threshold` is already a mask (`w * mask` is what pruning "
            "later does with it)."
        )
    return arr == 1


def encode_mask(result) -> np.ndarray:
    """An ``encode`` for a task returning a mask: 1.0 = keep, 0.0 = prune."""
    return as_mask(result).astype(np.float64)


def _index(flat: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def mask_symptom(o: Outcome, detail: Callable[[Outcome, tuple], str] | None = None) -> str | None:
    """``you keep 27 of 40 weights, the answer keeps 28; 3 entries differ, the first at (1, 2):
    w = -0.0134 should be kept`` (plus ``detail`` about that entry)."""
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    got, expected = o.got != 0, o.expected != 0
    wrong = np.flatnonzero(got.reshape(-1) != expected.reshape(-1))
    if not wrong.size:
        return None
    idx = _index(int(wrong[0]), expected.shape)
    w = np.asarray(o.case.args[0])
    should = "kept" if expected[idx] else "pruned"
    differing = "entry differs" if wrong.size == 1 else "entries differ"
    text = (
        f"you keep {int(got.sum())} of {got.size} weights, the answer keeps "
        f"{int(expected.sum())}; {wrong.size} {differing}, the first at index {idx}: "
        f"w = {float(w[idx]):.4g} should be {should}"
    )
    if detail is not None:
        text += detail(o, idx)
    return text


# ----------------------------------------------------------------------------------- tuples


def encode_arrays(
    names: Sequence[str],
    checks: Sequence[Callable[[str, np.ndarray], None]] = (),
    *,
    what: str | None = None,
) -> Callable[[object], np.ndarray]:
    """An ``encode`` for a task returning a tuple of arrays named ``names``.

    Each array becomes ``[ndim, d0, d1, d2, d3]`` (unused dims -1) followed by its values, so a
    wrong shape shows as a wrong answer; ``checks`` (one per array, may raise TypeError) refuse
    the wrong kind of array (floats for indices) with a hint.
    """
    spelled = what or f"a tuple `({', '.join(names)})`"

    def encode(result) -> np.ndarray:
        if isinstance(result, str | bytes | dict) or not isinstance(result, tuple | list):
            raise TypeError(f"return {spelled}; got {kind(result)}.")
        if len(result) != len(names):
            raise TypeError(f"return {spelled}: {len(names)} arrays; got {len(result)} values.")
        parts = []
        for i, (name, value) in enumerate(zip(names, result, strict=True)):
            try:
                arr = np.asarray(value)
            except Exception:
                raise TypeError(f"`{name}` must be a NumPy array; got {kind(value)}.") from None
            if arr.dtype == bool or arr.dtype.kind not in "fiu":
                raise TypeError(f"`{name}` must be an array of numbers; got {arr.dtype} values.")
            if arr.ndim > _MAX_NDIM:
                raise TypeError(f"`{name}` has {arr.ndim} dimensions; expected at most 4.")
            if i < len(checks) and checks[i] is not None:
                checks[i](name, arr)
            header = [arr.ndim, *arr.shape, *[-1] * (_MAX_NDIM - arr.ndim)]
            parts += [np.asarray(header, np.float64), arr.astype(np.float64).ravel()]
        return np.concatenate(parts)

    return encode


def split_arrays(a: np.ndarray, count: int) -> list[np.ndarray] | None:
    """The ``count`` arrays :func:`encode_arrays` spelled as one (None if ``a`` is malformed)."""
    a = np.asarray(a, np.float64)
    out, at = [], 0
    for _ in range(count):
        if at + 1 + _MAX_NDIM > a.size:
            return None
        ndim = int(a[at])
        shape = tuple(int(d) for d in a[at + 1 : at + 1 + ndim])
        at += 1 + _MAX_NDIM
        size = int(np.prod(shape)) if shape else 1
        if at + size > a.size:
            return None
        out.append(a[at : at + size].reshape(shape))
        at += size
    return out if at == a.size else None


def integers(name: str, arr: np.ndarray) -> None:
    """An ``encode_arrays`` check: ``name`` holds indices, so it must be an integer array."""
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"`{name}` holds indices: return it as integers (np.int32 or np.int64), not "
            f"{arr.dtype}; np.cumsum and np.nonzero of integers already give integers."
        )


def differ(name: str, got: np.ndarray, expected: np.ndarray, *, exact: bool) -> str | None:
    """``w2: expected shape (8, 5, 3, 3), got (5, 16, 3, 3)`` or ``indptr: 3 of 9 values
    differ; the first at index (2,): expected 5, got 4`` (None when they agree)."""
    if got.shape != expected.shape:
        return f"{name}: expected shape {expected.shape}, got {got.shape}"
    if exact:
        wrong = np.flatnonzero(got.reshape(-1) != expected.reshape(-1))
    else:
        bad = ~np.isclose(got, expected, rtol=1e-4, atol=1e-5, equal_nan=True)
        wrong = np.flatnonzero(bad.reshape(-1))
    if not wrong.size:
        return None
    idx = _index(int(wrong[0]), expected.shape)
    e, g = expected[idx], got[idx]
    spell = (lambda v: f"{int(v)}") if exact else (lambda v: f"{float(v):.6g}")
    return (
        f"{name}: {wrong.size} of {expected.size} values differ; the first at index {idx}: "
        f"expected {spell(e)}, got {spell(g)}"
    )


def arrays_symptom(names: Sequence[str], exact: Sequence[str] = ()):
    """A ``symptom`` for a task that returns several arrays (encoded by :func:`encode_arrays`):
    what differs in each, by name. Arrays in ``exact`` (integer indices) must match exactly;
    the others to float tolerance."""

    def symptom(o: Outcome) -> str | None:
        if o.got is None:
            return None
        got, expected = split_arrays(o.got, len(names)), split_arrays(o.expected, len(names))
        if got is None or expected is None:
            return None
        parts = [
            text
            for name, g, e in zip(names, got, expected, strict=True)
            if (text := differ(name, g, e, exact=name in exact)) is not None
        ]
        return "; ".join(parts) or None

    return symptom
