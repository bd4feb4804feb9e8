"""The fused attention kernel made by the ``fuse`` pass from exported attention subgraphs:

    out = softmax(scale(q @ k_t) + mask) @ v          (or Where(mask, fill, scores))

q: (B, ..., Tq, D), k_t: (B, ..., D, Tk) (keys already transposed, as exporters write it),
v: (B, ..., Tk, Dv) -> out (B, ..., Tq, Dv). A chunk of the batch at a time (score block
<= 8 MiB), so a long sequence never materialises the whole (B, H, Tq, Tk) score tensor, and
scaling, masking and softmax all run in place on the block: no temporaries of that size.
The softmax is the stable one of ``inferlab.ops.softmax`` (subtract the row max, exp, divide
by the sum), step for step.
"""

from __future__ import annotations

import numpy as np

from inferlab.graph.registry import kernel


def _opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


def _scores_to_weights(s: np.ndarray, mask, attrs: dict) -> np.ndarray:
    """Scale, mask and softmax the last axis of ``s``, in place."""
    op, scale = attrs.get("scale_op", ""), attrs.get("scale", 1.0)
    if op == "Mul":
        s *= s.dtype.type(scale)
    elif op == "Div":
        s /= s.dtype.type(scale)
    kind = attrs.get("mask", "")
    if kind == "add":
        s += mask
    elif kind == "where_true":  # Where(mask, fill, scores): fill where mask is true
        np.copyto(s, s.dtype.type(attrs.get("fill", 0.0)), where=mask)
    elif kind == "where_false":  # Where(mask, scores, fill): fill where mask is false
        np.copyto(s, s.dtype.type(attrs.get("fill", 0.0)), where=np.logical_not(mask))
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


SCORES_BYTES = 1 << 23  # score block per chunk of the batch: 8 MiB


def _attention(inputs, attrs, out=None):
    q, k_t, v, mask = inputs[0], inputs[1], inputs[2], _opt(inputs, 3)
    scores_shape = np.broadcast_shapes(q.shape[:-1] + (1,), k_t.shape[:-2] + (1, k_t.shape[-1]))
    if mask is not None:
        mask = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, scores_shape))
    batched = q.ndim >= 3 and q.shape[:-2] == k_t.shape[:-2] == v.shape[:-2]
    if not batched or (mask is not None and mask.shape != scores_shape):
        s = _scores_to_weights(np.matmul(q, k_t), mask, attrs)  # general broadcasting
        return [np.matmul(s, v, out=out) if out is not None else np.matmul(s, v)]
    if out is None:
        out = np.empty(q.shape[:-1] + v.shape[-1:], dtype=np.result_type(q, k_t, v))
    per_entry = int(np.prod(scores_shape[1:])) * q.itemsize
    chunk = max(1, min(q.shape[0], SCORES_BYTES // max(per_entry, 1)))
    for b in range(0, q.shape[0], chunk):
        s = np.matmul(q[b : b + chunk], k_t[b : b + chunk])
        _scores_to_weights(s, None if mask is None else mask[b : b + chunk], attrs)
        np.matmul(s, v[b : b + chunk], out=out[b : b + chunk])
    return [out]


kernel("FusedAttention", out=lambda inputs, attrs, out: _attention(inputs, attrs, out))(_attention)
