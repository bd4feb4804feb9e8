"""Shared helpers for the tests of ``inferlab.ops`` (imported by tests/test_ops_*.py).

- ``SETTINGS``: every property test runs 100 examples, derandomized (the same examples on every
  run, so a failure in CI reproduces on a laptop) and without the on-disk example database.
- ``floats(shape)``: random float32 arrays in one of four memory layouts, so every op is also
  tested on non-contiguous inputs (transposed views, strided slices, negative strides).
- ``assert_close``: the tolerance rule, explained once.
- ``ref``: the torch reference, fed contiguous copies of the same numbers.

This file also tests the helpers themselves (that the layouts really are non-contiguous).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch.set_num_threads(1)  # pytest-xdist runs 2 workers on 2 cores: do not oversubscribe

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LAYOUTS = ("contiguous", "transposed", "strided", "reversed")
RTOL = 1e-5
ATOL_PER_TERM = 1e-6

dims = st.integers(1, 9)  # includes size-1 dims and odd sizes
small_shapes = st.lists(dims, min_size=1, max_size=4).map(tuple)


def make_array(shape, seed: int, layout: str, scale=1.0, dtype=np.float32, offset=0.0):
    """``offset + scale * standard normal`` with the given shape, in the given memory layout.

    transposed: every axis reversed in memory (Fortran order), like ``a.T`` of a contiguous array
    strided:    every other element along every axis (``base[::2, ::2, ...]``)
    reversed:   the last axis walks backwards in memory (a negative stride)
    """
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    if layout == "transposed":
        base = rng.standard_normal(shape[::-1])
    elif layout == "strided":
        base = rng.standard_normal(tuple(2 * d for d in shape))
    else:
        base = rng.standard_normal(shape)
    base = (base * scale + offset).astype(dtype)
    if layout == "transposed":
        return base.T
    if layout == "strided":
        return base[tuple(slice(None, None, 2) for _ in shape)]
    if layout == "reversed":
        return base[..., ::-1]
    return base


@st.composite
def floats(draw, shape, scale=1.0, dtype=np.float32, offset=0.0):
    """Hypothesis strategy: an array of ``shape`` in a drawn layout (the values come from a
    drawn seed: hypothesis picks shapes and layouts, NumPy makes the numbers quickly)."""
    seed = draw(st.integers(0, 2**32 - 1))
    layout = draw(st.sampled_from(LAYOUTS))
    return make_array(shape, seed, layout, scale, dtype, offset)


def ref(x):
    """A torch tensor with the same numbers, from a fresh C-order copy (torch.from_numpy refuses
    negative strides, which even a "contiguous" array with size-1 dims may have)."""
    return torch.from_numpy(np.array(x, order="C", copy=True))


def assert_close(actual, expected, *, scale: float = 1.0, terms: int = 1, rtol: float = RTOL):
    """``|actual - expected| <= atol + rtol * |expected|``, ``atol = 1e-6 * sqrt(terms) * scale``.

    Why an atol at all: float32 rounding error is relative to the *terms* an output is computed
    from, not to the output. An entry that sums ``terms`` products of size ~``scale`` and happens
    to land near 0 still carries an absolute error ~ eps32 * sqrt(terms) * scale (eps32 = 6e-8;
    rounding errors add up like a random walk), which is a huge *relative* error. So near-zero
    entries are judged against the magnitude of their terms: 1e-6 leaves ~16x headroom over
    eps32, and is far below a real bug (off by ~scale). For a matmul, terms = K and scale =
    max|a| * max|b|, i.e. atol ~ 1e-5 * sqrt(K) for standard-normal inputs.
    """
    if isinstance(expected, torch.Tensor):
        expected = expected.numpy()
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    atol = ATOL_PER_TERM * math.sqrt(max(terms, 1)) * scale
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def absmax(*arrays) -> float:
    """Largest |entry| over the arrays, at least 1 (the scale of an op's terms)."""
    return max([1.0] + [float(np.max(np.abs(a))) for a in arrays if a is not None and np.size(a)])


# -- the helpers' own tests ------------------------------------------------------------------


@SETTINGS
@given(shape=st.lists(st.integers(2, 6), min_size=1, max_size=4).map(tuple), data=st.data())
def test_layouts_have_the_shape_and_are_not_contiguous(shape, data):
    layout = data.draw(st.sampled_from(LAYOUTS))
    x = make_array(shape, 0, layout)
    assert x.shape == shape and x.dtype == np.float32
    if layout == "contiguous":
        assert x.flags.c_contiguous
    elif layout != "transposed" or len(shape) > 1:
        assert not x.flags.c_contiguous


def test_assert_close_uses_the_scaled_atol():
    assert_close(np.float32([1e-7]), np.float32([0.0]))  # near zero: within atol
    assert_close(np.float32([1.0 + 5e-6]), np.float32([1.0]))  # within rtol
    try:
        assert_close(np.float32([1e-4]), np.float32([0.0]))
    except AssertionError:
        pass
    else:
        raise AssertionError("a 1e-4 error at scale 1 must fail")
