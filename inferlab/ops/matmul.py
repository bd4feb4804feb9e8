"""Matrix multiplication, four ways: the ladder of chapter 01.

``C = A @ B`` with ``A: (M, K)``, ``B: (K, N)`` and ``C[i, j] = sum_k A[i, k] * B[k, j]``:
``M * N`` dot products of length ``K``, so ``2 * M * N * K`` FLOPs (a multiply and an add each).
The four versions compute the same numbers; they differ in *where the loops run*:

1. :func:`matmul_naive`      three Python loops: one interpreted multiply-add at a time;
2. :func:`matmul_vectorized` one Python loop over rows; each row is one NumPy call;
3. :func:`matmul_tiled`      loops over square tiles, so a tile of A and B is reused while it
                             sits in the CPU cache, instead of streaming all of B once per row;
4. :func:`matmul`            one call into BLAS, which tiles for every cache level, uses SIMD
                             registers and all cores. This is what every later chapter uses.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError
from inferlab.ops._validate import as_float, as_shape, broadcast_batch, is_int
from inferlab.ops.cost import Cost, numel


def _check_2d(a, b, op: str) -> tuple[np.ndarray, np.ndarray]:
    """The rung-1..3 inputs: two float matrices (M, K) and (K, N)."""
    a, b = as_float(a, op, "a"), as_float(b, op, "b")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(f"{op} needs 2-D (M, K) @ (K, N); got {a.shape} @ {b.shape}")
    return a, b


def matmul_naive(a, b) -> np.ndarray:
    """``a: (M, K) @ b: (K, N) -> (M, N)`` with three Python loops (teaching only: ~50 MFLOP/s).

    The textbook definition, one multiply-add at a time. Every ``+=`` runs through the Python
    interpreter (type checks, boxing a float object), which costs ~100x more than the arithmetic.
    """
    a, b = _check_2d(a, b, "matmul_naive")
    M, K = a.shape
    N = b.shape[1]
    # Python lists: indexing a NumPy array element by element is even slower than lists.
    A, B = a.tolist(), b.tolist()
    C = [[0.0] * N for _ in range(M)]
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):
                acc += A[i][k] * B[k][j]
            C[i][j] = acc
    return np.array(C, dtype=np.result_type(a, b)).reshape(M, N)


def matmul_vectorized(a, b) -> np.ndarray:
    """``a: (M, K) @ b: (K, N) -> (M, N)`` with one Python loop over the rows of ``a``.

    Row ``i`` of C is row ``i`` of A times B: a vector-matrix product done by one NumPy call,
    so the two inner loops run in compiled code. But all of B (K*N numbers) is read again for
    every row: for large B that is memory traffic, not arithmetic, that sets the speed.
    """
    a, b = _check_2d(a, b, "matmul_vectorized")
    M, N = a.shape[0], b.shape[1]
    C = np.empty((M, N), dtype=np.result_type(a, b))
    for i in range(M):
        C[i, :] = a[i, :] @ b
    return C


def matmul_tiled(a, b, tile: int = 64) -> np.ndarray:
    """``a: (M, K) @ b: (K, N) -> (M, N)`` computed tile by tile (``tile x tile`` blocks).

    ``C[I, J] += A[I, K] @ B[K, J]`` for every block row I, block column J and block K. Three
    64x64 float32 tiles take 48 KiB, about what a core's L1/L2 cache holds, so each tile of B is
    reused for a whole tile of rows of A while it is still in cache. Slicing past the end of an
    array stops at the edge, so sizes that are not multiples of ``tile`` need no special case.
    """
    a, b = _check_2d(a, b, "matmul_tiled")
    if not is_int(tile) or tile < 1:
        raise InvalidValueError(f"matmul_tiled needs tile to be an int >= 1; got {tile!r}")
    M, K = a.shape
    N = b.shape[1]
    C = np.zeros((M, N), dtype=np.result_type(a, b))
    for i in range(0, M, tile):
        for j in range(0, N, tile):
            c_tile = C[i : i + tile, j : j + tile]  # a view: += writes into C
            for k in range(0, K, tile):
                c_tile += a[i : i + tile, k : k + tile] @ b[k : k + tile, j : j + tile]
    return C


def _matmul_dims(a_shape: tuple, b_shape: tuple, op: str) -> tuple[tuple, int, int, int]:
    """(batch shape, M, K, N) of ``a @ b`` following np.matmul (a 1-D operand is a vector)."""
    message = f"{op} needs (..., M, K) @ (..., K, N); got {tuple(a_shape)} @ {tuple(b_shape)}"
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ShapeError(message)
    a2 = (1, *a_shape) if len(a_shape) == 1 else tuple(a_shape)
    b2 = (*b_shape, 1) if len(b_shape) == 1 else tuple(b_shape)
    if a2[-1] != b2[-2]:
        raise ShapeError(message)
    batch = broadcast_batch(a2[:-2], b2[:-2], message)
    return batch, a2[-2], a2[-1], b2[-1]


def matmul(a, b) -> np.ndarray:
    """``a: (..., M, K) @ b: (..., K, N) -> (..., M, N)`` by BLAS, batch dimensions broadcast.

    Same semantics as ``np.matmul`` / ``torch.matmul`` (a 1-D operand is a vector). Strided or
    transposed inputs are fine: BLAS reads a transposed matrix directly, NumPy copies the rest.
    """
    a, b = as_float(a, "matmul", "a"), as_float(b, "matmul", "b")
    _matmul_dims(a.shape, b.shape, "matmul")
    return np.matmul(a, b)


def matmul_cost(a_shape, b_shape, itemsize: int = 4) -> Cost:
    """Cost of ``a @ b`` for any of the four matmuls.

    flops = 2 * batch * M * N * K
    bytes = (elements of A + elements of B + elements of C) * itemsize,  C = batch * M * N
    """
    a_shape, b_shape = as_shape(a_shape, "matmul_cost"), as_shape(b_shape, "matmul_cost")
    batch, M, K, N = _matmul_dims(a_shape, b_shape, "matmul_cost")
    c_elements = numel(batch) * M * N
    flops = 2 * numel(batch) * M * N * K
    return Cost(flops, (numel(a_shape) + numel(b_shape) + c_elements) * itemsize)


def _check_linear(x_shape, w_shape, op: str) -> None:
    if len(w_shape) != 2 or len(x_shape) < 1 or x_shape[-1] != w_shape[1]:
        raise ShapeError(
            f"{op} needs x (..., in) and weight (out, in) with the same in; "
            f"got x {tuple(x_shape)} and weight {tuple(w_shape)}"
        )


def linear(x, weight, bias=None) -> np.ndarray:
    """A fully connected layer ``x @ weight.T + bias``, like ``torch.nn.functional.linear``.

    x: (..., in), weight: (out, in) (torch's layout), bias: (out,) or None -> (..., out)
    """
    x, weight = as_float(x, "linear", "x"), as_float(weight, "linear", "weight")
    _check_linear(x.shape, weight.shape, "linear")
    out_features = weight.shape[0]
    # One big (rows, in) @ (in, out) BLAS call instead of one per batch item; weight.T is a view
    # that BLAS reads as "transposed", so the weight is never copied.
    rows = x.reshape(-1, x.shape[-1])
    y = np.matmul(rows, weight.T)
    if bias is not None:
        bias = as_float(bias, "linear", "bias")
        if bias.shape != (out_features,):
            raise ShapeError(
                f"linear needs bias of shape (out,) = ({out_features},) for weight "
                f"{weight.shape}; got bias {bias.shape}"
            )
        if np.result_type(y, bias) == y.dtype:
            y += bias  # in place: no second (rows, out) array
        else:
            y = y + bias  # e.g. a float64 bias promotes a float32 result, like NumPy does
    return y.reshape(*x.shape[:-1], out_features)


def linear_cost(x_shape, weight_shape, bias: bool = True, itemsize: int = 4) -> Cost:
    """Cost of ``linear``: rows = product of x's leading dims.

    flops = 2 * rows * in * out  (+ rows * out for the bias add)
    bytes = (x + weight + y (+ bias) elements) * itemsize
    """
    x_shape, w_shape = as_shape(x_shape, "linear_cost"), as_shape(weight_shape, "linear_cost")
    _check_linear(x_shape, w_shape, "linear_cost")
    out_features, in_features = w_shape
    rows = numel(x_shape[:-1])
    flops = 2 * rows * in_features * out_features + (rows * out_features if bias else 0)
    elements = numel(x_shape) + numel(w_shape) + rows * out_features
    elements += out_features if bias else 0
    return Cost(flops, elements * itemsize)
