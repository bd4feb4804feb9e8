"""Checks of exercises 01 (tensor ops from scratch): ``from inferlab.checks import ch01``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (shapes and values the notebook never
shows, from a fixed seed of its own), compares with ``inferlab.ops`` and, when something is wrong,
raises :class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what your function returned.

    ch01.check_matmul_tiled(matmul_tiled)      ch01.check_conv2d(conv2d)
    ch01.check_softmax(softmax)                ch01.check_layer_norm(layer_norm)
    ch01.check_causal_attention(causal_attention)

One module per task (``matmul_tiled.py``, ``conv2d.py``, ...) lists its fresh cases, the known
wrong answers it recognises and its diagnosis; the right answers come from ``inferlab.ops``.
"""

from __future__ import annotations

from inferlab.checks.ch01.causal_attention import CAUSAL_ATTENTION, check_causal_attention
from inferlab.checks.ch01.conv2d import CONV2D, check_conv2d
from inferlab.checks.ch01.layer_norm import LAYER_NORM, check_layer_norm
from inferlab.checks.ch01.matmul_tiled import MATMUL_TILED, check_matmul_tiled
from inferlab.checks.ch01.softmax import SOFTMAX, check_softmax
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_matmul_tiled",
    "check_conv2d",
    "check_softmax",
    "check_layer_norm",
    "check_causal_attention",
]

TASKS: dict[str, Task] = {
    t.name: t for t in (MATMUL_TILED, CONV2D, SOFTMAX, LAYER_NORM, CAUSAL_ATTENTION)
}
