"""Checks of exercises 01 (tensor ops from scratch): ``from inferlab.checks import ch01``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (shapes and values the notebook never
shows, from a fixed seed of its own), compares with ``inferlab.ops`` and, when something is wrong,
raises :class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what your function returned.

    ch01.check_matmul_tiled(matmul_tiled)      ch01.check_conv2d(conv2d)
    ch01.check_softmax(softmax)                ch01.check_layer_norm(layer_norm)
    ch01.check_causal_attention(causal_attention)

The known wrong answers below (``_mistakes``) exist only to recognise mistakes; the right answers
come from ``inferlab.ops``.
"""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.core import Case, Mistake, Outcome, Task, fails_only_on, first_failure, run

__all__ = [
    "TASKS",
    "check_causal_attention",
    "check_conv2d",
    "check_layer_norm",
    "check_matmul_tiled",
    "check_softmax",
]


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook uses default_rng(0), the checks never do.
    return np.random.default_rng([1, task_number, 0xC4EC])


def _stable_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


# ============================================================================ 1. matmul_tiled

_REMAINDER_HINT = (
    "handle the remainder tiles: when a size is not a multiple of `tile`, the last tile along it "
    "is smaller. Slicing past the end is fine in NumPy (`a[i:i + tile]` stops at the edge), but "
    "loops like `range(0, M - tile + 1, tile)` or `range(M // tile)` skip the last partial tile."
)


def _matmul_cases() -> list[Case]:
    rng = _rng(1)
    cases = []
    for (m, k, n), tile, note in [
        ((1, 1, 1), 4, "1×1 matrices"),
        ((8, 8, 8), 4, "sizes divisible by the tile"),
        ((8, 12, 4), 4, "rectangular, divisible"),
        ((6, 10, 5), 4, "sizes not divisible by the tile"),
        ((7, 5, 9), 3, "odd sizes, not divisible"),
        ((3, 4, 2), 64, "a tile larger than the matrix"),
        ((5, 3, 7), 1, "tile=1"),
        ((1, 13, 1), 5, "a row times a column"),
        ((16, 16, 16), 16, "exactly one tile"),
    ]:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        divisible = m % tile == 0 and k % tile == 0 and n % tile == 0
        tags = frozenset() if divisible else frozenset({"remainder"})
        cases.append(Case((a, b, tile), note=note, tags=tags))
    a = rng.standard_normal((33, 17)).astype(np.float32)
    b = rng.standard_normal((17, 20)).astype(np.float32)
    cases.append(Case((a, b, 8), note="float32, not divisible", tags=frozenset({"remainder"})))
    return cases


def _tiled(a, b, tile, *, update="accumulate", full_tiles_only=False):
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), dtype=np.result_type(a, b))

    def starts(size):
        return range(0, size - tile + 1, tile) if full_tiles_only else range(0, size, tile)

    for i in starts(m):
        for j in starts(n):
            if update == "first k tile":
                c[i : i + tile, j : j + tile] = a[i : i + tile, :tile] @ b[:tile, j : j + tile]
                continue
            for p in starts(k):
                part = a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
                if update == "overwrite":
                    c[i : i + tile, j : j + tile] = part
                else:
                    c[i : i + tile, j : j + tile] += part
    return c


MATMUL_TILED = Task(
    name="matmul_tiled",
    arg_names=("a", "b", "tile"),
    reference=lambda a, b, tile: ops.matmul(a, b),
    cases=_matmul_cases,
    covers="sizes not divisible by the tile, a tile larger than the matrix, tile=1, 1×1 and "
    "float32",
    mistakes=(
        Mistake(
            lambda a, b, tile: _tiled(a, b, tile, update="overwrite"),
            "accumulate over the k tiles: C[i, j] tile is the SUM over k of A[i, k] @ B[k, j]. "
            "Use `+=`; with `=` only the last k tile survives.",
        ),
        Mistake(
            lambda a, b, tile: _tiled(a, b, tile, update="first k tile"),
            "loop over the k tiles too: C[i, j] tile is the sum over k of A[i, k] @ B[k, j]; "
            "you used only the first k tile.",
        ),
        Mistake(lambda a, b, tile: _tiled(a, b, tile, full_tiles_only=True), _REMAINDER_HINT),
    ),
    diagnose=lambda outcomes: _REMAINDER_HINT if fails_only_on(outcomes, "remainder") else None,
    shape_hint="A (M, K) @ B (K, N) is (M, N): allocate C with np.zeros((a.shape[0], b.shape[1])).",
    fallback_hint="compare with `a @ b` on a small example (say 3×5 @ 5×2 with tile=2) and look "
    "at which block of C is wrong.",
)


def check_matmul_tiled(fn) -> None:
    """Check your ``matmul_tiled(a, b, tile)`` against ``inferlab.ops.matmul``."""
    __tracebackhide__ = True
    run(MATMUL_TILED, fn)


# ============================================================================ 2. conv2d


