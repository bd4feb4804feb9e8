"""Activation outliers, two cures: SmoothQuant's scale migration and LLM.int8()'s fp32 side path.

In transformer activations a few *channels* (columns of ``x: (tokens, K)``) are 10..100x larger
than the rest, in every token. One int8 scale for the whole of ``x`` must cover them, so the
ordinary channels get only a handful of levels. Weights have no such outliers.

- **SmoothQuant** (Xiao et al. 2022; ``mit-han-lab/smoothquant``, ``smoothquant/smooth.py``):
  ``x @ w == (x / s) @ (s[:, None] * w)`` for any positive ``s: (K,)``. Pick
  ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)`` to move part of each channel's range from the
  activation into the weight row that multiplies it; then per-tensor W8A8 works.
- **LLM.int8()** (Dettmers et al. 2022; ``bitsandbytes`` ``int8_vectorwise_quant``): columns
  of ``x`` holding any ``|x| >= threshold`` are multiplied in floating point; the rest (> 99.9 %
  in real LLMs) in int8 with one scale per row of ``x`` and one per column of ``w``::

      x (M, K)                     w (K, N)
      +---+-+-------+-+---+        +-----------+
      |   |o|       |o|   |  -->   |   int8    |  rows K \\ O, scales per column of w
      |   |o|       |o|   |        |===========|  rows O (outlier channels): float32
      +---+-+-------+-+---+        +-----------+
      y = (qx @ qw)_int32 * sx[:, None] * sw[None, :]  +  x[:, O] @ w[O, :]

Usage::

    >>> s = smoothquant_scales(np.abs(x).max(axis=0), w, alpha=0.5)
    >>> xs, ws = smooth(x, w, s)                 # xs @ ws == x @ w up to float rounding
    >>> y, info = llm_int8_matmul(x, w, threshold=6.0)
    >>> info.outlier_columns, info.int8_fraction
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.ops._validate import as_float

_MIN_SCALE = 1e-5  # smoothquant/smooth.py clamps both max|W_j| and s_j to at least 1e-5


def _finite(a: np.ndarray, op: str, name: str) -> None:
    if not np.isfinite(a).all():
        bad = int(a.size - np.isfinite(a).sum())
        raise InvalidValueError(f"{op} needs finite {name}; got {bad} NaN/Inf value(s)")


def _check_xw(x, w, op: str) -> tuple[np.ndarray, np.ndarray]:
    """``x: (..., K)`` and ``w: (K, N)``, both finite floats."""
    x, w = as_float(x, op, "x"), as_float(w, op, "w")
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0] or 0 in w.shape:
        raise ShapeError(
            f"{op} needs x (..., K) and w (K, N) with the same K; got {x.shape}, {w.shape}"
        )
    _finite(x, op, "x")
    _finite(w, op, "w")
    return x, w


def smoothquant_scales(act_absmax, w, alpha: float = 0.5) -> np.ndarray:
    """Per-input-channel smoothing factors ``s: (K,)`` float32.

    ``act_absmax: (K,)`` is ``max |X[:, j]|`` over calibration tokens; ``w: (K, N)``.
    ``s_j = act_absmax_j ** alpha / max_n |w[j, n]| ** (1 - alpha)``: ``alpha = 0`` leaves the
    activations alone (up to the weights' own range), ``alpha = 1`` flattens every activation
    channel to range 1 and loads it all on the weights; 0.5 splits the difficulty evenly (both
    smoothed operands then have channel range ``sqrt(max|X_j| * max|W_j|)``).
    Zeros are guarded as SmoothQuant does: ``max|W_j|`` and ``s_j`` are clamped to >= 1e-5.
    """
    op = "smoothquant_scales"
    a = as_float(act_absmax, op, "act_absmax")
    w = as_float(w, op, "w")
    if w.ndim != 2 or a.shape != (w.shape[0],):
        raise ShapeError(f"{op} needs act_absmax (K,) and w (K, N); got {a.shape} and {w.shape}")
    _finite(a, op, "act_absmax")
    _finite(w, op, "w")
    if (a < 0).any():
        raise InvalidValueError(f"{op} needs act_absmax >= 0 (it is max |x|); got min {a.min()}")
    if not (isinstance(alpha, (int, float, np.floating)) and 0.0 <= alpha <= 1.0):
        raise InvalidValueError(f"{op} needs alpha in [0, 1] (migration strength); got {alpha!r}")
    a64 = a.astype(np.float64)
    w_absmax = np.maximum(np.abs(w).max(axis=1).astype(np.float64), _MIN_SCALE)
    s = np.power(a64, alpha) / np.power(w_absmax, 1.0 - alpha)
    return np.maximum(s, _MIN_SCALE).astype(np.float32)


def smooth(x, w, s) -> tuple[np.ndarray, np.ndarray]:
    """``(x / s, w * s[:, None])``: the same product ``x @ w``, redistributed per channel.

    ``x: (..., K)``, ``w: (K, N)``, ``s: (K,)`` positive. In a model the division is folded into
    the preceding LayerNorm's weight, so it costs nothing at run time.
    """
    op = "smooth"
    x, w = _check_xw(x, w, op)
    s = as_float(s, op, "s")
    if s.shape != (w.shape[0],):
        raise ShapeError(f"{op} needs s of shape (K,) = ({w.shape[0]},); got {s.shape}")
    _finite(s, op, "s")
    if (s <= 0).any():
        raise InvalidValueError(f"{op} needs s > 0 (a zero would divide x by 0); got min {s.min()}")
    return x / s, w * s[:, None]


@dataclass(frozen=True)
class Int8Info:
    """What :func:`llm_int8_matmul` did.

    ``outlier_columns``: indices ``j`` of x's columns (= w's rows) computed in float32;
    ``int8_fraction``: share of x's values (and of the multiply-adds) that went through int8.
    """

    outlier_columns: np.ndarray
    int8_fraction: float
    threshold: float


def _absmax_int8(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric absmax int8 along ``axis``: ``q = rint(a * 127 / absmax)``, scale ``absmax/127``.

    All-zero vectors get scale 0 and codes 0 rather than a division by zero.
    """
    absmax = np.abs(a).max(axis=axis, keepdims=True).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        mult = np.where(absmax > 0, np.float32(127) / absmax, np.float32(0))
    q = np.rint(a * mult).astype(np.int8)  # torch.round in bitsandbytes: half to even
    return q, absmax / np.float32(127)


