"""This CPU as the peak-FLOP/s formula sees it: cores, clock, SIMD, FLOP per cycle.

    >>> from inferlab.cpu import cpu_info, peak_fp32_flops
    >>> peak_fp32_flops() / 1e9               # GFLOP/s, theoretical

The peak is the classic back-of-the-envelope formula

    peak FLOP/s = cores × clock (Hz) × FLOP per cycle per core,
    FLOP per cycle per core = fp32 lanes per vector × FLOPs per lane × vector units.

| best fp32 vector instructions | lanes | FLOPs/lane | units | FLOP/cycle/core |
|---|---|---|---|---|
| AVX-512 with FMA (Skylake-SP and later Xeons) | 16 | 2 (FMA) | 2 FMA | 64 |
| AVX2 with FMA (Haswell and later, Zen 2 and later) | 8 | 2 (FMA) | 2 FMA | 32 |
| AVX without FMA (Sandy/Ivy Bridge) | 8 | 1 | 2 (1 add + 1 mul) | 16 |
| SSE (any x86-64) | 4 | 1 | 2 (1 add + 1 mul) | 8 |
| Arm NEON / ASIMD (128-bit) | 4 | 2 (FMA) | 2 FMA (4 on Apple M) | 16 (32) |

Assumptions, stated because they matter:

- **Two FMA units per core.** Server Xeons (Gold/Platinum) have two AVX-512 FMA units; some SKUs
  (many Xeon Silver/Bronze, client chips) have one, and AMD Zen 4 runs AVX-512 on 256-bit units:
  on those the real peak is half of this one.
- **Physical cores.** Two hyper-threads of one core share its FMA units, so only physical cores
  count, and only those this process may run on (CPU affinity, cgroup quota).
- **The nominal clock** (``base_frequency`` in sysfs, else the "@ 2.60GHz" of the model name, else
  "cpu MHz" of /proc/cpuinfo, which on a VM is the nominal clock). Turbo can run above it and
  heavy AVX-512 code can run below it, so a measured BLAS matmul can approach or even exceed
  100 % of this "peak".
- fp32 only: AMX, AVX-512 BF16 and VNNI are for bf16/int8 (chapters 04 and 05).

On the reference machine (2 cores, 2.6 GHz, AVX-512) that gives 2 × 2.6e9 × 64 = 332.8 GFLOP/s,
and NumPy's OpenBLAS measures about 315 GFLOP/s on a 1024³ fp32 matmul.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

from inferlab.errors import InvalidValueError

__all__ = [
    "FALLBACK_MHZ",
    "CpuInfo",
    "cpu_info",
    "fp32_rule",
    "parse_cpuinfo",
    "peak_fp32_flops",
]

#: Clock assumed when the OS does not tell (e.g. Apple silicon); the report says so.
FALLBACK_MHZ = 3000.0

# (Linux /proc/cpuinfo flag, name shown), in the order shown: the instructions that matter for
# inference (fp32 vectors, int8 dot products, bf16/fp16, matrix tiles).
_SIMD_NAMES: tuple[tuple[str, str], ...] = (
    ("sse4_2", "SSE4.2"),
    ("avx", "AVX"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("avx512f", "AVX-512F"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx512_fp16", "AVX-512 FP16"),
    ("amx_tile", "AMX"),
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("amx_fp16", "AMX-FP16"),
    ("asimd", "NEON"),
    ("asimddp", "NEON DotProd"),
    ("i8mm", "I8MM"),
    ("bf16", "BF16"),
    ("sve", "SVE"),
    ("sve2", "SVE2"),
)

# NumPy's runtime CPU-feature names -> Linux flag names (used where /proc/cpuinfo is missing).
_NUMPY_FEATURES = {
    "SSE": "sse",
    "SSE2": "sse2",
    "SSE42": "sse4_2",
    "AVX": "avx",
    "FMA3": "fma",
    "AVX2": "avx2",
    "AVX512F": "avx512f",
    "AVX512VNNI": "avx512_vnni",
    "AVX512BF16": "avx512_bf16",
    "AVX512FP16": "avx512_fp16",
    "ASIMD": "asimd",
    "ASIMDDP": "asimddp",
    "SVE": "sve",
}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as far as the peak-FLOP/s formula is concerned.

    ``logical_cores`` and ``physical_cores`` count only the CPUs this process may use;
    ``mhz`` is the nominal clock (0.0 when unknown); ``fp32_flops_per_cycle`` is per core;
    ``fma_units`` is the assumed number of vector FMA (or add + mul) units per core.
    """

    model: str
    logical_cores: int
    physical_cores: int
    mhz: float
    flags: frozenset[str]
    simd: tuple[str, ...]
    fp32_flops_per_cycle: int
    fma_units: int


