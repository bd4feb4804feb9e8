"""inferlab: a from-scratch inference engine in NumPy, built up chapter by chapter.

>>> import inferlab
>>> inferlab.doctor()          # what this machine can do
>>> from inferlab import ops   # chapter 01: tensor ops with their FLOP and byte counts
"""

from inferlab.errors import (
    CheckFailed,
    DTypeError,
    InferlabError,
    InvalidValueError,
    NotebookError,
    ShapeError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckFailed",
    "DTypeError",
    "InferlabError",
    "InvalidValueError",
    "NotebookError",
    "ShapeError",
    "__version__",
    "doctor",
]


def doctor(*args, **kwargs):
    """Print (and return) a report of this machine: versions, CPU, SIMD, BLAS, peak FLOP/s."""
    from inferlab.doctor import doctor as _doctor

    return _doctor(*args, **kwargs)
