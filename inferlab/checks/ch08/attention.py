"""Exercise 08, task 3: ``decode_attention`` — its fresh cases, known mistakes and diagnosis.

One decode step of one attention head with a KV cache: the new token's key and value are
APPENDED to the cache (as its last row: position t), then its query attends to every cached
position, itself included:

    K = [k_cache; k_new]  (t+1, d),   V = [v_cache; v_new]  (t+1, d)
    out = softmax(K @ q / sqrt(d)) @ V            (d,), a numerically stable softmax

which is exactly the last row of causal attention recomputed over all t+1 tokens (the test
suite checks this against the tiny GPT's own layers). The cases: float32 and float64, a cache of
one token, long caches, a head of 128, and scores in the thousands, so that a softmax without
the max subtracted overflows. The reference is ``inferlab.ops.scaled_dot_product_attention``
on the grown cache.
"""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.ch08._common import (
    _rng,
    arrays_symptom,
    encode_arrays,
    mistakes,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run

_NAMES = ("out", "k_cache", "v_cache")
_LOUD = frozenset({"loud"})


def _step(rng, t, d, *, dtype=np.float32, loud=1.0):
    q = rng.normal(0, 1, d) * loud
    k_cache, v_cache = rng.normal(0, 1, (t, d)), rng.normal(0, 1, (t, d))
    k_new, v_new = rng.normal(0, 1, d), rng.normal(0, 1, d)
    if loud > 1:
        k_cache *= loud
        k_new *= loud
    return tuple(a.astype(dtype) for a in (q, k_cache, v_cache, k_new, v_new))


def _attention_cases() -> list[Case]:
    rng = _rng(3)
    return [
        Case(_step(rng, 7, 16), note="7 cached tokens, d = 16"),
        Case(_step(rng, 1, 8), note="a cache of one token"),
        Case(_step(rng, 100, 64), note="100 cached tokens, d = 64"),
        Case(_step(rng, 33, 128), note="a Llama head (d = 128)"),
        Case(_step(rng, 12, 24, dtype=np.float64), note="float64"),
        Case(
            _step(rng, 20, 32, loud=30.0), note="scores in the thousands: exp overflows", tags=_LOUD
        ),
        Case(_step(rng, 3, 4), note="d = 4"),
        Case(_step(rng, 511, 24), note="511 cached tokens: the 512th"),
    ]


def _reference(q, k_cache, v_cache, k_new, v_new):
    k = np.concatenate([k_cache, k_new[None]])
    v = np.concatenate([v_cache, v_new[None]])
    out = ops.scaled_dot_product_attention(q[None], k, v)[0]
    return out, k, v


def _student(
    q, k_cache, v_cache, k_new, v_new, *, order="append", attend="all", scale="sqrt", stable="max"
):
    """A student's cached attention step with switches for their mistakes."""
    q, k_cache, v_cache = (np.asarray(a, np.float64) for a in (q, k_cache, v_cache))
    k_new, v_new = np.asarray(k_new, np.float64), np.asarray(v_new, np.float64)
    if order == "append":
        k, v = np.vstack([k_cache, k_new]), np.vstack([v_cache, v_new])
    else:
        k, v = np.vstack([k_new, k_cache]), np.vstack([v_new, v_cache])
    keys, values = (k, v) if attend == "all" else (k_cache, v_cache)
    d = q.shape[-1]
    s = keys @ q * {"sqrt": 1 / np.sqrt(d), "none": 1.0, "d": 1 / d}[scale]
    if stable == "max":
        s = s - s.max()
    with np.errstate(all="ignore"):
        w = np.exp(s)
        out = (w / w.sum()) @ values
    return out.astype(q.dtype), k, v


_SLIPS = {
    "order": [
        ("append", None),
        (
            "prepend",
            "the new token goes at the END of the cache, np.vstack([k_cache, k_new]): row i of "
            "the cache is position i, and the next step must find this token at position t.",
        ),
    ],
    "attend": [
        ("all", None),
        (
            "cache only",
            "append the new key and value FIRST, then attend: the new token attends to itself "
            "as well (causal attention includes the diagonal), so the softmax runs over t + 1 "
            "keys.",
        ),
    ],
    "scale": [
        ("sqrt", None),
        ("none", "scale the scores by 1 / sqrt(d): scores = K @ q / np.sqrt(d)."),
        ("d", "the scale is 1 / sqrt(d), not 1 / d."),
    ],
    "stable": [
        ("max", None),
        (
            "naive",
            "subtract the largest score before np.exp (scores - scores.max()): with scores "
            "in the thousands, exp overflows to inf and the softmax gives nan.",
        ),
    ],
}


def _attention_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, ValueError):
        return (
            "k_new is one row (d,) and k_cache is (t, d): stack them with "
            "np.vstack([k_cache, k_new]) or np.concatenate([k_cache, k_new[None]]) into "
            "(t + 1, d)."
        )
    if o.got is None:
        return None
    return several_slips(ATTENTION, _student, _SLIPS, outcomes)


ATTENTION = Task(
    name="decode_attention",
    arg_names=("q", "k_cache", "v_cache", "k_new", "v_new"),
    reference=_reference,
    cases=_attention_cases,
    covers="caches of 1 to 511 tokens, heads of 4 to 128, float64 and scores large enough to "
    "overflow exp",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_attention_diagnose,
    encode=encode_arrays(_NAMES, what="a tuple `(out, k_cache, v_cache)` of three arrays"),
    symptom=arrays_symptom(_NAMES),
    fallback_hint="k = np.vstack([k_cache, k_new]); v = np.vstack([v_cache, v_new]); s = k @ q "
    "/ np.sqrt(d); w = np.exp(s - s.max()); return (w / w.sum()) @ v, k, v.",
)


def check_decode_attention(fn) -> None:
    """Check your ``decode_attention(q, k_cache, v_cache, k_new, v_new) -> (out, k_cache,
    v_cache)`` against ``inferlab.ops.scaled_dot_product_attention`` over the grown cache."""
    __tracebackhide__ = True
    run(ATTENTION, fn)
