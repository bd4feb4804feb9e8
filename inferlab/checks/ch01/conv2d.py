"""Exercise 01, task 2: ``conv2d`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.ch01._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, fails_only_on, run


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
