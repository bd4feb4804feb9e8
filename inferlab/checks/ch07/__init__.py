"""Checks of exercises 07 (batching and scheduling): ``from inferlab.checks import ch07``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (arrival streams, service times,
queues and SLOs the notebook never shows, from a fixed seed of its own), compares it with the
reference (Lindley's recursion, the Pollaczek–Khinchine formula, Triton's dynamic-batcher rule,
static batches, vLLM's goodput; the tests check each against ``inferlab.serve``) and, when
something is wrong, raises :class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what
your function returned (one known slip, or two or three at once).

    ch07.check_fifo_times(fifo_times)                ch07.check_mg1_wait(mg1_wait)
    ch07.check_dynamic_batch_size(dynamic_batch_size)
    ch07.check_static_batch_finish(static_batch_finish)
    ch07.check_goodput(goodput)

One module per task (``fifo.py``, ``pk.py``, ``triton.py``, ``static.py``, ``goodput.py``) lists
its fresh cases, the known wrong answers it recognises and its diagnosis.
"""

from __future__ import annotations

from inferlab.checks.ch07.fifo import FIFO, check_fifo_times
from inferlab.checks.ch07.goodput import GOODPUT, check_goodput
from inferlab.checks.ch07.pk import PK, check_mg1_wait
from inferlab.checks.ch07.static import STATIC, check_static_batch_finish
from inferlab.checks.ch07.triton import TRITON, check_dynamic_batch_size
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_dynamic_batch_size",
    "check_fifo_times",
    "check_goodput",
    "check_mg1_wait",
    "check_static_batch_finish",
]

TASKS: dict[str, Task] = {t.name: t for t in (FIFO, STATIC, PK, TRITON, GOODPUT)}
