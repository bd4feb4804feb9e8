"""Calibrating the roofline: fit efficiency factors to measured times, then predict.

The ideal roofline is an upper bound on speed; real code reaches a fraction ``eta`` of each roof
and pays a fixed cost per op. Given ideal estimates of some ops or models (made with
``Efficiency()``, i.e. eta = 1 and no overhead) and their measured times, :func:`fit_efficiency`
finds the ``Efficiency(compute, memory, overhead_s, overlap, vector)`` that makes

    t_pred = sum over ops of [max(c, m) + (1 - overlap) * min(c, m)] + n_ops * overhead_s
    with c = compute_s / eta_c  (eta_vector for ops that are not matrix products)
    and  m = memory_s / eta_m

closest to the measurements in *relative* terms (least squares on log time: a 10 % miss on a
10 µs op counts as much as on a 10 s one). ``vector`` exists because chips do matrix products
on matrix units (tensor cores, AMX, a tuned BLAS) and everything else (softmax's exp, GELU's
erf, normalisation) on slower vector units: one efficiency for both misjudges one or the other.

The search is coordinate descent over fixed grids (each parameter in turn, every grid value
tried at once with NumPy, ten sweeps): five parameters, no optimiser library, little memory,
and the same answer on every run.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError
from inferlab.hw.estimate import Efficiency, ModelEstimate, is_matrix_op
from inferlab.hw.roofline import Estimate

__all__ = ["fit_efficiency", "median_abs_error", "predict"]

# Search ranges: eta_compute and eta_vector are fractions of peak; eta_memory may exceed 1 (data
# in a cache faster than the memory the device's bandwidth describes); overhead per op in s.
_GRIDS = {
    "compute": np.geomspace(1e-3, 1.0, 121),
    "memory": np.geomspace(1e-2, 10.0, 121),
    "vector": np.geomspace(1e-4, 1.0, 121),
    "overlap": np.linspace(0.0, 1.0, 41),
}


def _parts(item) -> np.ndarray:
    """(n_ops, 3) array per op: ideal compute_s, memory_s, and 1.0 for a vector (non-matrix) op."""
    if isinstance(item, ModelEstimate):
        rows = [(e.compute_s, e.memory_s, 0.0 if is_matrix_op(op) else 1.0)
                for _, op, e in item.per_node]  # fmt: skip
        return np.array(rows, dtype=np.float64).reshape(-1, 3)
    if isinstance(item, Estimate):
        return np.array([[item.compute_s, item.memory_s, 0.0]])
    raise InvalidValueError(f"expected an Estimate or a ModelEstimate; got {type(item).__name__}")


def _predict(parts: list, p: dict) -> np.ndarray:
    """Predicted times (items, candidates); each value of ``p`` is a scalar or a 1-D array."""
    out = []
    for part in parts:
        col = [part[:, i : i + 1] for i in range(3)]
        eta = np.where(col[2] > 0, p["vector"], p["compute"])
        c, m = col[0] / eta, col[1] / p["memory"]
        t = np.maximum(c, m) + (1.0 - p["overlap"]) * np.minimum(c, m)
        out.append(np.atleast_1d(t.sum(axis=0) + len(part) * p["overhead_s"]))
    return np.stack(out)


def predict(items, efficiency: Efficiency) -> np.ndarray:
    """Predicted seconds of ideal estimates ``items`` under ``efficiency``."""
    e = efficiency
    vector = e.vector if e.vector is not None else e.compute
    p = {"compute": e.compute, "memory": e.memory, "overhead_s": e.overhead_s,
         "overlap": e.overlap, "vector": vector}  # fmt: skip
    return _predict([_parts(i) for i in items], p)[:, 0]


def fit_efficiency(items, measured_s, max_overhead_s: float = 1e-3) -> Efficiency:
    """The Efficiency that best explains ``measured_s`` (seconds, one per item).

    items: ideal Estimates / ModelEstimates (eta = 1, no overhead), as many as measurements.
    eta_compute in [0.001, 1], eta_vector in [1e-4, 1] (only fitted when some item has a vector
    op), eta_memory in [0.01, 10], overlap in [0, 1], overhead per op in [0, max_overhead_s].
    """
    parts = [_parts(i) for i in items]
    y = np.asarray(measured_s, dtype=np.float64)
    if y.shape != (len(parts),) or len(parts) < 3:
        raise InvalidValueError(
            f"need one measured time per item and at least 3 items; got {len(parts)} items and "
            f"{y.shape} times"
        )
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise InvalidValueError("measured times must be positive finite seconds")
    grids = dict(
        _GRIDS, overhead_s=np.concatenate([[0.0], np.geomspace(1e-9, max_overhead_s, 121)])
    )
    has_vector = any(p[:, 2].any() for p in parts)
    names = ["compute", "memory", "overhead_s", "overlap"] + (["vector"] if has_vector else [])
    best = {"compute": 0.5, "memory": 0.5, "overhead_s": 0.0, "overlap": 1.0, "vector": 0.5}
    log_y = np.log(y)[:, None]
    for _ in range(10):
        for name in names:
            trial = dict(best, **{name: grids[name]})
            with np.errstate(divide="ignore"):
                err = ((np.log(_predict(parts, trial)) - log_y) ** 2).sum(axis=0)
            best[name] = float(grids[name][int(np.argmin(err))])
    return Efficiency(
        best["compute"], best["memory"], best["overhead_s"], best["overlap"],
        best["vector"] if has_vector else None,
    )  # fmt: skip


def median_abs_error(predicted, measured) -> float:
    """Median of ``|predicted - measured| / measured`` (0.25 means a typical 25 % miss)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if p.shape != m.shape or p.size == 0:
        raise InvalidValueError(f"need two equal-length sequences; got {p.shape} and {m.shape}")
    return float(np.median(np.abs(p - m) / m))
