"""inferlab.bench — measuring speed honestly (chapters 00, 01 and 03).

    >>> from inferlab import bench
    >>> t = bench.measure(np.matmul, a, b, warmup=2, repeat=10)
    >>> print(t)                          # 6.71 ms ± 0.12 (median of 10)
    >>> print(t.summary())                # median and p99 with 95 % confidence intervals
    >>> bench.gflops(2 * 1024**3, t.min)  # peak-style GFLOP/s, from the best sample

One concept per module (all times in seconds, throughput in items per second):

==============  ================================================================================
``timing``      ``Timing`` (every sample; median, min, p99, ``ci``, ``summary``), ``gflops``
``sampling``    ``measure`` (warm-up, repeats, ``number="auto"``), ``warm_up``, ``autorange``
``stats``       order-statistic and bootstrap confidence intervals, MAD outliers (NumPy only)
``blas``        ``threads(n)``: limit NumPy's BLAS threads in a ``with`` block (ctypes)
``sweep``       ``sweep_batch`` (latency vs throughput), ``saturation_point``, ``sweep_threads``
``comparison``  ``compare``: engines on the same input, interleaved, ratios with CIs
``overhead``    ``call_overhead``, ``chain_vs_matmul``: Python overhead vs BLAS time
``table``       ``Table``, ``to_table``: records as aligned text / HTML
``plot``        ``plot_timing``, ``plot_sweep``, ``plot_threads``, ``plot_comparison``
==============  ================================================================================

The plotting functions import matplotlib on first use, so ``import inferlab.bench`` stays light.
"""

from inferlab.bench.blas import (
    BlasLibrary,
    BlasThreadsError,
    blas_libraries,
    blas_threads,
    cpu_count,
    threads,
)
from inferlab.bench.comparison import Comparison, compare
from inferlab.bench.overhead import ChainResult, call_overhead, chain_operands, chain_vs_matmul
from inferlab.bench.sampling import AUTORANGE_TARGET, WarmUp, autorange, measure, warm_up
from inferlab.bench.stats import CI, bootstrap_ci, min_samples, quantile_ci, ratio_ci
from inferlab.bench.sweep import (
    BatchRecord,
    ThreadRecord,
    saturation_point,
    sweep_batch,
    sweep_threads,
)
from inferlab.bench.table import Table, to_table
from inferlab.bench.timing import Summary, Timing, format_interval, format_seconds, gflops

_PLOTS = ("plot_comparison", "plot_sweep", "plot_threads", "plot_timing")

__all__ = [
    "AUTORANGE_TARGET",
    "CI",
    "BatchRecord",
    "BlasLibrary",
    "BlasThreadsError",
    "ChainResult",
    "Comparison",
    "Summary",
    "Table",
    "ThreadRecord",
    "Timing",
    "WarmUp",
    "autorange",
    "blas_libraries",
    "blas_threads",
    "bootstrap_ci",
    "call_overhead",
    "chain_operands",
    "chain_vs_matmul",
    "compare",
    "cpu_count",
    "format_interval",
    "format_seconds",
    "gflops",
    "measure",
    "min_samples",
    "quantile_ci",
    "ratio_ci",
    "saturation_point",
    "sweep_batch",
    "sweep_threads",
    "threads",
    "to_table",
    "warm_up",
    *_PLOTS,
]


def __getattr__(name: str):
    """Load :mod:`inferlab.bench.plot` (and matplotlib) only when a plot is asked for."""
    if name in _PLOTS:
        from inferlab.bench import plot

        return getattr(plot, name)
    raise AttributeError(f"module 'inferlab.bench' has no attribute {name!r}")
