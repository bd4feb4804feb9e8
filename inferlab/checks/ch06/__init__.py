"""Checks of exercises 06 (pruning and sparsity): ``from inferlab.checks import ch06``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (weights, amounts, activations and
sparse matrices the notebook never shows, from a fixed seed of its own), compares with
``inferlab.prune`` (whose masks equal ``torch.nn.utils.prune``'s) and, when something is wrong,
raises :class:`~inferlab.errors.CheckFailed` with a hint diagnosed from what your function
returned (one known slip, or two or three at once).

    ch06.check_magnitude_mask(magnitude_mask)        ch06.check_nm_mask(nm_mask)
    ch06.check_wanda_mask(wanda_mask)                ch06.check_channels_to_keep(channels_to_keep)
    ch06.check_remove_filters(remove_filters)        ch06.check_to_csr(to_csr)
    ch06.check_csr_matvec(csr_matvec)

One module per task (``magnitude.py``, ``nm.py``, ...) lists its fresh cases, the known wrong
answers it recognises and its diagnosis. Masks, channel lists and CSR index arrays are compared
exactly, on tie-free weights (torch leaves the order among equal magnitudes undefined); weights
and products to float tolerance (see :mod:`inferlab.checks.ch06._common`).
"""

from __future__ import annotations

from inferlab.checks.ch06.channels import CHANNELS, check_channels_to_keep
from inferlab.checks.ch06.csr import CSR, check_to_csr
from inferlab.checks.ch06.magnitude import MAGNITUDE, check_magnitude_mask
from inferlab.checks.ch06.matvec import MATVEC, check_csr_matvec
from inferlab.checks.ch06.nm import NM, check_nm_mask
from inferlab.checks.ch06.remove import REMOVE, check_remove_filters
from inferlab.checks.ch06.wanda import WANDA, check_wanda_mask
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_magnitude_mask",
    "check_nm_mask",
    "check_wanda_mask",
    "check_channels_to_keep",
    "check_remove_filters",
    "check_to_csr",
    "check_csr_matvec",
]

TASKS: dict[str, Task] = {t.name: t for t in (MAGNITUDE, NM, WANDA, CHANNELS, REMOVE, CSR, MATVEC)}
