"""Calibrating the roofline: fit efficiency factors to measured times, then predict.

The ideal roofline is an upper bound on speed; real code reaches a fraction ``eta`` of each roof
and pays a fixed cost per op. Given ideal estimates of some ops or models (made with
``Efficiency()``, i.e. eta = 1 and no overhead) and their measured times, :func:`fit_efficiency`
finds the ``Efficiency(compute, memory, overhead_s)`` that makes

    t_pred = sum over ops of [max(c, m) + (1 - overlap) * min(c, m)] + n_ops * overhead_s
    with c = compute_s / eta_c and m = memory_s / eta_m

closest to the measurements in *relative* terms (least squares on log time: a 10 % miss on a
10 µs op counts as much as on a 10 s one). A grid search, then finer grids around the best
point: four parameters, no optimiser needed, and the result is reproducible.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError
from inferlab.hw.estimate import Efficiency, ModelEstimate
from inferlab.hw.roofline import Estimate

__all__ = ["fit_efficiency", "median_abs_error", "predict"]


def _parts(item) -> np.ndarray:
    """(n_ops, 2) array of ideal (compute_s, memory_s) per op."""
    if isinstance(item, ModelEstimate):
        return np.array([(e.compute_s, e.memory_s) for _, _, e in item.per_node]).reshape(-1, 2)
    if isinstance(item, Estimate):
        return np.array([[item.compute_s, item.memory_s]])
    raise InvalidValueError(f"expected an Estimate or a ModelEstimate; got {type(item).__name__}")


def _predict(parts: list, eta_c, eta_m, overhead, overlap) -> np.ndarray:
    """Predicted times, broadcast over equal-shaped arrays of eta_c, eta_m, overlap."""
    out = []
    for p in parts:
        c = p[:, 0].reshape((-1,) + (1,) * np.ndim(eta_c)) / eta_c
        m = p[:, 1].reshape((-1,) + (1,) * np.ndim(eta_m)) / eta_m
        t = np.maximum(c, m) + (1.0 - overlap) * np.minimum(c, m)
        out.append(t.sum(axis=0) + len(p) * overhead)
    return np.stack(out)


def predict(items, efficiency: Efficiency) -> np.ndarray:
    """Predicted seconds of ideal estimates ``items`` under ``efficiency``."""
    parts = [_parts(i) for i in items]
    e = efficiency
    return _predict(parts, np.float64(e.compute), np.float64(e.memory), e.overhead_s, e.overlap)


def fit_efficiency(items, measured_s, max_overhead_s: float = 1e-3) -> Efficiency:
    """The Efficiency that best explains ``measured_s`` (seconds, one per item).

    items: ideal Estimates / ModelEstimates (eta = 1, no overhead), as many as measurements.
    eta_compute is searched in [0.01, 1], eta_memory in [0.01, 10] (> 1: the working set fits
    in a cache faster than main memory), overlap in [0, 1], overhead per op in
    [0, max_overhead_s].
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
    log_y = np.log(y)[:, None, None]
    n_ops = np.array([len(p) for p in parts], dtype=np.float64)[:, None, None]
    c, m, v = np.geomspace(0.01, 1.0, 30), np.geomspace(0.01, 10.0, 30), np.linspace(0, 1, 11)
    o = np.concatenate([[0.0], np.geomspace(1e-8, max_overhead_s, 60)])
    for _ in range(3):  # a coarse grid, then two finer grids around the best point
        C, M, V = (a.ravel() for a in np.meshgrid(c, m, v, indexing="ij"))
        roofs = _predict(parts, C, M, 0.0, V)  # (items, grid): the time without overhead
        t = roofs[:, :, None] + n_ops * o[None, None, :]  # (items, grid, overheads)
        err = ((np.log(t) - log_y) ** 2).sum(axis=0)
        g, k = np.unravel_index(np.argmin(err), err.shape)
        best = (C[g], M[g], o[k], V[g])
        c = np.clip(np.geomspace(best[0] / 1.3, best[0] * 1.3, 15), 1e-3, 1.0)
        m = np.geomspace(best[1] / 1.3, best[1] * 1.3, 15)
        v = np.clip(np.linspace(best[3] - 0.1, best[3] + 0.1, 9), 0.0, 1.0)
        around = max(best[2], 1e-9)
        o = np.unique(np.concatenate([[0.0], np.geomspace(around / 1.5, around * 1.5, 31)]))
    return Efficiency(float(best[0]), float(best[1]), float(best[2]), float(best[3]))


def median_abs_error(predicted, measured) -> float:
    """Median of ``|predicted - measured| / measured`` (0.25 means a typical 25 % miss)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if p.shape != m.shape or p.size == 0:
        raise InvalidValueError(f"need two equal-length sequences; got {p.shape} and {m.shape}")
    return float(np.median(np.abs(p - m) / m))
