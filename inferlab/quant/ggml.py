"""llama.cpp's Q8_0 and Q4_0 blocks: 32 weights, one fp16 scale, raw bytes as in a GGUF file.

ggml quantizes each row of a tensor (its last axis) in blocks of 32 consecutive values, each with
its own scale ``d`` stored as float16 in front of the codes. The result is just bytes: a tensor
``(..., n)`` becomes ``(..., n / 32 * bytes_per_block)`` uint8, exactly what a ``.gguf`` file
holds and what ``gguf.quants.quantize`` (the pip ``gguf`` package, a NumPy port of
``ggml/src/ggml-quants.c``) returns::

    >>> x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    >>> raw = quantize_q4_0(x)                  # (4, 36): 2 blocks x 18 bytes per row
    >>> x_hat = dequantize_q4_0(raw)            # (4, 64) float32
    >>> bits_per_weight("q4_0")                 # 18 bytes * 8 / 32 weights
    4.5

Block layouts (little-endian fp16 first, then the codes)::

    Q8_0, 34 bytes:  | d: fp16 (2 B) | qs[0] qs[1] ... qs[31]: int8 (32 B) |
                     x[i] = d * qs[i]

    Q4_0, 18 bytes:  | d: fp16 (2 B) | byte 0 | byte 1 | ... | byte 15 |
                                        byte j = (q[j + 16] << 4) | q[j]
                     x[i] = d * (q[i] - 8),  q[i] in [0, 15]

Q4_0 puts elements 0..15 in the low nibbles and 16..31 in the high nibbles (so one SIMD
shift-and-mask yields two contiguous halves), unlike ONNX/MatMulNBits, which pair neighbours
(:mod:`inferlab.quant.blockwise`).

Arithmetic (``quantize_row_q8_0_ref`` / ``quantize_row_q4_0_ref`` in ``ggml-quants.c``):

- Q8_0: ``d = amax / 127``, ``q = roundf(x * (1 / d))`` — ``roundf`` rounds half away from zero;
- Q4_0: ``d = m / -8`` with ``m`` the first value of largest magnitude (so ``m`` is exactly
  code 0 and ``-m`` saturates at 15), ``q = min(15, (int)(x * (1 / d) + 8.5))`` — truncation of
  ``+ 8.5``, i.e. rounding half up.

The reciprocal is taken of the float32 ``d``, before ``d`` is rounded to fp16 for storage: the
codes are chosen for a scale slightly different from the one dequantization uses.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe
from inferlab.ops._validate import as_float

QK = 32  # values per block (QK8_0 == QK4_0 == 32 in ggml-common.h)
BYTES_PER_BLOCK = {"q8_0": 2 + QK, "q4_0": 2 + QK // 2}  # fp16 d + codes
_FP16_MAX = float(np.finfo(np.float16).max)


def bits_per_weight(kind: str) -> float:
    """Storage per weight, scale included: ``"q8_0"`` -> 8.5, ``"q4_0"`` -> 4.5."""
    if kind not in BYTES_PER_BLOCK:
        raise InvalidValueError(
            f"bits_per_weight needs kind in {tuple(BYTES_PER_BLOCK)}; got {kind!r}"
        )
    return BYTES_PER_BLOCK[kind] * 8 / QK


def _roundf(v: np.ndarray) -> np.ndarray:
    """C ``roundf``: half away from zero (exact in float64 for float32 inputs)."""
    v64 = np.asarray(v, dtype=np.float64)
    return np.copysign(np.floor(np.abs(v64) + 0.5), v64)


def _blocks(x, op: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x: (..., n)`` float -> ``(n_blocks, 32)`` float32 blocks, row by row, and x's shape."""
    x = as_float(x, op, "x")
    if x.ndim == 0 or x.shape[-1] == 0 or x.shape[-1] % QK:
        raise ShapeError(
            f"{op} quantizes the last axis in blocks of {QK}: it needs x of shape (..., n) with n "
            f"a positive multiple of {QK}; got {x.shape} (pad the rows, or pick another type)"
        )
    if not np.isfinite(x).all():
        bad = int(x.size - np.isfinite(x).sum())
        raise InvalidValueError(f"{op} needs finite values; got {bad} NaN/Inf value(s) in x")
    return x.astype(np.float32, copy=False).reshape(-1, QK), x.shape


