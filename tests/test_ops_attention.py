"""Embedding, causal mask and scaled dot-product attention against torch; errors and costs."""

from __future__ import annotations

import math

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
def attention_case(draw):
    """q, k, v with broadcastable batch dims, and a mask (None, bool or float) of any shape that
    broadcasts to the scores (..., Tq, Tk)."""
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    tq, tk, d, dv = (draw(st.integers(1, 9)) for _ in range(4))

    def maybe_one(dims):  # broadcasting: some batch dims are 1 in some operands
        return [x if draw(st.booleans()) else 1 for x in dims]

    q = draw(floats((*batch, tq, d)))
    k = draw(floats((*maybe_one(batch), tk, d)))
    v = draw(floats((*maybe_one(batch), tk, dv)))
    kind = draw(st.sampled_from(["none", "bool", "float"]))
    mask_shape = draw(st.sampled_from([(tq, tk), (1, tk), (*maybe_one(batch), tq, tk)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = None
    if kind == "bool":  # may mask whole rows: the output there is 0, as in torch
        mask = rng.random(mask_shape) < draw(st.sampled_from([0.5, 0.9]))
    elif kind == "float":
        mask = rng.standard_normal(mask_shape).astype(np.float32)
    causal = draw(st.booleans())
    scale = draw(st.none() | st.floats(0.05, 2.0))
    return q, k, v, mask, causal, scale


def torch_attention(q, k, v, mask, causal, scale):
    """torch refuses attn_mask together with is_causal: fold the causal mask into the mask."""
    tq, tk = q.shape[-2], k.shape[-2]
    if causal and mask is not None:
        tri = np.tril(np.ones((tq, tk), bool))
        mask = (mask & tri) if mask.dtype == bool else np.where(tri, mask, -np.inf)
        causal = False
    return F.scaled_dot_product_attention(
        ref(q), ref(k), ref(v), attn_mask=None if mask is None else ref(mask),
        is_causal=causal, scale=scale,
    )  # fmt: skip


@SETTINGS
@given(attention_case())
def test_attention_matches_torch(case):
    q, k, v, mask, causal, scale = case
    out = ops.scaled_dot_product_attention(q, k, v, mask=mask, causal=causal, scale=scale)
    assert out.dtype == np.float32
    # out mixes Tk values with weights summing to 1; the scores' errors scale with |q||k|.
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    err_scale = absmax(v) * (1 + s * absmax(q) * absmax(k) * q.shape[-1])
    assert_close(out, torch_attention(*case), scale=err_scale, terms=k.shape[-2])


def test_fully_masked_rows_give_zeros_like_torch():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 4), dtype=np.float32) for _ in range(3))
    mask = np.ones((3, 3), bool)
    mask[1] = False
    out = ops.scaled_dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_array_equal(out[:, 1], 0.0)
    assert_close(out, torch_attention(q, k, v, mask, False, None), scale=10, terms=3)
    float_mask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    np.testing.assert_array_equal(ops.scaled_dot_product_attention(q, k, v, mask=float_mask), out)


def test_attention_equals_the_formula_written_out():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((5, 8)) for _ in range(3))
    scores = q @ k.T / math.sqrt(8) + np.triu(np.full((5, 5), -np.inf), 1)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = ops.scaled_dot_product_attention(q, k, v, causal=True)
    np.testing.assert_allclose(out, probs @ v, rtol=1e-12)
    assert out.dtype == np.float64


@SETTINGS
@given(st.integers(0, 12), st.integers(0, 12))
def test_causal_mask_is_top_left_aligned(t_q, t_k):
    mask = ops.causal_mask(t_q, t_k)
    assert mask.dtype == bool and mask.shape == (t_q, t_k)
    np.testing.assert_array_equal(mask, torch.ones(t_q, t_k, dtype=torch.bool).tril().numpy())


