"""Exercise 06, task 1: ``magnitude_mask`` — its fresh cases, known mistakes and diagnosis.

Magnitude (L1 unstructured) pruning, as ``torch.nn.utils.prune.l1_unstructured`` does it
(``torch/nn/utils/prune.py``: ``_compute_nparams_toprune`` and ``L1Unstructured.compute_mask``):

    k = round(amount · w.size)                  # Python's round: half to EVEN (2.5 -> 2)
    prune the k weights of smallest |w| over the WHOLE tensor; mask = True where kept

The cases use tie-free magnitudes (torch leaves the order among equal ones undefined), amounts
where ``amount · n`` ends in .5, above .5 and below it (so round, int, ceil and half-up all
differ somewhere), ``k = 0`` (nothing to prune), an already-pruned layer whose exact zeros go
first, and 1-D to 4-D weights. The reference is :func:`inferlab.prune.masks.l1_unstructured`.
"""

from __future__ import annotations

import math

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
from inferlab.prune import masks

_NOTHING = frozenset({"nothing"})  # round(amount · n) = 0: the mask keeps everything


def _magnitude_cases() -> list[Case]:
    rng = _rng(1)
    pruned = tie_free(rng, 5, 8)
    pruned.reshape(-1)[rng.permutation(pruned.size)[:10]] = 0.0  # 10 exact zeros
    return [
        Case((tie_free(rng, 8, 10), 0.5), note="half of an (8, 10) weight"),
        Case((tie_free(rng, 4, 5), 0.125), note="amount · n = 2.5: round half to even gives 2"),
        Case((tie_free(rng, 12), 0.375), note="amount · n = 4.5: round gives 4"),
        Case((tie_free(rng, 7, 9), 0.6), note="amount · n = 37.8: round gives 38"),
        Case((tie_free(rng, 3, 3, 3, 3), 0.3), note="a Conv weight, amount · n = 24.3"),
        Case((tie_free(rng, 16), 0.45), note="1-D, amount · n = 7.2"),
        Case((tie_free(rng, 10, 10), 0.9), note="90 % sparsity"),
        Case((pruned, 0.75), note="an already-pruned layer: its zeros go first"),
        Case((tie_free(rng, 6, 7), 0.0), note="amount 0: keep everything", tags=_NOTHING),
        Case((tie_free(rng, 50), 0.009), note="amount · n = 0.45 rounds to 0", tags=_NOTHING),
        Case((tie_free(rng, 6, 4).astype(np.float64), 0.25), note="float64, amount · n = 6"),
    ]


def _reference(w, amount):
    return masks.l1_unstructured(w, amount)


_COUNT = {
    "round": round,
    "int": int,
    "ceil": math.ceil,
    "half-up": lambda v: math.floor(v + 0.5),
}


def _student(
    w,
    amount,
    *,
    count="round",
    keep="largest",
    score="abs",
    scope="tensor",
    boundary="rank",
    output="keep",
):
    """A student's magnitude pruner with switches for their mistakes."""
    w = np.asarray(w)
    a = np.abs(w) if score == "abs" else w.copy()
    if keep == "smallest":
        a = -a
    rows = a.reshape(1, -1) if scope == "tensor" or w.ndim < 2 else a.reshape(-1, w.shape[-1])
    k = _COUNT[count](amount * rows.shape[1])
    ranked = np.sort(rows, axis=1)
    if boundary == "rank":  # the k smallest go (tie-free: a strict threshold is the same)
        kept = np.ones(rows.shape, bool) if k == 0 else rows > ranked[:, k - 1 : k]
    elif boundary == ">=":  # threshold = the k-th smallest, kept if >= it: prunes k - 1
        kept = rows >= ranked[:, max(k - 1, 0) : max(k, 1)]
    else:  # "no k = 0": ranked[:, -1] for k = 0, the largest: everything is pruned
        kept = rows > ranked[:, k - 1 : k if k else None]
    kept = kept.reshape(w.shape)
    return kept if output == "keep" else ~kept


