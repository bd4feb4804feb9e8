"""Checks of exercises 02 (the engine): ``from inferlab.checks import ch02``.

Each ``check_<task>(fn)`` calls your function on fresh graphs and arrays (random DAGs stored out
of order, diamonds, unused nodes, several outputs, cycles; from a fixed seed of its own),
compares with the engine (:mod:`inferlab.graph`) and, when something is wrong, raises
:class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what your function returned.

    ch02.check_topological_order(topological_order)    ch02.check_gemm(gemm)
    ch02.check_last_uses(last_uses)
    ch02.check_peak_activation_bytes(peak_activation_bytes)
    ch02.check_fuse_matmul_add_relu(fuse_matmul_add_relu)

One module per task (``topological_order.py``, ``gemm.py``, ``last_uses.py``,
``peak_memory.py``, ``fusion.py``) lists its fresh cases, the known wrong answers it recognises
and its diagnosis; the graphs and encodings they share are in ``_common.py``.
"""

from __future__ import annotations

from inferlab.checks.ch02.fusion import FUSION, check_fuse_matmul_add_relu
from inferlab.checks.ch02.gemm import GEMM, check_gemm
from inferlab.checks.ch02.last_uses import LAST_USES, check_last_uses
from inferlab.checks.ch02.peak_memory import PEAK, check_peak_activation_bytes
from inferlab.checks.ch02.topological_order import TOPOLOGICAL_ORDER, check_topological_order
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_topological_order",
    "check_gemm",
    "check_last_uses",
    "check_peak_activation_bytes",
    "check_fuse_matmul_add_relu",
]

TASKS: dict[str, Task] = {t.name: t for t in (TOPOLOGICAL_ORDER, GEMM, LAST_USES, PEAK, FUSION)}
