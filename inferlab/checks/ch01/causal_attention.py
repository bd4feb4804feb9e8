"""Exercise 01, task 5: ``causal_attention`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.ch01._common import _rng, _stable_softmax
from inferlab.checks.core import Case, Mistake, Outcome, Task, fails_only_on, run


def _attention_cases() -> list[Case]:
    rng = _rng(5)

    def case(q_shape, dv, note, scale=1.0, dtype=np.float64, tags=()):
        q = (rng.standard_normal(q_shape) * scale).astype(dtype)
        k = (rng.standard_normal(q_shape) * scale).astype(dtype)
        v = rng.standard_normal((*q_shape[:-1], dv)).astype(dtype)
        batched = {"batched"} if len(q_shape) > 2 else set()
        return Case((q, k, v), note=note, tags=frozenset({*tags, *batched}))

    return [
        case((1, 1), 1, "T=1, D=1"),
        case((4, 8), 8, "2-D, T=4, D=8"),
        case((7, 3), 3, "odd T=7, D=3"),
        case((5, 4), 6, "values wider than keys (Dv=6, D=4)"),
        case((2, 5, 4), 4, "a batch of 2"),
        case((2, 3, 6, 8), 8, "batch × heads (2, 3)"),
        case((6, 16), 16, "scores over 1000", scale=40.0, tags=("large",)),
        case((2, 6, 8), 8, "float32", dtype=np.float32),
    ]


def _attn(q, k, v, *, scale="sqrt", mask="causal", fill=-np.inf, how="fill", axis=-1):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2)
    s = {"sqrt": s / np.sqrt(d), "d": s / d, "none": s}[scale]
    t = s.shape[-1]
    i, j = np.arange(t)[:, None], np.arange(t)[None, :]
    allowed = {"causal": j <= i, "strict": j < i, "past": j >= i, "none": np.ones((t, t), bool)}[
        mask
    ]
    if how == "fill":
        s = np.where(allowed, s, fill)
    elif how == "multiply":
        s = s * allowed
    p = _stable_softmax(s, axis)
    if how == "after":
        p = p * allowed
    return p @ v


_MASK_HINT = (
    "apply the causal mask: query i may attend only to keys j <= i. Set the scores where j > i "
    "to -inf before the softmax (np.triu(np.ones((T, T), dtype=bool), k=1) marks them)."
)
_DIAGONAL_HINT = (
    "keep the diagonal: query i attends to keys j <= i, itself included. Mask only j > i "
    "(np.triu(..., k=1)); masking j >= i leaves the first query nothing to attend to."
)


def _attention_diagnose(outcomes: list[Outcome]) -> str | None:
    if fails_only_on(outcomes, "batched"):
        return (
            "it works on 2-D inputs and fails on batched ones: `k.T` reverses ALL axes of a "
            "batched array. Transpose only the last two: np.swapaxes(k, -1, -2)."
        )
    if any(o.problem == "nonfinite" and "large" in o.case.tags for o in outcomes):
        return (
            "use a numerically stable softmax over the scores (subtract each row's max, as in "
            "task 3): scores over 1000 overflow np.exp."
        )
    return None


CAUSAL_ATTENTION = Task(
    name="causal_attention",
    arg_names=("q", "k", "v"),
    reference=lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, causal=True),
    cases=_attention_cases,
    covers="T=1, batch × heads, Dv ≠ D, scores over 1000 and float32",
    mistakes=(
        Mistake(lambda q, k, v: _attn(q, k, v, mask="none"), _MASK_HINT),
        Mistake(
            lambda q, k, v: _attn(q, k, v, scale="none"),
            "scale the scores by 1/sqrt(D), with D = q.shape[-1], before the softmax.",
        ),
        Mistake(
            lambda q, k, v: _attn(q, k, v, scale="none", mask="none"),
            "two things are missing: scale the scores by 1/sqrt(D), and apply the causal mask "
            "(scores where key j > query i set to -inf) before the softmax.",
        ),
        Mistake(
            lambda q, k, v: _attn(q, k, v, scale="d"),
            "scale by 1/sqrt(D), not 1/D (D = q.shape[-1]).",
        ),
        Mistake(lambda q, k, v: _attn(q, k, v, mask="strict"), _DIAGONAL_HINT),
        Mistake(lambda q, k, v: _attn(q, k, v, mask="strict", fill=-1e9), _DIAGONAL_HINT),
        Mistake(
            lambda q, k, v: _attn(q, k, v, mask="past"),
            "you masked the past instead of the future: hide keys j > i (the upper triangle, "
            "np.triu(..., k=1)) and keep j <= i.",
        ),
        Mistake(
            lambda q, k, v: _attn(q, k, v, how="multiply"),
            "masked scores must become -inf (or a very negative number) before the softmax, not "
            "0: exp(0) = 1 still gives the future keys weight. Use np.where(mask, -np.inf, s).",
        ),
        Mistake(
            lambda q, k, v: _attn(q, k, v, how="after"),
            "apply the mask to the scores BEFORE the softmax: zeroing probabilities afterwards "
            "leaves rows that no longer sum to 1.",
        ),
        Mistake(
            lambda q, k, v: _attn(q, k, v, axis=-2),
            "take the softmax over the keys: the last axis of the (..., T, T) score matrix.",
        ),
    ),
    diagnose=_attention_diagnose,
    shape_hint="q (..., T, D), k (..., T, D), v (..., T, Dv) give (..., T, Dv): "
    "softmax(q @ kᵀ / sqrt(D)) @ v.",
    fallback_hint="out = softmax(mask(q @ kᵀ / sqrt(D))) @ v, the softmax over the last axis and "
    "the mask hiding keys j > i.",
)


def check_causal_attention(fn) -> None:
    """Check your ``causal_attention(q, k, v)`` against
    ``inferlab.ops.scaled_dot_product_attention(q, k, v, causal=True)``."""
    __tracebackhide__ = True
    run(CAUSAL_ATTENTION, fn)
