"""inferlab.serve.steptime against inferlab.hw's LLM roofline and Vidur's measured A100 profile.

RooflineStep must equal hw.decode_step for pure decode steps and hw.prefill for pure prefill
steps (the same cost model, written as a step of a mixed batch). TableStep replays Vidur's A100
profile of Llama-2-7B (datasets/vidur_a100_llama2_7b_linear.csv), which the research notes
(serving.md section 2) put 1.3-1.5x above the ideal roofline with its knee at 128-256 tokens.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from inferlab import data, hw
from inferlab.errors import InvalidValueError
from inferlab.serve.steptime import OPT_13B, RooflineStep, TableStep, constant_step

H100 = hw.device("H100 SXM")
A100 = hw.device("A100 80GB SXM")
EFFS = [None, "kernel", "llm_serving", hw.Efficiency(0.5, 0.6, 1e-4, 0.3)]


@pytest.mark.parametrize("eff", EFFS)
@pytest.mark.parametrize("model", [hw.LLAMA2_7B, hw.LLAMA3_8B, OPT_13B])
def test_pure_decode_equals_hw_decode_step(model, eff):
    step = RooflineStep(model, H100, efficiency=eff)
    for batch, context in [(1, 0), (1, 100), (64, 1000), (512, 4096)]:
        ref = hw.decode_step(model, batch, context, H100, efficiency=eff).seconds
        assert step(0, batch, batch * context) == pytest.approx(ref, rel=1e-12)
        assert step.decode(batch, context) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("eff", EFFS)
@pytest.mark.parametrize("dtype", ["bf16", "fp8", "int4"])
def test_pure_prefill_equals_hw_prefill(eff, dtype):
    step = RooflineStep(hw.LLAMA2_7B, H100, dtype=dtype, efficiency=eff)
    for batch, s in [(1, 1), (1, 512), (8, 2048)]:
        ref = hw.prefill(hw.LLAMA2_7B, batch, s, H100, weight_dtype=dtype, efficiency=eff)
        assert step(batch * s, 0, 0, batch * s * s) == pytest.approx(ref.seconds, rel=1e-12)
        assert step.prefill(batch, s) == pytest.approx(ref.seconds, rel=1e-12)


def test_decoding_is_nearly_free_to_batch_below_the_ridge():
    """Below ~ the ridge point one step reads the weights once whatever the batch size."""
    step = RooflineStep(hw.LLAMA2_7B, H100)
    one, many = step(0, 1, 0), step(0, 64, 0)
    assert many == pytest.approx(one)  # weights read once: 13.5 GB / 3.35 TB/s
    assert one == pytest.approx(hw.LLAMA2_7B.weight_bytes() / H100.mem_bw)
    # ...but the KV cache is read per sequence: 64 x 1000 tokens x 512 KiB = 33.6 GB
    assert step(0, 64, 64_000) > 3 * one
    # a mixed step costs more than its decode part and no more than the two run one by one
    mixed = step(256, 32, 32 * 500, 256**2)
    assert step(0, 32, 32 * 500) < mixed <= step(0, 32, 32 * 500) + step.prefill(1, 256)


def vidur_rows():
    with open(data.dataset_path("vidur_a100_llama2_7b_linear.csv"), newline="") as f:
        return [(int(r["num_tokens"]), float(r["measured_matmul_ms_32layers"]) / 1e3)
                for r in csv.DictReader(f)]  # fmt: skip


def test_table_step_replays_the_vidur_profile():
    table = TableStep.vidur_a100_llama2_7b(attention=False)
    rows = vidur_rows()
    for tokens, seconds in rows:
        assert table(tokens, 0, 0) == pytest.approx(seconds)
    # in between: linear interpolation (np.interp); beyond: proportional
    xs, ys = np.array(rows, dtype=float).T
    for t in (3, 100, 1000, 4000):
        assert table.linear(t) == pytest.approx(np.interp(t, xs, ys))
    assert table.linear(8192) == pytest.approx(2 * ys[-1])


def test_vidur_is_13_to_15x_the_roofline_with_the_knee_at_128_to_256_tokens():
    # the profile covers the linear layers only: 32 * (4 * 4096^2 + 3 * 4096 * 11008) params
    linear_only = hw.Transformer("Llama-2-7B linear layers", 6.48e9, 32, 4096, 32, 32)
    roof = RooflineStep(linear_only, A100)
    table = TableStep.vidur_a100_llama2_7b(attention=False)
    ratio = {t: table(t, 0, 0) / roof(t, 0, 0) for t, _ in vidur_rows()}
    flat = [r for t, r in ratio.items() if t <= 64]
    steep = [r for t, r in ratio.items() if t >= 2048]
    assert 1.3 <= np.median(flat) <= 1.5 and 1.25 <= min(flat) and max(flat) <= 1.5
    assert 1.3 <= np.median(steep) <= 1.5 and 1.35 <= min(steep) and max(steep) <= 1.55
    # measured: flat up to 128 tokens, then the knee (first time 1.5x the 1-token time)
    base = table(1, 0, 0)
    knee = min(t for t, _ in vidur_rows() if table(t, 0, 0) > 1.5 * base)
    assert 128 < knee <= 256
    assert table(64, 0, 0) < 1.1 * base
    ridge = A100.ridge_point("bf16")  # where the roofline bends: ~153 tokens
    assert 128 < ridge < 256
    # the roofline with eta ~0.7 lands within ~10 % away from the knee
    eta = RooflineStep(linear_only, A100, efficiency=hw.Efficiency(0.7, 0.7))
    for t in (1, 16, 64, 512, 1024, 4096):
        assert abs(eta(t, 0, 0) / table(t, 0, 0) - 1) < 0.12, t


def test_table_step_adds_decode_attention_from_the_roofline():
    table = TableStep.vidur_a100_llama2_7b()  # with attention
    bare = TableStep.vidur_a100_llama2_7b(attention=False)
    roof = RooflineStep(hw.LLAMA2_7B, A100, efficiency="kernel")
    kv = 32 * 1000
    extra = table(0, 32, kv) - bare(0, 32, kv)
    assert extra == pytest.approx(kv * hw.LLAMA2_7B.kv_bytes_per_token() / (A100.mem_bw * 0.8))
    assert extra == pytest.approx(roof(0, 32, kv) - roof(0, 32, 0))
    assert table(512, 0, 0, 512**2) > bare(512, 0, 0)


def test_constant_step():
    f = constant_step(0.01)
    assert f(100, 3, 5) == f(0, 1, 0) == 0.01


def test_bad_configs_say_what_was_expected():
    with pytest.raises(InvalidValueError, match="hw.Transformer"):
        RooflineStep("llama", H100)
    with pytest.raises(InvalidValueError, match="hw.Device"):
        RooflineStep(hw.LLAMA2_7B, "H100")
    with pytest.raises(InvalidValueError, match="efficiency must be"):
        RooflineStep(hw.LLAMA2_7B, H100, efficiency="fast")
    with pytest.raises(InvalidValueError, match="chips must be an int >= 1; got 0"):
        RooflineStep(hw.LLAMA2_7B, H100, chips=0)
    with pytest.raises(InvalidValueError, match="same length"):
        TableStep([1, 2, 3], [0.1, 0.2])
    with pytest.raises(InvalidValueError, match="increasing"):
        TableStep([2, 1], [0.1, 0.2])
    with pytest.raises(InvalidValueError, match="positive"):
        TableStep([1, 2], [0.1, -0.2])
    with pytest.raises(InvalidValueError, match="> 0 seconds; got 0"):
        constant_step(0)
