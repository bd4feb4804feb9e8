"""This machine as a :class:`~inferlab.hw.device.Device`: measure its matmul FLOP/s and its
memory bandwidth with NumPy, instead of reading them from a datasheet.

    >>> measure_matmul_flops(1024) / 1e9         # GFLOP/s, median of 5 np.matmul calls
    >>> measure_bandwidth()["triad"] / 1e9        # GB/s, STREAM triad convention, best of 5
    >>> dev = this_machine()                      # a Device(kind="cpu") for the roofline
    >>> dev.ridge_point("fp32")                   # FLOP/byte

Two statistics on purpose: a matmul's **median** answers "how fast does NumPy multiply here?"
(the figure a cost model should use), while bandwidth follows STREAM and keeps the **best**
repeat: memory kernels are disturbed by everything else on the machine (other tenants of a VM,
page-cache work) and the best run is the closest to what the memory system can deliver.
"""

from __future__ import annotations

import datetime
import functools
import os
from contextlib import nullcontext
from numbers import Integral
from pathlib import Path

import numpy as np

from inferlab.bench import measure
from inferlab.bench import threads as blas_threads_limit
from inferlab.cpu import FALLBACK_MHZ, cpu_info, fp32_rule, peak_fp32_flops
from inferlab.errors import InvalidValueError
from inferlab.hw.device import Device

__all__ = [
    "AUTO_MAX_NBYTES",
    "AUTO_MIN_NBYTES",
    "MIN_NBYTES",
    "auto_nbytes",
    "last_level_cache_bytes",
    "measure_bandwidth",
    "measure_matmul_flops",
    "memory_capacity_bytes",
    "this_machine",
]

MIB = 2**20
MIN_NBYTES = 1 * MIB  # smaller arrays live in L1/L2: they would measure the cache, not memory
AUTO_MIN_NBYTES = 64 * MIB
# STREAM's rule is arrays >= 4x the last-level cache. Server L3s reach hundreds of MiB (480 MiB
# on the course's reference VM, a server socket shared with other tenants), which would mean
# 3 x 2 GiB of arrays and ~10 s per measurement. On that VM 256 MiB and 1 GiB arrays agree within
# 3 %, because a 2-core VM only ever gets a slice of the socket's L3, so the automatic size stops
# here; pass ``nbytes`` to follow the 4x rule strictly.
AUTO_MAX_NBYTES = 256 * MIB
_MATMUL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_QUICK = {"n": 512, "nbytes": 64 * MIB, "repeat": 3}  # ~0.5 s on the 2-core reference VM
_FULL = {"n": 1024, "repeat": 5}


def _check_int(where: str, name: str, value, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < lowest:
        raise InvalidValueError(f"{where} needs {name} to be an integer >= {lowest}; got {value!r}")
    return int(value)


def measure_matmul_flops(n: int = 1024, dtype=np.float32, repeat: int = 5, threads=None) -> float:
    """FLOP/s of ``np.matmul`` on two (n, n) matrices: 2·n³ FLOPs over the median time.

    One warm-up call (page faults on the fresh output, BLAS thread pool start-up) is not counted;
    then ``repeat`` timed calls into a preallocated ``out=`` (so no allocation is timed).
    ``dtype``: float32 or float64 (the formats NumPy hands to BLAS). ``threads``: None for the
    BLAS default (one per core), an int to run inside :func:`inferlab.bench.threads` (n).
    """
    n = _check_int("measure_matmul_flops", "n", n, 1)
    repeat = _check_int("measure_matmul_flops", "repeat", repeat, 1)
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise InvalidValueError(
            f"measure_matmul_flops needs dtype float32 or float64; got {dtype!r}"
        ) from e
    if dt not in _MATMUL_DTYPES:
        raise InvalidValueError(f"measure_matmul_flops needs dtype float32 or float64; got {dt}")
    if threads is not None:
        threads = _check_int("measure_matmul_flops", "threads", threads, 1)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dt)
    b = rng.standard_normal((n, n)).astype(dt)
    out = np.empty((n, n), dtype=dt)
    with nullcontext() if threads is None else blas_threads_limit(threads):
        t = measure(np.matmul, a, b, out=out, warmup=1, repeat=repeat)
    return 2.0 * n**3 / t.median


