"""The matmul ladder, batched matmul and linear, against torch; their errors and costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from test_ops_support import SETTINGS, absmax, assert_close, floats, ref

from inferlab import ops
from inferlab.errors import DTypeError, InvalidValueError, ShapeError


@st.composite
def matmul_pair(draw, max_dim):
    m, k, n = (draw(st.integers(1, max_dim)) for _ in range(3))
    return draw(floats((m, k))), draw(floats((k, n)))


def check_matmul(c, a, b):
    expected = torch.matmul(ref(a), ref(b))
    assert c.dtype == np.float32
    assert_close(c, expected, scale=absmax(a) * absmax(b), terms=a.shape[-1])


@SETTINGS
@given(matmul_pair(max_dim=5))  # pure Python: tiny shapes only
def test_matmul_naive_matches_torch(ab):
    check_matmul(ops.matmul_naive(*ab), *ab)


@SETTINGS
@given(matmul_pair(max_dim=40))
def test_matmul_vectorized_matches_torch(ab):
    check_matmul(ops.matmul_vectorized(*ab), *ab)


@SETTINGS
@given(matmul_pair(max_dim=24), st.integers(2, 16))
def test_matmul_tiled_matches_torch_for_any_tile(ab, tile):
    check_matmul(ops.matmul_tiled(*ab, tile=tile), *ab)


def test_matmul_tiled_tile_of_one_and_bigger_than_the_matrix():
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    np.testing.assert_array_equal(ops.matmul_tiled(a, b, tile=1), np.full((3, 5), 4.0))
    np.testing.assert_array_equal(ops.matmul_tiled(a, b, tile=1000), np.full((3, 5), 4.0))


@st.composite
def batched_pair(draw):
    """Batch dims that broadcast (some 1 on one side, some missing), or 1-D operands."""
    m, k, n = (draw(st.integers(1, 9)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 4), max_size=3))
    a_batch = [d if draw(st.booleans()) else 1 for d in batch]
    b_batch = [d if draw(st.booleans()) else 1 for d in batch][draw(st.integers(0, len(batch))) :]
    a_shape = (k,) if draw(st.integers(0, 9)) == 0 else (*a_batch, m, k)
    b_shape = (k,) if draw(st.integers(0, 9)) == 0 else (*b_batch, k, n)
    return draw(floats(a_shape)), draw(floats(b_shape))


@SETTINGS
@given(batched_pair())
def test_matmul_batched_broadcast_matches_torch(ab):
    check_matmul(ops.matmul(*ab), *ab)


@SETTINGS
@given(st.data())
def test_linear_matches_torch(data):
    lead = data.draw(st.lists(st.integers(1, 5), max_size=3))
    fin, fout = data.draw(st.integers(1, 17)), data.draw(st.integers(1, 17))
    x = data.draw(floats((*lead, fin)))
    w = data.draw(floats((fout, fin)))
    b = data.draw(st.none() | floats((fout,)))
    y = ops.linear(x, w, b)
    expected = F.linear(ref(x), ref(w), None if b is None else ref(b))
    assert_close(y, expected, scale=absmax(x) * absmax(w) + absmax(b), terms=fin)


def test_ladder_agrees_on_one_matrix():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5), np.float32), rng.standard_normal((5, 3), np.float32)
    for f in (ops.matmul_naive, ops.matmul_vectorized, ops.matmul_tiled, ops.matmul):
        np.testing.assert_allclose(f(a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_float64_and_lists_keep_the_dtype():
    a = [[1.0, 2.0], [3.0, 4.0]]
    for f in (ops.matmul_naive, ops.matmul_vectorized, ops.matmul_tiled, ops.matmul):
        assert f(a, a).dtype == np.float64
        np.testing.assert_array_equal(f(a, a), [[7.0, 10.0], [15.0, 22.0]])
    assert ops.matmul(np.ones((2, 2), np.float16), np.ones((2, 2), np.float16)).dtype == np.float16


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [ops.matmul_naive, ops.matmul_vectorized, ops.matmul_tiled])
def test_2d_ladder_rejects_bad_shapes_naming_both(f):
    with pytest.raises(ShapeError, match=r"\(M, K\) @ \(K, N\); got \(2, 3\) @ \(4, 5\)"):
        f(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))
    with pytest.raises(ShapeError, match=r"\(2, 2, 3\)"):
        f(np.ones((2, 2, 3), np.float32), np.ones((3, 5), np.float32))


def test_matmul_error_message_is_the_documented_one():
    with pytest.raises(ShapeError) as info:
        ops.matmul(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))
    assert str(info.value) == "matmul needs (..., M, K) @ (..., K, N); got (2, 3) @ (4, 5)"
    with pytest.raises(ShapeError, match=r"got \(2, 1, 3\) @ \(3, 3, 4\)"):
        ops.matmul(np.ones((2, 1, 3)), np.ones((3, 3, 4)))  # batch 2 vs 3 does not broadcast
    with pytest.raises(ShapeError, match=r"got \(\) @ \(3,\)"):
        ops.matmul(np.float32(1.0), np.ones(3))


@pytest.mark.parametrize("f", [ops.matmul_naive, ops.matmul_tiled, ops.matmul, ops.linear])
def test_integer_input_is_a_dtype_error(f):
    with pytest.raises(DTypeError, match=r"int64.*astype\(np.float32\)"):
        f(np.ones((2, 2), np.int64), np.ones((2, 2), np.float32))
    with pytest.raises(DTypeError, match="bool"):
        f(np.ones((2, 2), np.float32), np.ones((2, 2), bool))


@pytest.mark.parametrize("tile", [0, -3, 2.5, None])
def test_matmul_tiled_rejects_bad_tiles(tile):
    with pytest.raises(InvalidValueError, match="tile"):
        ops.matmul_tiled(np.ones((2, 2)), np.ones((2, 2)), tile=tile)


def test_linear_rejects_bad_shapes():
    with pytest.raises(ShapeError, match=r"got x \(2, 3\) and weight \(4, 5\)"):
        ops.linear(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"bias \(3,\)"):
        ops.linear(np.ones((2, 5)), np.ones((4, 5)), np.ones(3))


# -- costs --------------------------------------------------------------------------------------


def test_matmul_cost_closed_form():
    M, K, N = 64, 128, 32
    cost = ops.matmul_cost((M, K), (K, N))
    assert cost == ops.Cost(2 * M * N * K, (M * K + K * N + M * N) * 4)
    assert cost.intensity == pytest.approx(2 * M * N * K / ((M * K + K * N + M * N) * 4))
    # 1024^3 in float32: 2.1 GFLOP over 12 MiB, ~171 FLOP/byte
    big = ops.matmul_cost((1024, 1024), (1024, 1024))
    assert big.flops == 2 * 1024**3 and big.bytes == 3 * 1024**2 * 4
    # batched with broadcasting: B is shared by the 8 batch items, C has 8 * M * N elements
    b = ops.matmul_cost((8, M, K), (K, N), itemsize=2)
    assert b == ops.Cost(2 * 8 * M * N * K, (8 * M * K + K * N + 8 * M * N) * 2)
    assert ops.matmul_cost((K,), (K, N)) == ops.Cost(2 * K * N, (K + K * N + N) * 4)
    with pytest.raises(ShapeError, match=r"got \(2, 3\) @ \(4, 5\)"):
        ops.matmul_cost((2, 3), (4, 5))


def test_linear_cost_closed_form():
    B, T, fin, fout = 4, 10, 768, 3072
    cost = ops.linear_cost((B, T, fin), (fout, fin))
    rows = B * T
    assert cost.flops == 2 * rows * fin * fout + rows * fout
    assert cost.bytes == (rows * fin + fout * fin + rows * fout + fout) * 4
    no_bias = ops.linear_cost((B, T, fin), (fout, fin), bias=False)
    assert no_bias == ops.Cost(2 * rows * fin * fout, (rows * fin + fout * fin + rows * fout) * 4)
