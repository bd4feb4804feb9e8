"""im2col, conv2d (fast and direct), pooling against torch; their errors and costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from test_ops_support import SETTINGS, absmax, assert_close, floats, ref

from inferlab import ops
from inferlab.errors import DTypeError, InvalidValueError, ShapeError

pairs = st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3))


def as_pair(v):
    return (v, v) if isinstance(v, int) else v


@st.composite
def conv_case(draw, max_n=3, max_extra=6, max_channels=3):
    """x, weight, bias and settings of a valid convolution, sizes drawn so the kernel fits."""
    groups = draw(st.integers(1, 3))
    cg, ocg = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride, dilation = draw(pairs), draw(pairs)
    padding = draw(st.integers(0, 2) | st.tuples(st.integers(0, 2), st.integers(0, 2)))
    d, p = as_pair(dilation), as_pair(padding)
    hw = [
        max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]) + draw(st.integers(0, max_extra)) for i in (0, 1)
    ]
    n = draw(st.integers(1, max_n))
    x = draw(floats((n, groups * cg, *hw)))
    w = draw(floats((groups * ocg, cg, *k)))
    b = draw(st.none() | floats((groups * ocg,)))
    settings = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, b, settings


def check_conv(out, x, w, b, settings):
    expected = F.conv2d(ref(x), ref(w), None if b is None else ref(b), **settings)
    terms = w.shape[1] * w.shape[2] * w.shape[3]
    assert out.dtype == np.float32
    assert_close(out, expected, scale=absmax(x) * absmax(w) + absmax(b), terms=terms)


@SETTINGS
@given(conv_case())
def test_conv2d_matches_torch(case):
    x, w, b, settings = case
    check_conv(ops.conv2d(x, w, b, **settings), x, w, b, settings)


@SETTINGS
@given(conv_case(max_n=2, max_extra=3, max_channels=2))  # Python loops: small shapes
def test_conv2d_direct_matches_torch(case):
    x, w, b, settings = case
    check_conv(ops.conv2d_direct(x, w, b, **settings), x, w, b, settings)


def test_depthwise_and_pointwise_convolutions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 10, 9), dtype=np.float32)
    for w, groups in [
        (rng.standard_normal((8, 1, 3, 3), dtype=np.float32), 8),  # depthwise
        (rng.standard_normal((16, 1, 3, 3), dtype=np.float32), 8),  # depthwise, multiplier 2
        (rng.standard_normal((5, 8, 1, 1), dtype=np.float32), 1),  # pointwise 1x1
    ]:
        expected = F.conv2d(ref(x), ref(w), padding=1, groups=groups)
        assert_close(ops.conv2d(x, w, padding=1, groups=groups), expected, scale=20, terms=72)
        assert_close(
            ops.conv2d_direct(x, w, padding=1, groups=groups), expected, scale=20, terms=72
        )


@SETTINGS
@given(conv_case())
def test_im2col_matches_torch_unfold(case):
    x, w, _, settings = case
    del settings["groups"]
    cols = ops.im2col(x, w.shape[2:], **settings)
    assert_close(cols, F.unfold(ref(x), w.shape[2:], **settings), rtol=0, scale=0)  # exact copy


def test_conv_output_size_formula():
    assert ops.conv_output_size(56, 3, stride=1, padding=1) == 56
    assert ops.conv_output_size(224, 7, stride=2, padding=3) == 112
    assert ops.conv_output_size(10, 3, dilation=2) == 6
    assert ops.conv_output_size(3, 3) == 1
    with pytest.raises(ShapeError, match="does not fit"):
        ops.conv_output_size(2, 5)
    with pytest.raises(InvalidValueError, match="stride"):
        ops.conv_output_size(8, 3, stride=0)


@st.composite
def pool_case(draw):
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride = draw(st.none() | st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)))
    hw = [max(1, k[i] - 2 * padding[i]) + draw(st.integers(0, 7)) for i in (0, 1)]
    lead = draw(st.sampled_from([(), (1,), (2,), (3,)]))
    x = draw(floats((*lead, draw(st.integers(1, 4)), *hw)))
    return x, k, stride, padding


@SETTINGS
@given(pool_case())
def test_max_pool2d_matches_torch(case):
    x, k, stride, padding = case
    out = ops.max_pool2d(x, k, stride, padding)
    assert_close(out, F.max_pool2d(ref(x), k, stride, padding), rtol=0, scale=0)  # exact


@SETTINGS
@given(pool_case())
def test_avg_pool2d_matches_torch(case):
    x, k, stride, padding = case
    out = ops.avg_pool2d(x, k, stride, padding)
    expected = F.avg_pool2d(ref(x), k, stride, padding)
    assert_close(out, expected, scale=absmax(x), terms=k[0] * k[1])


# -- errors ------------------------------------------------------------------------------------


def test_conv2d_rejects_bad_shapes_naming_them():
    x = np.ones((1, 6, 8, 8), np.float32)
    for f in (ops.conv2d, ops.conv2d_direct):
        with pytest.raises(ShapeError, match=r"\(N, C, H, W\); got \(6, 8, 8\)"):
            f(x[0], np.ones((4, 6, 3, 3), np.float32))
        with pytest.raises(ShapeError, match=r"x \(1, 6, 8, 8\) and weight \(4, 5, 3, 3\)"):
            f(x, np.ones((4, 5, 3, 3), np.float32))
        with pytest.raises(ShapeError, match=r"groups=4"):
            f(x, np.ones((4, 1, 3, 3), np.float32), groups=4)  # 6 channels in 4 groups
        with pytest.raises(ShapeError, match=r"9x9 kernel.*\(1, 6, 8, 8\)"):
            f(x, np.ones((4, 6, 9, 9), np.float32))
        with pytest.raises(ShapeError, match=r"bias of shape \(OC,\) = \(4,\); got \(3,\)"):
            f(x, np.ones((4, 6, 3, 3), np.float32), np.ones(3, np.float32))


@pytest.mark.parametrize(
    "kwargs", [dict(stride=0), dict(padding=-1), dict(dilation=0), dict(groups=0), dict(stride=1.5)]
)
def test_conv2d_rejects_bad_settings(kwargs):
    with pytest.raises(InvalidValueError, match=next(iter(kwargs))):
        ops.conv2d(np.ones((1, 2, 5, 5)), np.ones((2, 2, 3, 3)), **kwargs)


def test_pools_and_im2col_reject_bad_input():
    with pytest.raises(DTypeError, match="int32"):
        ops.max_pool2d(np.ones((1, 1, 4, 4), np.int32), 2)
    with pytest.raises(DTypeError):
        ops.im2col(np.ones((1, 1, 4, 4), np.int64), 2)
    with pytest.raises(ShapeError, match=r"got \(4, 4\)"):
        ops.avg_pool2d(np.ones((4, 4)), 2)
    with pytest.raises(InvalidValueError, match="padding <= kernel_size // 2"):
        ops.max_pool2d(np.ones((1, 1, 8, 8)), 2, padding=2)
    with pytest.raises(InvalidValueError, match="kernel_size"):
        ops.avg_pool2d(np.ones((1, 1, 8, 8)), 0)
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\); got \(4, 4\)"):
        ops.im2col(np.ones((4, 4)), 2)


# -- costs -------------------------------------------------------------------------------------


def test_conv2d_cost_closed_form():
    N, C, H, W, OC, K = 8, 64, 56, 56, 64, 3
    cost = ops.conv2d_cost((N, C, H, W), (OC, C, K, K), padding=1)
    out = N * OC * H * W  # "same" padding keeps 56x56
    assert cost.flops == 2 * out * C * K * K + out
    assert cost.bytes == (N * C * H * W + OC * C * K * K + out + OC) * 4
    # depthwise: C/groups = 1 input channel per filter
    dw = ops.conv2d_cost((N, C, H, W), (C, 1, K, K), stride=2, padding=1, groups=C, bias=False)
    out = N * C * 28 * 28
    assert dw == ops.Cost(2 * out * K * K, (N * C * H * W + C * K * K + out) * 4)
    assert ops.COSTS["conv2d_direct"] is ops.conv2d_cost


def test_im2col_and_pool_costs_closed_form():
    im = ops.im2col_cost((2, 3, 10, 10), 3)
    assert im == ops.Cost(0, (2 * 3 * 100 + 2 * 27 * 64) * 4)
    pool = ops.pool2d_cost((8, 64, 112, 112), 3, stride=2, padding=1)
    out = 8 * 64 * 56 * 56
    assert pool == ops.Cost(out * 9, (8 * 64 * 112 * 112 + out) * 4)
    assert ops.pool2d_cost((1, 1, 4, 4), 2) == ops.Cost(4 * 4, (16 + 4) * 4)  # stride = kernel
