"""Exercise 01, task 3: ``softmax`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.ch01._common import _rng, _stable_softmax
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run

_MAX_HINT = (
    "subtract the max along `axis` before np.exp: exp(1000) overflows to inf and exp(-1000) "
    "underflows to 0, giving inf/inf or 0/0 = nan. softmax(x) = softmax(x - max), so the shift "
    "changes nothing else."
)


def _softmax_cases() -> list[Case]:
    rng = _rng(3)
    f32 = (rng.standard_normal((3, 6)) * 400).astype(np.float32)
    f32[0, 0] = 1000.0
    return [
        Case((rng.standard_normal(5),), note="1-D"),
        Case((rng.standard_normal(1),), note="a single element"),
        Case((rng.standard_normal((4, 7)),), note="2-D, default axis"),
        Case((rng.standard_normal((3, 5)),), {"axis": 0}, note="along the first axis"),
        Case((rng.standard_normal((2, 3, 4)),), {"axis": 1}, note="3-D, a middle axis"),
        Case((np.array([1000.0, 1001.0, 1002.0]),), note="large logits", tags=frozenset({"large"})),
        Case(
            (np.array([-1000.0, -1001.0, -1003.0]),),
            note="large negative logits",
            tags=frozenset({"large"}),
        ),
        Case(
            (np.array([[1000.0, 1001.0], [-1000.0, -999.0]]),),
            note="rows far apart",
            tags=frozenset({"large"}),
        ),
        Case((np.full((2, 4), 3.5),), note="all values equal"),
        Case((f32,), note="float32 logits up to 1000", tags=frozenset({"large"})),
    ]


_SUM_ALL_HINT = (
    "sum along `axis` only (np.sum(e, axis=axis, keepdims=True)): without `axis`, np.sum adds "
    "up the whole array, so the slices don't each sum to 1."
)


def _sum_all(x, max_axis):
    e = np.exp(x - np.max(x, axis=max_axis, keepdims=max_axis is not None))
    return e / np.sum(e)


def _softmax_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)  # the case the message reports
    if o is not None and o.got is not None and o.got.shape == o.expected.shape:
        if o.problem == "nonfinite":
            return _MAX_HINT
        axis = o.case.kwargs.get("axis", -1)
        with np.errstate(all="ignore"):
            sums = o.got.sum(axis=axis)
        if not np.allclose(sums, 1.0, rtol=1e-4):
            for other in range(o.got.ndim):
                if other != axis % o.got.ndim and np.allclose(o.got.sum(axis=other), 1.0):
                    return (
                        f"normalise along `axis` (here axis={axis}): your output sums to 1 along "
                        f"axis {other} instead. Use the `axis` argument in max and sum."
                    )
            return (
                f"the output must sum to 1 along `axis` (here axis={axis}); yours sums to "
                f"{np.round(sums.ravel()[:3], 4).tolist()}... there: normalise along `axis` "
                "(np.sum(e, axis=axis, keepdims=True))."
            )
    return None


SOFTMAX = Task(
    name="softmax",
    arg_names=("x",),
    reference=lambda x, axis=-1: ops.softmax(x, axis=axis),
    cases=_softmax_cases,
    covers="logits of ±1000, a single element, axis=0, 3-D input and float32",
    mistakes=(
        Mistake(
            lambda x, axis=-1: np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True), _MAX_HINT
        ),
        Mistake(
            lambda x, axis=-1: (
                np.exp(x - x.max()) / np.sum(np.exp(x - x.max()), axis=axis, keepdims=True)
            ),
            "subtract the max of each slice along `axis` (np.max(x, axis=axis, keepdims=True)), "
            "not the global max: a row far below the global max underflows to 0/0.",
        ),
        Mistake(
            lambda x, axis=-1: _stable_softmax(x, -1),
            "use the `axis` argument: you always normalised along the last axis.",
        ),
        Mistake(lambda x, axis=-1: _sum_all(x, axis), _SUM_ALL_HINT),
        Mistake(lambda x, axis=-1: _sum_all(x, None), _SUM_ALL_HINT),
    ),
    diagnose=_softmax_diagnose,
    shape_hint="softmax returns an array of the same shape as x.",
    fallback_hint="softmax(x) = exp(x - max) / sum(exp(x - max)), both along `axis`.",
)


def check_softmax(fn) -> None:
    """Check your ``softmax(x, axis=-1)`` against ``inferlab.ops.softmax``."""
    __tracebackhide__ = True
    run(SOFTMAX, fn)
