"""Elementwise activations and erf against torch (random shapes and layouts), plus accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from test_ops_support import SETTINGS, assert_close, floats, ref, small_shapes

from inferlab import ops
from inferlab.errors import DTypeError, InvalidValueError

# Inputs of several magnitudes: 0.1 (near 0), 1, and 6 (deep in the tails, where sigmoid and
# GELU are tiny and cancellation would show).
scales = st.sampled_from([0.1, 1.0, 6.0])


@st.composite
def activation_input(draw):
    scale = draw(scales)
    return draw(floats(draw(small_shapes), scale=scale)), scale


REFERENCES = {
    "relu": (ops.relu, torch.relu),
    "sigmoid": (ops.sigmoid, torch.sigmoid),
    "silu": (ops.silu, F.silu),
    "tanh": (ops.tanh, torch.tanh),
    "erf": (ops.erf, torch.erf),
    "erfc": (ops.erfc, torch.erfc),
    "gelu": (ops.gelu, F.gelu),
    "gelu_tanh": (
        lambda x: ops.gelu(x, approximate="tanh"),
        lambda t: F.gelu(t, approximate="tanh"),
    ),
}


def check_activation(name, x, scale):
    ours, theirs = REFERENCES[name]
    y = ours(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    # scale: near-zero outputs (GELU at x = -5 is -1.4e-6) carry errors relative to |x| in torch.
    assert_close(y, theirs(ref(x)), scale=max(1.0, 4 * scale))


# One property test per op (not parametrized: each runs its own 100 examples).
@SETTINGS
@given(activation_input())
def test_relu_matches_torch(case):
    check_activation("relu", *case)


@SETTINGS
@given(activation_input())
def test_sigmoid_matches_torch(case):
    check_activation("sigmoid", *case)


@SETTINGS
@given(activation_input())
def test_silu_matches_torch(case):
    check_activation("silu", *case)


@SETTINGS
@given(activation_input())
def test_tanh_matches_torch(case):
    check_activation("tanh", *case)


@SETTINGS
@given(activation_input())
def test_erf_matches_torch(case):
    check_activation("erf", *case)


@SETTINGS
@given(activation_input())
def test_erfc_matches_torch(case):
    check_activation("erfc", *case)


@SETTINGS
@given(activation_input())
def test_gelu_matches_torch(case):
    check_activation("gelu", *case)


@SETTINGS
@given(activation_input())
def test_gelu_tanh_matches_torch(case):
    check_activation("gelu_tanh", *case)


# -- accuracy on dense grids, against float64 references ----------------------------------------

GRID = np.linspace(-13, 10, 200_001, dtype=np.float32)  # GELU(-13) = -1.6e-38: still normal


def exact_gelu(x):
    """GELU in float64 from Python's accurate math.erfc (torch's float64 GELU, like its float32
    one, computes 1 + erf(...) and so returns 0 below x ~ -8)."""
    return np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])


def test_gelu_is_accurate_in_the_negative_tail():
    """GELU = 0.5 x erfc(-x / sqrt 2) to rtol 1e-5 everywhere, also for x around -5 and below,
    where 0.5 x (1 + erf(x / sqrt 2)) loses every digit. torch's float32 GELU uses that form
    (at x = -5 it is 17% off), so against torch only the scaled atol of the test above holds."""
    np.testing.assert_allclose(ops.gelu(GRID), exact_gelu(GRID), rtol=1e-5, atol=0)
    x = GRID[GRID > -5]  # where torch's float64 GELU is still accurate: an independent check
    expected = F.gelu(torch.from_numpy(x.astype(np.float64))).numpy()
    np.testing.assert_allclose(ops.gelu(x), expected, rtol=1e-5, atol=0)


def test_erf_and_erfc_relative_error_is_float32_grade():
    x = GRID / 1.3  # erfc(10) = 2e-45 underflows float32: keep erfc >= 1e-37
    erf_ref = np.array([math.erf(v) for v in x.astype(np.float64)])
    erfc_ref = np.array([math.erfc(v) for v in x.astype(np.float64)])
    np.testing.assert_allclose(ops.erf(x), erf_ref, rtol=1e-6, atol=0)
    np.testing.assert_allclose(ops.erfc(x), erfc_ref, rtol=2e-6, atol=0)
    tiny = np.float32([1e-30, -1e-6, 1e-3])  # x * 2/sqrt(pi), not 1 - erfc(x) = 0
    np.testing.assert_allclose(ops.erf(tiny), tiny * (2 / math.sqrt(math.pi)), rtol=1e-6)


def test_gelu_tanh_is_accurate_in_the_negative_tail():
    x = GRID.astype(np.float64)
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    exact = x / (1 + np.exp(-2 * u))  # = 0.5 x (1 + tanh(u)), without the cancellation
    normal = np.abs(exact) > np.finfo(np.float32).tiny  # below x ~ -6.6 it underflows float32
    ours = ops.gelu(GRID, approximate="tanh")
    # rtol 3e-5: near the underflow the exponent 2u reaches -87, and its own float32 rounding
    # (|2u| * 6e-8 = 5e-6, a few ulps) becomes the relative error of exp(-2u).
    np.testing.assert_allclose(ours[normal], exact[normal], rtol=3e-5, atol=0)
    assert np.all(np.abs(ours[~normal]) <= np.finfo(np.float32).tiny)
    x = x[x > -5]  # torch in float64, where its 1 + tanh(u) is still accurate
    expected = F.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    np.testing.assert_allclose(ops.gelu(x.astype(np.float32), "tanh"), expected, rtol=1e-5)


def test_special_values():
    x = np.float32([np.inf, -np.inf, np.nan, 0.0, 1000.0, -1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow, no inf - inf
        sig = ops.sigmoid(x)
        gelu = ops.gelu(x)
        erf = ops.erf(x)
        erfc = ops.erfc(x)
    np.testing.assert_array_equal(sig, [1, 0, np.nan, 0.5, 1, 0])
    np.testing.assert_array_equal(gelu, [np.inf, 0, np.nan, 0, 1000, 0])
    np.testing.assert_array_equal(erf, [1, -1, np.nan, 0, 1, -1])
    np.testing.assert_array_equal(erfc, [0, 2, np.nan, 1, 0, 2])
    np.testing.assert_array_equal(ops.relu(x), [np.inf, 0, np.nan, 0, 1000, 0])


# -- dtypes, errors, costs --------------------------------------------------------------------

ACTIVATIONS = [ops.relu, ops.sigmoid, ops.silu, ops.tanh, ops.erf, ops.erfc, ops.gelu]


@pytest.mark.parametrize("f", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_activations_keep_dtype_and_shape(f, dtype):
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4).astype(dtype)
    y = f(x)
    assert y.dtype == dtype and y.shape == x.shape
    expected = f(x.astype(np.float32))
    np.testing.assert_allclose(y.astype(np.float32), expected, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("f", ACTIVATIONS)
def test_activations_accept_lists_and_reject_integers(f):
    assert f([0.5, -0.5]).dtype == np.float64
    assert f(np.float32(0.5)).shape == ()
    with pytest.raises(DTypeError, match=r"int64.*astype\(np.float32\)"):
        f(np.arange(3))
    with pytest.raises(DTypeError, match="bool"):
        f(np.array([True]))


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(InvalidValueError, match=r"'none' \| 'tanh'; got 'erf'"):
        ops.gelu(np.ones(2, np.float32), approximate="erf")


def test_elementwise_costs():
    shape = (8, 128, 1536)
    n = 8 * 128 * 1536
    assert ops.elementwise_cost(shape) == ops.Cost(n, 2 * n * 4)
    assert ops.elementwise_cost(shape, flops_per_element=3, itemsize=2) == ops.Cost(3 * n, 4 * n)
    assert ops.relu_cost(shape) == ops.Cost(n, 8 * n)
    assert ops.gelu_cost(shape) == ops.Cost(5 * n, 8 * n)
    assert ops.gelu_cost(shape, approximate="tanh") == ops.Cost(9 * n, 8 * n)
    assert ops.sigmoid_cost(shape).flops == 4 * n and ops.silu_cost(shape).flops == 5 * n
    assert ops.tanh_cost(shape).flops == n and ops.erf_cost(shape).flops == n
    assert ops.relu_cost(shape).intensity == pytest.approx(1 / 8)  # memory-bound: 1/8 FLOP/byte