@SETTINGS
@given(st.data())
def test_embedding_matches_torch(data):
    vocab, dim = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 8))
    table = data.draw(floats((vocab, dim)))
    ids_shape = tuple(data.draw(st.lists(st.integers(0, 5), max_size=3)))
    dtype = data.draw(st.sampled_from([np.int64, np.int32, np.uint8]))
    ids = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, vocab, ids_shape)
    ids = ids.astype(dtype) if vocab <= 255 or dtype != np.uint8 else ids
    out = ops.embedding(ids, table)
    assert out.shape == (*ids_shape, dim) and out.dtype == np.float32
    expected = F.embedding(torch.from_numpy(ids.astype(np.int64)), ref(table))
    assert_close(out, expected, rtol=0, scale=0)  # a copy: exact


# -- errors ------------------------------------------------------------------------------------


def test_attention_errors_name_the_shapes():
    q, k, v = np.ones((2, 4, 8)), np.ones((2, 5, 8)), np.ones((2, 5, 3))
    sdpa = ops.scaled_dot_product_attention
    with pytest.raises(ShapeError, match=r"got q \(2, 4, 8\), k \(2, 5, 7\), v \(2, 5, 3\)"):
        sdpa(q, np.ones((2, 5, 7)), v)
    with pytest.raises(ShapeError, match=r"v \(2, 6, 3\)"):
        sdpa(q, k, np.ones((2, 6, 3)))
    with pytest.raises(ShapeError, match=r"k \(3, 5, 8\)"):
        sdpa(q, np.ones((3, 5, 8)), v)  # batch 2 vs 3
    with pytest.raises(ShapeError, match=r"mask broadcastable .* \(2, 4, 5\); got mask \(4, 4\)"):
        sdpa(q, k, v, mask=np.ones((4, 4), bool))
    with pytest.raises(ShapeError, match=r"got mask \(3, 2, 4, 5\)"):
        sdpa(q, k, v, mask=np.ones((3, 2, 4, 5), bool))  # would add a batch dim: torch refuses
    with pytest.raises(DTypeError, match="bool mask .* or a float mask"):
        sdpa(q, k, v, mask=np.ones((4, 5), np.int64))
    with pytest.raises(DTypeError, match="int64"):
        sdpa(q.astype(np.int64), k, v)
    with pytest.raises(InvalidValueError, match="scale"):
        sdpa(q, k, v, scale="big")


def test_embedding_and_causal_mask_errors():
    table = np.ones((10, 4), np.float32)
    with pytest.raises(DTypeError, match=r"integer ids.*float64.*astype\(np.int64\)"):
        ops.embedding(np.array([1.0, 2.0]), table)
    with pytest.raises(DTypeError, match="bool"):
        ops.embedding(np.array([True]), table)
    with pytest.raises(InvalidValueError, match=r"\[0, 10\).*from 0 to 10"):
        ops.embedding(np.array([0, 10]), table)
    with pytest.raises(InvalidValueError, match="from -1"):
        ops.embedding(np.array([-1]), table)
    with pytest.raises(ShapeError, match=r"\(V, D\); got \(10,\)"):
        ops.embedding(np.array([1]), np.ones(10, np.float32))
    with pytest.raises(InvalidValueError, match="t_k"):
        ops.causal_mask(3, -1)


# -- costs -------------------------------------------------------------------------------------


def test_attention_cost_closed_form():
    B, H, T, D = 8, 12, 128, 64
    cost = ops.attention_cost((B, H, T, D), (B, H, T, D), (B, H, T, D))
    n = B * H
    assert cost.flops == 2 * n * T * T * D + 2 * n * T * T * D + 6 * n * T * T
    assert cost.bytes == 4 * (n * T * D) * 4  # q, k, v, out
    # grouped-query style broadcast: 1 k/v head shared by 12 query heads
    gqa = ops.attention_cost((B, H, T, D), (B, 1, T, D), (B, 1, T, 32))
    assert gqa.flops == 2 * n * T * T * D + 2 * n * T * T * 32 + 6 * n * T * T
    assert gqa.bytes == (n * T * D + B * T * D + B * T * 32 + n * T * 32) * 4


def test_embedding_and_mask_costs():
    assert ops.embedding_cost((4, 16), (30522, 384)) == ops.Cost(0, 2 * 64 * 384 * 4 + 8 * 64)
    assert ops.causal_mask_cost(5, 7) == ops.Cost(35, 35)
