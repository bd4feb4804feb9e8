"""Exercise 06, task 4: ``channels_to_keep`` — its fresh cases, known mistakes and diagnosis.

Structured pruning chooses whole output channels (a Conv's filters ``w[c]``, a Linear's rows)
by their L2 norm, as ``torch.nn.utils.prune.ln_structured(module, "weight", amount, n=2,
dim=0)`` does (``torch/nn/utils/prune.py``: ``_compute_norm`` over every dim but ``dim``, then
``topk(norm, C - k)`` kept):

    norm[c] = sqrt(sum of w[c]² over every axis but 0)
    k = round(amount · C)                        # Python's round, half to even
    keep = the C - k channels of largest norm, returned as SORTED indices

The cases are Conv weights ``(C_out, C_in, kh, kw)`` with C_in != C_out (so norms taken along
the wrong axis give an answer of another length), 1×1 convs and Linear weights, amounts where
``amount · C`` ends in .5, above and below it, and filters whose L1, L2 and max norms rank
differently. The reference is :func:`inferlab.prune.masks.ln_structured` (the kept slices).
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.checks.ch06._common import _rng, kind, mistakes, several_slips
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.prune import masks, structured

_NOTHING = frozenset({"nothing"})


def _filters(rng, *shape, spiky=0) -> np.ndarray:
    """Weights whose filter norms (L1, L2 and max over every axis but 0, L2 along axis 1)
    are at least 1e-4 of the largest apart, with ``spiky`` filters that hold one large weight
    among small ones (their L2 and max rank high, their L1 low)."""
    while True:
        scale = rng.uniform(0.3, 1.5, (shape[0],) + (1,) * (len(shape) - 1))
        w = rng.normal(0, 0.1, shape) * scale
        for c in range(spiky):
            w[c] *= 0.2
            w[c].reshape(-1)[rng.integers(w[c].size)] = rng.choice([-1, 1]) * rng.uniform(0.8, 1.2)
        w = w.astype(np.float32)
        flat = np.abs(w.astype(np.float64).reshape(shape[0], -1))
        across = np.abs(np.moveaxis(w.astype(np.float64), 1, 0).reshape(shape[1], -1))
        signed = w.astype(np.float64).reshape(shape[0], -1).sum(1)
        scores = [flat.sum(1), np.sqrt((flat**2).sum(1)), flat.max(1), signed]
        scores += [np.sqrt((across**2).sum(1))]
        if all(np.all(np.diff(np.sort(np.abs(s))) > 1e-4 * np.abs(s).max()) for s in scores):
            return w  # 1e-4 apart: float32 and float64 norms rank alike


def _channel_cases() -> list[Case]:
    rng = _rng(4)
    return [
        Case((_filters(rng, 16, 8, 3, 3, spiky=3), 0.5), note="16 filters, half of them go"),
        Case((_filters(rng, 10, 3, 3, 3, spiky=2), 0.25), note="amount · C = 2.5: round gives 2"),
        Case((_filters(rng, 6, 4, 3, 3), 0.25), note="amount · C = 1.5: round gives 2"),
        Case((_filters(rng, 32, 16, 3, 3, spiky=4), 0.3), note="amount · C = 9.6: round gives 10"),
        Case((_filters(rng, 12, 5, 1, 1), 0.4), note="a 1×1 conv, amount · C = 4.8"),
        Case((_filters(rng, 20, 7, spiky=2), 0.35), note="a Linear weight (out, in): its rows"),
        Case((_filters(rng, 9, 2, 5, 5), 0.1), note="amount · C = 0.9: round gives 1"),
        Case((_filters(rng, 8, 3, 3, 3), 0.0), note="amount 0: keep every channel", tags=_NOTHING),
        Case((_filters(rng, 14, 6, 3, 3).astype(np.float64), 0.7), note="float64, 9.8 -> 10"),
    ]


def _reference(w, amount):
    keep = masks.ln_structured(w, amount, n=2, dim=0)
    return np.flatnonzero(keep.reshape(keep.shape[0], -1).any(axis=1))


def _encode(result) -> np.ndarray:
    if result is None or isinstance(result, str | bytes | dict):
        raise TypeError(
            f"return the kept channels' indices as a 1-D integer array; got {kind(result)}."
        )
    arr = np.asarray(result)
    if arr.dtype == bool:
        raise TypeError(
            "return the INDICES of the kept channels (np.flatnonzero(keep), sorted), not a "
            "boolean mask over them."
        )
    if arr.dtype.kind == "f":
        raise TypeError(
            f"return the channel indices as integers, not {arr.dtype}: np.argsort and "
            "np.flatnonzero give integers; a norm or a float array does not."
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(f"return the channel indices as integers; got {arr.dtype} values.")
    if arr.ndim != 1:
        raise TypeError(
            f"return one index per kept channel, a 1-D array; got shape {arr.shape}. The "
            "channels are w's first axis: one norm per w[c], over all its other axes."
        )
    return arr.astype(np.float64)


def _student(
    w,
    amount,
    *,
    norm="l2",
    axis="output",
    count="round",
    keep="largest",
    order="ascending",
    output="kept",
):
    """A student's channel selection with switches for their mistakes."""
    w = np.asarray(w).astype(np.float64)
    if axis == "input":
        w = np.moveaxis(w, 1, 0)
    flat = w.reshape(w.shape[0], -1)
    scores = {
        "l2": lambda: np.sqrt((flat**2).sum(1)),
        "l1": lambda: np.abs(flat).sum(1),
        "max": lambda: np.abs(flat).max(1),
        "sum": lambda: flat.sum(1),
    }[norm]()
    if keep == "smallest":
        scores = -scores
    c = len(scores)
    k = {"round": round, "int": int, "ceil": math.ceil}[count](amount * c)
    ranked = np.argsort(-scores, kind="stable")  # most important first
    kept, pruned = ranked[: c - k], ranked[c - k :]
    chosen = kept if output == "kept" else pruned
    return np.sort(chosen) if order == "ascending" else chosen


