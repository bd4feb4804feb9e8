"""Softmax (naive, stable, log) and LayerNorm / RMSNorm against torch; errors and costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from test_ops_support import SETTINGS, absmax, assert_close, floats, ref, small_shapes

from inferlab import ops
from inferlab.errors import DTypeError, InvalidValueError, ShapeError


@st.composite
def softmax_case(draw, scales=(0.1, 1.0, 30.0)):
    shape = draw(small_shapes)
    scale = draw(st.sampled_from(scales))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return draw(floats(shape, scale=scale)), axis, scale


@SETTINGS
@given(softmax_case())
def test_softmax_matches_torch(case):
    x, axis, _ = case
    y = ops.softmax(x, axis=axis)
    assert y.dtype == np.float32
    assert_close(y, torch.softmax(ref(x), dim=axis))
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-5)


@SETTINGS
@given(softmax_case(scales=(0.1, 1.0, 5.0)))  # the naive one overflows beyond ~88
def test_softmax_naive_matches_torch_on_small_inputs(case):
    x, axis, _ = case
    assert_close(ops.softmax_naive(x, axis=axis), torch.softmax(ref(x), dim=axis))


@SETTINGS
@given(softmax_case())
def test_log_softmax_matches_torch(case):
    x, axis, scale = case
    # Outputs are x - max - log(sum): near-zero entries carry errors relative to x's size.
    assert_close(ops.log_softmax(x, axis=axis), F.log_softmax(ref(x), dim=axis), scale=4 * scale)


def test_softmax_naive_overflows_but_softmax_does_not():
    x = np.float32([1000.0, 1001.0])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(ops.softmax_naive(x)).all()  # exp(1000) = inf, inf / inf = nan
        assert np.isnan(ops.softmax_naive(np.float32([100.0, 0.0]))).any()
    np.testing.assert_allclose(ops.softmax(x), [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-6)
    assert_close(ops.softmax(x), torch.softmax(ref(x), dim=0))
    assert np.isfinite(ops.log_softmax(np.float32([0.0, -1000.0]))).all()  # log(0) avoided


def test_softmax_of_a_fully_masked_row_is_nan_like_torch():
    x = np.float32([[-np.inf, -np.inf], [0.0, -np.inf]])
    with np.errstate(invalid="ignore"):
        y = ops.softmax(x)
    np.testing.assert_array_equal(y, torch.softmax(ref(x), dim=-1).numpy())
    np.testing.assert_array_equal(y[1], [1.0, 0.0])


@st.composite
def norm_case(draw, affine=("weight", "bias")):
    shape = draw(small_shapes)
    n_norm = draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - n_norm :]
    # (spread, mean) of x. A mean 10x the spread checks that the variance does not cancel.
    # Not more: float32 cannot even store the mean to better than ulp(mean), so any
    # implementation (torch's too) errs by ~ulp(mean) / spread, which grows with mean / spread.
    scale, offset = draw(st.sampled_from([(0.01, 0.0), (1.0, 0.0), (5.0, 0.0), (1.0, 10.0)]))
    x = draw(floats(shape, scale=scale, offset=offset))
    params = {name: draw(st.none() | floats(normalized)) for name in affine}
    as_int = len(normalized) == 1 and draw(st.booleans())  # normalized_shape=int works too
    return x, (normalized[0] if as_int else normalized), params


def torch_params(params):
    return {name: None if p is None else ref(p) for name, p in params.items()}


@SETTINGS
@given(norm_case(), st.sampled_from([1e-5, 1e-3]))
def test_layer_norm_matches_torch(case, eps):
    x, normalized, params = case
    y = ops.layer_norm(x, normalized, eps=eps, **params)
    expected = F.layer_norm(
        ref(x), np.atleast_1d(normalized).tolist(), eps=eps, **torch_params(params)
    )
    assert y.dtype == np.float32
    # Outputs ~ N(0, 1) * weight + bias, computed from x - mean: scale by the affine sizes.
    assert_close(y, expected, scale=4 * absmax(params["weight"]) + absmax(params["bias"]))


@SETTINGS
@given(norm_case(affine=("weight",)), st.sampled_from([None, 1e-6]))
def test_rms_norm_matches_torch(case, eps):
    x, normalized, params = case
    y = ops.rms_norm(x, normalized, eps=eps, **params)
    dims = np.atleast_1d(normalized).tolist()
    expected = F.rms_norm(ref(x), dims, eps=eps, **torch_params(params))
    assert_close(y, expected, scale=absmax(params["weight"]))


def test_rms_norm_default_eps_is_the_dtype_eps():
    x = np.zeros((2, 4), np.float32)  # rms 0: the result is 0 / sqrt(eps) = 0, not nan
    np.testing.assert_array_equal(ops.rms_norm(x, 4), 0.0)
    x = np.full((1, 4), 1e-4, np.float32)  # mean square 1e-8 is comparable to eps32 = 1.2e-7
    expected = 1e-4 / np.sqrt(1e-8 + np.finfo(np.float32).eps)
    np.testing.assert_allclose(ops.rms_norm(x, (4,)), expected, rtol=1e-5)


def test_norms_keep_float16_and_float64():
    for dtype in (np.float16, np.float64):
        x = np.linspace(-2, 2, 12, dtype=dtype).reshape(3, 4)
        assert ops.layer_norm(x, 4).dtype == dtype
        assert ops.rms_norm(x, 4).dtype == dtype
        assert ops.softmax(x).dtype == dtype and ops.log_softmax(x).dtype == dtype


# -- errors ------------------------------------------------------------------------------------


def test_norm_errors_name_the_shapes():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ShapeError, match=r"\(\.\.\., 5\); got x \(2, 3, 4\)"):
        ops.layer_norm(x, 5)
    with pytest.raises(ShapeError, match=r"\(\.\.\., 2, 3, 4, 1\); got x \(2, 3, 4\)"):
        ops.rms_norm(x, (2, 3, 4, 1))
    with pytest.raises(ShapeError, match=r"weight of shape normalized_shape = \(4,\); got \(3,\)"):
        ops.layer_norm(x, 4, weight=np.ones(3, np.float32))
    with pytest.raises(ShapeError, match=r"bias of shape normalized_shape = \(3, 4\); got \(4,\)"):
        ops.layer_norm(x, (3, 4), bias=np.ones(4, np.float32))
    with pytest.raises(DTypeError, match="int64"):
        ops.layer_norm(np.ones((2, 4), np.int64), 4)
    with pytest.raises(InvalidValueError, match="eps"):
        ops.layer_norm(x, 4, eps=-1.0)


@pytest.mark.parametrize("f", [ops.softmax, ops.softmax_naive, ops.log_softmax])
def test_softmax_errors(f):
    with pytest.raises(InvalidValueError, match=r"axis 2 is out of range for x of shape \(2, 3\)"):
        f(np.ones((2, 3), np.float32), axis=2)
    with pytest.raises(DTypeError, match=r"int64.*astype"):
        f(np.arange(3))


# -- costs -------------------------------------------------------------------------------------


def test_softmax_and_norm_costs():
    shape, n = (8, 12, 128, 128), 8 * 12 * 128 * 128
    assert ops.softmax_cost(shape) == ops.Cost(5 * n, 2 * n * 4)
    for name in ("softmax", "softmax_naive", "log_softmax"):
        assert ops.COSTS[name] is ops.softmax_cost
    shape, n, d = (8, 128, 768), 8 * 128 * 768, 768
    assert ops.layer_norm_cost(shape, 768) == ops.Cost(7 * n, (2 * n + 2 * d) * 4)
    assert ops.layer_norm_cost(shape, (128, 768), itemsize=2) == ops.Cost(
        7 * n, (2 * n + 2 * 128 * d) * 2
    )
    assert ops.rms_norm_cost(shape, (768,)) == ops.Cost(4 * n, (2 * n + d) * 4)
