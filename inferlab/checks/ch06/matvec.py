"""Exercise 06, task 7: ``csr_matvec`` — its fresh cases, known mistakes and diagnosis.

A sparse matrix-vector product ``y = A @ x`` straight from CSR arrays (task 6), touching only
the stored values: row r of A is ``data[indptr[r]:indptr[r + 1]]`` at columns
``indices[indptr[r]:indptr[r + 1]]``, so

    y[r] = sum over p in [indptr[r], indptr[r + 1]) of data[p] · x[indices[p]]

and a row with no stored value gives 0. ``2 · nnz`` FLOPs instead of ``2 · M · K``. The cases
come from pruned weights with empty rows at the start, middle and end (``np.add.reduceat``
copies a neighbour's value into an empty row, and raises when the last rows are empty), an
all-zero matrix, a dense one, M != K (so ``A.T @ x`` has another length) and float64. The
reference is :func:`inferlab.prune.sparse.csr_matmul` on the same arrays.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch06._common import _rng, mistakes, several_slips
from inferlab.checks.ch06.csr import pruned
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.prune import sparse

_EMPTY = frozenset({"empty rows"})


def _arrays(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(w)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=w.shape[0]))])
    return w[rows, cols], cols.astype(np.int32), indptr.astype(np.int32)


def _matvec_cases() -> list[Case]:
    rng = _rng(7)

    def case(rows, cols, sparsity, *, empty=(), dtype=np.float32, note, tags=frozenset()):
        w = pruned(rng, rows, cols, sparsity, empty=empty, dtype=dtype)
        x = rng.normal(0, 1, cols).astype(dtype)
        return Case((*_arrays(w), x), note=note, tags=tags)

    return [
        case(6, 9, 0.7, note="a (6, 9) weight, 70 % zeros"),
        case(8, 5, 0.5, empty=(0, 3), note="empty first and middle rows", tags=_EMPTY),
        case(7, 10, 0.6, empty=(5, 6), note="the last two rows empty", tags=_EMPTY),
        case(3, 4, 1.0, note="all zeros: nnz = 0, y = 0", tags=_EMPTY),
        case(5, 5, 0.0, note="a dense 5 × 5 matrix"),
        case(1, 12, 0.5, note="a single row"),
        case(9, 1, 0.3, note="a single column"),
        case(16, 32, 0.9, note="90 % zeros, 16 × 32"),
        case(10, 7, 0.5, dtype=np.float64, note="float64"),
    ]


def _reference(data, indices, indptr, x):
    csr = sparse.CSR(data, indices, indptr, (len(indptr) - 1, len(x)))
    return sparse.csr_matmul(csr, x)


def _student(data, indices, indptr, x, *, bounds="indptr", empty="zero", product="A @ x"):
    """A student's CSR matvec with switches for their mistakes."""
    rows = len(indptr) - 1
    if product == "A.T @ x":  # scatter instead of gather: y[column] += data · x[row]
        y = np.zeros(int(indices.max()) + 1 if len(indices) else 0, np.result_type(data, x))
        row_of = np.repeat(np.arange(rows), np.diff(indptr))
        np.add.at(y, indices, data * x[row_of])
        return y
    if empty == "reduceat":  # np.add.reduceat: an empty row gets its neighbour's value
        return np.add.reduceat(data * x[indices], indptr[:-1])
    y = np.zeros(rows, np.result_type(data, x))
    for r in range(rows):
        start, stop = indptr[r], indptr[r + 1] - (1 if bounds == "off by one" else 0)
        stop = max(start, stop)  # as range(start, stop) would: an empty row stays empty
        y[r] = np.dot(data[start:stop], x[indices[start:stop]])
    return y


_SLIPS = {
    "bounds": [
        ("indptr", None),
        (
            "off by one",
            "row r is data[indptr[r]:indptr[r + 1]]: a Python slice already excludes its end, "
            "so do not subtract 1 (that drops each row's last value).",
        ),
    ],
    "empty": [
        ("zero", None),
        (
            "reduceat",
            "a row with no stored value must give 0. np.add.reduceat(v, indptr[:-1]) returns "
            "v[indptr[r]] for an empty row (a neighbour's value) and fails when the last rows "
            "are empty: sum only the rows with values (np.diff(indptr) > 0) and leave the "
            "others 0.",
        ),
    ],
    "product": [
        ("A @ x", None),
        (
            "A.T @ x",
            "multiply each value by x at its COLUMN and add it to its ROW: y[r] += data[p] · "
            "x[indices[p]], for p in row r's run of data. x has one entry per column of A, "
            "y one per row (len(indptr) - 1); adding data[p] · x[r] into y[indices[p]] "
            "computes A.T @ x.",
        ),
    ],
}


def _matvec_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "reduceat" in str(o.error):
        return _SLIPS["empty"][1][1]
    if o.problem == "exception" and isinstance(o.error, IndexError):
        return _SLIPS["product"][1][1]
    if o.problem == "exception" and "empty rows" in o.case.tags:
        return (
            "rows with no stored value (indptr[r] == indptr[r + 1]) and a matrix with no "
            "value at all must work too: their y[r] is 0."
        )
    if o.got is None:
        return None
    hint = several_slips(MATVEC, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    failing = [f for f in outcomes if not f.ok and f.got is not None]
    if failing and all(f.got.shape == f.expected.shape for f in failing):
        if all(_only_empty_rows_wrong(f) for f in failing):
            return (
                "only rows with no stored value are wrong: their y[r] is 0 "
                "(indptr[r] == indptr[r + 1])."
            )
    return None


def _only_empty_rows_wrong(o: Outcome) -> bool:
    indptr = np.asarray(o.case.args[2])
    empty = np.diff(indptr) == 0
    wrong = ~np.isclose(o.got, o.expected, rtol=1e-4, atol=1e-5)
    return bool(np.any(wrong) and np.all(empty[wrong]))


MATVEC = Task(
    name="csr_matvec",
    arg_names=("data", "indices", "indptr", "x"),
    reference=_reference,
    cases=_matvec_cases,
    covers="empty first, middle and last rows, an all-zero and a dense matrix, one row, one "
    "column, M != K and float64",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_matvec_diagnose,
    shape_hint="y = A @ x has one value per ROW of A: len(indptr) - 1 of them.",
    fallback_hint="for each row r: start, stop = indptr[r], indptr[r + 1]; y[r] = "
    "np.dot(data[start:stop], x[indices[start:stop]]); rows with no value stay 0.",
    forbidden=(sparse.csr_matmul, sparse.csr_to_dense, sparse.to_csr),
    forbidden_hint="write the product yourself: inferlab.prune.sparse.csr_matmul is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_csr_matvec(fn) -> None:
    """Check your ``csr_matvec(data, indices, indptr, x)`` against
    ``inferlab.prune.sparse.csr_matmul`` (y = A @ x from A's CSR arrays)."""
    __tracebackhide__ = True
    run(MATVEC, fn)
