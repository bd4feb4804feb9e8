"""Measure a GPU's roofline (matmul TFLOP/s per format, copy bandwidth) and compare it with the
catalog's datasheet figures.

    .venv/bin/python benchmarks/gpu_roofline.py [--device-name "H100"]

Needs torch with CUDA; without a GPU it says so and exits 0. Matmuls are square (8192 by
default: big enough to keep every SM busy), timed with CUDA events after a warm-up, median of
``--repeat``. fp32 runs with TF32 off, tf32 with it on. Bandwidth is a device-to-device
``dst.copy_(src)`` of ``--copy-gib`` GiB, counting read + write (2x the bytes). Expect matmuls at
~60-80 % of the dense datasheet peak (clocks drop under load) and copies at ~80-90 % of it.
The catalog name comes from the GPU's name (``--device-name`` overrides it); a GPU the catalog
lacks is still measured.
"""

from __future__ import annotations

import argparse
import re
import statistics

from inferlab.errors import InferlabError

NO_GPU = "no CUDA device: nothing to measure (this benchmark needs an NVIDIA GPU)"
FORMATS = ("fp32", "tf32", "fp16", "bf16")
# torch.cuda.get_device_name() -> catalog name, first match wins (whole words, case-insensitive).
# Variants with other clocks or memory (PCIe, NVL, 40 GB) map to names the catalog may lack on
# purpose: comparing a PCIe card with the SXM datasheet would be wrong.
CATALOG_NAMES = (
    ("H100 PCIe", "H100 PCIe"),
    ("H100 NVL", "H100 NVL"),
    ("H100", "H100"),
    ("H200", "H200"),
    ("B200", "B200"),
    ("A100-PCIE", "A100 PCIe"),
    ("A100-SXM4-40GB", "A100 SXM4 40GB"),
    ("A100", "A100"),
    ("L40S", "L40S"),
    ("L4", "L4"),
    ("T4", "T4"),
)


def catalog_name(gpu_name: str) -> str:
    """The catalog's name for a GPU: "NVIDIA H100 80GB HBM3" -> "H100"; unknown: unchanged."""
    for key, name in CATALOG_NAMES:
        if re.search(rf"\b{re.escape(key)}\b", gpu_name, re.IGNORECASE):
            return name
    return gpu_name


def catalog_device(name: str):
    """The catalog's Device for ``name``, or None (and a line saying why)."""
    try:
        from inferlab.hw.catalog import device
    except ImportError as e:
        print(f"catalog not available ({e}); measuring anyway")
        return None
    try:
        return device(name)
    except InferlabError as e:
        print(f"no catalog entry for {name!r} ({e}); measuring anyway")
        return None


def median_seconds(torch, fn, repeat: int, warmup: int = 3) -> float:
    """Median GPU time of ``fn()`` in seconds, from CUDA events around each call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)  # elapsed_time is in ms
    return statistics.median(times)


def matmul_flops(torch, fmt: str, n: int, repeat: int) -> float:
    """FLOP/s of an (n, n) @ (n, n) matmul in ``fmt``: 2·n³ over the median time."""
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(fmt, torch.float32)
    torch.set_float32_matmul_precision("high" if fmt == "tf32" else "highest")
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    out = torch.empty_like(a)
    try:
        seconds = median_seconds(torch, lambda: torch.matmul(a, b, out=out), repeat)
    finally:
        torch.set_float32_matmul_precision("highest")
    return 2.0 * n**3 / seconds


def copy_bandwidth(torch, nbytes: int, repeat: int) -> float:
    """Bytes/s of a device-to-device copy of ``nbytes``: read + write = 2·nbytes moved."""
    free, _ = torch.cuda.mem_get_info()
    nbytes = min(nbytes, free // 3)  # two buffers and room to spare on a small card
    src = torch.ones(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    return 2.0 * nbytes / median_seconds(torch, lambda: dst.copy_(src), repeat)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device-name", help="catalog name to compare with (default: from GPU)")
    parser.add_argument("--size", type=int, default=8192, help="matmul side n (default 8192)")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per figure")
    parser.add_argument("--copy-gib", type=float, default=2.0, help="bytes copied, GiB")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        print(NO_GPU)
        return 0

    gpu = torch.cuda.get_device_name()
    name = args.device_name or catalog_name(gpu)
    print(f"GPU: {gpu} (catalog name: {name!r}); torch {torch.__version__}")
    dev = catalog_device(name)

    rows = []  # (quantity, measured, catalog or None), in display units
    for fmt in FORMATS:
        measured = matmul_flops(torch, fmt, args.size, args.repeat)
        listed = dev.peak.get(fmt) if dev is not None else None
        rows.append(
            (f"matmul {fmt} n={args.size} (TFLOP/s)", measured / 1e12, listed and listed / 1e12)
        )
    bw = copy_bandwidth(torch, int(args.copy_gib * 2**30), args.repeat)
    listed = dev.mem_bw if dev is not None else None
    rows.append(("copy bandwidth (GB/s)", bw / 1e9, listed and listed / 1e9))

    print(f"\n{'quantity':<34} {'measured':>10} {'catalog':>10} {'measured/catalog':>17}")
    for quantity, measured, listed in rows:
        ratio = f"{measured / listed:.0%}" if listed else "-"
        listed_text = f"{listed:.1f}" if listed else "-"
        print(f"{quantity:<34} {measured:>10.1f} {listed_text:>10} {ratio:>17}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
