"""Checks of exercises 04 (hardware and the roofline): ``from inferlab.checks import ch04``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (matmul shapes, ops, devices,
models and prices the notebook never shows, from a fixed seed of its own), compares with the
hardware models of ``inferlab.hw`` and, when something is wrong, raises
:class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what your function returned
(one known slip, or two or three at once).

    ch04.check_matmul_intensity(matmul_intensity)    ch04.check_roofline(roofline)
    ch04.check_critical_batch(critical_batch)        ch04.check_decode_step_time(decode_step_time)
    ch04.check_cost_per_million(cost_per_million)

One module per task (``intensity.py``, ``roofline.py``, ...) lists its fresh cases, the known
wrong answers it recognises and its diagnosis; numbers are compared with a relative tolerance of
1e-6 whatever their size (see :mod:`inferlab.checks.ch04._common`).
"""

from __future__ import annotations

from inferlab.checks.ch04.cost import COST, check_cost_per_million
from inferlab.checks.ch04.critical_batch import CRITICAL_BATCH, check_critical_batch
from inferlab.checks.ch04.decode import DECODE, check_decode_step_time
from inferlab.checks.ch04.intensity import INTENSITY, check_matmul_intensity
from inferlab.checks.ch04.roofline import ROOFLINE, check_roofline
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_matmul_intensity",
    "check_roofline",
    "check_critical_batch",
    "check_decode_step_time",
    "check_cost_per_million",
]

TASKS: dict[str, Task] = {t.name: t for t in (INTENSITY, ROOFLINE, CRITICAL_BATCH, DECODE, COST)}
