"""Wanda (Sun et al. 2023): prune by weight magnitude times input activation norm.

The method (``locuslab/wanda`` ``lib/prune.py`` and ``lib/layerwrapper.py``) scores
``|W_ij| * sqrt(scaler_row_j)`` with ``scaler_row`` the running mean of ``||X_j||^2`` over the
calibration inputs, and prunes the lowest ``int(cols * ratio)`` in each output row (or the
lowest ``m - n`` of every ``m`` for N:M).

A weight that reads a large activation matters more than its magnitude says: Wanda's score
``|W_ij| * ||X_j||`` compares the weights within each output row, so a layer with outlier input
features keeps the weights that read them (chapter 06, section 5).

Example::

    >>> s = wanda_stats(activations)                # (tokens, in) -> (in,)
    >>> keep = wanda_mask(w, s, 0.5)                # w: (out, in), True = keep
    >>> keep24 = wanda_mask(w, s, nm=(2, 4))        # or 2 of every 4 along each row
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError, describe
from inferlab.prune.masks import _as_weight, _check_nm, _nm_keep

__all__ = ["WandaStats", "wanda_mask", "wanda_stats"]


class WandaStats:
    """Running mean of the squared input norms ``||X_j||^2`` of one layer (per input j).

    ``locuslab/wanda`` ``lib/layerwrapper.py`` ``WrappedGPT.add_batch``: with ``tmp`` samples
    in a batch, ``scaler_row *= nsamples / (nsamples + tmp)``, ``nsamples += tmp``,
    ``scaler_row += ||X_j||^2 / nsamples`` (the norm over all tokens of the batch). So any
    split into batches gives the same result as one big batch.

    What a sample is: a 3-D batch ``(batch, seq, in)`` has ``batch`` samples (as in Wanda);
    a 2-D ``(rows, in)`` batch has ``rows`` samples (each row an image of an MLP/CNN batch),
    where Wanda's ``unsqueeze(0)`` would count it as one. Only a global factor changes, and
    it never changes a mask (every score is scaled alike). Accumulates in float64.
    """

    def __init__(self, in_features: int):
        if isinstance(in_features, bool) or not isinstance(in_features, Integral):
            raise InvalidValueError(f"WandaStats needs an int in_features; got {in_features!r}")
        if in_features < 1:
            raise InvalidValueError(f"WandaStats needs in_features >= 1; got {in_features}")
        self.scaler_row = np.zeros(int(in_features), np.float64)
        self.nsamples = 0

    def add_batch(self, x) -> WandaStats:
        """Fold in activations x: (rows, in) or (batch, seq, in); returns self."""
        op = "WandaStats.add_batch"
        arr = _as_weight(x, op, "x", "activation")
        cols = self.scaler_row.size
        if arr.ndim not in (2, 3) or arr.shape[-1] != cols:
            raise ShapeError(
                f"{op} needs activations (rows, {cols}) or (batch, seq, {cols}); "
                f"got {describe(arr)}"
            )
        tmp = arr.shape[0]
        x2 = arr.reshape(-1, cols).astype(np.float64)
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        self.scaler_row += np.einsum("ti,ti->i", x2, x2) / self.nsamples
        return self


def wanda_stats(x) -> np.ndarray:
    """``scaler_row`` (in,) float64 from activations: one array ``(rows, in)`` /
    ``(batch, seq, in)``, or an iterable of such batches (see :class:`WandaStats`)."""
    batches = [x] if isinstance(x, np.ndarray) else list(x)
    if not batches:
        raise InvalidValueError("wanda_stats needs at least one batch of activations; got none")
    first = np.asarray(batches[0])
    if first.ndim not in (2, 3):
        raise ShapeError(
            f"wanda_stats needs activations (rows, in) or (batch, seq, in); got {describe(first)}"
        )
    stats = WandaStats(first.shape[-1])
    for b in batches:
        stats.add_batch(b)
    return stats.scaler_row


def wanda_mask(
    w,
    x_norm_sq,
    sparsity: float | None = None,
    nm: tuple[int, int] | None = None,
    *,
    name: str = "weight",
) -> np.ndarray:
    """Keep-mask by Wanda's score ``|W_ij| * sqrt(x_norm_sq_j)``, compared within each row.

    w: (out, in), or (out, ...) flattened to (out, in) (a Conv's (O, I, kh, kw) with x_norm_sq
    of im2col patches, I*kh*kw). x_norm_sq: (in,) from :func:`wanda_stats`. sparsity: float in
    [0, 1): each row loses its lowest ``int(in * sparsity)`` scores (truncation, not torch's
    round; ``torch.sort(stable=True)`` order). nm=(n, m): instead keep n of every m along the
    row (sparsity then optional, and must be 1 - n/m). The score is float32, as in Wanda.
    """
    op = "wanda_mask"
    arr = _as_weight(w, op, name)
    if arr.ndim < 2:
        raise ShapeError(f"{op} needs a weight (out, in); got {describe(arr)} for {name!r}")
    rows, cols = arr.shape[0], arr.size // arr.shape[0]
    s = np.asarray(x_norm_sq)
    if s.dtype.kind not in "fiu" or s.size != cols or s.ndim not in (1, arr.ndim - 1):
        raise ShapeError(
            f"{op} needs x_norm_sq (in,) = ({cols},) for {name!r} of shape {arr.shape}; "
            f"got {describe(s)}"
        )
    s = s.reshape(-1)
    if not np.all(np.isfinite(s)) or (s < 0).any():
        raise InvalidValueError(f"{op} needs finite x_norm_sq >= 0 (mean squares); got {s!r}")
    if nm is None and sparsity is None:
        raise InvalidValueError(f"{op} needs a sparsity in [0, 1) or nm=(n, m); got neither")
    ftype = np.result_type(arr.dtype, np.float32)
    score = np.abs(arr.reshape(rows, cols).astype(ftype)) * np.sqrt(s.astype(ftype))[None, :]
    if nm is not None:
        if not isinstance(nm, tuple | list) or len(nm) != 2:
            raise InvalidValueError(f"{op}: nm must be a pair (n, m) such as (2, 4); got {nm!r}")
        n, m = _check_nm(nm[0], nm[1], op)
        if sparsity is not None and not math.isclose(sparsity, 1 - n / m, abs_tol=1e-12):
            raise InvalidValueError(
                f"{op}: nm={n}:{m} has sparsity {1 - n / m:g}; got sparsity={sparsity!r} too"
            )
        keep = _nm_keep(score, n, m, 1, op, name)
    else:
        if (
            isinstance(sparsity, bool)
            or not isinstance(sparsity, Real)
            or not (math.isfinite(sparsity) and 0 <= sparsity < 1)
        ):
            raise InvalidValueError(f"{op}: sparsity must be a float in [0, 1); got {sparsity!r}")
        k = int(cols * sparsity)  # lib/prune.py: sort_res[1][:, :int(W.shape[1] * ratio)]
        keep = np.ones((rows, cols), bool)
        if k:
            order = np.argsort(score, axis=1, kind="stable")
            np.put_along_axis(keep, order[:, :k], False, axis=1)
    return keep.reshape(arr.shape)
