"""Scaled dot-product attention, the core of every transformer.

    scores = q @ k^T * scale            (..., Tq, Tk): how well query i matches key j
    probs  = softmax(scores + mask)     each row sums to 1 over the keys it may attend to
    out    = probs @ v                  (..., Tq, Dv): a weighted mix of the values

with ``scale = 1 / sqrt(D)`` so that the scores of random q and k stay ~1 whatever D is.
Same semantics as ``torch.nn.functional.scaled_dot_product_attention`` (no dropout).
"""

from __future__ import annotations

import math

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe
from inferlab.ops._validate import as_float, as_shape, broadcast_batch, is_int
from inferlab.ops.cost import Cost, numel


def causal_mask(t_q: int, t_k: int) -> np.ndarray:
    """Bool mask (t_q, t_k), True where query i may attend key j, i.e. j <= i.

    Top-left aligned like torch's ``is_causal=True``: query 0 sees key 0 only, whatever t_k.
    """
    for name, value in (("t_q", t_q), ("t_k", t_k)):
        if not is_int(value) or value < 0:
            raise InvalidValueError(f"causal_mask needs {name} to be an int >= 0; got {value!r}")
    return np.tri(t_q, t_k, dtype=bool)  # ones on and below the diagonal


def _attention_dims(q_shape, k_shape, v_shape, op: str) -> tuple:
    """Batch shape and (Tq, Tk, D, Dv) of an attention call; ShapeError names all three shapes."""
    message = (
        f"{op} needs q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv); "
        f"got q {tuple(q_shape)}, k {tuple(k_shape)}, v {tuple(v_shape)}"
    )
    if min(len(q_shape), len(k_shape), len(v_shape)) < 2:
        raise ShapeError(message)
    if q_shape[-1] != k_shape[-1] or k_shape[-2] != v_shape[-2]:
        raise ShapeError(message)
    batch = broadcast_batch(q_shape[:-2], k_shape[:-2], message)
    batch = broadcast_batch(batch, v_shape[:-2], message)
    return batch, (q_shape[-2], k_shape[-2], q_shape[-1], v_shape[-1])


def _apply_mask(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Bool mask: -inf where False (never attended). Float mask: added (e.g. ALiBi, -inf)."""
    try:
        fits = np.broadcast_shapes(scores.shape, mask.shape) == scores.shape
    except ValueError:
        fits = False
    if not fits:  # like torch, a mask may not add batch dims that q, k, v do not have
        raise ShapeError(
            f"scaled_dot_product_attention needs mask broadcastable to the scores "
            f"(..., Tq, Tk) = {scores.shape}; got mask {mask.shape}"
        )
    if mask.dtype == bool:
        np.copyto(scores, -np.inf, where=~mask)
    else:
        scores += mask
    return scores


def scaled_dot_product_attention(q, k, v, mask=None, causal=False, scale=None) -> np.ndarray:
    """``softmax(q @ k^T * scale + mask) @ v``; batch dims broadcast.

    q: (..., Tq, D), k: (..., Tk, D), v: (..., Tk, Dv) -> (..., Tq, Dv)
    mask: bool (True = attend) or float (added to the scores), broadcastable to (..., Tq, Tk).
    causal: also apply ``causal_mask(Tq, Tk)`` (torch refuses mask together with is_causal;
    here both apply). scale: None means 1 / sqrt(D).

    A query row with *every* key masked has nothing to attend to: its output is 0, as in torch
    (whose math kernel returns 0 there, not the NaN of a plain softmax over all -inf).
    """
    op = "scaled_dot_product_attention"
    q, k, v = as_float(q, op, "q"), as_float(k, op, "k"), as_float(v, op, "v")
    _attention_dims(q.shape, k.shape, v.shape, op)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    elif isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)):
        raise InvalidValueError(f"{op} needs scale to be a number or None; got {scale!r}")

    scores = np.matmul(q, np.swapaxes(k, -1, -2))  # (..., Tq, Tk), a new array
    scores *= scale
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool and mask.dtype.kind != "f":
            raise DTypeError(
                f"{op} needs a bool mask (True = attend) or a float mask (added to the scores); "
                f"got {describe(mask)}"
            )
        scores = _apply_mask(scores, mask)
    if causal:
        scores = _apply_mask(scores, causal_mask(q.shape[-2], k.shape[-2]))

    # The stable softmax over the keys, written out to handle fully masked rows.
    row_max = scores.max(axis=-1, keepdims=True)
    row_max[row_max == -np.inf] = 0.0  # fully masked row: exp(-inf - 0) = 0 everywhere
    scores -= row_max
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    # A row with any attended key has sum >= 1 (its max contributes exp(0) = 1); only fully
    # masked rows have sum 0. Raising the sum to >= 1 turns their 0/0 into 0 and changes nothing
    # else.
    np.maximum(total, 1.0, out=total)
    scores /= total
    return np.matmul(scores, v)


def attention_cost(q_shape, k_shape, v_shape, itemsize: int = 4) -> Cost:
    """Cost of ``scaled_dot_product_attention`` (B = product of the broadcast batch dims).

    flops = 2*B*Tq*Tk*D (q @ k^T) + 2*B*Tq*Tk*Dv (probs @ v) + 6*B*Tq*Tk (scale + softmax)
    bytes = (q + k + v + out elements) * itemsize, out = B*Tq*Dv. The (Tq, Tk) scores are not
    counted: a fused kernel (FlashAttention) keeps them on chip; this NumPy one does not.
    """
    shapes = [as_shape(s, "attention_cost") for s in (q_shape, k_shape, v_shape)]
    batch, (tq, tk, d, dv) = _attention_dims(*shapes, "attention_cost")
    b = numel(batch)
    flops = 2 * b * tq * tk * d + 2 * b * tq * tk * dv + 6 * b * tq * tk
    elements = sum(numel(s) for s in shapes) + b * tq * dv
    return Cost(flops, elements * itemsize)


def causal_mask_cost(t_q: int, t_k: int) -> Cost:
    """Cost of ``causal_mask``: one comparison per entry, one byte per bool written.

    flops = t_q * t_k;  bytes = t_q * t_k
    """
    return Cost(t_q * t_k, t_q * t_k)