def llm_int8_matmul(x, w, threshold: float = 6.0) -> tuple[np.ndarray, Int8Info]:
    """LLM.int8() mixed-precision ``x: (..., K) @ w: (K, N) -> (..., N)`` float32, and an info.

    Outlier columns are those with any ``|x| >= threshold`` (bitsandbytes' test; the paper's
    default threshold is 6.0). They are multiplied exactly in float32. The rest use vector-wise
    int8: one absmax scale per row of ``x`` (per token) and per column of ``w`` (per output), an
    int32 accumulation, and one float rescale ``sx[i] * sw[j]`` per output.
    Unlike bitsandbytes, which keeps only int8 weights and dequantizes the outlier rows of ``w``,
    the outlier rows here use the original float32 ``w``.
    """
    op = "llm_int8_matmul"
    x, w = _check_xw(x, w, op)
    if not (isinstance(threshold, (int, float, np.floating)) and np.isfinite(threshold)):
        raise InvalidValueError(f"{op} needs a finite number for threshold; got {threshold!r}")
    if threshold <= 0:
        raise InvalidValueError(
            f"{op} needs threshold > 0 (|x| >= threshold marks an outlier column); got {threshold}"
        )
    lead, K = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, K).astype(np.float32, copy=False)
    w = w.astype(np.float32, copy=False)
    is_outlier = (np.abs(x2) >= threshold).any(axis=0) if x2.size else np.zeros(K, bool)
    cols, rest = np.flatnonzero(is_outlier), np.flatnonzero(~is_outlier)

    qx, sx = _absmax_int8(x2[:, rest], axis=1)  # (M, K'), (M, 1): per token
    qw, sw = _absmax_int8(w[rest, :], axis=0)  # (K', N), (1, N): per output column
    # exact integer accumulation: |acc| <= K * 127^2 fits int32 up to K = 133,144
    acc_dtype = np.int32 if rest.size <= (2**31 - 1) // 127**2 else np.int64
    acc = qx.astype(acc_dtype) @ qw.astype(acc_dtype)
    y = acc.astype(np.float32) * (sx * sw)
    if cols.size:
        y = y + x2[:, cols] @ w[cols, :]
    info = Int8Info(outlier_columns=cols, int8_fraction=rest.size / K, threshold=float(threshold))
    return y.reshape(*lead, w.shape[1]), info