def _conv_cases() -> list[Case]:
    rng = _rng(2)
    cases = []
    for x_shape, w_shape, stride, padding, note in [
        ((1, 1, 1, 1), (1, 1, 1, 1), None, None, "1×1 image, 1×1 kernel, defaults"),
        ((2, 3, 5, 5), (4, 3, 3, 3), None, None, "a batch of 2, default stride and padding"),
        ((1, 2, 6, 7), (3, 2, 3, 3), 1, 1, "zero padding"),
        ((2, 3, 7, 6), (2, 3, 3, 2), 2, 0, "odd sizes, a 3×2 kernel"),
        ((1, 1, 5, 5), (1, 1, 3, 3), 2, 1, "stride and padding"),
        ((3, 2, 4, 4), (5, 2, 4, 4), 1, 0, "a kernel as large as the image"),
        ((1, 4, 6, 5), (2, 4, 1, 1), 1, 0, "a 1×1 kernel"),
        ((1, 1, 3, 9), (1, 1, 2, 5), 2, 2, "a wide image, a wide kernel"),
    ]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        kwargs = {} if stride is None else {"stride": stride, "padding": padding}
        tags = {
            t for t, on in [("stride", (stride or 1) > 1), ("padding", (padding or 0) > 0)] if on
        }
        cases.append(Case((x, w), kwargs, note=note, tags=frozenset(tags)))
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    cases.append(
        Case((x, w), {"stride": 3, "padding": 2}, "float32", frozenset({"stride", "padding"}))
    )
    return cases


def _conv(x, weight, stride=1, padding=0, *, flip=False, rows="c kh kw", nhwc_reshape=False):
    """A plain im2col convolution with switches that reproduce classic mistakes."""
    if flip:
        weight = weight[..., ::-1, ::-1]
    n, c, h, w = x.shape
    oc, _, kh, kw = weight.shape
    p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=np.result_type(x, weight))
    for i in range(oh):
        for j in range(ow):
            cols[:, i, j] = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]
    if rows == "kh kw c":
        cols = cols.transpose(0, 1, 2, 4, 5, 3)
    out = cols.reshape(n, oh * ow, -1) @ weight.reshape(oc, -1).T  # (N, OH*OW, OC)
    if nhwc_reshape:
        return out.reshape(n, oc, oh, ow)
    return out.transpose(0, 2, 1).reshape(n, oc, oh, ow)


def _conv_diagnose(outcomes: list[Outcome]) -> str | None:
    if fails_only_on(outcomes, "padding"):
        return (
            "your result is right without padding and wrong with it. Pad only H and W, with "
            "`padding` zeros on each side: np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) — "
            "np.pad(x, p) would pad N and C too."
        )
    if fails_only_on(outcomes, "stride"):
        return (
            "your result is right for stride=1 and wrong for stride>1: output pixel (i, j) reads "
            "the window starting at row i*stride, column j*stride, and "
            "OH = (H + 2*padding - KH) // stride + 1."
        )
    return None


CONV2D = Task(
    name="conv2d",
    arg_names=("x", "weight"),
    reference=lambda x, weight, stride=1, padding=0: ops.conv2d(
        x, weight, stride=stride, padding=padding
    ),
    cases=_conv_cases,
    covers="padding > 0, stride > 1, odd and non-square sizes, 1×1 and image-sized kernels, "
    "batches and float32",
    mistakes=(
        Mistake(
            lambda x, weight, stride=1, padding=0: _conv(x, weight, stride, padding, flip=True),
            "torch's conv2d is cross-correlation: don't flip the kernel. Output (i, j) is "
            "sum(window * weight) with the window and the kernel in the same orientation.",
        ),
        Mistake(
            lambda x, weight, stride=1, padding=0: _conv(x, weight, stride, 0),
            "apply the padding: pad H and W with `padding` zeros on each side before taking "
            "patches: np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).",
        ),
        Mistake(
            lambda x, weight, stride=1, padding=0: _conv(x, weight, 1, padding),
            "apply the stride: move the window by `stride` pixels, so "
            "OH = (H + 2*padding - KH) // stride + 1.",
        ),
        Mistake(
            lambda x, weight, stride=1, padding=0: _conv(
                x, weight, stride, padding, rows="kh kw c"
            ),
            "order the im2col rows like weight.reshape(OC, -1): channel first, then kernel row, "
            "then kernel column (c, kh, kw). Yours are (kh, kw, c), so patches and weights pair "
            "up wrongly.",
        ),
        Mistake(
            lambda x, weight, stride=1, padding=0: _conv(
                x, weight, stride, padding, nhwc_reshape=True
            ),
            "a (N, OH*OW, OC) result must be transposed to (N, OC, OH*OW) before the reshape to "
            "(N, OC, OH, OW): reshape alone mixes output channels with positions.",
        ),
    ),
    diagnose=_conv_diagnose,
    shape_hint="the output is (N, OC, OH, OW) with OH = (H + 2*padding - KH) // stride + 1 and "
    "OW = (W + 2*padding - KW) // stride + 1.",
    fallback_hint="try a 1×1×3×3 image with a 1×1×2×2 kernel by hand and compare with your output.",
)


def check_conv2d(fn) -> None:
    """Check your ``conv2d(x, weight, stride=1, padding=0)`` against ``inferlab.ops.conv2d``."""
    __tracebackhide__ = True
    run(CONV2D, fn)


# ============================================================================ 3. softmax

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


# ============================================================================ 4. layer_norm


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


# ============================================================================ 5. causal_attention


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


TASKS: dict[str, Task] = {
    t.name: t for t in (MATMUL_TILED, CONV2D, SOFTMAX, LAYER_NORM, CAUSAL_ATTENTION)
}
