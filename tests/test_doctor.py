"""inferlab.doctor: /proc/cpuinfo parsing, the peak-FLOP/s formula, fallbacks, the report."""

import importlib
import importlib.metadata
import sys

import numpy as np
import pytest

import inferlab
from inferlab.doctor import CpuInfo, blas_info, cpu_info, parse_cpuinfo, peak_fp32_flops
from inferlab.errors import InvalidValueError

# The module (``inferlab.doctor`` the attribute may be the function re-exported by __init__).
doc = importlib.import_module("inferlab.doctor")
cpu = importlib.import_module("inferlab.cpu")

AVX512_FLAGS = (
    "fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx_vnni avx512_bf16 avx512_vnni avx512_fp16 amx_bf16 amx_tile amx_int8"
)


def block(proc, flags, model="Intel(R) Xeon(R) Processor", mhz="2599.998", core=None, cores=None):
    lines = [
        f"processor\t: {proc}",
        "vendor_id\t: GenuineIntel",
        "model\t\t: 167",
        f"model name\t: {model}",
        f"cpu MHz\t\t: {mhz}",
        "physical id\t: 0",
    ]
    if core is not None:
        lines.append(f"core id\t\t: {core}")
    if cores is not None:
        lines.append(f"cpu cores\t: {cores}")
    lines.append(f"flags\t\t: {flags}")
    return "\n".join(lines) + "\n"


# The reference machine: 2 cores, no hyper-threads, AVX-512 + AMX, 2.6 GHz (a VM: no "@ GHz").
XEON_2C = "\n".join(block(i, AVX512_FLAGS, core=i, cores=2) for i in range(2))
# A Haswell desktop: 2 cores × 2 hyper-threads; idle clock 800 MHz, nominal 3.40 GHz in the name.
HASWELL = "\n".join(
    block(
        i,
        "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2",
        model="Intel(R) Core(TM) i3-4130 CPU @ 3.40GHz",
        mhz="800.000",
        core=i % 2,
        cores=2,
    )
    for i in range(4)
)
SANDY = block(0, "fpu sse sse2 ssse3 sse4_1 sse4_2 avx", model="Intel Core i5-2500 @ 3.30GHz")
CORE2 = "\n".join(
    block(i, "fpu sse sse2 ssse3 sse4_1", model="Intel(R) Core(TM)2 Duo CPU E8400 @ 3.00GHz")
    for i in range(2)
)
ARM_FEATURES = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimddp"
RPI5 = f"""processor\t: 0
BogoMIPS\t: 108.00
Features\t: {ARM_FEATURES}
CPU implementer\t: 0x41
CPU part\t: 0xd0b

processor\t: 1
BogoMIPS\t: 108.00
Features\t: {ARM_FEATURES}
CPU implementer\t: 0x41
CPU part\t: 0xd0b

Revision\t: d04170
Serial\t\t: 1234
Model\t\t: Raspberry Pi 5 Model B Rev 1.0
"""


def test_parse_avx512_machine():
    info = parse_cpuinfo(XEON_2C)
    assert isinstance(info, CpuInfo)
    assert info.model == "Intel(R) Xeon(R) Processor"
    assert (info.logical_cores, info.physical_cores) == (2, 2)
    assert info.mhz == pytest.approx(2599.998)
    assert {"avx512f", "amx_tile"} <= info.flags
    for name in ("AVX2", "FMA", "AVX-512F", "AVX-512 VNNI", "AVX-VNNI", "AVX-512 BF16", "AMX"):
        assert name in info.simd
    assert info.fp32_flops_per_cycle == 16 * 2 * 2 == 64
    assert info.fma_units == 2
    # the contract's worked example: 2 cores × 2.6 GHz × 64 = 332.8 GFLOP/s
    assert peak_fp32_flops(info) / 1e9 == pytest.approx(332.8, abs=0.01)


def test_parse_avx2_hyperthreaded_machine():
    info = parse_cpuinfo(HASWELL)
    assert (info.logical_cores, info.physical_cores) == (4, 2)  # hyper-threads share FMA units
    assert info.mhz == 3400.0  # nominal clock from the name, not the idle "cpu MHz"
    assert "AVX2" in info.simd and "AVX-512F" not in info.simd
    assert info.fp32_flops_per_cycle == 8 * 2 * 2 == 32
    assert peak_fp32_flops(info) == pytest.approx(2 * 3.4e9 * 32)


