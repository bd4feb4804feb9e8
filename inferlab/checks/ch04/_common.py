"""Helpers shared by the chapter-04 checks: seeds, real device numbers, how a number is compared,
and the search for several slips at once.

Every answer of exercises 04 is a number (or a number and a label) between about 1e-15 (the
seconds of a tiny op) and 1e22 (the FLOPs of a long prefill). The core's comparison has an
absolute tolerance of 1e-8, which would accept *any* answer for a 1e-12-second op, so the checks
compare the numbers scaled by :data:`SCALE`: what is left is a purely relative tolerance (1e-6).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from inferlab.checks.core import Outcome
from inferlab.checks.slips import is_number, kind, mistakes, several_slips  # noqa: F401 (re-exported)

# Multiplies every compared number: 1e-15 s becomes 1e15, far above the core's atol of 1e-8.
SCALE = 1e30

# Real devices (hardware.md, datasets/devices.csv): dense 16-bit peak FLOP/s, memory bytes/s.
H100 = (989.4e12, 3.35e12)
H200 = (989.4e12, 4.8e12)
B200 = (2250e12, 8e12)
A100 = (312e12, 2.039e12)
L4 = (121e12, 300e9)
MI300X = (1307.4e12, 5.3e12)
TPU_V5E = (197e12, 819e9)
TPU_V6E = (918e12, 1.638e12)
ORIN_NANO = (16.7e12, 102e9)  # Jetson Orin Nano Super, fp16/bf16
RPI5_FP32 = (153.6e9, 17.1e9)  # Raspberry Pi 5, fp32 NEON
RPI5_FP16 = (307.2e9, 17.1e9)
XEON_FP32 = (7.168e12, 307.2e9)  # Xeon Platinum 8480+, fp32
CORAL_INT8 = (4e12, 0.5e9)  # Coral Edge TPU: int8, weights streamed over USB


def _rng(task_number: int) -> np.random.Generator:
    # Seeds of the checks' own: the notebook draws nothing at random, the checks never reuse a
    # number the notebook shows.
    return np.random.default_rng([4, task_number, 0xC4EC])


def times(device: tuple[float, float], chips: int) -> tuple[float, float]:
    """``chips`` copies of a device: N times the FLOP/s and N times the bandwidth."""
    return device[0] * chips, device[1] * chips


def encode_number(what: str) -> Callable:
    """An ``encode`` for a task returning one number: ``what`` names it in the message."""

    def encode(result) -> np.ndarray:
        if isinstance(result, np.ndarray) and result.shape == () and result.dtype.kind in "fiu":
            result = result.item()
        if not is_number(result):
            raise TypeError(f"return one number, {what}; got {kind(result)}.")
        return np.asarray(float(result) * SCALE)

    return encode


def _digits(got: float, expected: float) -> int:
    """Enough significant digits for two numbers to differ on screen."""
    if not (math.isfinite(got) and expected) or got == expected:
        return 6
    return int(min(17, max(6, math.ceil(math.log10(abs(expected / (got - expected)))) + 2)))


def compare(got: float, expected: float, unit: str) -> str:
    """``expected 295.3 FLOP/byte, got 147.7 (0.5× the answer)``."""
    d = _digits(got, expected)
    text = f"expected {expected:.{d}g}{unit}, got {got:.{d}g}"
    if expected and got and math.isfinite(got) and abs(got / expected - 1) > 1e-3:
        text += f" ({got / expected:.4g}× the answer)"
    return text


def number_symptom(unit: str) -> Callable[[Outcome], str | None]:
    """A ``symptom`` for one-number answers: both numbers in their unit, and their ratio."""

    def symptom(o: Outcome) -> str | None:
        if o.got is None or o.got.shape != ():
            return None
        return compare(float(o.got) / SCALE, float(o.expected) / SCALE, unit)

    return symptom


def zero_hint(o: Outcome | None) -> str | None:
    """A hint for an answer of exactly 0 where the right one is not."""
    if o is None or o.got is None or o.got.shape != () or float(o.got) != 0:
        return None
    if float(o.expected) == 0:
        return None
    return (
        f"your answer is 0, the right one {float(o.expected) / SCALE:.4g}: did something round "
        "it down to 0 (an integer division `//`, int() or round()) or multiply it by 0?"
    )
