"""Checks of exercises 03 (measuring speed): ``from inferlab.checks import ch03``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (samples, levels and sweeps the
notebook never shows, from a fixed seed of its own), compares with ``inferlab.bench`` and, when
something is wrong, raises :class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what
your function returned.

    ch03.check_percentile(percentile)        ch03.check_median_ci(median_ci)
    ch03.check_time_it(time_it)              ch03.check_amdahl_fit(amdahl_fit)
    ch03.check_throughput_and_saturation(throughput_and_saturation)

One module per task (``percentile.py``, ``median_ci.py``, ...) lists its fresh cases, the known
wrong answers it recognises and its diagnosis; the right answers come from ``inferlab.bench``
(``time_it`` runs on a fake clock: see :mod:`inferlab.checks.ch03.time_it`).
"""

from __future__ import annotations

from inferlab.checks.ch03.amdahl import AMDAHL, check_amdahl_fit
from inferlab.checks.ch03.median_ci import MEDIAN_CI, check_median_ci
from inferlab.checks.ch03.percentile import PERCENTILE, check_percentile
from inferlab.checks.ch03.throughput import THROUGHPUT, check_throughput_and_saturation
from inferlab.checks.ch03.time_it import TIME_IT, check_time_it
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_percentile",
    "check_median_ci",
    "check_time_it",
    "check_throughput_and_saturation",
    "check_amdahl_fit",
]

TASKS: dict[str, Task] = {t.name: t for t in (PERCENTILE, MEDIAN_CI, TIME_IT, THROUGHPUT, AMDAHL)}
