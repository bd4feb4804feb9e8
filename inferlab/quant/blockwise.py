"""Weight-only int4, blockwise along K, in ONNX Runtime's ``MatMulNBits`` layout.

A weight ``w: (K, N)`` (the ``B`` of ``y = x @ w``) is cut, column by column, into blocks of
``block_size`` consecutive values along K. Each block gets its own float32 scale (and, unless
symmetric, a 4-bit zero point), so one outlier only spoils the 32..256 values of its block rather
than a whole column. This is what ``onnxruntime.quantization.matmul_nbits_quantizer`` writes and
what the ``com.microsoft.MatMulNBits`` kernel reads::

    >>> w = np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32)
    >>> packed, scales, zp = quantize_4bits(w, block_size=32)
    >>> packed.shape, scales.shape, zp.shape      # (N, k_blocks, bs/2), (N, k_blocks), (N, kb/2)
    ((64, 8, 16), (64, 8), (64, 4))
    >>> w_hat = dequantize_4bits(packed, scales, zp, K=256, block_size=32)   # (256, 64)

Byte layout (N-major: everything for output column n is contiguous; K runs fastest)::

    packed[n, b, j]  one byte = two 4-bit codes of column n, block b:
                     +--------------------+--------------------+
                     | bits 7..4          | bits 3..0          |
                     | q[k = b*bs + 2j+1] | q[k = b*bs + 2j]   |   low nibble = even index
                     +--------------------+--------------------+
    scales[n, b]     float32, one per block
    zero_points[n, c] packed like the codes: low nibble = zp of block 2c, high = block 2c+1
                     (None when symmetric: the kernel then uses the implicit zero point 8)

The arithmetic is MLAS's ``BlockwiseQuantizer`` (``onnxruntime/core/mlas/lib/q4_dq.cpp``,
``range2scalezp`` / ``range2scale``), all in float32:

- affine:    ``scale = (max(mx, 0) - min(mn, 0)) / 15``, ``zp = roundf(-min(mn, 0) / scale)``,
- symmetric: ``scale = m / -8`` where ``m`` is the block's value of largest magnitude (a tie
  picks the negative one), zero point 8 — so ``m`` itself maps exactly to code 0, and ``-m``
  would need code 16, which saturates to 15 (the positive side loses one step);
- codes:     ``q = clamp(roundf(v * (1 / scale) + zp), 0, 15)`` — multiply by the reciprocal,
  add the zero point *before* rounding, and ``roundf`` rounds half away from zero (not NumPy's
  half-to-even ``rint``). Dequantization is ``(q - zp) * scale``.

K that is not a multiple of ``block_size`` is padded, as ORT's quantizer does: the last block's
range uses only the real rows, and the padding codes (which the kernel never reads) are the bytes
ORT leaves there: zeros, except one stale nibble when K is odd (see :func:`quantize_4bits`); an
odd ``k_blocks`` leaves the last zero-point byte's high nibble at 8.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe
from inferlab.ops._validate import as_float, is_int

BLOCK_SIZES = (16, 32, 64, 128, 256)  # what MatMulNBits accepts: a power of two, >= 16


def _roundf(v: np.ndarray) -> np.ndarray:
    """C ``roundf``: round half away from zero (``roundf(2.5) = 3``, ``roundf(-2.5) = -3``).

    Done in float64, where ``|v| + 0.5`` is exact for every float32 ``v`` that matters here.
    """
    v64 = np.asarray(v, dtype=np.float64)
    return np.copysign(np.floor(np.abs(v64) + 0.5), v64)


def _check_block_size(block_size, op: str) -> int:
    if not is_int(block_size) or block_size not in BLOCK_SIZES:
        raise InvalidValueError(
            f"{op} needs block_size to be a power of two in {BLOCK_SIZES} (MatMulNBits' rule); "
            f"got {block_size!r}"
        )
    return int(block_size)


def _check_weight(w, op: str) -> np.ndarray:
    w = as_float(w, op, "w")
    if w.ndim != 2 or 0 in w.shape:
        raise ShapeError(f"{op} needs w of shape (K, N) with K, N >= 1 (x @ w); got {w.shape}")
    if not np.isfinite(w).all():
        bad = int(np.size(w) - np.isfinite(w).sum())
        raise InvalidValueError(f"{op} needs finite weights; got {bad} NaN/Inf value(s) in w")
    return w.astype(np.float32, copy=False)


def pack_nibbles(q) -> np.ndarray:
    """Pack 4-bit codes two per byte along the last axis: ``(..., n) -> (..., ceil(n/2))`` uint8.

    Element ``2j`` goes to the low nibble of byte ``j``, element ``2j+1`` to its high nibble (the
    ONNX int4/uint4 and MatMulNBits order); an odd ``n`` leaves the last high nibble 0.
    """
    q = np.asarray(q)
    if q.dtype.kind not in "iu":
        raise DTypeError(f"pack_nibbles needs integer codes in [0, 15]; got {describe(q)}")
    if q.ndim == 0:
        raise ShapeError(f"pack_nibbles needs codes of shape (..., n); got a scalar {q!r}")
    if q.size and (q.min() < 0 or q.max() > 15):
        raise InvalidValueError(
            f"pack_nibbles needs codes in [0, 15]; got values in [{q.min()}, {q.max()}]"
        )
    q = q.astype(np.uint8)
    if q.shape[-1] % 2:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], 1), np.uint8)], axis=-1)
    return q[..., 0::2] | (q[..., 1::2] << np.uint8(4))


def unpack_nibbles(packed, n: int) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: ``(..., ceil(n/2))`` uint8 -> ``(..., n)`` codes 0..15."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise DTypeError(f"unpack_nibbles needs uint8 bytes; got {describe(packed)}")
    if packed.ndim == 0:
        raise ShapeError("unpack_nibbles needs bytes of shape (..., m); got a scalar")
    if not is_int(n) or not 0 <= n <= 2 * packed.shape[-1]:
        raise InvalidValueError(
            f"unpack_nibbles: n must be an int in [0, {2 * packed.shape[-1]}] for "
            f"{packed.shape[-1]} byte(s) per row; got {n!r}"
        )
    both = np.stack([packed & np.uint8(0x0F), packed >> np.uint8(4)], axis=-1)
    return both.reshape(*packed.shape[:-1], 2 * packed.shape[-1])[..., :n]


def quantize_4bits(
    w, block_size: int = 128, symmetric: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Quantize ``w: (K, N)`` to int4 blocks; byte for byte ORT's ``quantize_matmul_4bits``.

    Returns ``packed`` uint8 ``(N, k_blocks, block_size // 2)``, ``scales`` float32
    ``(N, k_blocks)`` and ``zero_points`` uint8 ``(N, ceil(k_blocks / 2))`` (``None`` when
    ``symmetric``), with ``k_blocks = ceil(K / block_size)``.
    """
    op = "quantize_4bits"
    bs = _check_block_size(block_size, op)
    w = _check_weight(w, op)
    K, N = w.shape
    kb = -(-K // bs)
    # (N, k_blocks, bs): column n's K values, cut into blocks. Pad with NaN so the last block's
    # range sees only the real rows (q4_dq.cpp scans row_start..min(row_end, rows)).
    blocks = np.full((N, kb * bs), np.nan, np.float32)
    blocks[:, :K] = w.T
    blocks = blocks.reshape(N, kb, bs)
    real = ~np.isnan(blocks)

    if symmetric:
        lo = np.nanmin(blocks, axis=-1)
        hi = np.nanmax(blocks, axis=-1)
        # range2scale: keep the signed end of larger magnitude; a tie (|hi| == |lo|) keeps lo.
        m = np.where(np.abs(hi) > np.abs(lo), hi, lo)
        scales = (-m / np.float32(8)).astype(np.float32)
        zp = np.full((N, kb), 8, np.uint8)  # implicit; the kernel assumes 8 without a zp input
    else:
        lo = np.minimum(np.nanmin(blocks, axis=-1), np.float32(0))  # range widened to hold 0
        hi = np.maximum(np.nanmax(blocks, axis=-1), np.float32(0))
        scales = ((hi - lo) / np.float32(15)).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            zp_fp = np.where(scales != 0, -(lo / scales), lo).astype(np.float32)
        zp = _roundf(np.clip(zp_fp, 0, 15)).astype(np.uint8)

    with np.errstate(divide="ignore"):
        # the reciprocal in float32, then a float32 multiply: not v / scale (q4_dq.cpp)
        recip = np.where(scales != 0, np.float32(1) / scales, np.float32(0)).astype(np.float32)
    v = np.where(real, blocks, np.float32(0)) * recip[..., None]
    q = np.clip(_roundf(v + zp[..., None].astype(np.float32)), 0, 15).astype(np.uint8)
    q[~real] = 0  # padding rows are never written by ORT: their bytes stay 0
    if K % 2 and (K - 1) % (2 * bs):
        # Odd K: the byte holding row K-1 also holds the padding row K. q4_dq.cpp's
        # quantizeAndTranspose packs (vi[0], vi[1]) but only refreshes vi[1] while i+1 < rows, so
        # the pad nibble keeps row K-2's code (the previous pair, in the same 2-block thread
        # tile). The kernel never reads it; we copy it only to stay byte for byte with ORT.
        q.reshape(N, -1)[:, K] = q.reshape(N, -1)[:, K - 2]
    packed = pack_nibbles(q)

    if symmetric:
        return packed, scales, None
    # an odd k_blocks leaves the last zero-point byte half empty: ORT fills it with 8 (kMid)
    zp_padded = np.concatenate([zp, np.full((N, kb % 2), 8, np.uint8)], axis=1)
    return packed, scales, pack_nibbles(zp_padded)


def _check_quantized(packed, scales, zero_points, K, block_size, op: str):
    bs = _check_block_size(block_size, op)
    packed, scales = np.asarray(packed), np.asarray(scales)
    if packed.dtype != np.uint8 or packed.ndim != 3 or packed.shape[2] != bs // 2:
        raise ShapeError(
            f"{op} needs packed uint8 of shape (N, k_blocks, {bs // 2}) for block_size {bs}; "
            f"got {describe(packed)}"
        )
    N, kb, _ = packed.shape
    if not is_int(K) or not (kb - 1) * bs < K <= kb * bs:
        raise InvalidValueError(
            f"{op}: K must satisfy ceil(K / {bs}) == k_blocks == {kb}, i.e. "
            f"{(kb - 1) * bs + 1} <= K <= {kb * bs}; got K={K!r}"
        )
    if scales.shape != (N, kb) or scales.dtype.kind != "f":
        raise ShapeError(f"{op} needs float scales of shape {(N, kb)}; got {describe(scales)}")
    if zero_points is None:
        return packed, scales.astype(np.float32, copy=False), np.full((N, kb), 8, np.int32)
    zero_points = np.asarray(zero_points)
    if zero_points.dtype != np.uint8 or zero_points.shape != (N, (kb + 1) // 2):
        raise ShapeError(
            f"{op} needs packed uint8 zero_points of shape {(N, (kb + 1) // 2)} (or None for "
            f"symmetric); got {describe(zero_points)}"
        )
    return packed, scales.astype(np.float32), unpack_nibbles(zero_points, kb).astype(np.int32)


def dequantize_4bits(packed, scales, zero_points, K: int, block_size: int = 128) -> np.ndarray:
    """``(q - zp) * scale`` back to ``w_hat: (K, N)`` float32 (the padding rows are dropped).

    ``zero_points=None`` means symmetric (implicit zero point 8), as in MatMulNBits.
    """
    packed, scales, zp = _check_quantized(
        packed, scales, zero_points, K, block_size, "dequantize_4bits"
    )
    N, kb, half = packed.shape
    q = unpack_nibbles(packed, 2 * half).astype(np.int32)  # (N, kb, bs)
    w_hat = (q - zp[..., None]).astype(np.float32) * scales[..., None]
    return np.ascontiguousarray(w_hat.reshape(N, -1)[:, :K].T)


def matmul_4bits(x, packed, scales, zero_points, K: int, block_size: int = 128) -> np.ndarray:
    """``x: (..., K) @ dequantize_4bits(...) -> (..., N)`` in float32: what MatMulNBits computes.

    A real kernel dequantizes one block at a time next to the multiply-adds, so the fp32 weight
    never exists in memory; here it does, which is the point of reading this, not of running it.
    """
    x = as_float(x, "matmul_4bits", "x")
    if x.ndim < 1 or x.shape[-1] != K:
        raise ShapeError(f"matmul_4bits needs x of shape (..., K={K}); got {x.shape}")
    w_hat = dequantize_4bits(packed, scales, zero_points, K, block_size)
    return np.matmul(x.astype(np.float32, copy=False), w_hat)


def bits_per_weight(block_size: int = 128, symmetric: bool = False) -> float:
    """Storage cost: 4 bits of code + a float32 scale (+ a 4-bit zero point) per block.

    ``bits_per_weight(32) == 5.125``, ``bits_per_weight(128, symmetric=True) == 4.25``.
    """
    bs = _check_block_size(block_size, "bits_per_weight")
    return 4 + 32 / bs + (0 if symmetric else 4 / bs)