def test_parse_avx_without_fma():
    info = parse_cpuinfo(SANDY)
    assert info.simd == ("SSE4.2", "AVX")
    assert info.fp32_flops_per_cycle == 8 * 1 * 2 == 16  # one add + one mul unit


def test_parse_no_avx_machine():
    info = parse_cpuinfo(CORE2)
    assert info.simd == ()
    assert info.fp32_flops_per_cycle == 4 * 1 * 2 == 8
    assert info.physical_cores == 2  # no "core id": falls back to the logical count
    assert peak_fp32_flops(info) == pytest.approx(2 * 3.0e9 * 8)


def test_parse_arm_board():
    info = parse_cpuinfo(RPI5)
    assert info.model == "Raspberry Pi 5 Model B Rev 1.0"
    assert info.mhz == 0.0  # unknown: Arm's cpuinfo has no clock
    assert info.simd[:2] == ("NEON", "NEON DotProd")
    assert info.fp32_flops_per_cycle == 4 * 2 * 2 == 16
    assert peak_fp32_flops(info) == pytest.approx(2 * doc.FALLBACK_MHZ * 1e6 * 16)


def test_parse_respects_affinity():
    assert parse_cpuinfo(HASWELL, usable={0}).physical_cores == 1
    two_threads_one_core = parse_cpuinfo(HASWELL, usable={0, 2})  # both on core id 0
    assert (two_threads_one_core.logical_cores, two_threads_one_core.physical_cores) == (2, 1)
    assert parse_cpuinfo(HASWELL, usable={0, 1}).physical_cores == 2


def test_parse_cpu_cores_fallback():
    text = "\n".join(block(i, "sse sse2 avx2 fma avx", cores=4) for i in range(8))
    assert parse_cpuinfo(text).physical_cores == 4


def test_parse_rejects_garbage():
    with pytest.raises(InvalidValueError):
        parse_cpuinfo("not a cpuinfo file")


def test_peak_formula_closed_form():
    info = parse_cpuinfo(XEON_2C)
    for cores in (1, 2, 56):
        assert peak_fp32_flops(info, cores=cores) == pytest.approx(cores * 2599.998e6 * 64)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidValueError):
            peak_fp32_flops(info, cores=bad)


def test_cpu_info_on_this_machine():
    info = cpu_info()
    assert 1 <= info.physical_cores <= info.logical_cores
    assert info.fp32_flops_per_cycle in (8, 16, 32, 64, 128)
    assert info.mhz >= 0 and info.model
    assert peak_fp32_flops(info) > 0
    if sys.platform.startswith("linux"):
        import os

        assert info.logical_cores <= len(os.sched_getaffinity(0))


