"""Checks of exercises 05 (quantization): ``from inferlab.checks import ch05``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (ranges, tensors, weights and codes
the notebook never shows, from a fixed seed of its own), compares with ``inferlab.quant`` (which
matches ONNX Runtime bit for bit) and, when something is wrong, raises
:class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what your function returned
(one known slip, or two or three at once).

    ch05.check_affine_qparams(affine_qparams)        ch05.check_quantize(quantize)
    ch05.check_quantize_per_channel(quantize_per_channel)
    ch05.check_matmul_integer(matmul_integer)        ch05.check_qlinear_matmul(qlinear_matmul)
    ch05.check_pack_int4(pack_int4)

One module per task (``qparams.py``, ``quantize.py``, ...) lists its fresh cases, the known wrong
answers it recognises and its diagnosis. Integers are compared exactly (a quantizer one step off
at a tie is a wrong answer), scales relatively (1e-6, or 1e-4 next to float32 weights; see
:mod:`inferlab.checks.ch05._common`).
"""

from __future__ import annotations

from inferlab.checks.ch05.matmul_integer import MATMUL_INTEGER, check_matmul_integer
from inferlab.checks.ch05.pack import PACK, check_pack_int4
from inferlab.checks.ch05.per_channel import PER_CHANNEL, check_quantize_per_channel
from inferlab.checks.ch05.qlinear import QLINEAR, check_qlinear_matmul
from inferlab.checks.ch05.qparams import QPARAMS, check_affine_qparams
from inferlab.checks.ch05.quantize import QUANTIZE, check_quantize
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_affine_qparams",
    "check_quantize",
    "check_quantize_per_channel",
    "check_matmul_integer",
    "check_qlinear_matmul",
    "check_pack_int4",
]

TASKS: dict[str, Task] = {
    t.name: t for t in (QPARAMS, QUANTIZE, PER_CHANNEL, MATMUL_INTEGER, QLINEAR, PACK)
}
