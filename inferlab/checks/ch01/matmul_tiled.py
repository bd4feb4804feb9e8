"""Exercise 01, task 1: ``matmul_tiled`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

import numpy as np

from inferlab import ops
from inferlab.checks.ch01._common import _rng
from inferlab.checks.core import Case, Mistake, Task, fails_only_on, run

_REMAINDER_HINT = (
    "handle the remainder tiles: when a size is not a multiple of `tile`, the last tile along it "
    "is smaller. Slicing past the end is fine in NumPy (`a[i:i + tile]` stops at the edge), but "
    "loops like `range(0, M - tile + 1, tile)` or `range(M // tile)` skip the last partial tile."
)


def _matmul_cases() -> list[Case]:
    rng = _rng(1)
    cases = []
    for (m, k, n), tile, note in [
        ((1, 1, 1), 4, "1×1 matrices"),
        ((8, 8, 8), 4, "sizes divisible by the tile"),
        ((8, 12, 4), 4, "rectangular, divisible"),
        ((6, 10, 5), 4, "sizes not divisible by the tile"),
        ((7, 5, 9), 3, "odd sizes, not divisible"),
        ((3, 4, 2), 64, "a tile larger than the matrix"),
        ((5, 3, 7), 1, "tile=1"),
        ((1, 13, 1), 5, "a row times a column"),
        ((16, 16, 16), 16, "exactly one tile"),
    ]:
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        divisible = m % tile == 0 and k % tile == 0 and n % tile == 0
        tags = frozenset() if divisible else frozenset({"remainder"})
        cases.append(Case((a, b, tile), note=note, tags=tags))
    a = rng.standard_normal((33, 17)).astype(np.float32)
    b = rng.standard_normal((17, 20)).astype(np.float32)
    cases.append(Case((a, b, 8), note="float32, not divisible", tags=frozenset({"remainder"})))
    return cases


def _tiled(a, b, tile, *, update="accumulate", full_tiles_only=False):
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), dtype=np.result_type(a, b))

    def starts(size):
        return range(0, size - tile + 1, tile) if full_tiles_only else range(0, size, tile)

    for i in starts(m):
        for j in starts(n):
            if update == "first k tile":
                c[i : i + tile, j : j + tile] = a[i : i + tile, :tile] @ b[:tile, j : j + tile]
                continue
            for p in starts(k):
                part = a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
                if update == "overwrite":
                    c[i : i + tile, j : j + tile] = part
                else:
                    c[i : i + tile, j : j + tile] += part
    return c


MATMUL_TILED = Task(
    name="matmul_tiled",
    arg_names=("a", "b", "tile"),
    reference=lambda a, b, tile: ops.matmul(a, b),
    cases=_matmul_cases,
    covers="sizes not divisible by the tile, a tile larger than the matrix, tile=1, 1×1 and "
    "float32",
    mistakes=(
        Mistake(
            lambda a, b, tile: _tiled(a, b, tile, update="overwrite"),
            "accumulate over the k tiles: C[i, j] tile is the SUM over k of A[i, k] @ B[k, j]. "
            "Use `+=`; with `=` only the last k tile survives.",
        ),
        Mistake(
            lambda a, b, tile: _tiled(a, b, tile, update="first k tile"),
            "loop over the k tiles too: C[i, j] tile is the sum over k of A[i, k] @ B[k, j]; "
            "you used only the first k tile.",
        ),
        Mistake(lambda a, b, tile: _tiled(a, b, tile, full_tiles_only=True), _REMAINDER_HINT),
    ),
    diagnose=lambda outcomes: _REMAINDER_HINT if fails_only_on(outcomes, "remainder") else None,
    shape_hint="A (M, K) @ B (K, N) is (M, N): allocate C with np.zeros((a.shape[0], b.shape[1])).",
    fallback_hint="compare with `a @ b` on a small example (say 3×5 @ 5×2 with tile=2) and look "
    "at which block of C is wrong.",
)


def check_matmul_tiled(fn) -> None:
    """Check your ``matmul_tiled(a, b, tile)`` against ``inferlab.ops.matmul``."""
    __tracebackhide__ = True
    run(MATMUL_TILED, fn)
