"""MiniLM's speed machinery: the computation of :mod:`inferlab.models.minilm`, cut into passes.

What :class:`~inferlab.models.minilm.MiniLM` runs for each encoder layer, written for speed
rather than for reading (the plain version is a composition of :mod:`inferlab.ops`, see
``PlainOps`` in benchmarks/minilm.py, which checks that both agree):

- :class:`Layer`, :func:`_layers`: the weights rearranged once at load (QKV fused, transposed,
  attention scale folded into Q, biases as a last weight row);
- :class:`_Workspace`: activation buffers (B*T, width) reused across layers and calls;
- :func:`_layer_norm`: LayerNorm fused into a few in-place passes;
- :func:`encoder_layer`, :func:`attention`: one post-LN layer, from ``ws["x"]`` back into it;
- :func:`_parallel`: a batch split into contiguous shards, one thread each.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from inferlab import ops

if TYPE_CHECKING:
    from inferlab.models.minilm import Config


@dataclass
class Layer:
    """One encoder layer's weights, laid out for ``x @ w`` (shapes for MiniLM in comments).

    "+1" rows: the bias is the weight matrix's last row, and the input gets a last column of
    ones, so that BLAS adds the bias inside the matmul (no extra pass over the output).
    """

    w_qkv: np.ndarray  # (384+1, 1152): [Q / sqrt(32) | K | V]
    w_out: np.ndarray  # (384+1, 384)
    ln1: tuple[np.ndarray, np.ndarray]  # LayerNorm after attention: weight, bias (384,)
    w_up: np.ndarray  # (384+1, 1536)
    w_down: np.ndarray  # (1536, 384)
    b_down: np.ndarray  # (384,)
    ln2: tuple[np.ndarray, np.ndarray]  # LayerNorm after the MLP


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _with_bias(weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Torch's (out, in) weight and (out,) bias -> (in + 1, out): transposed, bias last."""
    return _f32(np.vstack([weight.T, bias[None, :]]))


def _layers(w: dict, config: Config) -> list[Layer]:
    """Torch weights -> :class:`Layer` s: QKV fused, the attention scale folded into Q."""
    scale = 1.0 / math.sqrt(config.head_dim)
    layers = []
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}."
        qkv = [p + f"attention.self.{name}." for name in ("query", "key", "value")]
        w_qkv = np.concatenate([w[qkv[0] + "weight"] * scale] + [w[n + "weight"] for n in qkv[1:]])
        b_qkv = np.concatenate([w[qkv[0] + "bias"] * scale] + [w[n + "bias"] for n in qkv[1:]])
        out, up, down = p + "attention.output.", p + "intermediate.dense.", p + "output."
        layers.append(
            Layer(
                w_qkv=_with_bias(w_qkv, b_qkv),
                w_out=_with_bias(w[out + "dense.weight"], w[out + "dense.bias"]),
                ln1=(_f32(w[out + "LayerNorm.weight"]), _f32(w[out + "LayerNorm.bias"])),
                w_up=_with_bias(w[up + "weight"], w[up + "bias"]),
                w_down=_f32(w[down + "dense.weight"].T),
                b_down=_f32(w[down + "dense.bias"]),
                ln2=(_f32(w[down + "LayerNorm.weight"]), _f32(w[down + "LayerNorm.bias"])),
            )
        )
    return layers


def _layer_norm(h: np.ndarray, weight, bias, eps: float, out: np.ndarray) -> None:
    """LayerNorm of the rows of h (N, C) into ``out`` (may be a strided view); h is clobbered.

    ops.layer_norm, fused for speed: row means by a BLAS matrix-vector product, no temporaries.
    """
    h -= (h @ np.full(h.shape[1], 1.0 / h.shape[1], dtype=h.dtype))[:, None]
    var = np.einsum("ij,ij->i", h, h)  # sum of squares per row, one pass
    var /= h.shape[1]
    var += eps
    h *= (1.0 / np.sqrt(var))[:, None]
    np.multiply(h, weight, out=out)
    out += bias


class _Workspace(threading.local):
    """Activation buffers reused from call to call (one set per thread), grown on demand.

    A fresh 6 MB array costs page faults and zeroing by the OS on every call; reusing buffers
    makes each forward allocate almost nothing. Up to KEEP rows (23 KB per row) are kept
    between calls; a bigger batch gets buffers for that call only.
    """

    KEEP = 2048

    def __init__(self):
        self.rows, self.buffers = 0, {}

    def get(self, rows: int, config: Config) -> dict[str, np.ndarray]:
        if rows <= self.rows:
            return {k: b[:rows] for k, b in self.buffers.items()}
        c, i = config.hidden_size, config.intermediate_size
        widths = {"x": c + 1, "x1": c + 1, "ctx": c + 1, "h": c, "qkv": 3 * c, "up": i, "g": i}
        buffers = {k: np.empty((rows, w), dtype=np.float32) for k, w in widths.items()}
        for k in ("x", "x1", "ctx"):
            buffers[k][:, c] = 1.0  # the column of ones that brings in the bias
        if rows <= self.KEEP:
            self.rows, self.buffers = rows, buffers
        return buffers