def _size_bytes(text: str) -> int | None:
    """sysfs cache sizes: "491520K", "32M", "1024" -> bytes."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    digits = text.rstrip("KMG")
    return int(digits) * scale if digits.isdigit() else None


def last_level_cache_bytes() -> int | None:
    """Size of the largest cache of CPU 0 (the L3 on most x86 chips), bytes; None if unknown.

    Read from /sys/devices/system/cpu/cpu0/cache (Linux), else ``os.sysconf`` (glibc).
    In a VM this is the whole socket's L3, of which this machine may get only a slice.
    """
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (index / "type").read_text().strip() != "Instruction":
                sizes.append(_size_bytes((index / "size").read_text()))
        except OSError:
            continue
    sizes = [s for s in sizes if s]
    if sizes:
        return max(sizes)
    for name in ("SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            size = os.sysconf(name)
        except (ValueError, OSError, AttributeError):
            continue
        if size and size > 0:
            return int(size)
    return None


def memory_capacity_bytes() -> int | None:
    """Main memory this process may use, bytes: the RAM (``os.sysconf``), or a smaller cgroup
    limit (a container started with ``--memory``); None where the OS does not say."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit() and (total is None or int(limit) < total):
            total = int(limit)
    except OSError:
        pass
    return int(total) if total and total > 0 else None


