"""Exercise 05, task 3: ``quantize_per_channel`` — its fresh cases, known mistakes and diagnosis.

Weights get one scale per output channel, symmetric int8 the ONNX Runtime way
(``quant_utils.compute_scale_zp`` with ``symmetric=True`` over ``[-127, 127]``, the range
``get_qmin_qmax_for_qType`` gives signed weights):

    amax[c] = max |w| over every axis except ``axis``       (the channel's largest magnitude)
    scale[c] = amax[c] / 127                                 (1.0 for an all-zero channel)
    q = rint(w / scale[c]) in int8, zero point 0             (scale broadcast along ``axis``)

The reference is :func:`inferlab.quant.qparams_of` + :func:`inferlab.quant.quantize`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch04._common import compare
from inferlab.checks.ch05._common import (
    SCALE,
    _rng,
    as_ints,
    int_symptom,
    kind,
    mistakes,
    several_slips,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.quant import affine, params

_ZERO = frozenset({"zero channel"})


def _per_channel_cases() -> list[Case]:
    rng = _rng(3)

    def weights(*shape, sd=0.05):
        return rng.normal(0, sd, shape).astype(np.float32)

    pruned = weights(40, 12)
    pruned[:, 5] = 0.0  # a pruned output column
    skewed = weights(24, 6)
    skewed[3, 2] = -0.9  # channel 2's extreme is negative, and 3× its positive max
    outlier = weights(32, 8)
    outlier[:, 6] *= 60  # one channel 60× wider than the others
    return [
        Case((weights(48, 16), 1), note="a MatMul weight (K, N): one scale per output column"),
        Case((weights(8, 3, 3, 3, sd=0.2), 0), note="a Conv weight (O, I, kh, kw), axis 0"),
        Case((weights(20, 9), -1), note="axis=-1"),
        Case((pruned, 1), note="an all-zero (pruned) output column", tags=_ZERO),
        Case((skewed, 1), note="a channel whose extreme value is negative"),
        Case((outlier, 1), note="one channel 60× wider than the rest"),
        Case((weights(16, 16), 0), note="square, axis 0"),
        Case((weights(1, 10), 0), note="a single channel"),
        Case((weights(4, 6, 5, sd=1.0), 1), note="3-D, the middle axis"),
    ]


def _reference(w, axis):
    qp = params.qparams_of(w, "int8", symmetric=True, axis=axis)
    return affine.quantize(w, qp), qp.scale


def _encode(result) -> np.ndarray:
    if isinstance(result, str | bytes) or not isinstance(result, tuple | list):
        raise TypeError(f"return a pair `(q, scale)`; got {kind(result)}.")
    if len(result) != 2:
        raise TypeError(f"return a pair `(q, scale)`; got {len(result)} values.")
    q = as_ints(result[0], "q (the quantized weights)")
    scale = np.asarray(result[1])
    if scale.dtype.kind not in "fiu":
        raise TypeError(f"scale must be an array of floats; got {kind(result[1])}.")
    if scale.ndim > 1:
        raise TypeError(
            f"return the scales as a 1-D array, one per index of `axis` (shape (C,)); got shape "
            f"{scale.shape}. Reduce |w| over the OTHER axes (all but `axis`), and drop keepdims "
            "(or .ravel()) for the result."
        )
    return np.concatenate([q.ravel().astype(np.float64), scale.ravel() * SCALE])


def _split(o: Outcome, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = o.case.args[0]
    return a[: w.size], a[w.size :] / SCALE


def _symptom(o: Outcome) -> str | None:
    if o.got is None:
        return None
    w, axis = o.case.args
    (q, scale), (got_q, got_scale) = _split(o, o.expected), _split(o, o.got)
    if got_scale.shape != scale.shape:
        return (
            f"expected {scale.size} scales (one per index of axis {axis} of w {w.shape}), "
            f"got {got_scale.size}"
        )
    parts = []
    wrong = np.flatnonzero(~np.isclose(got_scale, scale, rtol=1e-4, atol=0, equal_nan=True))
    if wrong.size:
        c = int(wrong[0])
        parts.append(
            f"{wrong.size} of {scale.size} scales differ; channel {c}: "
            + compare(float(got_scale[c]), float(scale[c]), "")
        )
    fake = Outcome(o.case, q.reshape(w.shape), got=got_q.reshape(w.shape))
    text = int_symptom(fake)
    if text is not None:
        parts.append("q: " + text)
    return "; ".join(parts) or None


def _student(
    w, axis, *, granularity="per channel", amax="abs", divisor=127, guard="yes", rounding="rint"
):
    """A student's per-channel quantizer with switches for their mistakes."""
    axis = axis % w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    a = np.abs(w) if amax == "abs" else w
    if granularity == "per tensor":
        m = a.max()  # one number for the whole tensor
    elif granularity == "wrong axis":
        m = a.max(axis=axis, keepdims=True)  # one per index of the OTHER axes
    else:
        m = a.max(axis=others, keepdims=True)
    scale = (m / np.float32(divisor)).astype(np.float32)
    if guard == "yes":
        scale = np.where(scale == 0, np.float32(1), scale)
    with np.errstate(all="ignore"):
        v = w / scale
        r = {"rint": np.rint, "truncate": np.trunc, "floor": np.floor}[rounding](v)
        q = np.clip(r, -127, 127).astype(np.int8)
    return q, (scale if scale.ndim == 0 else scale.ravel())


