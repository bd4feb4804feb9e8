"""Energy: top-down from a device's power, and bottom-up from the energy of each operation.

Top-down (GenZ's power model): a chip draws a static share of its TDP whenever it is on, plus
dynamic shares in proportion to how busy its compute, memory and network are:

    P = TDP * (0.30 + 0.40 * util_compute + 0.20 * util_memory + 0.10 * util_network)

Bottom-up (Horowitz, "Computing's Energy Problem", ISSCC 2014, 45 nm): count the operations and
the bytes and multiply by the energy of each. The absolute picojoules belong to a 2014 process,
but the *ratios* still hold and are the lesson: a DRAM access costs hundreds of multiply-adds,
so an inference's energy is mostly moving data, and fewer bits per weight saves energy twice.
"""

from __future__ import annotations

from inferlab.errors import InvalidValueError
from inferlab.hw.device import Device
from inferlab.hw.roofline import Estimate

__all__ = ["GENZ_SPLIT", "HOROWITZ_PJ", "MAC_PJ", "bottom_up_j", "energy_j", "power_w"]

# Horowitz (ISSCC 2014), 45 nm, 0.9 V, picojoules per operation.
HOROWITZ_PJ = {
    "int8_add": 0.03,
    "int16_add": 0.05,
    "int32_add": 0.1,
    "int8_mult": 0.2,
    "int32_mult": 3.1,
    "fp16_add": 0.4,
    "fp32_add": 0.9,
    "fp16_mult": 1.1,
    "fp32_mult": 3.7,
    "sram_8kb_64bit": 10.0,
    "sram_32kb_64bit": 20.0,
    "sram_1mb_64bit": 100.0,
    "dram_32bit": 640.0,  # Han et al. 2015, Fig. 1, re-expressing Horowitz (1.3-2.6 nJ / 64 bit)
}

# One multiply-accumulate: a multiply in the format, an add in the accumulator's format
# (int8 products accumulate in int32; fp16 products in fp16 here, as in the table).
MAC_PJ = {
    "fp32": HOROWITZ_PJ["fp32_mult"] + HOROWITZ_PJ["fp32_add"],
    "fp16": HOROWITZ_PJ["fp16_mult"] + HOROWITZ_PJ["fp16_add"],
    "int8": HOROWITZ_PJ["int8_mult"] + HOROWITZ_PJ["int32_add"],
}
DRAM_PJ_PER_BYTE = HOROWITZ_PJ["dram_32bit"] / 4
SRAM_PJ_PER_BYTE = HOROWITZ_PJ["sram_32kb_64bit"] / 8

GENZ_SPLIT = {"static": 0.30, "compute": 0.40, "memory": 0.20, "network": 0.10}


def _fraction(name: str, value) -> float:
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidValueError(f"{name} is a utilisation between 0 and 1; got {value!r}")
    return float(value)


def power_w(device: Device, util_compute: float, util_memory: float, util_network=0.0) -> float:
    """Average power (W) of ``device`` at the given utilisations (GenZ's split of the TDP)."""
    if device.tdp is None:
        raise InvalidValueError(f"device {device.name!r} has no published TDP; give it one with "
                                "device.with_(tdp=watts)")  # fmt: skip
    uc = _fraction("util_compute", util_compute)
    um = _fraction("util_memory", util_memory)
    un = _fraction("util_network", util_network)
    s = GENZ_SPLIT
    return device.tdp * (s["static"] + s["compute"] * uc + s["memory"] * um + s["network"] * un)


def energy_j(estimate: Estimate, device: Device, dtype: str, chips: int = 1) -> float:
    """Joules for one estimated run: its time times the power at the utilisations it implies.

    util_compute = ideal compute time at ``dtype``'s peak / time (the fraction of the peak
    FLOP/s used), util_memory likewise for bandwidth; ``chips`` multiplies the power when the
    work spans several chips.
    """
    t = estimate.seconds
    if t <= 0:
        return 0.0
    ideal_c = estimate.flops / (chips * device.peak_for(dtype))
    ideal_m = estimate.bytes / (chips * device.mem_bw)
    return chips * t * power_w(device, min(1.0, ideal_c / t), min(1.0, ideal_m / t))


def bottom_up_j(macs: float, dram_bytes: float, sram_bytes: float = 0.0, dtype="fp32") -> float:
    """Joules from counts: ``macs`` multiply-accumulates in ``dtype`` ("fp32", "fp16", "int8"),
    ``dram_bytes`` from main memory, ``sram_bytes`` from on-chip buffers (45 nm figures)."""
    if dtype not in MAC_PJ:
        raise InvalidValueError(f"bottom-up energy knows {sorted(MAC_PJ)}; got {dtype!r}")
    for name, v in (("macs", macs), ("dram_bytes", dram_bytes), ("sram_bytes", sram_bytes)):
        if not isinstance(v, int | float) or v < 0:
            raise InvalidValueError(f"{name} must be a count >= 0; got {v!r}")
    pj = macs * MAC_PJ[dtype] + dram_bytes * DRAM_PJ_PER_BYTE + sram_bytes * SRAM_PJ_PER_BYTE
    return pj * 1e-12
