"""Sparse storage and kernels: what zeros cost in bytes, FLOPs and seconds.

A masked weight is still a dense array: the zeros are stored and multiplied. Two ways to skip
them, with their byte cost (``w`` is (rows, cols) = (out, in), float32, ``nnz`` nonzeros):

- **CSR** (compressed sparse row, scipy.sparse's layout): ``data`` float32 (nnz,), ``indices``
  int32 (nnz,) column of each value, ``indptr`` int32 (rows+1,) where each row starts.
  ``4·nnz + 4·nnz + 4·(rows+1)`` bytes against ``4·rows·cols`` dense: smaller only past ~50 %
  sparsity (:func:`csr_size_break_even`). :func:`csr_matmul` skips the zeros
  (``2·nnz·N`` FLOPs instead of ``2·M·K·N``) but reads x by gathered rows with an index per
  value, so it only beats a dense BLAS matmul past a crossover sparsity that
  :func:`measure_crossover` measures on this CPU (98-99 % for this NumPy kernel against
  single-threaded BLAS on the course machine; a compiled kernel such as scipy's crosses lower).
- **2:4** (NVIDIA sparse tensor cores, Ampere+; ``torch.sparse.to_sparse_semi_structured``):
  exactly 2 nonzeros in every 4 along a row. Stored as half the values plus 2 bits of column
  index per kept value: ``rows·cols/2·itemsize + rows·cols/8`` bytes, 56.25 % of dense fp16
  and 53.1 % of float32 (NVIDIA's fp32/tf32 kernels actually use 1:2; the count is the same).

Example::

    >>> c = to_csr(w)                       # w (M, K) float32 with zeros
    >>> y = csr_matmul(c, x)                # x (K, N) -> (M, N), == w @ x up to rounding
    >>> csr_bytes(c), dense_bytes(w)        # 8·nnz + 4·(M+1) vs 4·M·K
    >>> nm = compress_24(w * nm_mask(w))    # (M, K/2) values + (M, K/4) uint8 metadata
    >>> r = measure_crossover((256, 256, 64), (0.5, 0.9, 0.99))
    >>> r.crossover                         # sparsity from which CSR beats np.matmul

The engine's Gemm computes ``y = x @ W.T`` with W (out, in): that is ``csr_matmul(to_csr(W),
x.T).T``. scipy.sparse is only used by the tests, as a reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError, describe

__all__ = [
    "CSR",
    "NM24",
    "Crossover",
    "compress_24",
    "crossover_sparsity",
    "csr_bytes",
    "csr_matmul",
    "csr_matmul_flops",
    "csr_size_break_even",
    "csr_to_dense",
    "decompress_24",
    "dense_bytes",
    "matmul_flops",
    "measure_crossover",
    "nm_bytes",
    "to_csr",
]

# csr_matmul gathers (rows, L, N) floats at once; bigger problems go through in row chunks.
_CHUNK_BYTES = 32 * 2**20


def _as_matrix(w, op: str, name: str = "w") -> np.ndarray:
    arr = np.asarray(w)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise DTypeError(f"{op} needs a real-valued matrix {name}; got {describe(w)}")
    if arr.ndim != 2:
        raise ShapeError(f"{op} needs a 2-D matrix {name} (rows, cols); got {describe(arr)}")
    return arr


# ----------------------------------------------------------------------------- CSR


@dataclass(frozen=True)
class CSR:
    """A (rows, cols) matrix in compressed sparse row form (scipy.sparse.csr_matrix's layout).

    data: float32 (nnz,) the nonzeros, row by row, columns ascending; indices: int32 (nnz,)
    their columns; indptr: int32 (rows+1,), row r is ``data[indptr[r]:indptr[r+1]]``.
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self):
        shape = tuple(int(d) for d in self.shape)
        if len(shape) != 2 or min(shape) < 0:
            raise ShapeError(f"CSR needs a shape (rows, cols) >= 0; got {self.shape!r}")
        data = np.asarray(self.data, np.float32)
        indices = np.asarray(self.indices)
        indptr = np.asarray(self.indptr)
        if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
            raise DTypeError(
                f"CSR indices/indptr must be integers; got {describe(indices)}, {describe(indptr)}"
            )
        indices, indptr = indices.astype(np.int32), indptr.astype(np.int32)
        nnz = data.size
        if data.ndim != 1 or indices.shape != (nnz,) or indptr.shape != (shape[0] + 1,):
            raise ShapeError(
                f"CSR of shape {shape} needs data (nnz,), indices (nnz,), indptr "
                f"({shape[0] + 1},); got data {data.shape}, indices {indices.shape}, "
                f"indptr {indptr.shape}"
            )
        if indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
            raise InvalidValueError(
                f"CSR indptr must rise from 0 to nnz={nnz}; got {indptr[:8]}..{indptr[-1]}"
            )
        if nnz and (indices.min() < 0 or indices.max() >= shape[1]):
            raise InvalidValueError(f"CSR indices must be in [0, {shape[1]}); got out of range")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "indptr", indptr)

    @property
    def nnz(self) -> int:
        """Number of stored values."""
        return int(self.data.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the three arrays (:func:`csr_bytes`)."""
        return csr_bytes(self)


def to_csr(w) -> CSR:
    """CSR of a 2-D w (any real dtype, stored as float32); every exact 0 is dropped."""
    arr = _as_matrix(w, "to_csr")
    rows, cols = np.nonzero(arr)  # row-major order: rows ascending, then columns
    indptr = np.zeros(arr.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=arr.shape[0]), out=indptr[1:])
    return CSR(arr[rows, cols].astype(np.float32), cols, indptr, arr.shape)


def csr_to_dense(csr: CSR) -> np.ndarray:
    """The (rows, cols) float32 matrix back, zeros included."""
    if not isinstance(csr, CSR):
        raise DTypeError(f"csr_to_dense needs a CSR (from to_csr); got {describe(csr)}")
    out = np.zeros(csr.shape, np.float32)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    out[rows, csr.indices] = csr.data
    return out


def csr_matmul(csr: CSR, x) -> np.ndarray:
    """``csr @ x`` for csr (M, K) and x (K, N) or (K,): float32 (M, N) or (M,).

    Vectorised NumPy, no scipy. Each output row is ``sum_j data[j] * x[indices[j]]`` over the
    row's run of values: a gather of the rows of x each stored value needs, then one sum per
    run. ``np.add.reduceat`` does those sums but one element at a time (5-20x slower here), so
    the runs are padded to the longest row (ELLPACK style: ``(M, L)`` values and columns,
    padding = value 0 at column 0) and one batched matmul ``(M, 1, L) @ (M, L, N)`` sums them.
    The padding is built on every call (its time counts); rows of very different lengths pad
    more. ``2·nnz·N`` useful FLOPs (:func:`csr_matmul_flops`). Equal to ``dense @ x`` up to the
    order of the float32 sums.
    """
    op = "csr_matmul"
    if not isinstance(csr, CSR):
        raise DTypeError(f"{op} needs a CSR (from to_csr) on the left; got {describe(csr)}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu" or arr.ndim not in (1, 2):
        raise ShapeError(f"{op} needs x (K,) or (K, N) real; got {describe(x)}")
    m, k = csr.shape
    if arr.shape[0] != k:
        raise ShapeError(
            f"{op} needs (M, K) @ (K, N); got csr {csr.shape} @ x {arr.shape} "
            f"(K = {k} vs {arr.shape[0]})"
        )
    x2 = arr.reshape(k, -1).astype(np.float32, copy=False)
    n = x2.shape[1]
    out = np.zeros((m, n), np.float32)
    if csr.nnz and n:
        lengths = np.diff(csr.indptr)
        width = int(lengths.max())
        slots = np.arange(width) < lengths[:, None]  # (M, L): row-major = CSR order
        cols = np.zeros((m, width), np.int32)
        vals = np.zeros((m, width), np.float32)
        cols[slots] = csr.indices
        vals[slots] = csr.data
        step = max(1, _CHUNK_BYTES // (4 * width * n))  # rows per chunk: bounded gather
        for r in range(0, m, step):
            gathered = x2[cols[r : r + step]]  # (rows, L, N)
            out[r : r + step] = np.matmul(vals[r : r + step, None, :], gathered)[:, 0]
    return out if arr.ndim == 2 else out[:, 0]


def csr_bytes(csr: CSR) -> int:
    """Stored bytes: ``4·nnz`` values + ``4·nnz`` int32 columns + ``4·(rows+1)`` row starts."""
    if not isinstance(csr, CSR):
        raise DTypeError(f"csr_bytes needs a CSR; got {describe(csr)}")
    return int(csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes)


def dense_bytes(w, itemsize: int | None = None) -> int:
    """Bytes of the dense matrix: ``itemsize·size`` (w's own itemsize for an array, 4 for a
    shape tuple), zeros included."""
    if isinstance(w, tuple):
        size, item = math.prod(int(d) for d in w), 4
    else:
        arr = np.asarray(w)
        size, item = arr.size, arr.dtype.itemsize
    return int(size * (item if itemsize is None else itemsize))


def csr_size_break_even(shape: tuple[int, int]) -> float:
    """The sparsity above which CSR (float32 + int32) takes fewer bytes than dense float32:
    ``8·nnz + 4·(rows+1) < 4·rows·cols`` -> ``1 - (rows·cols - rows - 1) / (2·rows·cols)``,
    just above 0.5."""
    rows, cols = (int(d) for d in shape)
    if rows < 1 or cols < 1:
        raise ShapeError(f"csr_size_break_even needs a shape (rows, cols) >= 1; got {shape!r}")
    return 1.0 - (rows * cols - rows - 1) / (2.0 * rows * cols)


def matmul_flops(m: int, k: int, n: int) -> int:
    """Dense (M, K) @ (K, N): ``2·M·K·N`` (one multiply and one add per term)."""
    return 2 * int(m) * int(k) * int(n)


def csr_matmul_flops(csr: CSR, n: int) -> int:
    """CSR (M, K) @ (K, N): ``2·nnz·N``; the skipped zeros cost nothing (but the indices do
    cost bytes and a gather)."""
    if not isinstance(csr, CSR):
        raise DTypeError(f"csr_matmul_flops needs a CSR; got {describe(csr)}")
    return 2 * csr.nnz * int(n)


# ----------------------------------------------------------------------------- 2:4


@dataclass(frozen=True)
class NM24:
    """A (rows, cols) matrix with at most 2 nonzeros in each group of 4 along a row.

    values: (rows, cols/2), w's float dtype: the 2 kept entries of each group, in column
    order. meta: (rows, cols/4) uint8: the kept columns ``i0 < i1`` of each group (0..3) as
    ``i0 | i1 << 2``; one byte per group here for readability, while the hardware packs the 2
    bits per kept value densely (what :func:`nm_bytes` counts).
    """

    values: np.ndarray
    meta: np.ndarray
    shape: tuple[int, int]


def compress_24(w, mask=None) -> NM24:
    """Compress a 2:4-sparse (rows, cols) w, cols a multiple of 4, to :class:`NM24`.

    mask: keep-mask with exactly 2 True per group (from ``nm_mask(w, 2, 4)``); without it the
    nonzeros of w are kept (groups with fewer than 2 are filled with their first zeros).
    A group with more than 2 nonzeros is an InvalidValueError: prune first.
    """
    op = "compress_24"
    arr = _as_matrix(w, op)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    rows, cols = arr.shape
    if cols % 4:
        raise ShapeError(f"{op} needs cols a multiple of 4 (groups of 4); got shape {arr.shape}")
    g = arr.reshape(rows, cols // 4, 4)
    if mask is None:
        keep = g != 0
    else:
        keep = np.asarray(mask)
        if keep.shape != arr.shape:
            raise ShapeError(f"{op}: mask must have w's shape {arr.shape}; got {describe(keep)}")
        keep = keep.astype(bool).reshape(g.shape)
        if (keep.sum(-1) != 2).any():
            raise InvalidValueError(f"{op}: the mask must keep exactly 2 of every 4")
        if (g[~keep] != 0).any():
            g = np.where(keep, g, 0)  # the mask wins: what it prunes is dropped
    count = keep.sum(-1)
    if (count > 2).any():
        r, grp = (int(i) for i in np.argwhere(count > 2)[0])
        raise InvalidValueError(
            f"{op} needs at most 2 nonzeros in each group of 4; row {r}, columns "
            f"{4 * grp}..{4 * grp + 3} hold {int(count[r, grp])} "
            f"({int((count > 2).sum())} such groups): apply nm_mask(w, 2, 4) first"
        )
    # Kept positions first (stable: column order), zero fillers after: take the first 2, sort.
    pos = np.sort(np.argsort(~keep, axis=-1, kind="stable")[..., :2], axis=-1)
    values = np.take_along_axis(g, pos, axis=-1).reshape(rows, cols // 2)
    meta = (pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint8)
    return NM24(np.ascontiguousarray(values), meta, (rows, cols))


def decompress_24(nm: NM24) -> np.ndarray:
    """The dense (rows, cols) matrix of an :class:`NM24`, in its values' dtype."""
    if not isinstance(nm, NM24):
        raise DTypeError(f"decompress_24 needs an NM24 (from compress_24); got {describe(nm)}")
    rows, cols = nm.shape
    pos = np.stack([nm.meta & 3, nm.meta >> 2], axis=-1).astype(np.intp)
    out = np.zeros((rows, cols // 4, 4), nm.values.dtype)
    np.put_along_axis(out, pos, nm.values.reshape(rows, cols // 4, 2), axis=-1)
    return out.reshape(rows, cols)


def nm_bytes(nm: NM24) -> int:
    """Bytes as the hardware stores a 2:4 matrix: the kept values (half of rows·cols, at their
    itemsize) plus 2 bits of index per kept value, ``rows·cols/8`` bytes."""
    if not isinstance(nm, NM24):
        raise DTypeError(f"nm_bytes needs an NM24; got {describe(nm)}")
    return int(nm.values.nbytes + math.ceil(nm.values.size * 2 / 8))


# ----------------------------------------------------------------------------- crossover


@dataclass(frozen=True)
class Crossover:
    """Dense ``np.matmul`` vs :func:`csr_matmul` of an (M, K) weight and (K, N) input.

    sparsities: ascending; dense_s, csr_s: median seconds per call at each (dense is timed at
    every point too: it is the same work, and the repeat shows the noise); crossover: see
    :func:`crossover_sparsity`.
    """

    shape: tuple[int, int, int]
    sparsities: tuple[float, ...]
    dense_s: tuple[float, ...]
    csr_s: tuple[float, ...]
    crossover: float | None

    @property
    def speedup(self) -> tuple[float, ...]:
        """dense / CSR time at each sparsity (> 1: CSR is faster)."""
        return tuple(d / c for d, c in zip(self.dense_s, self.csr_s, strict=True))


def crossover_sparsity(
    sparsities: Sequence[float], dense_s: Sequence[float], csr_s: Sequence[float]
) -> float | None:
    """The sparsity from which CSR stays faster than dense, linearly interpolated.

    Scans from the sparsest point down to the last point where CSR was slower and
    interpolates ``csr_s - dense_s`` to 0 between it and the next. CSR faster everywhere:
    the smallest sparsity measured (the crossover is at or below it); never faster at the
    sparsest point: None.
    """
    s, d, c = (np.asarray(v, np.float64) for v in (sparsities, dense_s, csr_s))
    if not (s.ndim == 1 and s.shape == d.shape == c.shape and s.size):
        raise ShapeError(
            "crossover_sparsity needs three equal-length 1-D sequences; got "
            f"{s.shape}, {d.shape}, {c.shape}"
        )
    if (np.diff(s) <= 0).any():
        raise InvalidValueError(f"crossover_sparsity needs ascending sparsities; got {s}")
    diff = c - d
    if diff[-1] >= 0:
        return None
    slower = np.flatnonzero(diff >= 0)
    if not slower.size:
        return float(s[0])
    i = int(slower[-1])  # CSR slower at i, faster at i+1 and everywhere after
    t = diff[i] / (diff[i] - diff[i + 1])
    return float(s[i] + t * (s[i + 1] - s[i]))


def measure_crossover(
    shape: tuple[int, int, int] = (256, 256, 64),
    sparsities: Sequence[float] = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999),
    repeat: int = 5,
    seed: int = 0,
) -> Crossover:
    """Time ``np.matmul(w, x)`` (zeros and all) against ``csr_matmul(to_csr(w), x)``.

    shape: (M, K, N), w (M, K) with a random share ``s`` of exact zeros per sparsity, x (K, N)
    standard normal, float32. repeat: samples per timing (median kept, one warm-up call).
    The answer depends on the CPU and BLAS threads (limit them with
    ``inferlab.bench.threads``); dense BLAS usually wins below ~98-99 % sparsity.
    """
    from inferlab.bench.sampling import measure

    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, Integral) for v in shape):
        raise ShapeError(f"measure_crossover needs shape (M, K, N) of ints; got {shape!r}")
    if min(shape) < 1:
        raise ShapeError(f"measure_crossover needs M, K, N >= 1; got {shape!r}")
    sp = []
    for v in sparsities:
        if isinstance(v, bool) or not isinstance(v, Real) or not 0 <= v < 1:
            raise InvalidValueError(f"measure_crossover sparsities must be in [0, 1); got {v!r}")
        sp.append(float(v))
    if not sp:
        raise InvalidValueError("measure_crossover needs at least one sparsity")
    sp = sorted(set(sp))
    m, k, n = (int(v) for v in shape)
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((m, k)).astype(np.float32)
    x = rng.standard_normal((k, n)).astype(np.float32)
    rank = rng.permutation(m * k).reshape(m, k)  # zero the lowest round(s·MK) ranks
    dense_s, csr_s = [], []
    for s in sp:
        w = np.where(rank < round(s * m * k), np.float32(0), base)
        c = to_csr(w)
        dense_s.append(measure(np.matmul, w, x, warmup=1, repeat=repeat).median)
        csr_s.append(measure(csr_matmul, c, x, warmup=1, repeat=repeat).median)
    return Crossover(
        (m, k, n), tuple(sp), tuple(dense_s), tuple(csr_s), crossover_sparsity(sp, dense_s, csr_s)
    )
