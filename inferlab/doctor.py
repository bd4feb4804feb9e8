"""What this machine can do: versions, CPU, SIMD, BLAS, and its theoretical peak FLOP/s.

    >>> import inferlab
    >>> report = inferlab.doctor()            # prints a report, returns it as a dict
    >>> inferlab.doctor(measure=True)         # ... plus a measured fp32 matmul GFLOP/s

How the peak is counted, and the assumptions behind it, is in :mod:`inferlab.cpu`.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import platform
import sys
import textwrap
import types
from pathlib import Path

from inferlab.cpu import (  # noqa: F401  (re-exported: chapter 00 and 01 use them from here)
    FALLBACK_MHZ,
    CpuInfo,
    cpu_info,
    fp32_rule,
    parse_cpuinfo,
    peak_fp32_flops,
)

__all__ = [
    "PACKAGES",
    "CpuInfo",
    "blas_info",
    "cpu_info",
    "doctor",
    "format_report",
    "peak_fp32_flops",
]

#: Packages whose versions the report shows: (label, distribution names to try).
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("numpy", ("numpy",)),
    ("torch", ("torch",)),
    ("onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-silicon")),
    ("onnx", ("onnx",)),
    ("jupyterlab", ("jupyterlab",)),
    ("ipywidgets", ("ipywidgets",)),
    ("matplotlib", ("matplotlib",)),
)
NOT_INSTALLED = "not installed"


def _blas_config() -> dict:
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
    except Exception:  # NumPy < 1.25 has no mode= argument
        return {}
    return (config or {}).get("Build Dependencies", {}).get("blas", {})


def _openblas_runtime() -> str:
    """OpenBLAS picks its kernels at run time (DYNAMIC_ARCH): ask the loaded library which."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ""
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                threads = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if core is None:
                    continue
                core.restype = ctypes.c_char_p
                text = f"kernels for {core().decode()}"
                if threads is not None:
                    threads.restype = ctypes.c_int
                    text += f", {threads()} threads"
                return text
    return ""


def blas_info() -> str:
    """Which BLAS NumPy's matmul calls, e.g. "scipy-openblas 0.3.31 (kernels for SkylakeX, ...)"."""
    blas = _blas_config()
    if not blas:
        return "unknown (NumPy does not report its BLAS)"
    if not blas.get("found", True) or blas.get("name", "").lower() in ("", "none"):
        return "none: NumPy uses its own slow loops for matmul"
    text = " ".join(str(blas[k]) for k in ("name", "version") if blas.get(k))
    try:
        runtime = _openblas_runtime() if "openblas" in text.lower() else ""
    except Exception:  # best effort: the build-time name above is enough
        runtime = ""
    return f"{text} ({runtime})" if runtime else text


def _version(names: tuple[str, ...]) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        except Exception:  # a broken install must not break the doctor
            return "unreadable"
    return NOT_INSTALLED


def _measure_blas(n: int = 1024) -> float:
    """fp32 GFLOP/s of one n×n @ n×n matmul, best of 10 (a peak-style number, so the min)."""
    import numpy as np

    from inferlab.bench import gflops, measure

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    t = measure(np.matmul, a, b, warmup=2, repeat=10)
    return gflops(2 * n**3, t.min)


def doctor(verbose: bool = True, measure: bool = False) -> dict:
    """Print (if ``verbose``) and return a report of this machine.

    Keys: ``python``, ``versions`` (package -> version or "not installed"), ``platform``,
    ``cpu``, ``logical_cores``, ``physical_cores``, ``mhz`` (0.0 if unknown), ``simd``,
    ``fp32_flops_per_cycle``, ``fma_units``, ``fp32_rule`` (how FLOP/cycle was counted),
    ``blas``, ``blas_found``, ``peak_fp32_gflops``, ``measured_fp32_gflops`` (None unless
    ``measure=True``: a 1024³ fp32 matmul, well under a second).
    Never raises for a missing optional package.
    """
    info = cpu_info()
    blas = blas_info()
    peak = peak_fp32_flops(info) / 1e9
    report = {
        "python": platform.python_version(),
        "versions": {label: _version(names) for label, names in PACKAGES},
        "platform": platform.platform(),
        "cpu": info.model,
        "logical_cores": info.logical_cores,
        "physical_cores": info.physical_cores,
        "mhz": info.mhz,
        "simd": info.simd,
        "fp32_flops_per_cycle": info.fp32_flops_per_cycle,
        "fma_units": info.fma_units,
        "fp32_rule": fp32_rule(info),
        "blas": blas,
        "blas_found": not blas.startswith(("unknown", "none")),
        "peak_fp32_gflops": peak,
        "measured_fp32_gflops": _measure_blas() if measure else None,
    }
    if verbose:
        print(format_report(report))
    return report


def _wrap(label: str, text: str, width: int = 88) -> list[str]:
    lines = textwrap.wrap(text, width - 14) or [""]
    return [f"  {label if i == 0 else '':<12}{line}" for i, line in enumerate(lines)]


def format_report(report: dict) -> str:
    """The text :func:`doctor` prints."""
    ghz = (report["mhz"] or FALLBACK_MHZ) / 1000
    clock = f"{report['mhz']:.0f} MHz (nominal; turbo may run higher)"
    if not report["mhz"]:
        clock = f"unknown; assuming {ghz:.1f} GHz"
    lines = [
        "inferlab doctor: what this machine can do",
        f"  {'Python':<12}{report['python']}",
        *(f"  {name:<12}{v}" for name, v in report["versions"].items()),
        f"  {'platform':<12}{report['platform']}",
        f"  {'CPU':<12}{report['cpu']}",
        f"  {'cores':<12}{report['physical_cores']} physical, {report['logical_cores']} logical"
        " (usable by this process)",
        f"  {'clock':<12}{clock}",
        *_wrap("SIMD", ", ".join(report["simd"]) or "none detected"),
        f"  {'BLAS':<12}{report['blas']}",
        f"  {'peak fp32':<12}{report['peak_fp32_gflops']:.1f} GFLOP/s = "
        f"{report['physical_cores']} cores × {ghz:.2f} GHz × "
        f"{report['fp32_flops_per_cycle']} FLOP/cycle",
        f"  {'':<12}({report['fp32_rule']})",
    ]
    measured = report.get("measured_fp32_gflops")
    if measured is not None:
        share = measured / report["peak_fp32_gflops"]
        lines.append(
            f"  {'measured':<12}{measured:.1f} GFLOP/s on a 1024³ fp32 matmul = {share:.0%} of peak"
        )
    return "\n".join(lines)


class _CallableModule(types.ModuleType):
    """``inferlab.doctor`` names both this module and the function :func:`doctor` (re-exported
    by ``inferlab/__init__.py``). Importing a submodule rebinds the package attribute to the
    module, so the module itself must be callable for ``inferlab.doctor()`` to keep working."""

    def __call__(self, verbose: bool = True, measure: bool = False) -> dict:
        return doctor(verbose=verbose, measure=measure)


sys.modules[__name__].__class__ = _CallableModule