_SLIPS = {
    "count": [
        ("round", None),
        (
            "int",
            "prune round(amount · n) weights, as torch does, not int(amount · n) or floor: "
            "int() cuts 37.8 down to 37.",
        ),
        (
            "half-up",
            "round half to EVEN, with Python's round (as torch does): round(2.5) = 2 and "
            "round(4.5) = 4; floor(amount · n + 0.5) rounds every .5 up.",
        ),
        (
            "ceil",
            "prune round(amount · n) weights, not math.ceil(amount · n): 24.3 rounds to 24.",
        ),
    ],
    "keep": [
        ("largest", None),
        (
            "smallest",
            "prune the SMALLEST magnitudes and keep the largest: the weights closest to 0 "
            "change the layer's output least. Your mask pruned the largest ones.",
        ),
    ],
    "score": [
        ("abs", None),
        (
            "signed",
            "rank the MAGNITUDES np.abs(w), not the signed values: -0.9 is a large weight and "
            "must be kept, but it is the smallest value of w.",
        ),
    ],
    "scope": [
        ("tensor", None),
        (
            "per row",
            "l1_unstructured ranks the WHOLE tensor at once (flatten it: np.abs(w).ravel()), "
            "not each row on its own: some rows lose more weights than others.",
        ),
    ],
    "boundary": [
        ("rank", None),
        (
            ">=",
            "you prune one weight too few: with threshold = the k-th smallest |w|, keep "
            "|w| > threshold (strictly), or prune the first k of np.argsort(np.abs(w).ravel()).",
        ),
        (
            "no k = 0",
            "when round(amount · n) = 0 nothing is pruned: the mask is all True. An index "
            "k - 1 = -1 picks the LARGEST magnitude as the threshold and prunes everything; "
            "handle k = 0 on its own.",
        ),
    ],
    "output": [
        ("keep", None),
        (
            "prune",
            "the mask is True where a weight is KEPT (torch's weight_mask: 1 = keep), so "
            "w * mask is the pruned weight. Yours is True where a weight is pruned: invert it.",
        ),
    ],
}


def _count_detail(o: Outcome, idx: tuple) -> str:
    w, amount = o.case.args
    k = round(amount * w.size)
    return f" (amount · n = {amount} · {w.size} = {amount * w.size:.4g}: prune {k})"


def _magnitude_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "nothing" in o.case.tags:
        return _SLIPS["boundary"][2][1]
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    hint = several_slips(MAGNITUDE, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    failing = [f for f in outcomes if not f.ok and f.got is not None]
    if not all(f.got.shape == f.expected.shape for f in failing):
        return None
    if all((f.got != 0).sum() == (f.expected != 0).sum() for f in failing):
        return (
            "you prune the right NUMBER of weights but not the right ones: the k weights "
            "of smallest |w| over the whole tensor go, e.g. the first k indices of "
            "np.argsort(np.abs(w).ravel())."
        )
    f = next(f for f in failing if (f.got != 0).sum() != (f.expected != 0).sum())
    w, amount = f.case.args
    pruned = int((f.got == 0).sum())
    return (
        f"prune exactly k = round(amount · w.size) weights: for amount={amount} and "
        f"{w.size} weights that is round({amount * w.size:.4g}) = {round(amount * w.size)}, "
        f"you pruned {pruned}. A threshold from np.quantile or np.percentile interpolates "
        "between magnitudes and misses the count; rank with np.argsort instead."
    )


MAGNITUDE = Task(
    name="magnitude_mask",
    arg_names=("w", "amount"),
    reference=_reference,
    cases=_magnitude_cases,
    covers="amount · n ending in .5, above and below it, amounts that prune nothing, an "
    "already-pruned layer, and 1-D to 4-D float32 and float64 weights",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_magnitude_diagnose,
    encode=encode_mask,
    symptom=lambda o: mask_symptom(o, _count_detail),
    shape_hint="the mask has w's shape: one True (keep) or False (prune) per weight.",
    fallback_hint="k = round(amount * w.size); order = np.argsort(np.abs(w).ravel()); the "
    "first k indices of order are pruned: mask = np.ones(w.size, bool), mask[order[:k]] = "
    "False, then mask.reshape(w.shape).",
    forbidden=(masks.l1_unstructured, masks.n_to_prune, masks.global_unstructured),
    forbidden_hint="write the count and the ranking yourself: inferlab.prune.l1_unstructured is "
    "the reference the check compares with (use it to test your function in a cell of your own).",
)


def check_magnitude_mask(fn) -> None:
    """Check your ``magnitude_mask(w, amount)`` against
    ``inferlab.prune.masks.l1_unstructured`` (torch's ``prune.l1_unstructured``)."""
    __tracebackhide__ = True
    run(MAGNITUDE, fn)