def _fp16_scale(d: np.ndarray, op: str) -> np.ndarray:
    """``d`` as the 2 little-endian fp16 bytes of each block, refusing scales fp16 cannot hold."""
    if np.abs(d).max(initial=0.0) > _FP16_MAX:
        raise InvalidValueError(
            f"{op}: a block scale of {float(np.abs(d).max()):.4g} overflows float16 "
            f"(max {_FP16_MAX:g}); the values are too large for this format"
        )
    return d.astype("<f2").view(np.uint8).reshape(-1, 2)


def quantize_q8_0(x) -> np.ndarray:
    """``x: (..., n)`` float -> ``(..., n / 32 * 34)`` uint8 Q8_0 bytes (== ``gguf``, bytewise)."""
    blocks, shape = _blocks(x, "quantize_q8_0")
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    d = amax / np.float32(127)  # float32 divide, as ggml
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    qs = _roundf(blocks * inv).astype(np.int8)  # float32 product, then roundf
    raw = np.concatenate([_fp16_scale(d, "quantize_q8_0"), qs.view(np.uint8)], axis=1)
    return raw.reshape(*shape[:-1], shape[-1] // QK * BYTES_PER_BLOCK["q8_0"])


def quantize_q4_0(x) -> np.ndarray:
    """``x: (..., n)`` float -> ``(..., n / 32 * 18)`` uint8 Q4_0 bytes (== ``gguf``, bytewise)."""
    blocks, shape = _blocks(x, "quantize_q4_0")
    # the signed value of largest |x|; argmax takes the first on ties, like ggml's strict `<`
    imax = np.abs(blocks).argmax(axis=1)[:, None]
    m = np.take_along_axis(blocks, imax, axis=1)
    d = m / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    # (int8_t)(x*id + 8.5f): truncation; the sum is >= ~0.5 so truncation == floor
    q = np.minimum(15, np.trunc(blocks * inv + np.float32(8.5))).astype(np.uint8)
    packed = q[:, : QK // 2] | (q[:, QK // 2 :] << np.uint8(4))  # 0..15 low, 16..31 high
    raw = np.concatenate([_fp16_scale(d, "quantize_q4_0"), packed], axis=1)
    return raw.reshape(*shape[:-1], shape[-1] // QK * BYTES_PER_BLOCK["q4_0"])


def _raw_blocks(data, kind: str, shape, op: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Check ``data: (..., m)`` uint8 holds whole ``kind`` blocks; return ``(n_blocks, B)``."""
    nbytes = BYTES_PER_BLOCK[kind]
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise DTypeError(f"{op} needs the raw uint8 bytes of {kind} blocks; got {describe(data)}")
    if data.ndim == 0 or data.shape[-1] == 0 or data.shape[-1] % nbytes:
        raise ShapeError(
            f"{op} needs bytes of shape (..., m) with m a positive multiple of {nbytes} "
            f"({kind} block size); got {data.shape}"
        )
    out_shape = (*data.shape[:-1], data.shape[-1] // nbytes * QK)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != int(np.prod(out_shape)) or shape[-1] % QK:
            raise ShapeError(
                f"{op}: the bytes hold {int(np.prod(out_shape))} values as {out_shape}; "
                f"got shape {shape}, which needs the same count and a last axis divisible by {QK}"
            )
        out_shape = shape
    return np.ascontiguousarray(data).reshape(-1, nbytes), out_shape


def dequantize_q8_0(data, shape=None) -> np.ndarray:
    """Q8_0 bytes ``(..., m)`` -> float32 ``(..., m / 34 * 32)`` (or ``shape``): ``d * qs``."""
    raw, out_shape = _raw_blocks(data, "q8_0", shape, "dequantize_q8_0")
    d = raw[:, :2].copy().view("<f2").astype(np.float32)
    qs = raw[:, 2:].view(np.int8).astype(np.float32)
    return (d * qs).reshape(out_shape)


def dequantize_q4_0(data, shape=None) -> np.ndarray:
    """Q4_0 bytes ``(..., m)`` -> float32 ``(..., m / 18 * 32)`` (or ``shape``): ``d * (q - 8)``."""
    raw, out_shape = _raw_blocks(data, "q4_0", shape, "dequantize_q4_0")
    d = raw[:, :2].copy().view("<f2").astype(np.float32)
    packed = raw[:, 2:]
    q = np.concatenate([packed & np.uint8(0x0F), packed >> np.uint8(4)], axis=1)
    return (d * (q.astype(np.int8) - np.int8(8)).astype(np.float32)).reshape(out_shape)
