"""llama.cpp Q8_0 / Q4_0 blocks: byte for byte the pip ``gguf`` package (ggml-quants.c's port)."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import quants

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.quant.ggml import (
    BYTES_PER_BLOCK,
    QK,
    bits_per_weight,
    dequantize_q4_0,
    dequantize_q8_0,
    quantize_q4_0,
    quantize_q8_0,
)

FORMATS = {
    "q8_0": (T.Q8_0, quantize_q8_0, dequantize_q8_0),
    "q4_0": (T.Q4_0, quantize_q4_0, dequantize_q4_0),
}


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((6, 128)).astype(np.float32)
    zeros_block = normal.copy()
    zeros_block[1, 32:64] = 0.0  # one all-zero block: d = 0 (Q4_0: -0.0), codes of zero
    return {
        "normal rows": normal,
        "with a zero block": zeros_block,
        "all zeros": np.zeros((2, 64), np.float32),
        "negative-dominated": -np.abs(normal[:3]) * 40,
        "positive only": np.abs(normal[:2]) * 1e-3,
        "tiny (d underflows fp16 to 0)": normal[:2] * 1e-7,
        "3-D (2, 3, 96)": rng.standard_normal((2, 3, 96)).astype(np.float32),
        "one block, 1-D": rng.standard_normal(32).astype(np.float32),
        "heavy tails": rng.standard_t(2, (4, 256)).astype(np.float32),
        "float64 input": rng.standard_normal((2, 64)),
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(_cases()))
def test_bytes_and_values_equal_gguf(fmt, name):
    x = _cases()[name]
    qtype, quantize, dequantize = FORMATS[fmt]
    raw = quantize(x)
    ref = quants.quantize(x, qtype)
    assert raw.dtype == np.uint8 and raw.shape == ref.shape, (raw.shape, ref.shape)
    np.testing.assert_array_equal(raw, ref, err_msg=f"{fmt} bytes differ from gguf ({name})")
    back = dequantize(raw)
    ref_back = quants.dequantize(ref, qtype)
    assert back.dtype == np.float32 and back.shape == x.shape
    np.testing.assert_array_equal(back.view(np.uint32), ref_back.view(np.uint32))
    assert np.isfinite(back).all()


def test_q8_0_ties_round_half_away_from_zero():
    # amax 127 -> d = 1 exactly, so x * (1/d) keeps the .5 ties; roundf sends them away from 0
    block = np.zeros(32, np.float32)
    block[:6] = [127.0, 0.5, 1.5, 2.5, -0.5, -2.5]
    raw = quantize_q8_0(block)
    np.testing.assert_array_equal(raw, quants.quantize(block, T.Q8_0))
    qs = raw[2:].view(np.int8)
    np.testing.assert_array_equal(
        qs[:6], [127, 1, 2, 3, -1, -3], err_msg="np.rint gives 0 2 2 -0 -2"
    )
    assert raw[:2].view("<f2")[0] == 1.0


def test_q4_0_layout_and_half_up_rounding():
    # largest magnitude -8 (first) -> d = -8 / -8 = 1; q = trunc(x + 8.5): ties go up (+inf)
    block = np.zeros(32, np.float32)
    block[:5] = [-8.0, 0.5, -0.5, 2.5, -2.5]
    block[16] = 8.0  # the mirror of the extreme needs code 16: saturates at 15 (= +7)
    block[31] = 3.0
    raw = quantize_q4_0(block)
    np.testing.assert_array_equal(raw, quants.quantize(block, T.Q4_0))
    assert raw[:2].view("<f2")[0] == 1.0
    packed = raw[2:]
    low, high = packed & 0x0F, packed >> 4
    np.testing.assert_array_equal(low[:5], [0, 9, 8, 11, 6])  # elements 0..4
    assert high[0] == 15 and high[15] == 11, "elements 16 and 31 are in the high nibbles"
    x_hat = dequantize_q4_0(raw)
    np.testing.assert_array_equal(x_hat[:5], [-8, 1, 0, 3, -2])
    assert x_hat[16] == 7.0 and x_hat[31] == 3.0


def test_q4_0_magnitude_tie_keeps_the_first():
    block = np.zeros(32, np.float32)
    block[[3, 7]] = [2.0, -2.0]  # same |x|: ggml's strict `amax < |v|` keeps the first (+2)
    raw = quantize_q4_0(block)
    np.testing.assert_array_equal(raw, quants.quantize(block, T.Q4_0))
    assert raw[:2].view("<f2")[0] == -0.25
    assert dequantize_q4_0(raw)[3] == 2.0 and dequantize_q4_0(raw)[7] == -1.75


def test_scale_is_float32_for_codes_then_rounded_to_fp16():
    # amax / 127 is not an fp16 number: codes use the float32 d, storage the fp16 one
    block = np.linspace(-1, 1, 32, dtype=np.float32) * 0.3
    d32 = np.float32(np.abs(block).max() / np.float32(127))
    raw = quantize_q8_0(block)
    assert raw[:2].view("<f2")[0] == np.float16(d32) != d32
    assert (
        np.abs(dequantize_q8_0(raw) - block).max()
        <= d32 * 0.5 + np.abs(np.float16(d32) - d32) * 127
    )


def test_sizes_and_bits_per_weight():
    assert BYTES_PER_BLOCK == {"q8_0": 34, "q4_0": 18} and QK == 32
    assert bits_per_weight("q8_0") == 8.5 and bits_per_weight("q4_0") == 4.5
    x = np.ones((8, 4096), np.float32)
    assert quantize_q8_0(x).nbytes * 8 == x.size * 8.5
    assert quantize_q4_0(x).nbytes * 8 == x.size * 4.5


def test_error_q8_0_below_q4_0():
    x = np.random.default_rng(1).standard_normal((16, 512)).astype(np.float32)
    e8 = np.linalg.norm(dequantize_q8_0(quantize_q8_0(x)) - x) / np.linalg.norm(x)
    e4 = np.linalg.norm(dequantize_q4_0(quantize_q4_0(x)) - x) / np.linalg.norm(x)
    assert e8 < 0.01 < 0.05 < e4 < 0.15, (e8, e4)


def test_dequantize_shape_argument():
    x = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    raw = quantize_q8_0(x)
    assert dequantize_q8_0(raw.reshape(-1), (4, 64)).shape == (4, 64)
    assert dequantize_q4_0(quantize_q4_0(x), shape=(2, 128)).shape == (2, 128)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: quantize_q8_0(np.ones((2, 48), np.float32)), ShapeError, "multiple of 32"),
        (lambda: quantize_q4_0(np.ones(31, np.float32)), ShapeError, "got (31,)"),
        (lambda: quantize_q4_0(np.float32(1.0)), ShapeError, "(..., n)"),
        (lambda: quantize_q8_0(np.full(32, np.nan, np.float32)), InvalidValueError, "NaN/Inf"),
        (lambda: quantize_q4_0(np.full(32, np.inf, np.float32)), InvalidValueError, "NaN/Inf"),
        (lambda: quantize_q8_0(np.ones(32, np.int8)), DTypeError, "floating-point"),
        (lambda: quantize_q8_0(np.full(32, 1e7, np.float32)), InvalidValueError, "float16"),
        (lambda: dequantize_q8_0(np.zeros(35, np.uint8)), ShapeError, "multiple of 34"),
        (lambda: dequantize_q4_0(np.zeros(18, np.int8)), DTypeError, "uint8"),
        (lambda: dequantize_q4_0(np.zeros(36, np.uint8), (3, 32)), ShapeError, "64 values"),
        (lambda: bits_per_weight("q5_0"), InvalidValueError, "q8_0"),
    ],
)  # fmt: skip
def test_bad_input_says_what_was_expected(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value), str(info.value)
