"""Calibration: choosing the real range ``[rmin, rmax]`` an activation tensor is quantized to.

Static quantization fixes each activation's scale before deployment, from a few calibration
batches. A calibrator sees those batches one at a time (:meth:`Calibrator.collect`) and then
proposes one range (:meth:`Calibrator.range`); :func:`inferlab.quant.params.qparams` turns the
range into a scale and zero point. The range is a trade-off: a wide range never clips but spends
the 256 levels on values that hardly occur (coarse steps for the bulk); a narrow one gives fine
steps to the bulk but clips the tails.

- :class:`MinMax`: the smallest range holding every value seen. Never clips, but one outlier in
  one batch stretches the scale for everything (a value 100x the typical size leaves the bulk
  a handful of levels).
- :class:`MovingAverageMinMax`: average the per-batch minima and maxima instead, so a single
  outlier batch moves the range only a little. ``"ort"`` is what ORT's quantize_static computes
  (the plain mean over the batches of one pass); ``"torch"`` is torch's observer (an exponential
  moving average with weight ``averaging_constant`` on each new batch).
- :class:`Percentile`: histogram the values and cut the tails, keeping ``percentile`` % of the
  mass (99.999 by default): a range set by the bulk, ignoring rare outliers.
- :class:`Entropy`: the TensorRT method. For each candidate threshold, clip the histogram there,
  squeeze it into ``num_quantized_bins`` levels and measure how much information is lost, the
  KL divergence between the clipped fp32 histogram and its quantized version; keep the
  threshold that loses least.
- :class:`MSE` (ours, not an ORT method): try shrinking the min-max range by factors
  ``k / num_candidates`` and keep the one whose fake-quantized data is closest to the data in
  mean squared error: it balances rounding error (wide range) against clipping error (narrow).

MinMax, MovingAverageMinMax, Percentile and Entropy reproduce onnxruntime's
``quantization/calibrate.py`` bit for bit (``MinMaxCalibrater``, ``HistogramCollector``):
:meth:`~Calibrator.collect` is one ``collect`` call of ORT's collector and :func:`calibrate` is
one calibration pass of ``quantize_static`` (which stacks all batches into one histogram).

Example::

    >>> cal = Percentile(percentile=99.99)
    >>> for batch in batches:               # activations, any shape, float
    ...     cal.collect(batch)
    >>> rmin, rmax = cal.range()            # np.float32, np.float32
    >>> qp = qparams(rmin, rmax, "uint8")
    >>> calibrate(batches, "entropy", num_bins=2048)   # the same in one call
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, describe
from inferlab.quant.affine import fake_quant
from inferlab.quant.params import CONVENTIONS, INT_DTYPES, check_finite, qparams

__all__ = [
    "METHODS",
    "MSE",
    "Calibrator",
    "Entropy",
    "MinMax",
    "MovingAverageMinMax",
    "Percentile",
    "calibrate",
    "make_calibrator",
]


def _check_int(value, name: str, op: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise InvalidValueError(f"{op} needs {name} to be an int >= {lo}; got {value!r}")
    return int(value)


def _check_bool(value, name: str, op: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise InvalidValueError(f"{op} needs {name} to be True or False; got {value!r}")
    return bool(value)


class Calibrator:
    """Base class: :meth:`collect` each calibration batch, then :meth:`range`.

    Subclasses implement ``_collect(x)`` (x: 1-D float32, finite, non-empty) and ``_range()``.
    ``n_batches`` / ``n_values`` count what was collected.
    """

    name = "base"  # the key in METHODS

    def __init__(self) -> None:
        self.n_batches = 0
        self.n_values = 0

    def collect(self, x) -> None:
        """Add one batch: x is a float array of any shape (flattened; one tensor's values).

        Converted to float32 (the dtype ORT calibrates; float64 is rounded). Raises DTypeError
        for non-float x, InvalidValueError for an empty x or NaN/Inf (ORT's nanmin would skip
        NaN silently and an Inf would make every scale Inf).
        """
        op = f"{type(self).__name__}.collect"
        arr = np.asarray(x)
        if arr.dtype.kind != "f":
            raise DTypeError(f"{op} needs a float array (an activation tensor); got {describe(x)}")
        if arr.size == 0:
            raise InvalidValueError(
                f"{op} needs a non-empty array (an empty batch has no range); got {describe(arr)}"
            )
        check_finite(arr, op, "values")
        with np.errstate(over="ignore"):  # reported just below, with the offending value
            flat = arr.astype(np.float32).reshape(-1)
        check_finite(flat, op, "values (after rounding to float32)")  # 1e39 overflows to inf
        self._collect(flat)
        self.n_batches += 1
        self.n_values += flat.size

    def range(self) -> tuple[np.float32, np.float32]:
        """The proposed ``(rmin, rmax)`` of the tensor, as two np.float32 (rmin <= rmax)."""
        if self.n_batches == 0:
            raise InvalidValueError(
                f"{type(self).__name__}.range() needs data: call collect(x) with at least one "
                "calibration batch first; got 0 batches"
            )
        lo, hi = self._range()
        return np.float32(np.asarray(lo).reshape(-1)[0]), np.float32(np.asarray(hi).reshape(-1)[0])

    def _collect(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _range(self):
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args}) [{self.n_batches} batches]"

    def _params(self) -> dict:
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}


class MinMax(Calibrator):
    """The running minimum and maximum: ``(min x, max x)`` over all batches.

    == ORT ``MinMaxCalibrater``: a ReduceMin/ReduceMax per batch, ``np.nanmin``/``nanmax``
    across batches (calibrate.py ``compute_data``), ``min``/``max`` across passes
    (``merge_range``). symmetric: ``(-amax, amax)`` with ``amax = max(|min|, |max|)``.
    """

    name = "minmax"

    def __init__(self, symmetric: bool = False) -> None:
        super().__init__()
        self.symmetric = _check_bool(symmetric, "symmetric", "MinMax")
        self.min = self.max = None

    def _collect(self, x):
        lo, hi = x.min(), x.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def _range(self):
        if self.symmetric:
            amax = max(abs(self.min), abs(self.max))
            return -amax, amax
        return self.min, self.max


class MovingAverageMinMax(Calibrator):
    """Averaged per-batch minima and maxima: one outlier batch moves the range only a little.

    convention:
        ``"ort"``: ORT ``MinMaxCalibrater(moving_average=True)`` as quantize_static runs it: all
        batches in one ``collect_data`` pass, whose ``compute_data`` takes ``np.nanmean`` of the
        per-batch minima and maxima, a plain mean. ``averaging_constant`` only acts *between*
        passes (``merge_range``: ``old + c * (new - old)``, i.e. with ``CalibStridedMinMax``),
        so a single pass ignores it.
        ``"torch"``: ``torch.ao.quantization.MovingAverageMinMaxObserver``: the first batch
        sets (min, max), each later one moves them by ``c * (batch_min - min)`` (float32).
        That is also ORT's result when every batch is its own ``collect_data`` pass.
    symmetric: ``(-amax, amax)`` of the averaged range (ORT ``compute_data``).
    """

    name = "moving_average"

    def __init__(
        self, averaging_constant: float = 0.01, convention: str = "ort", symmetric: bool = False
    ) -> None:
        super().__init__()
        op = "MovingAverageMinMax"
        c = averaging_constant
        if isinstance(c, bool) or not isinstance(c, int | float | np.floating) or not 0 <= c <= 1:
            # ORT MinMaxCalibrater.__init__ rejects the same values.
            raise InvalidValueError(f"{op} needs 0 <= averaging_constant <= 1; got {c!r}")
        if convention not in CONVENTIONS:
            raise InvalidValueError(f"{op} needs convention 'ort' or 'torch'; got {convention!r}")
        self.averaging_constant = float(c)
        self.convention = convention
        self.symmetric = _check_bool(symmetric, "symmetric", op)
        self._mins: list[np.ndarray] = []  # ort: one (1,) array per batch, as ReduceMin returns
        self._maxs: list[np.ndarray] = []
        self.min = self.max = None  # torch: the running float32 averages

    def _collect(self, x):
        lo, hi = x.min(), x.max()
        if self.convention == "ort":
            self._mins.append(lo.reshape(1))
            self._maxs.append(hi.reshape(1))
        elif self.min is None:
            self.min, self.max = lo, hi
        else:
            c = self.averaging_constant  # a Python float: both libraries multiply in float32
            self.min = self.min + c * (lo - self.min)
            self.max = self.max + c * (hi - self.max)

    def _range(self):
        if self.convention == "ort":
            # calibrate.py compute_data: np.nanmean over the list of (1,) arrays, axis 0 (the
            # very call, so the float32 summation order is ORT's too).
            lo, hi = np.nanmean(self._mins, axis=0), np.nanmean(self._maxs, axis=0)
        else:
            lo, hi = self.min, self.max
        if self.symmetric:
            amax = np.nanmax([np.abs(lo), np.abs(hi)], axis=0)
            return -amax, amax
        return lo, hi


class _Histogram(Calibrator):
    """A histogram of one tensor's values, grown across batches the way ORT's
    ``HistogramCollector`` grows it (calibrate.py).

    Two flavours, chosen by the subclass:

    - signed (``collect_value``; Entropy, asymmetric Percentile): ``num_bins`` bins on
      ``[-t, t]``, t = the first batch's max |x|. A later batch within ``[-t, t]`` is binned
      on the same grid and added. A wider one extends the grid by whole old-width bins on both
      sides (``merge_histogram``): the old counts keep their bins, the new batch is binned on
      the extended range (whose edges are recomputed, so they may not line up exactly with the
      old ones; ORT accepts that).
    - absolute (``collect_absolute_value``; symmetric Percentile): bins over ``[min |x|,
      max |x|]`` of the first batch (not from 0). A later batch with a larger |x| appends
      bins of the same width (``np.arange``); values below the first edge are *dropped*
      (``np.histogram`` ignores values outside explicit edges), as in ORT.

    ``hist`` (int64 counts), ``edges`` (float32, len(hist) + 1), ``min``/``max`` (the signed
    extremes, which clamp every threshold) are public for plotting.
    """

    _absolute = False

    def __init__(self, num_bins: int) -> None:
        super().__init__()
        self.num_bins = _check_int(num_bins, "num_bins", type(self).__name__)
        self.hist = self.edges = self.min = self.max = self.threshold = None

    def _collect(self, x):
        if self._absolute:
            self._collect_absolute(x)
        else:
            self._collect_signed(x)

    def _collect_absolute(self, x):
        lo, hi = x.min(), x.max()  # the signed extremes, before taking |x|
        a = np.absolute(x)
        if self.hist is None:
            hist, edges = np.histogram(a, bins=self.num_bins)
        else:
            edges, amax = self.edges, a.max()
            if amax > edges[-1]:
                width = edges[1] - edges[0]
                # ORT's note: np.arange may add one bin beyond the one holding amax.
                edges = np.hstack((edges, np.arange(edges[-1] + width, amax + width, width)))
            hist, edges = np.histogram(a, bins=edges)
            hist[: len(self.hist)] += self.hist
            lo, hi = min(self.min, lo), max(self.max, hi)
        self.hist, self.edges, self.min, self.max = hist, edges.astype(a.dtype), lo, hi

    def _collect_signed(self, x):
        lo, hi = x.min(), x.max()
        t = np.array(max(abs(lo), abs(hi)), dtype=x.dtype)
        if self.hist is None:
            self.hist, self.edges = np.histogram(x, self.num_bins, range=(-t, t))
            self.min, self.max, self.threshold = lo, hi, t
            return
        old_hist, old_t = self.hist, self.threshold
        if t <= old_t:  # fits: same grid, add the counts
            hist, _ = np.histogram(x, len(old_hist), range=(-old_t, old_t))
            hist, edges, t = hist + old_hist, self.edges, old_t
        elif old_t == 0:  # everything so far was 0: re-grid, add the old counts index-wise
            hist, edges = np.histogram(x, len(old_hist), range=(-t, t))
            hist += old_hist
        else:  # grow by whole old-width bins on both sides, old counts in the middle
            n_old = len(old_hist)
            stride = 2 * old_t / n_old
            half = int((t - old_t) // stride + 1)
            t = half * stride + old_t
            hist, edges = np.histogram(x, n_old + 2 * half, range=(-t, t))
            hist[half : n_old + half] += old_hist
        self.hist, self.edges, self.threshold = hist, edges, t
        self.min, self.max = min(self.min, lo), max(self.max, hi)

    def _clamp(self, lo, hi):
        """ORT clamps every histogram threshold to the values actually seen."""
        return (self.min if lo < self.min else lo), (self.max if hi > self.max else hi)


class Percentile(_Histogram):
    """Clip the tails: the range holding ``percentile`` % of the values (by histogram).

    == ORT ``PercentileCalibrater`` / ``HistogramCollector.compute_percentile``. symmetric
    (quantize_static's default for this method): histogram |x|, threshold ``t`` = the *left*
    edge of the bin where the cumulative share reaches ``percentile`` / 100, range ``(-t, t)``
    clamped to (min, max) (so all-positive data gives ``rmin = min x``). Asymmetric: a signed
    histogram, cutting ``(100 - percentile) / 2`` % from each side. ``percentile`` in (0, 100];
    100 gives the left edge of the last occupied bin (or the top edge when the float64
    cumulative sum falls short of 1.0), so even 100 can clip a little.
    """

    name = "percentile"

    def __init__(
        self, percentile: float = 99.999, num_bins: int = 2048, symmetric: bool = True
    ) -> None:
        super().__init__(num_bins)
        p = percentile
        if isinstance(p, bool) or not isinstance(p, int | float | np.number) or not 0 < p <= 100:
            raise InvalidValueError(
                f"Percentile needs 0 < percentile <= 100 (the % of values kept); got {p!r}"
            )
        self.percentile = float(p)
        self.symmetric = _check_bool(symmetric, "symmetric", "Percentile")
        self._absolute = self.symmetric  # HistogramCollector.collect picks the flavour so

    def _range(self):
        hist, edges = self.hist, self.edges
        cdf = np.cumsum(hist / hist.sum())  # float64 shares, compute_percentile
        if self.symmetric:
            t = edges[np.searchsorted(cdf, self.percentile / 100.0)]
            lo, hi = -t, t
        else:
            cut = (100.0 - self.percentile) / 200.0
            lo = edges[np.searchsorted(cdf, cut)]
            hi = edges[np.searchsorted(cdf, 1.0 - cut)]
        return self._clamp(lo, hi)


def _smooth(p: np.ndarray) -> np.ndarray | None:
    """quant_utils.smooth_distribution: give empty bins a mass of eps (taken evenly from the
    others) so the KL divergence stays finite; None if every bin is empty. float32."""
    eps = 0.0001
    is_zeros = (p == 0).astype(np.float32)
    is_nonzeros = (p != 0).astype(np.float32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)  # same operation order as ORT
    hist = p.astype(np.float32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    return hist


def _kl(p: np.ndarray, q: np.ndarray) -> np.float32:
    """KL(p || q) of two float32 histograms, normalised first: sum p log(p / q), in float32
    (calibrate.py ``entropy`` / ``rel_entr``; any bin with p <= 0 or q <= 0 gives inf)."""
    p = p / np.sum(p)
    q = q / np.sum(q)
    if not np.all((p > 0) & (q > 0)):
        return np.float32(np.inf)
    return np.sum(p * np.log(p / q))


class Entropy(_Histogram):
    """Minimise the information lost: the KL-optimal clipping threshold (TensorRT, MXNet).

    == ORT ``EntropyCalibrater`` / ``HistogramCollector.get_entropy_threshold``. On a signed
    histogram of ``num_bins`` bins around 0, each candidate keeps the central ``2i + 1`` bins
    (i from ``num_quantized_bins // 2`` to the edge). For each:

    - p: the kept bins with the clipped tails' counts added to the two end bins (what clipping
      does to the fp32 distribution);
    - q: the kept bins merged ``num_merged = kept // num_quantized_bins`` at a time into
      ``num_quantized_bins`` levels (the remainder into the last level), each level's count
      spread evenly (integer division) back over the bins of its group where p is non-zero;
    - both smoothed (empty bins get eps), KL(p || q) in float32.

    The threshold with the smallest KL wins (the first one on ties), clamped to (min, max).
    With ORT's defaults (num_bins == num_quantized_bins == 128, as quantize_static uses) there
    is a single candidate, the whole histogram, so one pass gives exactly (min, max): pass e.g.
    ``num_bins=2048`` for a real search. ``symmetric`` is accepted for ORT's signature and, as
    in ORT's HistogramCollector, has no effect (the candidates are already centred on 0).
    """

    name = "entropy"

    def __init__(
        self, num_bins: int = 128, num_quantized_bins: int = 128, symmetric: bool = False
    ) -> None:
        super().__init__(num_bins)
        self.num_quantized_bins = _check_int(num_quantized_bins, "num_quantized_bins", "Entropy")
        if self.num_quantized_bins > self.num_bins:
            raise InvalidValueError(
                f"Entropy needs num_bins >= num_quantized_bins (candidates clip the histogram "
                f"down to num_quantized_bins); got num_bins={num_bins}, "
                f"num_quantized_bins={num_quantized_bins}"
            )
        self.symmetric = _check_bool(symmetric, "symmetric", "Entropy")
        self.kl = self.thresholds = None  # per candidate, after range()

    def _range(self):
        hist, edges = self.hist, self.edges
        n, nq = hist.size, self.num_quantized_bins
        zero = n // 2
        candidates = range(nq // 2, zero + 1)
        kl = np.zeros(len(candidates))  # float64 array of float32 values, as ORT
        thresholds = []
        for j, i in enumerate(candidates):
            start, end = zero - i, min(zero + i + 1, n)
            thresholds.append((edges[start], edges[end]))
            kept = hist[start:end]
            p = kept.copy()
            p[0] += hist[:start].sum()  # clipped outliers pile up in the end bins
            p[-1] += hist[end:].sum()
            m = kept.size // nq  # fp32 bins per quantized level
            levels = kept[: nq * m].reshape(nq, m).sum(axis=1)
            levels[-1] += kept[nq * m :].sum()
            norm = (p[: nq * m] != 0).reshape(nq, m).sum(axis=1)
            q = np.zeros(p.size, dtype=np.int64)
            # ORT assigns levels / norm (float64) into an int64 array: truncation. Bins past
            # nq * m stay 0 although their counts went into the last level (ORT does so).
            spread = np.where(norm != 0, levels / np.maximum(norm, 1), 0).astype(np.int64)
            q[: nq * m] = np.repeat(spread, m)
            ps, qs = _smooth(p), _smooth(q)
            kl[j] = np.inf if ps is None or qs is None else _kl(ps, qs)
        self.kl, self.thresholds = kl, thresholds
        return self._clamp(*thresholds[int(np.argmin(kl))])


class MSE(Calibrator):
    """The range whose fake-quantized data is closest to the data (ours; not an ORT method).

    Candidates shrink the min-max range (widened to include 0) towards 0:
    ``(a * lo, a * hi)`` for ``a = k / num_candidates``, k = num_candidates .. 1. Each is
    turned into scale/zp by :func:`~inferlab.quant.params.qparams` (``dtype``, ``symmetric``,
    ``reduce_range``, ``convention``) and scored by ``mean((x - fake_quant(x))**2)`` (float64)
    over the collected values; the smallest error wins (the widest range on ties). a = 1 is
    the MinMax range, so MSE is never worse than MinMax on the data it scored.

    Memory: the values are kept, at most ``max_samples`` of them: beyond that the stream is
    thinned to every 2nd, 4th, ... value (deterministic, ``x_all[::stride]``); min and max stay
    exact. Cost: num_candidates fake-quantizations of the sample. After :meth:`range`,
    ``alphas`` and ``errors`` hold the scored candidates.
    """

    name = "mse"

    def __init__(
        self,
        dtype: str = "int8",
        symmetric: bool = False,
        reduce_range: bool = False,
        convention: str = "ort",
        num_candidates: int = 100,
        max_samples: int = 1 << 20,
    ) -> None:
        super().__init__()
        op = "MSE"
        if dtype not in INT_DTYPES:
            raise DTypeError(
                f"{op} needs dtype to be one of {', '.join(INT_DTYPES)}; got {dtype!r}"
            )
        if convention not in CONVENTIONS:
            raise InvalidValueError(f"{op} needs convention 'ort' or 'torch'; got {convention!r}")
        self.dtype, self.convention = dtype, convention
        self.symmetric = _check_bool(symmetric, "symmetric", op)
        self.reduce_range = _check_bool(reduce_range, "reduce_range", op)
        self.num_candidates = _check_int(num_candidates, "num_candidates", op)
        self.max_samples = _check_int(max_samples, "max_samples", op)
        self.min = self.max = None
        self.stride = 1  # the sample is the concatenated stream [::stride]
        self._chunks: list[np.ndarray] = []
        self._kept = 0
        self.alphas = self.errors = None

    def _collect(self, x):
        lo, hi = x.min(), x.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        first = (-self.n_values) % self.stride  # global index of x[0] is n_values
        chunk = x[first :: self.stride].copy()
        self._chunks.append(chunk)
        self._kept += chunk.size
        while self._kept > self.max_samples:  # keep every 2nd kept value: stride doubles
            kept = np.concatenate(self._chunks)[::2]
            self._chunks, self._kept, self.stride = [kept], kept.size, self.stride * 2

    @property
    def sample(self) -> np.ndarray:
        """The values the candidates are scored on, 1-D float32."""
        return np.concatenate(self._chunks)

    def _candidate(self, a: float):
        lo, hi = min(self.min, np.float32(0)), max(self.max, np.float32(0))
        if self.symmetric:
            hi = max(-lo, hi)
            lo = -hi
        return np.float32(a * lo), np.float32(a * hi)

    def _range(self):
        x = self.sample
        x64 = x.astype(np.float64)
        n = self.num_candidates
        alphas = np.arange(n, 0, -1) / n  # widest first, so ties keep the wider range
        errors = np.empty(n)
        for j, a in enumerate(alphas):
            lo, hi = self._candidate(a)
            qp = qparams(
                lo,
                hi,
                self.dtype,
                symmetric=self.symmetric,
                reduce_range=self.reduce_range,
                convention=self.convention,
            )
            errors[j] = np.mean((fake_quant(x, qp).astype(np.float64) - x64) ** 2)
        self.alphas, self.errors = alphas, errors
        return self._candidate(alphas[int(np.argmin(errors))])


METHODS: dict[str, type[Calibrator]] = {
    "minmax": MinMax,
    "moving_average": MovingAverageMinMax,
    "percentile": Percentile,
    "entropy": Entropy,
    "mse": MSE,
}


def make_calibrator(method: str, **kwargs) -> Calibrator:
    """A fresh calibrator by name (a key of :data:`METHODS`) and its keyword arguments."""
    if method not in METHODS:
        raise InvalidValueError(
            f"make_calibrator needs method to be one of {', '.join(map(repr, METHODS))}; "
            f"got {method!r}"
        )
    cls = METHODS[method]
    allowed = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InvalidValueError(
            f"make_calibrator({method!r}) accepts {', '.join(allowed) or 'no options'}; "
            f"got unknown option(s) {', '.join(unknown)}"
        )
    return cls(**kwargs)


def calibrate(batches: Iterable, method: str = "minmax", **kwargs) -> tuple[np.float32, np.float32]:
    """``(rmin, rmax)`` of one tensor from its calibration batches, in one pass.

    batches: arrays of one tensor (a single array counts as one batch). Mirrors one
    ``collect_data`` pass of ORT's calibraters, as ``quantize_static`` runs them: MinMax-type
    methods see each batch (per-batch min/max); the histogram methods (percentile, entropy)
    see all batches at once, flattened and concatenated (ORT stacks them with ``np.asarray``
    into one histogram), which is not the same as collecting them one by one when a later
    batch has a wider range. kwargs: the method's options (see :data:`METHODS`).
    """
    cal = make_calibrator(method, **kwargs)
    if isinstance(batches, np.ndarray):
        batches = [batches]
    batches = list(batches)
    if not batches:
        raise InvalidValueError(f"calibrate({method!r}) needs at least one batch; got none")
    if isinstance(cal, _Histogram):
        arrays = [np.asarray(b) for b in batches]
        for b in arrays:  # check each batch (so the message names the bad one's shape)
            if b.dtype.kind != "f" or b.size == 0:
                cal.collect(b)
        cal.collect(np.concatenate([b.reshape(-1) for b in arrays]))
    else:
        for b in batches:
            cal.collect(b)
    return cal.range()
