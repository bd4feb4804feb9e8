"""Chapter 01's ops, inferlab (NumPy) vs torch, on the same realistic shapes in one process.

    .venv/bin/python benchmarks/ops_vs_torch.py

Prints one row per op: the median time of each over a few calls and the ratio inferlab / torch
(2.0 = inferlab takes twice as long). Both use every core: NumPy's BLAS does by default, and
torch gets ``torch.set_num_threads(os.cpu_count())``. Every pair of outputs is first checked to
agree, so the table compares two ways to compute the same numbers. Takes ~10 s on 2 cores.

Shapes are those of real models: a BERT-base / MiniLM-style layer (batch 8, 128 tokens, width
768, 12 heads of 64), a ResNet-style 3x3 convolution on a 56x56 feature map, a 1024^3 matmul.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from inferlab import ops
from inferlab.bench import measure

REPEAT = 10


def cases(rng: np.random.Generator):
    """(op name, shape label, inferlab call, torch call, tolerance) for every chapter-01 op."""

    def randn(*shape, scale=1.0):
        return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)

    t = torch.from_numpy
    a, b = randn(1024, 1024), randn(1024, 1024)
    x_tok, w_fc, b_fc = randn(8, 128, 768), randn(3072, 768, scale=0.03), randn(3072)
    img, w_conv = randn(8, 64, 56, 56), randn(64, 64, 3, 3, scale=0.05)
    w_dw = randn(64, 1, 3, 3, scale=0.3)
    big_img = randn(8, 64, 112, 112)
    act = randn(8, 128, 1536, scale=2.0)
    scores = randn(8, 12, 128, 128, scale=3.0)
    gamma, beta = randn(768), randn(768)
    ids, table = rng.integers(0, 30522, (8, 128)), randn(30522, 768)
    q, k, v = randn(8, 12, 128, 64), randn(8, 12, 128, 64), randn(8, 12, 128, 64)

    return [
        ("matmul", "1024x1024 @ 1024x1024", lambda: ops.matmul(a, b), lambda: t(a) @ t(b), 1e-3),
        (
            "linear",
            "8x128x768 -> 3072",
            lambda: ops.linear(x_tok, w_fc, b_fc),
            lambda: F.linear(t(x_tok), t(w_fc), t(b_fc)),
            1e-4,
        ),
        (
            "conv2d",
            "8x64x56x56, 64x64x3x3 p1",
            lambda: ops.conv2d(img, w_conv, padding=1),
            lambda: F.conv2d(t(img), t(w_conv), padding=1),
            1e-4,
        ),
        (
            "conv2d depthwise",
            "8x64x56x56, 64x1x3x3 p1",
            lambda: ops.conv2d(img, w_dw, padding=1, groups=64),
            lambda: F.conv2d(t(img), t(w_dw), padding=1, groups=64),
            1e-5,
        ),
        (
            "im2col",
            "8x64x56x56, 3x3 p1",
            lambda: ops.im2col(img, 3, padding=1),
            lambda: F.unfold(t(img), 3, padding=1),
            0,
        ),
        (
            "max_pool2d",
            "8x64x112x112, 3x3 s2 p1",
            lambda: ops.max_pool2d(big_img, 3, 2, 1),
            lambda: F.max_pool2d(t(big_img), 3, 2, 1),
            0,
        ),
        (
            "avg_pool2d",
            "8x64x112x112, 2x2",
            lambda: ops.avg_pool2d(big_img, 2),
            lambda: F.avg_pool2d(t(big_img), 2),
            1e-5,
        ),
        ("relu", "8x128x1536", lambda: ops.relu(act), lambda: torch.relu(t(act)), 0),
        ("sigmoid", "8x128x1536", lambda: ops.sigmoid(act), lambda: torch.sigmoid(t(act)), 1e-5),
        ("silu", "8x128x1536", lambda: ops.silu(act), lambda: F.silu(t(act)), 1e-5),
        ("tanh", "8x128x1536", lambda: ops.tanh(act), lambda: torch.tanh(t(act)), 1e-5),
        ("erf", "8x128x1536", lambda: ops.erf(act), lambda: torch.erf(t(act)), 1e-5),
        ("gelu", "8x128x1536", lambda: ops.gelu(act), lambda: F.gelu(t(act)), 1e-5),
        (
            "gelu tanh",
            "8x128x1536",
            lambda: ops.gelu(act, approximate="tanh"),
            lambda: F.gelu(t(act), approximate="tanh"),
            1e-5,
        ),
        (
            "softmax",
            "8x12x128x128",
            lambda: ops.softmax(scores),
            lambda: torch.softmax(t(scores), -1),
            1e-5,
        ),
        (
            "log_softmax",
            "8x12x128x128",
            lambda: ops.log_softmax(scores),
            lambda: F.log_softmax(t(scores), -1),
            1e-5,
        ),
        (
            "layer_norm",
            "8x128x768",
            lambda: ops.layer_norm(x_tok, 768, gamma, beta),
            lambda: F.layer_norm(t(x_tok), [768], t(gamma), t(beta)),
            1e-4,
        ),
        (
            "rms_norm",
            "8x128x768",
            lambda: ops.rms_norm(x_tok, 768, gamma),
            lambda: F.rms_norm(t(x_tok), [768], t(gamma)),
            1e-4,
        ),
        (
            "embedding",
            "8x128 ids, 30522x768",
            lambda: ops.embedding(ids, table),
            lambda: F.embedding(t(ids), t(table)),
            0,
        ),
        (
            "attention",
            "8x12x128x64",
            lambda: ops.scaled_dot_product_attention(q, k, v),
            lambda: F.scaled_dot_product_attention(t(q), t(k), t(v)),
            1e-4,
        ),
        (
            "attention causal",
            "8x12x128x64",
            lambda: ops.scaled_dot_product_attention(q, k, v, causal=True),
            lambda: F.scaled_dot_product_attention(t(q), t(k), t(v), is_causal=True),
            1e-4,
        ),
    ]


def main() -> int:
    start = time.perf_counter()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"inferlab ops vs torch {torch.__version__} (numpy {np.__version__}), {threads} threads")
    header = f"{'op':<18} {'shape':<26} {'inferlab ms':>12} {'torch ms':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, shape, ours, theirs, tol in cases(rng):
        with torch.inference_mode():
            np.testing.assert_allclose(ours(), theirs().numpy(), rtol=tol, atol=tol, err_msg=name)
            t_ours = measure(ours, warmup=2, repeat=REPEAT).median
            t_theirs = measure(theirs, warmup=2, repeat=REPEAT).median
        ratio = t_ours / t_theirs
        print(f"{name:<18} {shape:<26} {t_ours * 1e3:12.2f} {t_theirs * 1e3:10.2f} {ratio:7.1f}")
    total = time.perf_counter() - start
    print(f"(median of {REPEAT} calls each; ratio = inferlab / torch; total {total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