_SLIPS = {
    "norm": [
        ("l2", None),
        (
            "l1",
            "rank the filters by their L2 norm, sqrt((w[c] ** 2).sum()), as ln_structured(n=2) "
            "does, not by the sum of |w[c]| (L1): a filter with one large weight ranks "
            "differently.",
        ),
        (
            "max",
            "rank the filters by their L2 norm, sqrt((w[c] ** 2).sum()), not by their largest "
            "|w| alone.",
        ),
        (
            "sum",
            "a norm adds up MAGNITUDES: sqrt((w[c] ** 2).sum()). The plain sum w[c].sum() lets "
            "positive and negative weights cancel, so a strong filter can look empty.",
        ),
    ],
    "axis": [
        ("output", None),
        (
            "input",
            "the channels to remove are the OUTPUT channels, w's first axis (the filters "
            "w[c], shape (C_in, kh, kw)): one norm per w[c], over axes 1, 2, 3. You took one "
            "per input channel (axis 1).",
        ),
    ],
    "count": [
        ("round", None),
        (
            "int",
            "prune round(amount · C) channels, as torch does, not int(amount · C): int() cuts "
            "9.6 down to 9.",
        ),
        (
            "ceil",
            "prune round(amount · C) channels (Python's round, half to even: round(2.5) = 2), "
            "not math.ceil(amount · C).",
        ),
    ],
    "keep": [
        ("largest", None),
        (
            "smallest",
            "KEEP the filters of largest norm and remove the smallest: np.argsort sorts "
            "ascending, so the kept ones are the LAST C - k of its order.",
        ),
    ],
    "order": [
        ("ascending", None),
        (
            "by norm",
            "return the kept indices SORTED ascending (np.sort): the pruned layer keeps its "
            "channels in their original order. Yours are in order of importance.",
        ),
    ],
    "output": [
        ("kept", None),
        (
            "pruned",
            "return the channels to KEEP; you returned the ones to remove.",
        ),
    ],
}


def _symptom(o: Outcome) -> str | None:
    if o.got is None:
        return None
    w, amount = o.case.args
    got, expected = o.got.astype(np.int64), o.expected.astype(np.int64)
    norms = np.sqrt((np.asarray(w, np.float64).reshape(w.shape[0], -1) ** 2).sum(1))

    def listed(a):
        return np.array2string(a, separator=", ", max_line_width=200, threshold=40)

    text = (
        f"expected {expected.size} kept channels {listed(expected)}, got {got.size}: {listed(got)}"
    )
    extra = sorted(set(got.tolist()) - set(expected.tolist()))
    if extra and 0 <= extra[0] < len(norms):
        c = extra[0]
        k = round(amount * len(norms))
        text += (
            f" (channel {c}, L2 norm {norms[c]:.4g}, is among the round({amount} · "
            f"{len(norms)}) = {k} of smallest norm)"
        )
    return text


def _channels_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(CHANNELS, _student, _SLIPS, outcomes)


CHANNELS = Task(
    name="channels_to_keep",
    arg_names=("w", "amount"),
    reference=_reference,
    cases=_channel_cases,
    covers="Conv weights with C_in != C_out, a 1×1 conv, a Linear weight, amount · C ending "
    "in .5, above and below it, amount 0, filters that L1, L2 and max norms rank differently, "
    "and float64",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_channels_diagnose,
    encode=_encode,
    symptom=_symptom,
    fallback_hint="norms = np.sqrt((w.reshape(len(w), -1) ** 2).sum(axis=1)); k = "
    "round(amount * len(w)); keep = np.sort(np.argsort(norms)[k:]).",
    forbidden=(
        masks.ln_structured,
        masks.n_to_prune,
        structured.channel_importance,
        structured.prune_channels,
    ),
    forbidden_hint="compute the norms and the ranking yourself: inferlab.prune.ln_structured "
    "is the reference the check compares with (use it to test your function in a cell of your "
    "own).",
)


def check_channels_to_keep(fn) -> None:
    """Check your ``channels_to_keep(w, amount)`` against
    ``inferlab.prune.masks.ln_structured(w, amount, n=2, dim=0)`` (torch's ln_structured)."""
    __tracebackhide__ = True
    run(CHANNELS, fn)
