"""Masks: which weights to zero. Pure functions on NumPy arrays.

A mask is a bool array of the weight's shape, ``True`` = KEEP (torch's ``weight_mask`` buffer, 1 =
keep). Nothing here changes a weight; :func:`apply_mask` makes the zeroed copy. The conventions
are those of ``torch/nn/utils/prune.py`` (checked mask for mask against it in the tests):

- ``amount``: an int is a count; a float is a share, pruned count ``round(amount * n)`` with
  Python's round (half to even: 0.5 of 5 weights prunes 2, 0.5 of 7 prunes 4).
- The weights to prune are the ``k`` smallest ``|w|`` (``topk(|w|, k, largest=False)``). Among
  equal magnitudes torch's choice is unspecified; here the lower flat index goes first.
- Pruning again with a previous ``mask`` prunes ``amount`` of what REMAINS (torch's
  ``PruningContainer``): 0.3 then 0.5 of 80 weights zero 24, then 24 + round(0.5 * 56) = 52.
- Structured (``ln_structured``) zeroes whole slices along ``dim`` by their Ln norm;
  ``global_unstructured`` ranks all layers' weights together (one threshold).

Two deliberate differences from torch, which accepts both silently: a float amount of 1.0 and a
pruning that leaves a layer (or all its channels) with nothing are errors here; a weight with a
NaN is an error (torch's topk ranks NaN as the largest magnitude).

Wanda (weights times activation norms) lives in :mod:`inferlab.prune.wanda`.

Example::

    >>> keep = l1_unstructured(w, 0.3)              # 30 % of |w| smallest -> False
    >>> keep = l1_unstructured(w, 0.5, mask=keep)   # then half of what is left: 65 % in all
    >>> w_pruned = apply_mask(w, keep)
    >>> keep24 = nm_mask(w, 2, 4)                   # 2 of every 4 along the input axis
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe

__all__ = [
    "apply_mask",
    "global_unstructured",
    "iterative_schedule",
    "l1_unstructured",
    "ln_structured",
    "n_to_prune",
    "nm_mask",
    "random_unstructured",
    "schedule_sparsity",
    "sparsity",
]


# ----------------------------------------------------------------------------- validation


def _as_weight(w, op: str, name: str, what: str = "weight") -> np.ndarray:
    """A real, finite, non-empty array (not copied)."""
    arr = np.asarray(w)
    if arr.dtype.kind not in "fiu":
        raise DTypeError(f"{op} needs a real-valued {what} {name!r}; got {describe(w)}")
    if arr.size == 0:
        raise ShapeError(f"{op} needs a non-empty {what} {name!r}; got {describe(arr)}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidValueError(
                f"{op} needs finite values; {what} {name!r} has {int(bad.sum())} NaN/Inf value(s), "
                f"the first at index {idx} ({describe(arr)})"
            )
    return arr


def _as_mask(mask, shape: tuple, op: str, name: str) -> np.ndarray:
    """A fresh bool copy of ``mask``, which must have ``shape`` and only 0/1 values."""
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ShapeError(
            f"{op}: the mask of {name!r} must have the weight's shape {tuple(shape)}; "
            f"got {describe(m)}"
        )
    if m.dtype != np.bool_:
        if m.dtype.kind not in "fiu" or not np.isin(m, (0, 1)).all():
            raise InvalidValueError(
                f"{op}: a mask holds True/1 (keep) or False/0 (pruned); got {describe(m)} "
                f"with other values"
            )
    return m.astype(bool)  # always a copy


def _norm_axis(axis, ndim: int, op: str, shape: tuple, what: str = "dim") -> int:
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise InvalidValueError(f"{op}: {what} must be an int; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"{op}: {what}={axis} is out of range for a weight of shape {tuple(shape)} "
            f"(expected {-ndim} <= {what} < {ndim})"
        )
    return int(axis) % ndim


def n_to_prune(amount, n: int) -> int:
    """How many of ``n`` units ``amount`` prunes: the int itself, or ``round(amount * n)``.

    torch/nn/utils/prune.py ``_compute_nparams_toprune``: Python's ``round`` (half to even), so
    ``n_to_prune(0.5, 5) == 2`` and ``n_to_prune(0.5, 7) == 4``. An int must be in ``[0, n]``;
    a float in ``[0, 1)`` (torch also accepts 1.0; a whole layer pruned away is refused here).
    InvalidValueError otherwise (bools, NaN, negative counts).
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise InvalidValueError(f"n_to_prune needs a count n >= 0; got {n!r}")
    if isinstance(amount, bool) or not isinstance(amount, Real):
        raise InvalidValueError(
            f"amount must be a float share in [0, 1) or an int count in [0, {n}]; "
            f"got {amount!r} ({type(amount).__name__})"
        )
    if isinstance(amount, Integral):
        if not 0 <= amount <= n:
            raise InvalidValueError(
                f"amount as a count must be in [0, {n}] (the units there are to prune); "
                f"got {int(amount)}"
            )
        return int(amount)
    if not (math.isfinite(amount) and 0.0 <= amount < 1.0):
        raise InvalidValueError(
            f"amount as a share must be a float in [0, 1); got {amount!r}"
            + (" (1.0 would prune every weight: the layer would be gone)" if amount == 1 else "")
        )
    # Same expression as torch, so a numpy float32 amount rounds as it does there.
    return int(round(amount * n))


