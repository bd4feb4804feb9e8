"""Exercise 06, task 2: ``nm_mask`` — its fresh cases, known mistakes and diagnosis.

N:M semi-structured sparsity (NVIDIA's 2:4, Ampere and later; Wanda's and SparseGPT's ``n:m``
option): along the last axis (the reduction axis of ``x @ w.T``, the input features of a
Linear weight) every group of ``m`` consecutive weights keeps its ``n`` largest ``|w|``:

    groups = np.abs(w).reshape(..., cols // m, m)     # consecutive, along the last axis
    keep the n largest of each group                 # exactly n True per group

The cases use tie-free weights, 2:4, 1:4, 4:8, 2:8 and 1:2, 1-D to 3-D weights (the leading
axes are divisible by ``m`` so that a student grouping along the first axis gets an answer, not
an error), and one call with the defaults. The reference is :func:`inferlab.prune.masks.nm_mask`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch06._common import (
    _rng,
    encode_mask,
    mask_symptom,
    mistakes,
    several_slips,
    tie_free,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.prune import masks, wanda


def _nm_cases() -> list[Case]:
    rng = _rng(2)
    sparse = tie_free(rng, 8, 12)
    sparse[::2, 1::4] = 0.0  # exact zeros, at most one per group: no tie decides the mask
    return [
        Case((tie_free(rng, 8, 16), 2, 4), note="2:4, a Linear weight (out, in)"),
        Case((tie_free(rng, 4, 8), 1, 4), note="1:4"),
        Case((tie_free(rng, 8, 16), 4, 8), note="4:8"),
        Case((tie_free(rng, 8, 24), 2, 8), note="2:8"),
        Case((tie_free(rng, 6, 6), 1, 2), note="1:2"),
        Case((tie_free(rng, 12), 2, 4), note="1-D"),
        Case((tie_free(rng, 4, 2, 8), 2, 4), note="3-D: groups along the last axis"),
        Case((tie_free(rng, 4, 8).astype(np.float64),), note="the defaults n=2, m=4, float64"),
        Case((tie_free(rng, 8, 4), 3, 4), note="one group per row, 3:4"),
        Case((sparse, 2, 4), note="2:4 of a weight with exact zeros"),
    ]


def _reference(w, n=2, m=4):
    return masks.nm_mask(w, n, m)


def _student(
    w, n=2, m=4, *, axis="last", keep="largest", score="abs", grouping="consecutive", count="n"
):
    """A student's N:M mask with switches for their mistakes."""
    w = np.asarray(w)
    a = np.abs(w) if score == "abs" else w.copy()
    if keep == "smallest":
        a = -a
    if axis == "first":
        a = np.moveaxis(a, 0, -1)
    lead, cols = a.shape[:-1], a.shape[-1]
    kept_per_group = n if count == "n" else m - n
    if grouping == "consecutive":
        g = a.reshape(*lead, cols // m, m)
    elif grouping == "strided":  # element j and j + cols/m, ... in one group
        g = np.swapaxes(a.reshape(*lead, m, cols // m), -1, -2)
    else:  # "per row": the n/m share of each row, wherever it falls
        g = a.reshape(*lead, 1, cols)
        kept_per_group = kept_per_group * cols // m
    rank = np.argsort(np.argsort(-g, axis=-1, kind="stable"), axis=-1, kind="stable")
    kept = rank < kept_per_group
    if grouping == "strided":
        kept = np.swapaxes(kept, -1, -2)
    kept = kept.reshape(a.shape)
    if axis == "first":
        kept = np.moveaxis(kept, -1, 0)
    return kept


_SLIPS = {
    "axis": [
        ("last", None),
        (
            "first",
            "group along the LAST axis (the input features a row of x @ w.T sums over): "
            "np.abs(w).reshape(*w.shape[:-1], -1, m). Your groups run down the first axis.",
        ),
    ],
    "keep": [
        ("largest", None),
        (
            "smallest",
            "keep the n LARGEST |w| of each group and prune the rest: np.argsort sorts "
            "ascending, so the kept ones are the LAST n of each group's order.",
        ),
    ],
    "score": [
        ("abs", None),
        (
            "signed",
            "rank the MAGNITUDES np.abs(w) inside each group, not the signed values: a "
            "weight of -0.9 matters more than one of 0.1.",
        ),
    ],
    "grouping": [
        ("consecutive", None),
        (
            "strided",
            "a group is m NEIGHBOURS along the last axis: w[..., 0:m], w[..., m:2m], ... = "
            "reshape(*w.shape[:-1], cols // m, m). Reshaping to (..., m, cols // m) puts "
            "elements cols/m apart in one group.",
        ),
        (
            "per row",
            "keep n of EVERY group of m, not n/m of each row wherever the large ones fall: "
            "the hardware needs exactly n nonzeros in each group of m consecutive weights.",
        ),
    ],
    "count": [
        ("n", None),
        (
            "m - n",
            "N:M sparsity KEEPS n weights in every group of m (2:4: two of four kept, 50 % "
            "sparse; 1:4 keeps one). You kept m - n.",
        ),
    ],
}


def _group_detail(o: Outcome, idx: tuple) -> str:
    w = np.asarray(o.case.args[0])
    m = o.case.args[2] if len(o.case.args) > 2 else 4
    start = idx[-1] // m * m
    group = w[(*idx[:-1], slice(start, start + m))]
    where = ", ".join([*map(str, idx[:-1]), f"{start}:{start + m}"])
    values = np.array2string(group, precision=3, separator=", ")
    return f" (its group w[{where}] = {values})"


def _groups_of(o: Outcome) -> tuple[np.ndarray, np.ndarray, int]:
    m = o.case.args[2] if len(o.case.args) > 2 else 4
    n = o.case.args[1] if len(o.case.args) > 1 else 2
    got = (o.got != 0).reshape(*o.got.shape[:-1], -1, m)
    expected = (o.expected != 0).reshape(*o.expected.shape[:-1], -1, m)
    return got, expected, n


def _nm_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, ValueError) and "reshape" in str(o.error):
        return (
            "split the LAST axis into groups of m: np.abs(w).reshape(*w.shape[:-1], -1, m) "
            "(w.shape[-1] is a multiple of m; the other axes may be anything)."
        )
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    hint = several_slips(NM, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    failing = [f for f in outcomes if not f.ok and f.got is not None]
    if all(f.got.shape == f.expected.shape for f in failing):
        counted = [_groups_of(f) for f in failing]
        if all(np.all(g.sum(-1) == n) for g, _, n in counted):
            return (
                "every group keeps n weights, but not its n largest |w|: rank np.abs(w) "
                "inside each group of m consecutive weights along the last axis. np.argsort "
                "gives the ORDER (the index of the smallest first), not each weight's rank: "
                "argsort twice for ranks, or set False at the first m - n indices of the order "
                "with np.put_along_axis."
            )
        return (
            "every group of m consecutive weights along the last axis must keep exactly n "
            "(mask.reshape(..., -1, m).sum(-1) == n); some of yours keep more or fewer."
        )
    return None


NM = Task(
    name="nm_mask",
    arg_names=("w", "n", "m"),
    reference=_reference,
    cases=_nm_cases,
    covers="2:4, 1:4, 4:8, 2:8, 1:2 and 3:4, 1-D to 3-D weights, exact zeros and the default "
    "arguments",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_nm_diagnose,
    encode=encode_mask,
    symptom=lambda o: mask_symptom(o, _group_detail),
    shape_hint="the mask has w's shape: one True (keep) or False (prune) per weight.",
    fallback_hint="g = np.abs(w).reshape(*w.shape[:-1], -1, m); rank = np.argsort(np.argsort("
    "-g, axis=-1), axis=-1); mask = (rank < n).reshape(w.shape).",
    forbidden=(masks.nm_mask, wanda.wanda_mask),
    forbidden_hint="write the grouping yourself: inferlab.prune.nm_mask is the reference the "
    "check compares with (use it to test your function in a cell of your own).",
)


def check_nm_mask(fn) -> None:
    """Check your ``nm_mask(w, n=2, m=4)`` against ``inferlab.prune.masks.nm_mask``
    (n largest |w| of every m consecutive weights along the last axis)."""
    __tracebackhide__ = True
    run(NM, fn)