def test_windows_fallback(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(cpu.platform, "processor", lambda: "Intel64 Family 6 Model 167")
    info = cpu_info()
    assert info.model == "Intel64 Family 6 Model 167"
    assert info.mhz == 0.0 and info.logical_cores >= 1
    assert peak_fp32_flops(info) > 0


def test_macos_fallbacks(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(cpu, "_numpy_flags", set)
    apple = {"machdep.cpu.brand_string": "Apple M2", "hw.logicalcpu": "8", "hw.physicalcpu": "8"}
    monkeypatch.setattr(cpu, "_sysctl", lambda name: apple.get(name, ""))
    monkeypatch.setattr(cpu.platform, "machine", lambda: "arm64")
    info = cpu_info()
    assert (info.model, info.physical_cores, info.mhz) == ("Apple M2", 8, 0.0)
    assert info.simd == ("NEON",)  # implied on Apple silicon even if NumPy reports nothing
    assert info.fp32_flops_per_cycle == 4 * 2 * 4  # 4 × 128-bit FMA pipes per P-core
    assert peak_fp32_flops(info) == pytest.approx(8 * doc.FALLBACK_MHZ * 1e6 * 32)


def test_macos_arm_and_intel(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(cpu.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(cpu, "_numpy_flags", lambda: {"asimd", "asimddp"})
    monkeypatch.setattr(cpu, "_sysctl", lambda name: "")  # sysctl missing: must not crash
    info = cpu_info()
    assert info.simd[0] == "NEON" and info.fma_units == 4 and info.fp32_flops_per_cycle == 32

    intel = {
        "machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz",
        "hw.logicalcpu": "16",
        "hw.physicalcpu": "8",
        "hw.cpufrequency": "2300000000",
        "machdep.cpu.features": "FPU SSE SSE2 SSE4.2 AVX1.0 FMA",
        "machdep.cpu.leaf7_features": "AVX2 BMI2",
    }
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(cpu, "_numpy_flags", set)
    monkeypatch.setattr(cpu, "_sysctl", lambda name: intel.get(name, ""))
    info = cpu_info()
    assert (info.logical_cores, info.physical_cores, info.mhz) == (16, 8, 2300.0)
    assert "AVX2" in info.simd and info.fp32_flops_per_cycle == 32
    assert peak_fp32_flops(info) == pytest.approx(8 * 2.3e9 * 32)


def test_blas_info():
    text = blas_info()
    assert isinstance(text, str) and text
    assert not text.startswith("unknown")  # NumPy >= 1.26 reports its BLAS


def test_blas_info_when_numpy_cannot_tell(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("no mode argument")

    monkeypatch.setattr(np, "show_config", broken)
    assert blas_info().startswith("unknown")
    assert doc.doctor(verbose=False)["blas_found"] is False


KEYS = {
    "python",
    "versions",
    "platform",
    "cpu",
    "logical_cores",
    "physical_cores",
    "mhz",
    "simd",
    "fp32_flops_per_cycle",
    "fma_units",
    "fp32_rule",
    "blas",
    "blas_found",
    "peak_fp32_gflops",
    "measured_fp32_gflops",
}
PACKAGES = {"numpy", "torch", "onnxruntime", "onnx", "jupyterlab", "ipywidgets", "matplotlib"}


def test_doctor_report(capsys):
    report = inferlab.doctor()  # the lazy alias in inferlab/__init__.py
    assert set(report) == KEYS
    assert set(report["versions"]) == PACKAGES
    assert report["versions"]["numpy"] == np.__version__
    assert report["peak_fp32_gflops"] == pytest.approx(peak_fp32_flops() / 1e9)
    assert report["measured_fp32_gflops"] is None
    assert report["blas_found"] is True
    out = capsys.readouterr().out
    for text in (
        "Python",
        "numpy",
        "torch",
        "CPU",
        "cores",
        "SIMD",
        "BLAS",
        "peak fp32",
        "GFLOP/s",
    ):
        assert text in out
    assert f"{report['peak_fp32_gflops']:.1f} GFLOP/s" in out


def test_doctor_callable_however_imported(capsys):
    # `import inferlab.doctor` rebinds the package attribute to the module: it must stay callable
    assert callable(inferlab.doctor)
    assert set(inferlab.doctor(verbose=False)) == KEYS
    assert set(doc(verbose=False)) == KEYS
    assert capsys.readouterr().out == ""


def test_doctor_quiet(capsys):
    doc.doctor(verbose=False)
    assert capsys.readouterr().out == ""


def test_doctor_missing_and_broken_packages(monkeypatch, capsys):
    real = importlib.metadata.version

    def fake(name):
        if name.startswith("onnxruntime") or name == "torch":
            raise importlib.metadata.PackageNotFoundError(name)
        if name == "ipywidgets":
            raise RuntimeError("corrupt metadata")
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", fake)
    report = doc.doctor()
    assert report["versions"]["torch"] == "not installed"
    assert report["versions"]["onnxruntime"] == "not installed"
    assert report["versions"]["ipywidgets"] == "unreadable"
    assert report["versions"]["numpy"] == np.__version__
    assert "not installed" in capsys.readouterr().out


def test_doctor_measure():
    report = doc.doctor(verbose=False, measure=True)
    measured = report["measured_fp32_gflops"]
    assert measured > 0
    # no bound from above: turbo (or a wrong FMA-unit guess) can push it past the "peak"
    assert measured < 10 * report["peak_fp32_gflops"]


def test_report_with_unknown_clock():
    report = doc.doctor(verbose=False)
    report["mhz"] = 0.0
    text = doc.format_report(report)
    assert "assuming 3.0 GHz" in text