def _refuse_empty(k: int, n: int, op: str, name: str, unit: str = "weights") -> None:
    if k >= n:
        raise InvalidValueError(
            f"{op} would remove every one of the {n} remaining {unit} of {name!r} "
            f"(amount prunes {k}); a layer needs at least one left: lower the amount"
        )


# ----------------------------------------------------------------------------- unstructured


def l1_unstructured(w, amount, mask=None, *, name: str = "weight") -> np.ndarray:
    """Keep-mask pruning the ``amount`` smallest ``|w|`` among the weights ``mask`` keeps.

    w: any shape, original or already masked (only the entries ``mask`` keeps are ranked).
    amount: float share in ``[0, 1)`` or int count of the *remaining* weights
    (:func:`n_to_prune`). mask: the previous keep-mask (None: all kept). Returns a new bool
    mask, == torch's ``weight_mask`` after ``prune.l1_unstructured`` (repeated calls
    included). ``name`` is used in errors.
    """
    op = "l1_unstructured"
    arr = _as_weight(w, op, name)
    keep = np.ones(arr.shape, bool) if mask is None else _as_mask(mask, arr.shape, op, name)
    flat = keep.reshape(-1)
    remaining = np.flatnonzero(flat)
    k = n_to_prune(amount, remaining.size)
    _refuse_empty(k, remaining.size, op, name)
    if k:
        # torch: topk(|t[mask == 1]|, k, largest=False) -> zeros; stable = lower index first.
        order = np.argsort(np.abs(arr.reshape(-1)[remaining]), kind="stable")
        flat[remaining[order[:k]]] = False
    return keep


def random_unstructured(w, amount, rng=None, mask=None, *, name: str = "weight") -> np.ndarray:
    """Keep-mask pruning ``amount`` of the remaining weights chosen at random (the baseline).

    rng: a ``np.random.Generator`` or a seed. torch's ``RandomUnstructured`` draws its own
    uniform scores; the count (:func:`n_to_prune`) and mask semantics are the same.
    """
    op = "random_unstructured"
    arr = _as_weight(w, op, name)
    keep = np.ones(arr.shape, bool) if mask is None else _as_mask(mask, arr.shape, op, name)
    flat = keep.reshape(-1)
    remaining = np.flatnonzero(flat)
    k = n_to_prune(amount, remaining.size)
    _refuse_empty(k, remaining.size, op, name)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    flat[gen.choice(remaining, size=k, replace=False)] = False
    return keep


def global_unstructured(
    weights: Mapping[str, np.ndarray],
    amount,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    allow_empty: bool = False,
) -> dict[str, np.ndarray]:
    """Keep-masks from ONE magnitude ranking across all ``weights`` (``{name: w}``).

    == ``prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=...)``:
    the weights are flattened and concatenated in the mapping's order, ``amount`` of the
    remaining ones (``masks``: previous keep-masks, missing names = all kept) are pruned, and
    the result is cut back per layer. Small layers can lose far more than ``amount`` (layer
    collapse); a layer left with no weight at all is an InvalidValueError naming it unless
    ``allow_empty``.
    """
    op = "global_unstructured"
    if not isinstance(weights, Mapping) or not weights:
        raise InvalidValueError(f"{op} needs a non-empty {{name: weight}} mapping; got {weights!r}")
    masks = {} if masks is None else masks
    unknown = sorted(set(masks) - set(weights))
    if unknown:
        raise InvalidValueError(
            f"{op}: masks given for {unknown}, which are not among the weights {list(weights)}"
        )
    arrs = {k: _as_weight(v, op, k) for k, v in weights.items()}
    keeps = {
        k: np.ones(a.shape, bool) if k not in masks else _as_mask(masks[k], a.shape, op, k)
        for k, a in arrs.items()
    }
    # torch: parameters_to_vector(...) of scores and of default masks, in the given order.
    score = np.concatenate([np.abs(a.astype(np.float64).reshape(-1)) for a in arrs.values()])
    flat_keep = np.concatenate([m.reshape(-1) for m in keeps.values()])
    new = l1_unstructured(score, amount, flat_keep, name="+".join(arrs))
    out, start = {}, 0
    for k, a in arrs.items():
        out[k] = new[start : start + a.size].reshape(a.shape)
        start += a.size
    if not allow_empty:
        empty = [k for k, m in out.items() if not m.any()]
        if empty:
            raise InvalidValueError(
                f"{op} would remove every weight of layer(s) {empty} (all below the global "
                f"threshold); lower the amount, leave the layer out, or pass allow_empty=True"
            )
    return out


