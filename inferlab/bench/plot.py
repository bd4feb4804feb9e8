"""Figures for chapter 03: a timing's distribution, batch sweeps, thread sweeps, comparisons.

Each function returns a ``matplotlib.figure.Figure`` (nothing is shown or saved: a notebook
displays it, a test inspects it). Times are drawn in milliseconds, throughput in items/s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from inferlab.bench.comparison import Comparison
from inferlab.bench.sweep import BatchRecord, ThreadRecord, saturation_point
from inferlab.bench.timing import Timing
from inferlab.errors import InvalidValueError

__all__ = ["plot_comparison", "plot_sweep", "plot_threads", "plot_timing"]

MS = 1e3  # seconds -> milliseconds
LOG_BINS_ABOVE = 10.0  # plot_timing: log-spaced bins (and a log x axis) when max/min exceeds this


def plot_timing(timing: Timing, level: float = 0.95, bins: int = 40) -> Figure:
    """Left: every call in order (warm-up calls in grey: the first is the slow one).
    Right: histogram of the samples with the median and p99 and their confidence intervals;
    its bins are log-spaced (on a log axis) when max/min > ``LOG_BINS_ABOVE`` (a long tail)."""
    if not isinstance(timing, Timing):
        raise InvalidValueError(f"plot_timing needs a Timing; got {type(timing).__name__}")
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    w = len(timing.warmup_times)
    if w:
        ax.plot(range(w), np.array(timing.warmup_times) * MS, "o", color="0.6", label="warm-up")
    ax.plot(range(w, w + timing.n), np.array(timing.times) * MS, ".", label="samples")
    ax.set(xlabel="call / sample", ylabel="ms per call", yscale="log", title="In order")
    ax.legend()
    ms = np.array(timing.times) * MS
    log_bins = ms.min() > 0 and ms.max() / ms.min() > LOG_BINS_ABOVE
    if log_bins:  # long tail: equal-width bins would squash the bulk into one or two bars
        ax2.hist(ms, bins=np.geomspace(ms.min(), ms.max(), bins + 1), color="C0", alpha=0.7)
        ax2.set_xscale("log")
    else:
        ax2.hist(ms, bins=bins, color="C0", alpha=0.7)
    for q, name, color in ((0.5, "median", "C1"), (0.99, "p99", "C3")):
        ci = timing.ci(q, level)
        ax2.axvline(ci.estimate * MS, color=color, label=f"{name} {ci.estimate * MS:.3g} ms")
        if ci.bounded:
            ax2.axvspan(ci.low * MS, ci.high * MS, color=color, alpha=0.2)
    xlabel = "ms per call (log scale)" if log_bins else "ms per call"
    ax2.set(xlabel=xlabel, ylabel="samples", title=f"Distribution ({level:.0%} CI shaded)")
    ax2.legend()
    return fig


def _series(records) -> dict[str, list[BatchRecord]]:
    series = dict(records) if isinstance(records, Mapping) else {"": list(records)}
    for name, recs in series.items():
        if not recs or not all(isinstance(r, BatchRecord) for r in recs):
            raise InvalidValueError(
                "plot_sweep needs lists of BatchRecord (from sweep_batch); "
                f"got {recs!r} for {name!r}"
            )
    return series


def plot_sweep(
    records: Sequence[BatchRecord] | Mapping[str, Sequence[BatchRecord]],
    tolerance: float | None = 0.1,
    title: str | None = None,
) -> Figure:
    """Latency (median with CI band, p99 dashed) and throughput vs batch size, log-log.

    ``records``: one sweep, or ``{engine name: sweep}`` to overlay several. A dotted line marks
    each sweep's :func:`~inferlab.bench.sweep.saturation_point` (``tolerance=None``: none).
    """
    series = _series(records)
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    lat, thr = fig.subplots(1, 2)
    for k, (name, recs) in enumerate(series.items()):
        color = f"C{k}"
        b = np.array([r.batch for r in recs])
        med = np.array([r.latency for r in recs]) * MS
        ci = np.array([(r.latency_ci.low, r.latency_ci.high) for r in recs]) * MS
        ci = np.where(np.isfinite(ci), ci, np.nan)  # an unbounded side: no band there
        lat.plot(b, med, "o-", color=color, label=f"{name} median".strip())
        lat.fill_between(b, ci[:, 0], ci[:, 1], color=color, alpha=0.2)
        lat.plot(b, [r.p99 * MS for r in recs], "--", color=color, label=f"{name} p99".strip())
        tput = np.array([r.throughput for r in recs])
        tci = np.array([r.throughput_ci for r in recs])
        tci = np.where(np.isfinite(tci), tci, np.nan)
        thr.plot(b, tput, "o-", color=color, label=name or "throughput")
        thr.fill_between(b, tci[:, 0], tci[:, 1], color=color, alpha=0.2)
        knee = saturation_point(recs, tolerance) if tolerance is not None else None
        if knee is not None:
            thr.axvline(knee, color=color, ls=":", label=f"saturates at {knee}")
    for ax in (lat, thr):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.legend(fontsize="small")
    lat.set(ylabel="ms per batch", title="Latency: grows with the batch")
    thr.set(ylabel="items / s", title="Throughput: grows, then saturates")
    if title:
        fig.suptitle(title)
    return fig


def plot_threads(records: Sequence[ThreadRecord], title: str | None = None) -> Figure:
    """Speed-up vs thread count, against the ideal line (speed-up = threads / first threads)."""
    if not records or not all(isinstance(r, ThreadRecord) for r in records):
        raise InvalidValueError("plot_threads needs a list of ThreadRecord (from sweep_threads)")
    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    n = np.array([r.threads for r in records])
    ax.plot(n, n / n[0], ":", color="0.5", label="ideal")
    ax.plot(n, [r.speedup for r in records], "o-", label="measured")
    ax.set(xlabel="threads", ylabel="speed-up", title=title or "Scaling with threads")
    ax.legend()
    return fig


def plot_comparison(comparison: Comparison) -> Figure:
    """Median time per engine (ms) as bars, with the CI as error bars."""
    if not isinstance(comparison, Comparison):
        raise InvalidValueError(
            f"plot_comparison needs a Comparison; got {type(comparison).__name__}"
        )
    names = list(comparison.timings)
    cis = [comparison.timings[k].ci(0.5, comparison.level) for k in names]
    med = np.array([c.estimate for c in cis]) * MS
    low = np.array([c.low if np.isfinite(c.low) else c.estimate for c in cis]) * MS
    high = np.array([c.high if np.isfinite(c.high) else c.estimate for c in cis]) * MS
    fig = Figure(figsize=(6, 0.6 * len(names) + 1.4), layout="constrained")
    ax = fig.subplots()
    ax.barh(names, med, xerr=[med - low, high - med], color=[f"C{i}" for i in range(len(names))])
    ax.invert_yaxis()
    ax.set(xlabel="ms per call (median)", title=f"Same input, {comparison.level:.0%} CI")
    return fig
