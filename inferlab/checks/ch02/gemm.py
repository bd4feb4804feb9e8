"""Exercise 02, task 2: ``gemm`` — the ONNX Gemm kernel: fresh cases, known mistakes, diagnosis.

``Y = alpha * A' @ B' + beta * C`` with ``A' = A.T`` when ``trans_a`` (same for B) and C
broadcast to (M, N) (ONNX's unidirectional broadcasting: a scalar, (N,), (1, N), (M, 1) or
(M, N)); C may be None. The reference is the engine's kernel (:mod:`inferlab.graph.kernels_nn`).
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch02._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, fails_only_on, first_failure, run
from inferlab.graph import kernels_nn

_TRANS_B_HINT = (
    "apply trans_b: with trans_b=1, B is stored as (N, K) and the product is A @ B.T. This is "
    "what torch.nn.Linear exports (its weight is (out_features, in_features)), so a model's "
    "Gemm nodes almost all have transB=1."
)
_TRANS_A_HINT = "apply trans_a: with trans_a=1, A is stored as (K, M) and the product uses A.T."
_TRANS_HINT = (
    "it fails only when trans_a or trans_b is set: use A.T when trans_a and B.T when trans_b "
    "(A' is (M, K) and B' is (K, N) after the transposes)."
)
_BETA_HINT = (
    "beta scales C only and alpha scales the product only: Y = alpha * (A' @ B') + beta * C, "
    "not beta * (alpha * A' @ B' + C) nor with alpha and beta swapped."
)
_BROADCAST_HINT = (
    "add C with NumPy broadcasting as it is, `y + beta * c`: a (M, 1) C adds one number per "
    "ROW, a (N,) or (1, N) C one number per column. Flattening C (c.ravel()) turns a (M, 1) "
    "column into a row."
)
_NONE_HINT = "C is optional: when c is None, return alpha * A' @ B' (ONNX's Gemm without bias)."


def _reference(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    attrs = {"alpha": alpha, "beta": beta, "transA": trans_a, "transB": trans_b}
    inputs = [a, b] if c is None else [a, b, c]
    return kernels_nn._gemm([x.copy() for x in inputs], attrs)[0]


def _cases() -> list[Case]:
    rng = _rng(2)

    def arr(*shape, dtype=np.float32):
        return rng.standard_normal(shape).astype(dtype)

    def case(m, k, n, c_shape, note, dtype=np.float32, tags=(), **kw):
        ta, tb = kw.get("trans_a", 0), kw.get("trans_b", 0)
        a = arr(*((k, m) if ta else (m, k)), dtype=dtype)
        b = arr(*((n, k) if tb else (k, n)), dtype=dtype)
        c = None if c_shape is None else arr(*c_shape, dtype=dtype)
        t = set(tags) | ({"trans"} if ta or tb else set())
        t |= {"c-none"} if c is None else {f"c{len(c_shape)}"}
        return Case((a, b, c), kw, note=note, tags=frozenset(t))

    return [
        case(4, 5, 3, (3,), "no transposes, a (N,) bias"),
        case(8, 16, 6, (6,), "transB=1 like torch.nn.Linear", trans_b=1),
        case(5, 5, 5, (5,), "square, transB=1", trans_b=1, tags={"square"}),
        case(6, 4, 7, (6, 7), "transA=1, a full (M, N) C", trans_a=1, beta=0.5),
        case(5, 5, 5, (5, 5), "square, transA=1", trans_a=1, tags={"square"}),
        case(3, 4, 5, (3, 1), "a (M, 1) column C", beta=2.0, tags={"column"}),
        case(4, 3, 4, (4, 1), "a (M, 1) column C with M = N", tags={"column"}),
        case(4, 6, 2, (1, 2), "a (1, N) row C", alpha=0.25, beta=3.0),
        case(3, 3, 3, (), "a scalar C", alpha=2.0, beta=-1.0, trans_a=1, trans_b=1),
        case(7, 9, 5, None, "no C", alpha=1.5, trans_b=1),
        case(6, 8, 4, (4,), "float64", dtype=np.float64, alpha=0.5, beta=0.25, trans_b=1),
        case(1, 12, 10, (10,), "M = 1 (batch of one)", trans_b=1, beta=0.0),
    ]


def _student(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0, *, skip=(), c_mode="ok"):
    """A student's gemm with switches for their mistakes."""
    if trans_a and "trans_a" not in skip:
        a = a.T
    if trans_b and "trans_b" not in skip:
        b = b.T
    y = a @ b
    if "alpha" not in skip:
        y = alpha * y
    if c is None:
        return y
    if c_mode == "beta on all":
        return beta * (y + c)
    if c_mode == "swapped":
        return beta * (a @ b) + alpha * c
    if c_mode == "no beta":
        return y + c
    if c_mode == "ravel":
        return y + beta * c.ravel()
    return y + beta * c


def _diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, ValueError):
        text = str(o.error)
        if "broadcast" in text and o.case.args[2] is not None:
            return _BROADCAST_HINT
        if "matmul" in text and o.case.kwargs.get("trans_b"):
            return _TRANS_B_HINT
        if "matmul" in text and o.case.kwargs.get("trans_a"):
            return _TRANS_A_HINT
    for tag, hint in (
        ("c-none", _NONE_HINT),
        ("column", _BROADCAST_HINT),
        ("trans", _TRANS_HINT),
    ):
        if fails_only_on(outcomes, tag):
            return hint
    return None


GEMM = Task(
    name="gemm",
    arg_names=("a", "b", "c"),
    reference=_reference,
    cases=_cases,
    covers="transA/transB, a scalar, (N,), (1, N), (M, 1) and (M, N) C, no C and float64",
    mistakes=(
        Mistake(lambda *a, **k: _student(*a, **k, skip=("trans_b",)), _TRANS_B_HINT),
        Mistake(lambda *a, **k: _student(*a, **k, skip=("trans_a",)), _TRANS_A_HINT),
        Mistake(lambda *a, **k: _student(*a, **k, c_mode="beta on all"), _BETA_HINT),
        Mistake(lambda *a, **k: _student(*a, **k, c_mode="swapped"), _BETA_HINT),
        Mistake(
            lambda *a, **k: _student(*a, **k, c_mode="no beta"),
            "multiply C by beta: Y = alpha * A' @ B' + beta * C (beta=0 drops C).",
        ),
        Mistake(
            lambda *a, **k: _student(*a, **k, skip=("alpha",)),
            "multiply the product by alpha: Y = alpha * A' @ B' + beta * C.",
        ),
        Mistake(lambda *a, **k: _student(*a, **k, c_mode="ravel"), _BROADCAST_HINT),
    ),
    diagnose=_diagnose,
    shape_hint="Y has shape (M, N): M rows of A' (A.T when trans_a) and N columns of B' "
    "(B.T when trans_b). " + _BROADCAST_HINT,
    fallback_hint="compare with alpha * (A.T if trans_a else A) @ (B.T if trans_b else B) + "
    "beta * C on a small example in a cell of your own.",
    forbidden=(kernels_nn._gemm,),
    forbidden_hint="write the kernel yourself in NumPy: the engine's Gemm kernel is the "
    "reference the check compares with.",
    mutation_hint="don't scale C (or A, B) in place: `c *= beta` changes the caller's array "
    "(in an engine: the model's weights!). Write `beta * c`, which makes a new array.",
)


def check_gemm(fn) -> None:
    """Check your ``gemm(a, b, c, alpha, beta, trans_a, trans_b)`` against the engine's Gemm."""
    __tracebackhide__ = True
    run(GEMM, fn)