def auto_nbytes() -> int:
    """Array size :func:`measure_bandwidth` uses by default: 4x the last-level cache, between
    :data:`AUTO_MIN_NBYTES` (64 MiB) and :data:`AUTO_MAX_NBYTES` (256 MiB), and at most 1/16 of
    memory (three arrays must fit with room to spare)."""
    llc = last_level_cache_bytes() or 0
    size = min(max(4 * llc, AUTO_MIN_NBYTES), AUTO_MAX_NBYTES)
    capacity = memory_capacity_bytes()
    if capacity:
        size = min(size, max(capacity // 16, MIN_NBYTES))
    return size


def measure_bandwidth(nbytes: int | None = None, repeat: int = 5) -> dict[str, float]:
    """Main-memory bandwidth in bytes/s from STREAM's four kernels written in NumPy (float64).

    ``nbytes``: bytes per array (None: :func:`auto_nbytes`; at least 1 MiB). Three arrays a, b,
    c of that size are filled first (so page faults are not timed); each kernel gets one warm-up
    call, then ``repeat`` timed calls, and the **best** one is reported, as STREAM does.

    Bytes counted follow STREAM: each array an operation must read or write counts once.

    - ``"copy"``   ``np.copyto(a, b)``: 2·nbytes. NumPy calls ``memcpy``, which above a size
      glibc derives from the L3 size uses non-temporal stores (no read of ``a`` before writing
      it), so this is the figure closest to the raw DRAM bandwidth; NumPy's own loops do not
      get it, and below that size copy drops to the others' level (64 MiB on the reference VM).
    - ``"scale"``  ``np.multiply(c, s, out=a)``: 2·nbytes.
    - ``"add"``    ``np.add(b, c, out=a)``: 3·nbytes. One pass: the bandwidth a single NumPy
      elementwise op sees, in the units a roofline counts (inputs + output, once each).
    - ``"triad"``  a = b + s·c as ``np.multiply(c, s, out=a); np.add(a, b, out=a)``: 3·nbytes
      counted, as STREAM does. NumPy has no fused triad, so it really makes **5 array-passes**
      (pass 1 reads c, writes a; pass 2 reads a and b, writes a), 6 when the CPU also reads a
      before writing it (write-allocate). So this is the useful bandwidth of NumPy code with a
      temporary, ~20-25 % below ``"add"`` and well below a compiled STREAM triad.
    - ``"triad_traffic"``: the same run counted honestly, 5·nbytes (write-allocate not counted).

    NumPy's elementwise loops run on **one core**, so these are single-core figures: a server's
    memory system delivers several times more to all its cores at once (multi-threaded BLAS).
    """
    if nbytes is None:
        nbytes = auto_nbytes()
    nbytes = _check_int("measure_bandwidth", "nbytes (bytes per array)", nbytes, MIN_NBYTES)
    repeat = _check_int("measure_bandwidth", "repeat", repeat, 1)
    n = nbytes // 8
    nbytes = n * 8
    a, b, c = np.full(n, 0.0), np.full(n, 1.0), np.full(n, 2.0)  # writing them faults pages in
    s = 3.0

    def triad():
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    def best(fn, *args, **kwargs) -> float:
        return measure(fn, *args, warmup=1, repeat=repeat, **kwargs).min

    t_copy = best(np.copyto, a, b)
    t_scale = best(np.multiply, c, s, out=a)
    t_add = best(np.add, b, c, out=a)
    t_triad = best(triad)
    return {
        "copy": 2 * nbytes / t_copy,
        "scale": 2 * nbytes / t_scale,
        "add": 3 * nbytes / t_add,
        "triad": 3 * nbytes / t_triad,
        "triad_traffic": 5 * nbytes / t_triad,
    }


def this_machine(quick: bool = False) -> Device:
    """This computer as a :class:`Device` of kind "cpu", from measurements (not a datasheet).

    ``peak["fp32"]``: :func:`measure_matmul_flops` (n=1024, median of 5, BLAS default threads).
    ``mem_bw``: the NumPy STREAM **triad** (3 arrays counted): the conservative choice, the
    bandwidth NumPy code with temporaries gets, and the figure other STREAM tables quote.
    A single ufunc gets ``"add"`` (in ``notes``, ~20-25 % more); ``"copy"`` is inflated by
    memcpy's non-temporal stores, which NumPy's loops do not use.
    ``quick=True``: smaller sizes (n=512, 64 MiB arrays, 3 repeats; under a second), for tests
    and a fast notebook run: a small matmul runs below peak, and on a chip with a big L3 the
    arrays may partly stay in cache (bandwidth too high).
    The full measurement takes a few seconds and is memoized for the process.
    """
    if quick:
        return _measure_device(quick=True)
    return _this_machine_full()


@functools.lru_cache(maxsize=1)
def _this_machine_full() -> Device:
    return _measure_device(quick=False)


def _measure_device(quick: bool) -> Device:
    cfg = dict(_QUICK) if quick else {**_FULL, "nbytes": auto_nbytes()}
    n, nbytes, repeat = cfg["n"], cfg["nbytes"], cfg["repeat"]
    flops = measure_matmul_flops(n, np.float32, repeat=repeat)
    bw = measure_bandwidth(nbytes, repeat=repeat)
    info = cpu_info()
    cores = info.physical_cores
    theory = peak_fp32_flops(info)
    llc = last_level_cache_bytes()
    today = datetime.date.today().isoformat()
    what = "quick, " if quick else ""
    sources = {
        "peak_fp32": f"measured: np.matmul n={n} float32, median of {repeat}, BLAS default "
        f"threads, {what}{today}",
        "mem_bw": f"measured: NumPy STREAM triad (a = b + s*c in 2 passes, 3 arrays counted), "
        f"{nbytes // MIB} MiB float64 arrays, best of {repeat}, {what}{today}",
    }
    capacity = memory_capacity_bytes()
    if capacity:
        sources["mem_capacity"] = "os.sysconf (physical pages x page size) or cgroup memory.max"
    clock = f"{info.mhz / 1e3:.2f} GHz" if info.mhz > 0 else f"{FALLBACK_MHZ / 1e3:g} GHz (assumed)"
    figures = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in bw.items())
    notes = (
        f"Theoretical fp32 peak (inferlab.cpu.peak_fp32_flops: {fp32_rule(info)}, {cores} "
        f"cores x {clock}) = {theory / 1e9:.1f} GFLOP/s; the measured matmul reached "
        f"{100 * flops / theory:.0f} % of it. Bandwidth, GB/s (STREAM convention; "
        f"triad_traffic counts NumPy's 5 passes): {figures}. NumPy's elementwise loops run on "
        f"one core, so mem_bw is a single-core figure. Arrays {nbytes // MIB} MiB each; "
        f"last-level cache {'unknown' if llc is None else f'{llc // MIB} MiB'}."
    )
    name = f"this machine ({info.model}, {cores} core{'s' if cores != 1 else ''})"
    if quick:
        name += " [quick]"
    return Device(
        name=name,
        kind="cpu",
        peak={"fp32": flops},
        mem_bw=bw["triad"],
        mem_capacity=capacity,
        sources=sources,
        notes=notes,
    )
