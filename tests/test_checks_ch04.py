"""Every check of exercises 04 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/04_hardware.ipynb (extracted from the notebook's
own cells and exec'd) passes; the generated stub in exercises/04_hardware.ipynb is "not
attempted"; every slip a check knows fails with its hint, alone and two at once; and plausible
wrong answers, written the way students write them, fail with a specific hint. The grader grades
both notebooks end to end (marked ``slow``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
    slip_tests,
)

from inferlab import hw
from inferlab.checks import ch04
from inferlab.checks.ch04 import cost, critical_batch, decode, intensity, roofline

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["matmul_intensity", "roofline", "critical_batch", "decode_step_time", "cost_per_million"]
MODULES = {
    "matmul_intensity": intensity,
    "roofline": roofline,
    "critical_batch": critical_batch,
    "decode_step_time": decode,
    "cost_per_million": cost,
}

SOLUTION = notebook_functions(ROOT / "solutions" / "04_hardware.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "04_hardware.ipynb", TASKS)


check, fails = check_helpers(ch04)


# ----------------------------------------------------------------------------- the reference


@pytest.mark.parametrize(
    ("task", "library"),
    [
        ("matmul_intensity", hw.matmul_intensity),
        ("roofline", hw.roofline_time),
        ("critical_batch", hw.ridge_point),
        ("decode_step_time", hw.decode_step),
        ("cost_per_million", hw.cost_per_million),
    ],
)
def test_a_library_function_itself_is_refused(task, library):
    assert "needs your own" in fails(task, library)


def test_the_references_are_the_closed_forms():
    for case in ch04.TASKS["matmul_intensity"].cases():
        m, k, n, b = case.args
        assert math.isclose(
            intensity._reference(*case.args), 2 * m * k * n / (b * (m * k + k * n + m * n))
        )
    for case in ch04.TASKS["decode_step_time"].cases():
        p, b, kv, batch, ctx, peak, bw = case.args
        closed = batch * ctx * kv / bw + max(2 * batch * p / peak, p * b / bw)
        assert math.isclose(decode._reference(*case.args), closed, rel_tol=1e-12), case.note
    for case in ch04.TASKS["cost_per_million"].cases():
        price, rate = case.args
        assert math.isclose(cost._reference(price, rate), price / 3600 / rate * 1e6)


@pytest.mark.parametrize("task", TASKS)
def test_the_generated_stub_is_not_attempted(task):
    assert "not attempted yet" in fails(task, STUB[task])


# ----------------------------------------------------------------------------- every known slip


# every slip alone, and the switches left alone: the same for every chapter
globals().update(slip_tests(MODULES, check, fails))


# ----------------------------------------------------------------------------- wrong answers


def mi_macs(m, k, n, b):
    return m * k * n / (b * (m * k + k * n + m * n))


def mi_no_output(m, k, n, b):
    return 2 * m * k * n / (b * (m * k + k * n))


def mi_bits(m, k, n, b):
    return 2 * m * k * n / (8 * b * (m * k + k * n + m * n))


def mi_weights_only(m, k, n, b):
    return 2 * m * k * n / (b * k * n)


def mi_floor(m, k, n, b):
    return 2 * m * k * n // (b * (m * k + k * n + m * n))


def mi_elements(m, k, n, b):
    return 2 * m * k * n / (m * k + k * n + m * n)


def mi_macs_no_output(m, k, n, b):
    return m * k * n / (b * (m * k + k * n))


def mi_fp32_output(m, k, n, b):  # the output counted at 4 bytes (an fp32 accumulator)
    return 2 * m * k * n / (b * (m * k + k * n) + 4 * m * n)


def mi_library(m, k, n, b):
    return hw.matmul_intensity(m, k, n, b)


def mi_pair(m, k, n, b):
    return 2 * m * k * n, b * (m * k + k * n + m * n)


def rl(flops, nbytes, peak, bw, *, seconds="max", label="times", order="right"):
    compute, memory = flops / peak, nbytes / bw
    t = {"max": max, "sum": lambda a, b: a + b, "min": min}[seconds](compute, memory)
    if label == "times":
        is_compute = compute >= memory
    elif label == "swapped":
        is_compute = flops / nbytes < peak / bw
    else:  # "raw"
        is_compute = flops > nbytes
    bound = "compute" if is_compute else "memory"
    return (t, bound) if order == "right" else (bound, t)


def rl_flop_per_s(flops, nbytes, peak, bw):
    return min(peak, flops / nbytes * bw), rl(flops, nbytes, peak, bw)[1]


def rl_ms(flops, nbytes, peak, bw):
    t, bound = rl(flops, nbytes, peak, bw)
    return t * 1000, bound


def rl_seconds_only(flops, nbytes, peak, bw):
    return max(flops / peak, nbytes / bw)


def rl_capitalised(flops, nbytes, peak, bw):
    t, bound = rl(flops, nbytes, peak, bw)
    return t, bound.capitalize()


def rl_bytes_per_flop(flops, nbytes, peak, bw):  # divides by flops: a copy has none
    t, _ = rl(flops, nbytes, peak, bw)
    return t, "memory" if nbytes / flops > bw / peak else "compute"


def rl_library(flops, nbytes, peak, bw):
    estimate = hw.roofline_time(flops, nbytes, peak, bw)
    return estimate.seconds, estimate.bound


def cb_ridge(peak, bw, b):
    return peak / bw


def cb_no_two(peak, bw, b):
    return peak * b / bw


def cb_ceil(peak, bw, b):
    return math.ceil(peak * b / (2 * bw))


def cb_int(peak, bw, b):
    return int(peak * b / (2 * bw))


def cb_divided(peak, bw, b):
    return peak / (2 * bw * b)


def cb_inverse(peak, bw, b):
    return 2 * bw / (peak * b)


def cb_bits(peak, bw, b):
    return peak * 8 * b / (2 * bw)


def cb_int8_always(peak, bw, b):  # "quantized weights": half the ridge point, whatever b
    return peak / (2 * bw)


def ds(p, b, kv, batch, ctx, peak, bw, *, kv_read="all", where="outside", flops="2BP", op=max):
    kv_s = {"all": batch * ctx, "none": 0, "no batch": ctx}[kv_read] * kv / bw
    compute = {"2BP": 2 * batch * p, "bytes": 2 * batch * p * b, "BP": batch * p, "2P": 2 * p}
    compute_s, weights_s = compute[flops] / peak, p * b / bw
    if where == "inside":
        return op(compute_s, weights_s + kv_s)
    if where == "third":
        return max(compute_s, weights_s, kv_s)
    return kv_s + op(compute_s, weights_s)


def ds_milliseconds(*args):
    return 1000 * ds(*args)


def ds_library(p, b, kv, batch, ctx, peak, bw):
    chip = hw.Device("chip", "datacenter_gpu", peak={"bf16": peak}, mem_bw=bw)
    model = hw.Transformer("m", p)
    dtype = {2: "bf16", 1: "int8", 0.5: "int4"}[b]
    return hw.decode_step(
        model, batch, ctx, chip, weight_dtype=dtype, kv_bytes_per_token=kv
    ).seconds


def cpm(price, rate, *, hour=3600, per=1e6):
    return price / hour / rate * per


def cpm_inverted(price, rate):
    return rate / (price / 3600) / 1e6


def cpm_times(price, rate):
    return price / 3600 * rate * 1e6


def cpm_cents(price, rate):
    return round(price / 3600 / rate * 1e6, 2)


def cpm_text(price, rate):
    return f"${price / 3600 / rate * 1e6:.2f}"


def cpm_library(price, rate):
    return hw.cost_per_million(price, rate)


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("matmul_intensity", mi_macs, "a multiply-add is 2 FLOPs"),
    ("matmul_intensity", mi_no_output, "count the output too"),
    ("matmul_intensity", mi_bits, "don't multiply it by 8"),
    ("matmul_intensity", mi_weights_only, "all three matrices move"),
    ("matmul_intensity", mi_floor, "use `/`, not `//`"),
    ("matmul_intensity", mi_elements, "FLOPs per BYTE"),
    ("matmul_intensity", mi_macs_no_output, "2 slips at once: (1) a multiply-add"),
    ("matmul_intensity", mi_fp32_output, "intensity = 2·m·k·n / (bytes_per_element"),
    ("matmul_intensity", mi_library, "calls `inferlab.hw.roofline.matmul_intensity`"),
    ("matmul_intensity", mi_pair, "return one number, the FLOPs per byte moved"),
    ("roofline", functools.partial(rl, seconds="sum"), "no-overlap upper bound"),
    ("roofline", functools.partial(rl, seconds="min"), "the SLOWER roof sets the time"),
    ("roofline", functools.partial(rl, label="swapped"), "the labels are swapped"),
    ("roofline", functools.partial(rl, label="raw"), "not FLOPs with bytes"),
    ("roofline", functools.partial(rl, order="swapped"), "in this order"),
    ("roofline", functools.partial(rl, seconds="sum", label="swapped"), "2 slips at once"),
    ("roofline", rl_flop_per_s, "not the attainable FLOP/s"),
    ("roofline", rl_ms, "return seconds, not milliseconds"),
    ("roofline", rl_seconds_only, "return a pair `(seconds, bound)`"),
    ("roofline", rl_capitalised, "bound must be the string 'compute' or 'memory'"),
    ("roofline", rl_bytes_per_flop, "don't divide by flops"),
    ("roofline", rl_library, "calls `inferlab.hw.roofline.roofline_time`"),
    ("critical_batch", cb_ridge, "the weights' format matters"),
    ("critical_batch", cb_no_two, "Divide by 2"),
    ("critical_batch", cb_ceil, "not rounded"),
    ("critical_batch", cb_int, "not rounded"),
    ("critical_batch", cb_divided, "B* grows with bytes_per_param"),
    ("critical_batch", cb_inverse, "you have 1 / B*"),
    ("critical_batch", cb_bits, "don't multiply it by 8"),
    ("critical_batch", cb_int8_always, "set the compute time of one decode step"),
    ("decode_step_time", functools.partial(ds, kv_read="none"), "add the KV cache"),
    ("decode_step_time", functools.partial(ds, kv_read="no batch"), "has its own KV cache"),
    ("decode_step_time", functools.partial(ds, where="inside"), "keep the KV read outside"),
    ("decode_step_time", functools.partial(ds, where="third"), "keep the KV read outside"),
    ("decode_step_time", functools.partial(ds, flops="bytes"), "FLOPs don't depend on the storage"),
    ("decode_step_time", functools.partial(ds, flops="BP"), "a multiply-add is 2 FLOPs"),
    ("decode_step_time", functools.partial(ds, flops="2P"), "every sequence of the batch"),
    ("decode_step_time", functools.partial(ds, op=lambda a, b: a + b), "not their sum"),
    (
        "decode_step_time",
        functools.partial(ds, kv_read="no batch", flops="bytes"),
        "2 slips at once: (1) each of the `batch` sequences",
    ),
    ("decode_step_time", ds_milliseconds, "T = batch·context·kv_bytes_per_token / mem_bw"),
    ("decode_step_time", ds_library, "calls `inferlab.hw.llm.decode_step`"),
    ("cost_per_million", functools.partial(cpm, hour=1), "divide price_per_hour by 3600"),
    ("cost_per_million", functools.partial(cpm, hour=60), "not 60"),
    ("cost_per_million", functools.partial(cpm, per=1e3), "per MILLION items"),
    ("cost_per_million", functools.partial(cpm, per=1), "the cost of ONE item"),
    ("cost_per_million", functools.partial(cpm, hour=1, per=1e3), "2 slips at once"),
    ("cost_per_million", cpm_inverted, "items per dollar"),
    ("cost_per_million", cpm_times, "divide by the throughput"),
    ("cost_per_million", cpm_cents, "cost per 1M = price_per_hour / 3600"),
    ("cost_per_million", cpm_text, "return one number, the US dollars per million items"),
    ("cost_per_million", cpm_library, "calls `inferlab.hw.cloud.cost_per_million`"),
]


def test_the_student_helpers_are_right_without_mistakes(capsys):
    check("roofline", rl)
    check("decode_step_time", ds)
    check("cost_per_million", cpm)


@pytest.mark.parametrize(
    ("task", "fn", "hint"),
    WRONG,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(WRONG)],
)
def test_a_wrong_answer_fails_with_its_hint(task, fn, hint):
    message = fails(task, fn)
    assert "Hint: " in message, message
    assert hint in message, message


def test_every_task_has_wrong_answers():
    assert {t for t, _, _ in WRONG} == set(TASKS)


# ----------------------------------------------------------------------------- messages


def test_messages_give_both_numbers_their_unit_and_ratio():
    message = fails("matmul_intensity", mi_macs)
    assert "expected 0.999512 FLOP/byte, got 0.499756 (0.5× the answer)" in message, message
    message = fails("cost_per_million", functools.partial(cpm, hour=1))
    assert "expected 0.623403 USD, got 2244.25 (3600× the answer)" in message, message
    message = fails("roofline", functools.partial(rl, label="swapped"))
    assert "bound: expected 'memory', got 'compute'" in message and "seconds:" not in message
    message = fails("roofline", rl_ms)
    assert "seconds: expected 9.01609e-05 s, got 0.0901609 (1000× the answer)" in message, message


def test_a_tiny_answer_is_compared_relatively():
    # one fp32 multiply-add on a Xeon takes 4e-11 s: twice that is wrong, however small
    def off_on_tiny_ops(flops, nbytes, peak, bw):
        seconds, bound = rl(flops, nbytes, peak, bw)
        return (2 * seconds if seconds < 1e-9 else seconds), bound

    message = fails("roofline", off_on_tiny_ops)
    assert "one fp32 multiply-add" in message and "(2× the answer)" in message, message


def test_a_zero_answer_is_explained():
    message = fails("cost_per_million", lambda price, rate: 0 * price)
    assert "your answer is 0, the right one 0.6234" in message, message
    assert "all zeros" not in message


def test_numpy_numbers_and_equivalent_formulas_are_accepted(capsys):
    check(
        "matmul_intensity", lambda m, k, n, b: np.float32(SOLUTION["matmul_intensity"](m, k, n, b))
    )
    check(
        "roofline",
        lambda *a: [np.float64(SOLUTION["roofline"](*a)[0]), SOLUTION["roofline"](*a)[1]],
    )
    check("critical_batch", lambda peak, bw, b: np.array(peak / bw * b / 2))
    check("decode_step_time", lambda *a: np.float64(SOLUTION["decode_step_time"](*a)))
    check("cost_per_million", lambda price, rate: price * 1e6 / (3600 * rate))
    assert capsys.readouterr().out.count("✓") == 5


def test_a_strict_comparison_for_the_bound_is_accepted(capsys):
    # no case sits exactly on the ridge: ">" and ">=" agree everywhere
    check(
        "roofline",
        lambda f, nb, p, bw: (max(f / p, nb / bw), "compute" if f / p > nb / bw else "memory"),
    )
    assert capsys.readouterr().out.startswith("✓ roofline")


# ----------------------------------------------------------------------------- the inputs


def test_inputs_are_fresh_and_deterministic():
    for task in ch04.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 10
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs


def test_the_cases_cover_both_bounds_and_every_weight_format():
    bounds = {roofline._reference(*c.args)[1] for c in ch04.TASKS["roofline"].cases()}
    assert bounds == {"compute", "memory"}
    for case in ch04.TASKS["roofline"].cases():  # no case near a tie between the roofs
        flops, nbytes, peak, bw = case.args
        assert flops == 0 or abs(math.log((flops / peak) / (nbytes / bw))) > 0.015, case.note
    formats = {c.args[2] for c in ch04.TASKS["critical_batch"].cases()}
    assert {4, 2, 1, 0.5} <= formats
    weights = set()
    for case in ch04.TASKS["decode_step_time"].cases():
        p, b, _, batch, _, peak, bw = case.args
        weights.add("compute" if 2 * batch * p / peak > p * b / bw else "memory")
    assert weights == {"compute", "memory"}
    assert {c.args[1] for c in ch04.TASKS["decode_step_time"].cases()} == {2, 1, 0.5}


def test_the_checks_never_show_the_notebooks_examples():
    shown = {(1, 8192, 8192, 2), (8192, 8192, 8192, 2)}
    assert not shown & {c.args for c in ch04.TASKS["matmul_intensity"].cases()}
    assert (989.4e12, 3.35e12) not in {c.args[:2] for c in ch04.TASKS["critical_batch"].cases()}
    quiz = {c.args[:3] for c in ch04.TASKS["decode_step_time"].cases()}
    assert (30e9, 1, 100e3) not in quiz
    prices = {c.args for c in ch04.TASKS["cost_per_million"].cases()}
    assert not prices & {(0.328, 4393.3), (0.7582, 4393.3)}


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def cost_per_million(price_per_hour, items_per_second):\n"
        "    return price_per_hour / items_per_second * 1e6"
    )
    folder = tmp_path_factory.mktemp("student04")
    return grade_three(folder, ROOT, "04_hardware", "cost_per_million", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_wrong_cost_with_its_hint(graded):
    assert_one_failure(graded["student"], "cost_per_million", "divide price_per_hour by 3600")