_SLIPS = {
    "granularity": [
        ("per channel", None),
        (
            "per tensor",
            "one scale PER CHANNEL: amax over every axis except `axis`, e.g. "
            "np.abs(w).max(axis=0) for a (K, N) weight and axis=1. One scale for the whole "
            "tensor lets the widest channel set the step for all, and narrow channels lose "
            "most of their bits.",
        ),
        (
            "wrong axis",
            "reduce over the OTHER axes and keep `axis`: the channel axis is the one the "
            "scales run along (for a (K, N) MatMul weight and axis=1, one scale per output "
            "column: np.abs(w).max(axis=0)). You took one maximum per index of another axis.",
        ),
    ],
    "amax": [
        ("abs", None),
        (
            "signed",
            "use the largest MAGNITUDE, np.abs(w).max(...), not w.max(...): a channel whose "
            "extreme value is negative would saturate at -127 · scale.",
        ),
    ],
    "divisor": [
        (127, None),
        (
            128,
            "ONNX Runtime's symmetric int8 grid is [-127, 127]: scale = amax / 127. With "
            "amax / 128, amax itself would need code 128, which int8 cannot hold.",
        ),
        (
            127.5,
            "amax / 127.5 over [-128, 127] is torch's symmetric observer; this task follows "
            "ONNX Runtime: scale = amax / 127 over [-127, 127] (zero point 0).",
        ),
        (
            255,
            "scale = amax / 127: the 127 positive codes cover [0, amax] and the 127 negative "
            "ones [-amax, 0]. amax / 255 halves the step, and every value above amax / 2 "
            "saturates.",
        ),
    ],
    "guard": [
        ("yes", None),
        (
            "no",
            "an all-zero (pruned) channel has amax = 0, so scale 0 and w / scale = 0/0 = nan: "
            "use scale 1.0 for such a channel, as ONNX Runtime does (its codes are then 0).",
        ),
    ],
    "rounding": [
        ("rint", None),
        (
            "truncate",
            "round with np.rint before casting: `.astype(np.int8)` truncates toward zero, so "
            "most codes land one step toward 0.",
        ),
        ("floor", "round to the NEAREST integer (np.rint), not down (np.floor)."),
    ],
}


_GUARD_HINT = _SLIPS["guard"][1][1]
_PER_TENSOR_HINT = _SLIPS["granularity"][1][1]


def _per_channel_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, ValueError | IndexError):
        if "broadcast" in str(o.error) or "axis" in str(o.error):
            return (
                "one scale per index of `axis`: reduce |w| over the OTHER axes, then make the "
                "scales line up with `axis` before dividing. w / scale broadcasts a 1-D scale "
                "along the LAST axis, so compute amax with keepdims=True (or reshape it to "
                "[-1 if i == axis else 1 for i in range(w.ndim)]) and .ravel() it for the result."
            )
    if o.problem in ("exception", "nonfinite") and "zero channel" in o.case.tags:
        return _GUARD_HINT
    if o.got is None:
        return None
    hint = several_slips(PER_CHANNEL, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    w = o.case.args[0]
    scale, expected = _split(o, o.got)[1], _split(o, o.expected)[1]
    if scale.size != expected.size:
        if scale.size == 1:
            return _PER_TENSOR_HINT
        return (
            f"return one scale per index of `axis`: {expected.size} here, the length of axis "
            f"{o.case.args[1]} of w {w.shape}; you returned {scale.size}. Reduce |w| over the "
            "OTHER axes (every axis but `axis`)."
        )
    one = np.abs(w).max() / 127  # the per-tensor scale
    if scale.size and np.allclose(scale, one, rtol=1e-4, atol=0):
        if not np.allclose(expected, one, rtol=1e-4, atol=0):
            return _PER_TENSOR_HINT
    if "zero channel" in o.case.tags:
        if scale.size and not np.all(np.isfinite(scale) & (scale > 0)):
            return _GUARD_HINT
    return None


PER_CHANNEL = Task(
    name="quantize_per_channel",
    arg_names=("w", "axis"),
    reference=_reference,
    cases=_per_channel_cases,
    covers="MatMul and Conv weights, axis 0, 1 and -1, an all-zero channel, a negative extreme, "
    "an outlier channel and 3-D weights",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_per_channel_diagnose,
    encode=_encode,
    symptom=_symptom,
    fallback_hint="amax = np.abs(w).max(axis=<every axis but `axis`>); scale = amax / 127 "
    "(float32, 1.0 where amax is 0); q = np.rint(w / scale) with scale reshaped to line up with "
    "`axis`, cast to np.int8; return (q, scale).",
    forbidden=(params.qparams, params.qparams_of, affine.quantize, affine.fake_quant),
    forbidden_hint="write the per-channel scales and the quantization yourself: "
    "inferlab.quant.qparams_of and quantize are the reference the check compares with (use "
    "them to test your function in a cell of your own).",
)


def check_quantize_per_channel(fn) -> None:
    """Check your ``quantize_per_channel(w, axis)`` against ``inferlab.quant.qparams_of`` and
    ``inferlab.quant.quantize`` (symmetric int8, ONNX Runtime's rule)."""
    __tracebackhide__ = True
    run(PER_CHANNEL, fn)