def _fp32_rule(flags: Iterable[str], apple: bool = False) -> tuple[str, int, int, int]:
    """(ISA, fp32 lanes per vector, FLOPs per lane per instruction, units per core)."""
    flags = set(flags)
    if "avx512f" in flags:
        return "AVX-512", 16, 2, 2
    if "fma" in flags and ("avx2" in flags or "avx" in flags):
        return "AVX2+FMA", 8, 2, 2
    if "avx" in flags:
        return "AVX", 8, 1, 2
    if "asimd" in flags or "neon" in flags:
        return "NEON", 4, 2, (4 if apple else 2)
    return "SSE", 4, 1, 2


def _simd_names(flags: Iterable[str]) -> tuple[str, ...]:
    flags = set(flags)
    return tuple(name for flag, name in _SIMD_NAMES if flag in flags)


def _cpu(model: str, logical: int, physical: int, mhz: float, flags, apple=False) -> CpuInfo:
    flags = frozenset(flags)
    _, lanes, per_lane, units = _fp32_rule(flags, apple)
    logical = max(1, int(logical))
    return CpuInfo(
        model=model.strip() or platform.machine() or "unknown CPU",
        logical_cores=logical,
        physical_cores=max(1, min(int(physical), logical)),
        mhz=float(mhz),
        flags=flags,
        simd=_simd_names(flags),
        fp32_flops_per_cycle=lanes * per_lane * units,
        fma_units=units,
    )


def _mhz_from_model(model: str) -> float:
    """Intel brand strings end in the nominal clock: "... CPU @ 2.60GHz" -> 2600.0."""
    m = re.search(r"@\s*([\d.]+)\s*([GM])Hz", model, re.IGNORECASE)
    if not m:
        return 0.0
    return float(m.group(1)) * (1000.0 if m.group(2).upper() == "G" else 1.0)


def parse_cpuinfo(text: str, usable: Iterable[int] | None = None) -> CpuInfo:
    """Parse the text of Linux's /proc/cpuinfo (x86 or Arm).

    ``usable``: the logical CPU ids this process may run on (``os.sched_getaffinity(0)``);
    ``None`` means all of them. Physical cores are the distinct (physical id, core id) pairs
    among the usable CPUs; without those fields, "cpu cores" × sockets, else the logical count.
    """
    blocks, extra = [], {}  # one dict per logical CPU; trailing board info (Raspberry Pi)
    for chunk in re.split(r"\n\s*\n", text.strip()):
        fields = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        if "processor" in fields:
            blocks.append(fields)
        else:
            extra.update(fields)
    if not blocks:
        raise InvalidValueError("parse_cpuinfo needs /proc/cpuinfo text with 'processor' lines")

    usable = None if usable is None else set(usable)
    mine = [
        b
        for b in blocks
        if usable is None or not b["processor"].isdigit() or int(b["processor"]) in usable
    ] or blocks
    first = mine[0]

    names = (first.get(k) or extra.get(k) or "" for k in ("model name", "model", "hardware"))
    model = next((n for n in names if n and not n.isdigit()), "")  # x86 "model : 167" is a number
    flags = set((first.get("flags") or first.get("features") or "").split())

    if all("core id" in b for b in mine):
        physical = len({(b.get("physical id", "0"), b["core id"]) for b in mine})
    elif "cpu cores" in first and first["cpu cores"].isdigit():
        sockets = len({b.get("physical id", "0") for b in blocks})
        physical = int(first["cpu cores"]) * sockets
    else:
        physical = len(mine)

    mhz = _mhz_from_model(model)
    if not mhz:
        clocks = [float(b["cpu mhz"]) for b in mine if _is_number(b.get("cpu mhz", ""))]
        mhz = max(clocks, default=0.0)
    return _cpu(model, len(mine), physical, mhz, flags)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _usable_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cgroup_cpu_limit() -> float | None:
    """CPUs allowed by a cgroup v2 quota (``docker run --cpus=2``), or None if unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _read_khz(path: str) -> float:
    try:
        return float(Path(path).read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return 0.0


def _numpy_flags() -> set[str]:
    """CPU features NumPy detected at run time, as Linux flag names (works on every OS)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return set()
    return {flag for key, flag in _NUMPY_FEATURES.items() if features.get(key)}


