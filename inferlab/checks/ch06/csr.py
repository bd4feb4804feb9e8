"""Exercise 06, task 6: ``to_csr`` — its fresh cases, known mistakes and diagnosis.

Compressed sparse row storage (scipy's ``csr_matrix``, torch's ``to_sparse_csr``, cuSPARSE's
CSR): a pruned (M, K) weight as three 1-D arrays,

    data     (nnz,)    the nonzeros, row by row, left to right
    indices  (nnz,)    the column of each
    indptr   (M + 1,)  row r's values are data[indptr[r]:indptr[r + 1]]; indptr[0] = 0,
                       indptr[-1] = nnz, i.e. 0 followed by the cumulative count per row

Every exact 0 is dropped and nothing else (a weight of 1e-8 is a nonzero). The cases have empty
rows at the start, middle and end, an all-zero matrix (nnz = 0), a dense one, one row, one
column, and M != K, so a CSC (column-major) answer has arrays of other lengths. The reference is
:func:`inferlab.prune.sparse.to_csr`.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch06._common import (
    _rng,
    arrays_symptom,
    encode_arrays,
    integers,
    mistakes,
    several_slips,
    split_arrays,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.prune import sparse

_NAMES = ("data", "indices", "indptr")
_EMPTY = frozenset({"empty rows"})


def pruned(rng, rows, cols, sparsity, *, empty=(), dtype=np.float32) -> np.ndarray:
    """A weight with about ``sparsity`` of its entries exactly 0 and the rows ``empty`` all 0."""
    w = rng.normal(0, 0.1, (rows, cols))
    w[rng.random((rows, cols)) < sparsity] = 0.0
    w[list(empty)] = 0.0
    return w.astype(dtype)


def _csr_cases() -> list[Case]:
    rng = _rng(6)
    tiny = pruned(rng, 4, 6, 0.5)
    tiny[1, 2], tiny[3, 0] = 1e-8, -3e-9  # tiny, but not zero
    return [
        Case((pruned(rng, 6, 9, 0.7),), note="a (6, 9) weight, 70 % zeros"),
        Case(
            (pruned(rng, 8, 5, 0.5, empty=(0, 3, 7)),),
            note="empty first, middle and last rows",
            tags=_EMPTY,
        ),
        Case(
            (pruned(rng, 5, 12, 0.9, empty=(4,)),), note="90 % zeros, empty last row", tags=_EMPTY
        ),
        Case((np.zeros((3, 4), np.float32),), note="all zeros: nnz = 0", tags=_EMPTY),
        Case((pruned(rng, 4, 4, 0.0),), note="no zeros at all"),
        Case((pruned(rng, 1, 10, 0.5),), note="a single row"),
        Case((pruned(rng, 7, 1, 0.4),), note="a single column"),
        Case((tiny,), note="values of 1e-8 are nonzeros: keep them"),
        Case((pruned(rng, 10, 16, 0.75, dtype=np.float64),), note="float64, 10 × 16"),
    ]


def _reference(w):
    csr = sparse.to_csr(w)
    return csr.data, csr.indices, csr.indptr


def _student(w, *, layout="rows", indptr="cumsum", indices="columns", zeros="drop"):
    """A student's CSR with switches for their mistakes."""
    w = np.asarray(w)
    a = w.T if layout == "columns" else w  # "columns": the CSR of w.T (CSC of w)
    if zeros == "drop":
        r, c = np.nonzero(a)
    else:  # every entry stored, zeros included
        r, c = (g.ravel() for g in np.indices(a.shape))
    counts = np.bincount(r, minlength=a.shape[0])
    ptr = {
        "cumsum": lambda: np.concatenate([[0], np.cumsum(counts)]),
        "counts": lambda: counts,
        "no leading 0": lambda: np.cumsum(counts),
        "starts": lambda: np.concatenate([[0], np.cumsum(counts)])[:-1],
    }[indptr]()
    idx = {"columns": c, "rows": r, "flat": r * a.shape[1] + c}[indices]
    return a[r, c], idx.astype(np.int64), ptr.astype(np.int64)


_SLIPS = {
    "layout": [
        ("rows", None),
        (
            "columns",
            "CSR goes ROW by row: np.nonzero(w) lists the nonzeros in row-major order, with "
            "indices = their columns and indptr over the rows. You stored w's columns (that is "
            "CSC, the CSR of w.T).",
        ),
    ],
    "indptr": [
        ("cumsum", None),
        (
            "counts",
            "indptr holds where each row STARTS, not how many values it has: 0 followed by the "
            "cumulative counts, np.concatenate([[0], np.cumsum(counts)]), length rows + 1.",
        ),
        (
            "no leading 0",
            "indptr starts with 0: row r is data[indptr[r]:indptr[r + 1]], so indptr has rows + "
            "1 entries, 0 first and nnz last. np.cumsum(counts) alone lacks the leading 0.",
        ),
        (
            "starts",
            "indptr has rows + 1 entries: the last one is nnz, where the last row ends "
            "(data[indptr[-2]:indptr[-1]]).",
        ),
    ],
    "indices": [
        ("columns", None),
        (
            "rows",
            "indices holds each value's COLUMN (the rows are encoded by indptr): the second "
            "array np.nonzero(w) returns.",
        ),
        (
            "flat",
            "indices holds each value's column, c, not its flat position r · cols + c: the "
            "row is already known from indptr.",
        ),
    ],
    "zeros": [
        ("drop", None),
        (
            "keep",
            "store only the NONZEROS (np.nonzero(w)): a CSR that keeps every entry, zeros "
            "included, is larger than the dense array (8 bytes per value instead of 4).",
        ),
    ],
}


def _csr_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and "empty rows" in o.case.tags:
        return (
            "rows with no nonzero must work too: their count is 0 (np.bincount(rows, "
            "minlength=w.shape[0]) counts them), so indptr repeats a value there."
        )
    if o.got is None:
        return None
    hint = several_slips(CSR, _student, _SLIPS, outcomes)
    if hint is not None:
        return hint
    got, expected = split_arrays(o.got, 3), split_arrays(o.expected, 3)
    if got is not None and expected is not None:
        data, _, _ = got
        w = np.asarray(o.case.args[0])
        if data.size < expected[0].size and np.any(np.abs(w[w != 0]) < 1e-6):
            return (
                "keep EVERY nonzero, however small: test w != 0 (np.nonzero(w)), not "
                "np.abs(w) > some tolerance or np.isclose(w, 0)."
            )
    return None


CSR = Task(
    name="to_csr",
    arg_names=("w",),
    reference=_reference,
    cases=_csr_cases,
    covers="empty first, middle and last rows, an all-zero and a dense matrix, one row, one "
    "column, values of 1e-8 and float64",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_csr_diagnose,
    encode=encode_arrays(_NAMES, (None, integers, integers)),
    symptom=arrays_symptom(_NAMES, exact=("indices", "indptr")),
    fallback_hint="rows, cols = np.nonzero(w); data = w[rows, cols]; indices = cols; indptr = "
    "np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=w.shape[0]))]).",
    forbidden=(sparse.to_csr, sparse.csr_to_dense),
    forbidden_hint="build the three arrays yourself: inferlab.prune.sparse.to_csr is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_to_csr(fn) -> None:
    """Check your ``to_csr(w)`` against ``inferlab.prune.sparse.to_csr`` (scipy's and torch's
    CSR layout)."""
    __tracebackhide__ = True
    run(CSR, fn)
