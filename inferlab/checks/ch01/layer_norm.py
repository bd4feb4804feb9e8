"""Exercise 01, task 4: ``layer_norm`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.ch01._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, fails_only_on, run


def _layer_norm_cases() -> list[Case]:
    rng = _rng(4)

    def case(shape, note, scale=1.0, offset=0.0, dtype=np.float64, tags=(), **kwargs):
        x = (rng.standard_normal(shape) * scale + offset).astype(dtype)
        d = shape[-1]
        w = (1.0 + 0.5 * rng.standard_normal(d)).astype(dtype)
        b = rng.standard_normal(d).astype(dtype)
        return Case((x, w, b), kwargs, note=note, tags=frozenset(tags))

    constant = case((2, 4), "constant rows")
    constant.args[0][...] = 3.0
    return [
        case((3, 8), "2-D"),
        case((2, 5, 6), "3-D"),
        case((1, 7), "a single row of odd width"),
        case((4, 1), "width 1"),
        constant,
        case((3, 16), "tiny variance (std 0.001)", scale=1e-3),
        case((2, 16), "a mean of 1e6", offset=1e6, tags=("large mean",)),
        case((2, 5), "a larger eps", eps=1e-2),
        case((4, 32), "float32", dtype=np.float32),
        case((5, 3), "more rows than columns"),
    ]


def _ln(x, weight, bias, eps=1e-5, *, axis=-1, ddof=0, eps_mode="inside", center=True):
    n = x.size if axis is None else x.shape[axis]
    mean = x.mean(axis=axis, keepdims=True) if center else 0.0
    var = ((x - mean) ** 2).sum(axis=axis, keepdims=True) / (n - ddof)
    if eps_mode == "inside":
        xhat = (x - mean) / np.sqrt(var + eps)
    elif eps_mode == "outside":
        xhat = (x - mean) / (np.sqrt(var) + eps)
    elif eps_mode == "fixed":
        xhat = (x - mean) / np.sqrt(var + 1e-5)
    else:
        xhat = (x - mean) / np.sqrt(var)
    return xhat * weight + bias


def _layer_norm_diagnose(outcomes: list[Outcome]) -> str | None:
    if fails_only_on(outcomes, "large mean"):
        return (
            "compute the variance as mean((x - mean)**2), subtracting the mean first: "
            "E[x²] - E[x]² cancels catastrophically when the mean is large (here 1e6)."
        )
    return None


LAYER_NORM = Task(
    name="layer_norm",
    arg_names=("x", "weight", "bias"),
    reference=lambda x, weight, bias, eps=1e-5: ops.layer_norm(
        x, (x.shape[-1],), weight, bias, eps=eps
    ),
    cases=_layer_norm_cases,
    covers="constant rows, width 1, a mean of 1e6, tiny variance, eps=0.01, 3-D and float32",
    mistakes=(
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, axis=0),
            "you normalised over axis 0 (across rows); layer norm normalises each row over the "
            "LAST axis: mean and variance with axis=-1, keepdims=True.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, axis=None),
            "you normalised over the whole array: take the mean and variance over the last axis "
            "only (axis=-1, keepdims=True).",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, ddof=1),
            "use the biased variance (divide by N, np.var's default ddof=0) as torch does; you "
            "divided by N - 1.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, eps_mode="outside"),
            "add eps inside the square root: (x - mean) / sqrt(var + eps), not sqrt(var) + eps.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, eps_mode="none"),
            "add eps to the variance before the square root: a constant row has variance 0, and "
            "dividing by sqrt(0) gives nan.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, eps_mode="fixed"),
            "use the `eps` argument you were given, not a constant 1e-5.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, b, w, eps),
            "scale by `weight` (gamma) and then shift by `bias` (beta): you swapped them.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, 1.0, 0.0, eps),
            "after normalising, scale by `weight` and add `bias`: y = x_hat * weight + bias.",
        ),
        Mistake(
            lambda x, w, b, eps=1e-5: _ln(x, w, b, eps, center=False),
            "subtract the mean before dividing by the standard deviation (without it this is "
            "RMSNorm, not LayerNorm).",
        ),
    ),
    diagnose=_layer_norm_diagnose,
    shape_hint="layer_norm returns an array of the same shape as x.",
    fallback_hint="y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and the biased var "
    "over the last axis (keepdims=True).",
)


def check_layer_norm(fn) -> None:
    """Check your ``layer_norm(x, weight, bias, eps=1e-5)`` against ``inferlab.ops.layer_norm``."""
    __tracebackhide__ = True
    run(LAYER_NORM, fn)