def _sysctl(name: str) -> str:
    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _cpu_info_linux() -> CpuInfo:
    text = Path("/proc/cpuinfo").read_text()
    usable = _usable_cpus()
    info = parse_cpuinfo(text, usable)
    logical, physical, mhz = info.logical_cores, info.physical_cores, info.mhz
    limit = _cgroup_cpu_limit()
    if limit is not None:
        logical = max(1, min(logical, int(limit)))
        physical = min(physical, logical)
    cpu0 = min(usable) if usable else 0
    cpufreq = f"/sys/devices/system/cpu/cpu{cpu0}/cpufreq"
    base = _read_khz(f"{cpufreq}/base_frequency")  # intel_pstate: the nominal clock
    if base:
        mhz = base
    elif not mhz:
        mhz = _read_khz(f"{cpufreq}/cpuinfo_max_freq")  # Arm boards: the top clock
    flags = info.flags or _numpy_flags()
    return _cpu(info.model, logical, physical, mhz, flags)


def _cpu_info_macos() -> CpuInfo:
    model = _sysctl("machdep.cpu.brand_string") or platform.processor()
    logical = int(_sysctl("hw.logicalcpu") or os.cpu_count() or 1)
    physical = int(_sysctl("hw.physicalcpu") or logical)
    hz = _sysctl("hw.cpufrequency")  # Intel Macs only
    mhz = float(hz) / 1e6 if hz.isdigit() else _mhz_from_model(model)
    features = " ".join(_sysctl(k) for k in ("machdep.cpu.features", "machdep.cpu.leaf7_features"))
    flags = {f.lower().replace("avx1.0", "avx") for f in features.split()} | _numpy_flags()
    apple = platform.machine() == "arm64"
    if apple:
        flags.add("asimd")  # every Apple silicon core has NEON
    return _cpu(model, logical, physical, mhz, flags, apple=apple)


def _cpu_info_other() -> CpuInfo:
    logical = os.cpu_count() or 1
    return _cpu(platform.processor(), logical, logical, 0.0, _numpy_flags())


def cpu_info() -> CpuInfo:
    """Describe this CPU: /proc/cpuinfo on Linux, sysctl on macOS, ``platform`` elsewhere."""
    try:
        if sys.platform.startswith("linux") and Path("/proc/cpuinfo").exists():
            return _cpu_info_linux()
        if sys.platform == "darwin":
            return _cpu_info_macos()
    except (OSError, ValueError):
        pass
    return _cpu_info_other()


def fp32_rule(info: CpuInfo) -> str:
    """How ``info.fp32_flops_per_cycle`` was counted, e.g. "AVX-512: 16 lanes × 2 FLOP (FMA) × 2
    FMA units per core"."""
    isa, lanes, per_lane, _ = _fp32_rule(info.flags)
    op = "2 FLOP (FMA)" if per_lane == 2 else "1 FLOP"
    units = "FMA units" if per_lane == 2 else "units (1 add + 1 mul)"
    return f"{isa}: {lanes} lanes × {op} × {info.fma_units} {units} per core"


def peak_fp32_flops(info: CpuInfo | None = None, cores: int | None = None) -> float:
    """Theoretical fp32 peak in FLOP/s: cores × clock × FLOP/cycle/core.

    ``cores`` defaults to the usable physical cores; a clock of 0 (unknown) is replaced by
    :data:`FALLBACK_MHZ`. See the module docstring for the assumptions.
    """
    info = cpu_info() if info is None else info
    if cores is None:
        cores = info.physical_cores
    if isinstance(cores, bool) or not isinstance(cores, Integral) or cores < 1:
        raise InvalidValueError(f"peak_fp32_flops needs cores to be an integer >= 1; got {cores!r}")
    mhz = info.mhz if info.mhz > 0 else FALLBACK_MHZ
    return float(cores) * mhz * 1e6 * info.fp32_flops_per_cycle
