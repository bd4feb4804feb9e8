"""inferlab.prune.sparse: CSR and 2:4 storage round trips, the CSR kernel against dense matmul
and scipy.sparse (the reference here only), byte and FLOP counts, the crossover helper."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_allclose, assert_array_equal

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.prune import sparse as sp
from inferlab.prune.masks import apply_mask, nm_mask
from inferlab.prune.sparse import (
    CSR,
    NM24,
    Crossover,
    compress_24,
    crossover_sparsity,
    csr_bytes,
    csr_matmul,
    csr_matmul_flops,
    csr_size_break_even,
    csr_to_dense,
    decompress_24,
    dense_bytes,
    matmul_flops,
    measure_crossover,
    nm_bytes,
    to_csr,
)


def sparse_matrix(shape, sparsity, seed=0, empty_rows=()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) < sparsity] = 0
    w[list(empty_rows)] = 0
    return w


CASES = [
    ((1, 1), 0.0, ()),
    ((7, 13), 0.5, (0, 3)),
    ((64, 48), 0.9, (10, 63)),
    ((33, 65), 0.99, ()),
    ((16, 16), 1.0, ()),  # all zero
    ((0, 5), 0.5, ()),
    ((20, 30), 0.0, (19,)),
]


@pytest.mark.parametrize(("shape", "s", "empty"), CASES)
def test_csr_round_trip_is_exact_and_is_scipys_layout(shape, s, empty):
    w = sparse_matrix(shape, s, empty_rows=empty)
    c = to_csr(w)
    assert c.data.dtype == np.float32 and c.indices.dtype == np.int32 == c.indptr.dtype
    assert c.nnz == np.count_nonzero(w) and c.shape == shape
    assert_array_equal(csr_to_dense(c), w)
    ref = scipy.sparse.csr_matrix(w)
    assert_array_equal(c.indptr, ref.indptr)
    assert_array_equal(c.indices, ref.indices)
    assert_array_equal(c.data, ref.data)


@pytest.mark.parametrize(("shape", "s", "empty"), CASES)
@pytest.mark.parametrize("n", [1, 5, 17])
def test_csr_matmul_equals_dense_and_scipy(shape, s, empty, n):
    w = sparse_matrix(shape, s, seed=n, empty_rows=empty)
    x = np.random.default_rng(n + 1).standard_normal((shape[1], n)).astype(np.float32)
    c = to_csr(w)
    y = csr_matmul(c, x)
    assert y.shape == (shape[0], n) and y.dtype == np.float32
    dense = w @ x
    assert_allclose(y, dense, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(dense).max(initial=0))))
    assert_allclose(y, scipy.sparse.csr_matrix(w) @ x, rtol=1e-5, atol=1e-5)
    for r in empty:
        assert not y[r].any()  # an empty row stays exactly 0
    # 1-D x: a matrix-vector product.
    assert_allclose(csr_matmul(c, x[:, 0]), dense[:, 0], rtol=1e-5, atol=1e-5)


def test_csr_matmul_row_chunks_give_the_same_result(monkeypatch):
    w = sparse_matrix((40, 30), 0.7, seed=3, empty_rows=(5,))
    x = np.random.default_rng(4).standard_normal((30, 9)).astype(np.float32)
    full = csr_matmul(to_csr(w), x)
    monkeypatch.setattr(sp, "_CHUNK_BYTES", 1)  # one row per chunk
    assert_array_equal(csr_matmul(to_csr(w), x), full)


def test_csr_matmul_skewed_rows_and_engine_gemm_layout():
    w = sparse_matrix((12, 50), 0.95, seed=5)
    w[4] = 1.5  # one full row among near-empty ones: padding to the longest row
    x = np.random.default_rng(6).standard_normal((8, 50)).astype(np.float32)  # (batch, in)
    # Gemm y = x @ W.T as csr_matmul(W, x.T).T
    assert_allclose(csr_matmul(to_csr(w), x.T).T, x @ w.T, rtol=1e-5, atol=1e-5)


def test_byte_and_flop_counts():
    w = sparse_matrix((30, 40), 0.8, seed=7)
    c = to_csr(w)
    assert csr_bytes(c) == c.nbytes == 4 * c.nnz + 4 * c.nnz + 4 * (30 + 1)
    assert dense_bytes(w) == 4 * 30 * 40 == dense_bytes((30, 40))
    assert dense_bytes(w.astype(np.float16)) == 2 * 1200 and dense_bytes(w, itemsize=1) == 1200
    assert matmul_flops(30, 40, 7) == 2 * 30 * 40 * 7
    assert csr_matmul_flops(c, 7) == 2 * c.nnz * 7
    # The size break-even: CSR is smaller just above it, bigger just below.
    b = csr_size_break_even((30, 40))
    assert 0.5 < b < 0.52
    for s, smaller in ((b + 0.01, True), (b - 0.01, False)):
        nnz = round((1 - s) * 1200)
        assert (8 * nnz + 4 * 31 < 4 * 1200) is smaller


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", [(8, 16), (3, 4), (64, 128)])
def test_24_round_trip_metadata_and_bytes(dtype, shape):
    w = sparse_matrix(shape, 0.0, seed=shape[0]).astype(dtype)
    keep = nm_mask(w, 2, 4)
    w24 = apply_mask(w, keep)
    nm = compress_24(w24)
    rows, cols = shape
    assert nm.values.shape == (rows, cols // 2) and nm.values.dtype == dtype
    assert nm.meta.shape == (rows, cols // 4) and nm.meta.dtype == np.uint8
    assert_array_equal(decompress_24(nm), w24)
    # Metadata: the kept columns i0 < i1 of each group, 2 bits each.
    i0, i1 = nm.meta & 3, nm.meta >> 2
    assert (i0 < i1).all() and (i1 <= 3).all()
    assert_array_equal(np.take_along_axis(keep.reshape(rows, -1, 4), i0[..., None], -1), True)
    # Bytes: half the values + 2 bits per kept value = rows*cols/8.
    item = np.dtype(dtype).itemsize
    assert nm_bytes(nm) == rows * cols // 2 * item + -(-rows * cols // 8)  # whole bytes
    if rows * cols % 8 == 0:
        ratio = nm_bytes(nm) / dense_bytes(w24)
        assert ratio == pytest.approx(0.5625 if dtype == np.float16 else 0.53125)
    # With the mask given, the same; the mask wins over stray nonzeros.
    assert_array_equal(decompress_24(compress_24(w, mask=keep)), w24)


def test_24_groups_with_fewer_nonzeros_round_trip():
    w = np.array([[0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 3, 0], [0, 0, 0, -4, 5, 6, 0, 0, 0, 0, 0, 0]])
    w = w.astype(np.float32)
    nm = compress_24(w)
    assert_array_equal(decompress_24(nm), w)
    assert nm.meta[1, 0] == (0 | 3 << 2)  # the nonzero (3) plus the first zero (0) as filler


def test_crossover_sparsity_interpolates():
    s = [0.5, 0.9, 0.99]
    assert crossover_sparsity(s, [1, 1, 1], [3, 2, 0.5]) == pytest.approx(0.96)
    assert crossover_sparsity(s, [1, 1, 1], [0.9, 0.8, 0.1]) == 0.5  # faster everywhere
    assert crossover_sparsity(s, [1, 1, 1], [3, 2, 1.5]) is None  # never faster
    # Noise: faster at 0.5, slower at 0.9, faster at 0.99: the crossover it stays past.
    assert 0.9 < crossover_sparsity(s, [1, 1, 1], [0.9, 1.1, 0.5]) < 0.99


def test_measure_crossover_structure():
    r = measure_crossover((16, 24, 4), (0.9, 0.0, 0.5), repeat=2)
    assert isinstance(r, Crossover) and r.shape == (16, 24, 4)
    assert r.sparsities == (0.0, 0.5, 0.9)
    assert len(r.dense_s) == len(r.csr_s) == len(r.speedup) == 3
    assert all(t > 0 for t in r.dense_s + r.csr_s)
    assert r.crossover == crossover_sparsity(r.sparsities, r.dense_s, r.csr_s)
    assert r.crossover is None or 0.0 <= r.crossover <= 0.9


W = sparse_matrix((4, 8), 0.5)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: to_csr(np.ones(3)), ShapeError, r"2-D.*\(3,\)"),
        (lambda: to_csr(np.ones((2, 2), complex)), DTypeError, "real-valued"),
        (lambda: csr_matmul(to_csr(W), np.ones((7, 2))), ShapeError, r"\(4, 8\) @ x \(7, 2\)"),
        (lambda: csr_matmul(W, np.ones((8, 2))), DTypeError, "needs a CSR"),
        (lambda: csr_matmul(to_csr(W), np.ones((8, 2, 2))), ShapeError, r"\(K, N\)"),
        (lambda: CSR(np.ones(2), [0, 1], [0, 1], (2, 2)), ShapeError, r"indptr \(3,\)"),
        (lambda: CSR(np.ones(2), [0, 5], [0, 1, 2], (2, 2)), InvalidValueError, r"\[0, 2\)"),
        (lambda: CSR(np.ones(2), [0, 1], [0, 2, 1], (2, 2)), InvalidValueError, "rise"),
        (lambda: compress_24(np.ones((2, 6))), ShapeError, "multiple of 4"),
        (lambda: compress_24(np.ones((2, 8))), InvalidValueError, "row 0, columns 0..3 hold 4"),
        (lambda: compress_24(W, mask=np.ones((4, 8))), InvalidValueError, "exactly 2"),
        (lambda: compress_24(W, mask=np.ones((8, 4))), ShapeError, r"\(4, 8\)"),
        (lambda: decompress_24(W), DTypeError, "NM24"),
        (lambda: nm_bytes(W), DTypeError, "NM24"),
        (lambda: crossover_sparsity([0.5, 0.4], [1, 1], [1, 1]), InvalidValueError, "ascending"),
        (lambda: crossover_sparsity([0.5], [1, 1], [1]), ShapeError, "equal-length"),
        (lambda: measure_crossover((4, 4), (0.5,)), ShapeError, r"\(M, K, N\)"),
        (lambda: measure_crossover((4, 4, 4), (1.0,)), InvalidValueError, r"\[0, 1\)"),
        (lambda: measure_crossover((4, 4, 4), ()), InvalidValueError, "at least one"),
        (lambda: csr_size_break_even((0, 4)), ShapeError, ">= 1"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nm24_is_a_plain_record():
    nm = compress_24(apply_mask(W, nm_mask(W, 2, 4)))
    assert isinstance(nm, NM24) and nm.shape == (4, 8)
