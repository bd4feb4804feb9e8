"""inferlab.bench.blas: threads(n) really changes OpenBLAS's thread count, and restores it.

The count is read back independently of the module under test: straight from NumPy's OpenBLAS
with ctypes (``openblas_get_num_threads``). Skipped where NumPy does not use OpenBLAS.
"""

import ctypes
from pathlib import Path

import numpy as np
import pytest

from inferlab.bench import blas
from inferlab.bench import threads as limit_threads
from inferlab.errors import InferlabError, InvalidValueError


def _numpy_openblas_get():
    """NumPy's openblas_get_num_threads, found without inferlab (Linux /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    for path in sorted(p for p in paths if "numpy" in p):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):  # fmt: skip
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                return fn
    return None


np.ones((2, 2)) @ np.ones((2, 2))  # make sure NumPy's BLAS is loaded
GET = _numpy_openblas_get()
needs_openblas = pytest.mark.skipif(GET is None, reason="NumPy does not use OpenBLAS here")


@needs_openblas
@pytest.mark.parametrize("n", [1, 2, 3])
def test_threads_sets_and_restores(n):
    before = GET()
    with limit_threads(n) as libs:
        assert GET() == n
        assert blas.blas_threads() == n
        assert libs and all(lib.threads == n for lib in libs)
        assert all(lib.api == "openblas" for lib in libs)
        np.testing.assert_allclose(np.ones((64, 64)) @ np.ones((64, 64)), 64.0)  # still works
    assert GET() == before


@needs_openblas
def test_threads_restores_after_an_exception_and_nests():
    before = GET()
    with pytest.raises(ZeroDivisionError), limit_threads(1):
        1 / 0  # noqa: B018
    assert GET() == before
    with limit_threads(3):
        with limit_threads(1):
            assert GET() == 1
        assert GET() == 3
    assert GET() == before


@needs_openblas
def test_blas_libraries_lists_numpy_first():
    libs = blas.blas_libraries()
    assert libs and "numpy" in libs[0].path.lower()
    assert libs[0].threads == GET() == blas.blas_threads()


def test_no_blas_warns_and_runs(monkeypatch):
    monkeypatch.setattr(blas, "_handles", lambda: [])
    with pytest.warns(RuntimeWarning, match="OPENBLAS_NUM_THREADS=2"), limit_threads(2) as libs:
        assert libs == []
    assert blas.blas_threads() is None and blas.blas_libraries() == []


def test_no_blas_strict_raises(monkeypatch):
    monkeypatch.setattr(blas, "_handles", lambda: [])
    with pytest.raises(blas.BlasThreadsError, match="no OpenBLAS or MKL") as err:
        with limit_threads(2, strict=True):
            pass
    assert isinstance(err.value, InferlabError)


def test_library_detection_by_file_name():
    assert blas._api_of("/x/numpy.libs/libscipy_openblas64_-32a4b2a6.so") == "openblas"
    assert blas._api_of("/usr/lib/libopenblasp-r0.3.21.so") == "openblas"
    assert blas._api_of("/opt/conda/lib/libmkl_rt.so.2") == "mkl"
    assert blas._api_of("/x/scipy/linalg/_fblas.so") is None


def test_never_binds_the_fortran_entry_points():
    # "..._64_" / "..._" variants take an int pointer: calling them with an int crashes
    names = [name for pair in blas._OPENBLAS_API for name in pair]
    assert not any(name.endswith(("_64_", "threads_")) for name in names)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2", None])
def test_bad_thread_counts(n):
    with pytest.raises(InvalidValueError, match="integer >= 1"):
        with limit_threads(n):
            pass


def test_cpu_count_positive():
    assert blas.cpu_count() >= 1
