"""How many threads does NumPy's BLAS use, and how to change it for one measurement.

A matmul in NumPy runs in a BLAS library (OpenBLAS in the PyPI wheels, MKL in some conda builds)
with its own pool of threads, one per core by default. Comparing engines fairly means giving
each the same number of threads, and a thread sweep (1, 2, 4, ...) shows how well a workload
scales. Two ways to set it:

- before Python starts: ``OPENBLAS_NUM_THREADS=1`` / ``MKL_NUM_THREADS=1`` / ``OMP_NUM_THREADS=1``;
- at run time: the library's own C function, ``openblas_set_num_threads(n)``, called here through
  :mod:`ctypes` (the way ``threadpoolctl`` does it, without needing that package).

    >>> with threads(1):
    ...     t1 = measure(np.matmul, a, b)

Every OpenBLAS/MKL copy loaded in the process is set (NumPy and SciPy ship one each), and the
previous counts come back on exit. Where none can be found (e.g. Apple's Accelerate) a
``RuntimeWarning`` says so and timings use the library's default (``strict=True``: an error).
torch has its own pool: use ``torch.set_num_threads(n)`` for it.
"""

from __future__ import annotations

import ctypes
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

from inferlab.errors import InferlabError, InvalidValueError

__all__ = ["BlasLibrary", "BlasThreadsError", "blas_libraries", "blas_threads", "threads"]

# C entry points by library. OpenBLAS builds with 64-bit integers add a suffix ("64_", as in
# NumPy's scipy-openblas64) and NumPy's/SciPy's builds a prefix ("scipy_"). Never the Fortran
# twins ("..._64_", "..._"): those take a pointer, and passing an int crashes the process.
_OPENBLAS_API = [
    (f"{prefix}_set_num_threads{suffix}", f"{prefix}_get_num_threads{suffix}")
    for prefix in ("scipy_openblas", "openblas")
    for suffix in ("64_", "")
]
_APIS = {
    "openblas": _OPENBLAS_API,
    "mkl": [("MKL_Set_Num_Threads", "MKL_Get_Max_Threads")],
}


class BlasThreadsError(InferlabError, RuntimeError):
    """The BLAS thread count cannot be changed in this process (``threads(n, strict=True)``)."""


@dataclass(frozen=True)
class BlasLibrary:
    """A BLAS library loaded in this process: its file, its kind and its thread count now."""

    path: str
    api: str  # "openblas" or "mkl"
    threads: int


@dataclass(frozen=True)
class _Handle:
    path: str
    api: str
    get: object  # ctypes functions
    set: object

    def info(self) -> BlasLibrary:
        return BlasLibrary(self.path, self.api, int(self.get()))


def _api_of(path: str) -> str | None:
    name = Path(path).name.lower()
    if "openblas" in name:
        return "openblas"
    if "mkl_rt" in name:
        return "mkl"
    return None


def _loaded_paths() -> list[str]:
    """Shared libraries mapped into this process (Linux), else the ones NumPy ships."""
    try:
        maps = Path("/proc/self/maps").read_text()
        found = {line.split(maxsplit=5)[-1] for line in maps.splitlines() if "/" in line}
    except OSError:  # macOS, Windows: look where NumPy's wheels keep their BLAS
        import numpy

        root = Path(numpy.__file__).parent
        dirs = (root / ".dylibs", root.parent / "numpy.libs", root / ".libs")
        found = {str(p) for d in dirs if d.is_dir() for p in d.iterdir()}
    return sorted(p for p in found if _api_of(p))


def _handles() -> list[_Handle]:
    """A get/set pair for every BLAS copy we can reach (NumPy's first)."""
    handles = []
    for path in _loaded_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        api = _api_of(path)
        for set_name, get_name in _APIS[api]:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is None or getter is None:
                continue
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            handles.append(_Handle(path, api, getter, setter))
            break
    # NumPy's own copy first: blas_threads() reads it.
    return sorted(handles, key=lambda h: "numpy" not in h.path.lower())


def blas_libraries() -> list[BlasLibrary]:
    """The BLAS libraries whose thread count :func:`threads` can set (NumPy's first)."""
    return [h.info() for h in _handles()]


def blas_threads() -> int | None:
    """Threads NumPy's BLAS uses now; ``None`` when no OpenBLAS/MKL can be queried."""
    handles = _handles()
    return handles[0].info().threads if handles else None


def _no_blas_message(n: int) -> str:
    return (
        f"threads({n}): found no OpenBLAS or MKL library in this process, so NumPy's BLAS "
        "thread count cannot be changed from Python (np.show_config() says which BLAS NumPy "
        "uses). Timings use the library's default number of threads; to choose it, set "
        f"OPENBLAS_NUM_THREADS={n} (or OMP_NUM_THREADS / MKL_NUM_THREADS) before starting Python."
    )


@contextmanager
def threads(n: int, *, strict: bool = False) -> Iterator[list[BlasLibrary]]:
    """Limit NumPy's BLAS to ``n`` threads inside the ``with`` block; restore it afterwards.

    Yields the libraries it set, with their thread count as read back (OpenBLAS accepts more
    threads than cores; they then share cores). ``n`` must be an integer >= 1.
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise InvalidValueError(f"threads needs n to be an integer >= 1; got {n!r}")
    n = int(n)
    handles = _handles()
    if not handles:
        if strict:
            raise BlasThreadsError(_no_blas_message(n))
        warnings.warn(_no_blas_message(n), RuntimeWarning, stacklevel=3)
    before = [int(h.get()) for h in handles]
    try:
        for h in handles:
            h.set(n)
        yield [h.info() for h in handles]
    finally:
        for h, count in zip(handles, before, strict=True):
            h.set(count)


def cpu_count() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