# ----------------------------------------------------------------------------- structured


def _ln_norm(x: np.ndarray, n, axes: tuple) -> np.ndarray:
    """torch.norm(x, p=n, dim=axes) in float64: n = inf/-inf (max/min |x|), 0 (count of
    nonzeros), "fro" (= 2), or p > 0."""
    a = np.abs(x.astype(np.float64))
    if n == "fro" or n == 2:
        return np.sqrt((a * a).sum(axis=axes))
    if n == math.inf:
        return a.max(axis=axes)
    if n == -math.inf:
        return a.min(axis=axes)
    if n == 0:
        return (a != 0).sum(axis=axes).astype(np.float64)
    return (a**n).sum(axis=axes) ** (1.0 / n)


def ln_structured(w, amount, n=2, dim: int = 0, mask=None, *, name: str = "weight") -> np.ndarray:
    """Keep-mask zeroing the whole slices along ``dim`` with the smallest Ln norm.

    w: (C, ...) with ``dim`` the channel axis (0: a Conv's filters / a Linear's output rows;
    1: their inputs). n: 1, 2, inf, -inf, 0, "fro" or any p > 0 (torch.norm's ``p``); the norm
    runs over every axis but ``dim``. amount counts channels (:func:`n_to_prune` of the
    channels still alive). == ``prune.ln_structured(module, "weight", amount, n, dim)``,
    iterated too: with ``mask``, channels already all-zero are left out of the count, the
    norms are of ``w * mask`` (torch ranks ``module.weight``, the already-pruned weight) and
    the result is ANDed with mask (torch's ``PruningContainer._combine_masks``).
    Note: torch's default dim is -1; 0 here (the filters).
    """
    op = "ln_structured"
    arr = _as_weight(w, op, name)
    if arr.ndim < 2:
        raise ShapeError(
            f"{op} needs a weight with >= 2 dims (channels along dim plus their contents); "
            f"got {describe(arr)} for {name!r}"
        )
    if not (
        n == "fro"
        or (isinstance(n, Real) and not isinstance(n, bool) and (n >= 0 or n == -math.inf))
    ):
        raise InvalidValueError(f"{op}: n must be a norm order >= 0, inf, -inf or 'fro'; got {n!r}")
    d = _norm_axis(dim, arr.ndim, op, arr.shape)
    keep = np.ones(arr.shape, bool) if mask is None else _as_mask(mask, arr.shape, op, name)
    others = tuple(i for i in range(arr.ndim) if i != d)
    alive = np.flatnonzero(keep.any(axis=others))  # torch: mask.sum(other dims) != 0
    k = n_to_prune(amount, alive.size)
    _refuse_empty(k, alive.size, op, name, unit=f"channels along dim {dim}")
    if k:
        # torch ranks module.weight = weight_orig * weight_mask: the norms of what is left.
        current = np.where(keep, arr, np.zeros((), arr.dtype))
        norms = _ln_norm(current.take(alive, axis=d), n, others)
        gone = alive[np.argsort(norms, kind="stable")[:k]]  # torch keeps topk(norm, C - k)
        index = [slice(None)] * arr.ndim
        index[d] = gone
        keep[tuple(index)] = False
    return keep


# ----------------------------------------------------------------------------- N:M


def _check_nm(n, m, op: str) -> tuple[int, int]:
    for v, what in ((n, "n"), (m, "m")):
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise InvalidValueError(f"{op}: {what} must be an int; got {v!r}")
    if not 0 < n < m:
        raise InvalidValueError(
            f"{op}: N:M sparsity keeps n of every m weights, so it needs 0 < n < m; got {n}:{m}"
            + (" (n >= m prunes nothing)" if n >= m else " (n = 0 prunes everything)")
        )
    return int(n), int(m)