# OpenBLAS computes a matmul on the calling thread alone when M * N * K <= 4 * 65536
# (GEMM_MULTITHREAD_THRESHOLD x SMP_THRESHOLD_MIN in its source); bigger ones use its pool.
_ONE_THREAD_MNK = 4 * 65536

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _parallel(fn, n: int, threads: int) -> None:
    """Run ``fn(lo, hi)`` on ``threads`` contiguous chunks of range(n) at once.

    NumPy releases the GIL inside each ufunc and BLAS call, so Python threads do run in
    parallel here; the calling thread takes the first chunk.
    """
    global _POOL
    bounds = np.linspace(0, n, min(threads, n) + 1).astype(int)
    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    if len(chunks) == 1:
        fn(0, n)
        return
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    futures = [_POOL.submit(fn, lo, hi) for lo, hi in chunks[1:]]
    fn(*chunks[0])
    for future in futures:
        future.result()


def encoder_layer(
    ws: dict, w: Layer, batch: int, t: int, mask: np.ndarray, config: Config, threads: int
) -> None:
    """One post-LN encoder layer, from ws["x"] (B*T, C+1) back into it."""
    eps, x, x1 = config.layer_norm_eps, ws["x"], ws["x1"]
    np.matmul(x, w.w_qkv, out=ws["qkv"])  # Q, K, V and their biases in one BLAS call
    attention(ws, batch, t, mask, config, threads)
    h = np.matmul(ws["ctx"], w.w_out, out=ws["h"])
    h += x[:, :-1]  # the residual connection
    _layer_norm(h, *w.ln1, eps, out=x1[:, :-1])
    up = np.matmul(x1, w.w_up, out=ws["up"])
    g = ops.gelu(up, out=ws["g"])  # exact GELU (erf), as BERT
    h = np.matmul(g, w.w_down, out=ws["h"])
    h += w.b_down
    h += x1[:, :-1]
    _layer_norm(h, *w.ln2, eps, out=x[:, :-1])


def attention(ws: dict, batch: int, t: int, mask: np.ndarray, config: Config, threads: int) -> None:
    """Multi-head self-attention: ws["qkv"] (B*T, 3C) -> ws["ctx"] (B*T, C), Q pre-scaled.

    Padding: a sequence padded at the end (mask 1...1 0...0) simply leaves its padding
    keys out, which is what BERT's additive mask (0 for tokens, float32's min for padding:
    exp gives 0) amounts to, without computing them; any other mask is added that way.

    One (sequence, block of queries) at a time:

    - the scores are computed transposed, (H, keys, queries) = K @ Q^T, so that the
      softmax's reductions run down the columns (axis 1): NumPy combines whole rows with
      SIMD, instead of reducing thousands of short rows one by one (3x faster);
    - a block's scores (H, T, queries) stay in the L2 cache from the matmul through the
      softmax to the product with V (768 KiB for T = 128 and all 128 queries);
    - V gets a column of ones, so the product with V also returns the softmax's sums;
      the (H, queries, D) output is divided by them, not the (H, T, queries) scores;
    - the max is only subtracted when it matters: with every score in [-60, 60], exp
      neither overflows nor underflows to all zeros (same result, two passes fewer);
    - on one thread (``threads`` = 1), where BLAS may run its own pool, blocks are cut so
      that each matmul has M * N * K <= 262144: OpenBLAS then stays on the calling
      thread instead of waking its pool for a tiny product (on a busy machine, waiting
      for a descheduled pool thread made attention up to 100x slower).
    """
    h, d = config.num_attention_heads, config.head_dim
    heads = ws["qkv"].reshape(batch, t, 3, h, d)
    out = ws["ctx"][:, :-1].reshape(batch, t, h, d)
    block = t if threads > 1 else max(1, _ONE_THREAD_MNK // (t * (d + 1)))  # queries
    items = [(b, q) for b in range(batch) for q in range(0, t, block)]
    lengths = mask.sum(axis=1)
    tail_padded = (mask == (np.arange(t) < lengths[:, None])).all(axis=1) & (lengths > 0)
    keys = np.where(tail_padded, lengths, t).tolist()  # keys each sequence attends to
    if not tail_padded.all():
        bias = (1 - mask[:, :, None]).astype(np.float32) * np.finfo(np.float32).min

    def run(first: int, last: int) -> None:
        v1, loaded = np.ones((h, t, d + 1), dtype=np.float32), -1  # [V | 1], per thread
        for b, q in items[first:last]:
            n = keys[b]
            if b != loaded:
                v1[:, :n, :d], loaded = heads[b, :n, 2].transpose(1, 0, 2), b
            k = heads[b, :n, 1].transpose(1, 0, 2)  # (H, n, D): a strided view, no copy
            scores = np.matmul(k, heads[b, q : q + block, 0].transpose(1, 2, 0))
            if not tail_padded[b]:  # any other mask: BERT's way
                scores += bias[b]  # (T, 1): padding keys get float32's min
                scores -= scores.max(axis=1, keepdims=True)  # exponents <= 0
            elif not (scores.max() <= 60 and scores.min() >= -60):
                scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)  # (H, keys, queries), unnormalised
            ctx = np.matmul(scores.transpose(0, 2, 1), v1[:, :n])  # (H, queries, D + 1)
            ctx[:, :, :d] /= ctx[:, :, d:]  # the last column: sum over the keys
            out[b, q : q + block] = ctx[:, :, :d].transpose(1, 0, 2)

    run(0, len(items))