def _nm_keep(score: np.ndarray, n: int, m: int, axis: int, op: str, name: str) -> np.ndarray:
    """Keep the n largest ``score`` in each run of m consecutive entries along ``axis``."""
    length = score.shape[axis]
    if length % m:
        raise ShapeError(
            f"{op}: {n}:{m} groups of {m} along axis {axis} need that axis's length to be a "
            f"multiple of {m}; {name!r} has shape {score.shape} (length {length})"
        )
    moved = np.moveaxis(score, axis, -1)
    groups = moved.reshape(*moved.shape[:-1], length // m, m)
    # Wanda lib/prune.py: topk(block, m - n, largest=False) -> pruned; stable order here.
    order = np.argsort(groups, axis=-1, kind="stable")
    keep = np.ones(groups.shape, bool)
    np.put_along_axis(keep, order[..., : m - n], False, axis=-1)
    return np.moveaxis(keep.reshape(moved.shape), -1, axis)


def nm_mask(w, n: int = 2, m: int = 4, axis: int = -1, *, name: str = "weight") -> np.ndarray:
    """Keep-mask with exactly ``n`` of every ``m`` consecutive weights along ``axis``: the n
    largest ``|w|`` of each group (NVIDIA's 2:4, ``n`` = nonzeros kept).

    axis: the reduction (input) axis, -1 for a Linear's (out, in) weight; its length must be a
    multiple of m. Sparsity is exactly ``1 - n/m``. Wanda's ``prune_n`` counts the PRUNED
    entries per block (``--sparsity_type 2:4`` prunes 2); the two agree for n = m/2.
    """
    op = "nm_mask"
    n, m = _check_nm(n, m, op)
    arr = _as_weight(w, op, name)
    ax = _norm_axis(axis, arr.ndim, op, arr.shape, "axis")
    return _nm_keep(np.abs(arr), n, m, ax, op, name)


# ----------------------------------------------------------------------------- schedules


def iterative_schedule(final_sparsity: float, steps: int, kind: str = "constant") -> list[float]:
    """Per-step amounts (shares of what remains) that reach ``final_sparsity`` in ``steps``.

    ``kind="constant"``: the same share every step, ``1 - (1 - s)**(1/steps)`` (0.75 in 2
    steps: 0.5, 0.5). ``kind="agp"``: Zhu & Gupta's cubic schedule (2017), cumulative
    sparsity ``s * (1 - (1 - t/steps)**3)`` after step t: big cuts first, small ones last.
    Feed each to ``l1_unstructured(w, a, mask=prev)``; :func:`schedule_sparsity` inverts.
    Counts are rounded at each step, so the result can differ by a weight or two per step.
    """
    if isinstance(final_sparsity, bool) or not isinstance(final_sparsity, Real):
        raise InvalidValueError(f"final_sparsity must be a float in [0, 1); got {final_sparsity!r}")
    if not (math.isfinite(final_sparsity) and 0 <= final_sparsity < 1):
        raise InvalidValueError(f"final_sparsity must be in [0, 1); got {final_sparsity!r}")
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise InvalidValueError(f"steps must be an int >= 1; got {steps!r}")
    s = float(final_sparsity)
    if kind == "constant":
        return [1.0 - (1.0 - s) ** (1.0 / steps)] * int(steps)
    if kind == "agp":
        cum = [s * (1.0 - (1.0 - t / steps) ** 3) for t in range(int(steps) + 1)]
        return [1.0 - (1.0 - cum[t]) / (1.0 - cum[t - 1]) for t in range(1, int(steps) + 1)]
    raise InvalidValueError(f"iterative_schedule kind must be 'constant' or 'agp'; got {kind!r}")


def schedule_sparsity(amounts: Iterable[float]) -> float:
    """Sparsity after pruning each share of what remains in turn: ``1 - prod(1 - a)``."""
    left = 1.0
    for a in amounts:
        if isinstance(a, bool) or not isinstance(a, Real) or not 0 <= a < 1:
            raise InvalidValueError(f"schedule amounts must be floats in [0, 1); got {a!r}")
        left *= 1.0 - float(a)
    return 1.0 - left


# ----------------------------------------------------------------------------- helpers


def sparsity(mask_or_w) -> float:
    """Share of zeros: of False in a bool mask, of exact 0 in a weight; over all layers of a
    ``{name: mask_or_w}`` mapping."""
    items = list(mask_or_w.values()) if isinstance(mask_or_w, Mapping) else [mask_or_w]
    zeros = total = 0
    for item in items:
        a = np.asarray(item)
        zeros += int(a.size - np.count_nonzero(a))  # False counts as a zero too
        total += a.size
    if total == 0:
        raise ShapeError(f"sparsity of an empty array is undefined; got {describe(mask_or_w)}")
    return zeros / total


def apply_mask(w, mask) -> np.ndarray:
    """A new array of w's shape and dtype: w where mask is True, 0 where it is False."""
    arr = np.asarray(w)
    keep = _as_mask(mask, arr.shape, "apply_mask", "weight")
    return np.where(keep, arr, np.zeros((), arr.dtype))
