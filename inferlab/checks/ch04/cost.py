"""Exercise 04, task 5: ``cost_per_million`` — its fresh cases, known mistakes and diagnosis."""

from __future__ import annotations

from inferlab.checks.ch04._common import (
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    several_slips,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.hw.cloud import cost_per_million as _reference


def _cost_cases() -> list[Case]:
    rng = _rng(5)
    cases = [
        Case((55.04, 24524.9), note="8 H100s serving Llama-2-70B: MLPerf's 24,524.9 tokens/s"),
        Case((0.8048, 12881.7), note="one L4 running ResNet-50: MLPerf's 12,881.7 images/s"),
        Case((12.98, 30.4), note="an inf2.48xlarge decoding Llama-2-70B at batch 1"),
        Case((0.0168, 0.5), note="a small CPU instance at half an item per second"),
        Case((98.32, 2.5e6), note="2.5 million items per second"),
        Case((3, 1000), note="whole numbers"),
        Case((2.4, 1500.0), note="two TPU v5e chips at 1,500 tokens/s"),
    ]
    for _ in range(3):
        price = float(f"{10 ** rng.uniform(-2, 2.5):.4g}")
        rate = float(f"{10 ** rng.uniform(-1, 6):.5g}")
        cases.append(Case((price, rate), note="a random machine"))
    return cases


def _student(price, rate, *, hour="3600", per="1e6", direction="price/rate"):
    """A student's cost per million with switches for their mistakes."""
    per_second = price / {"3600": 3600, "none": 1, "60": 60}[hour]
    items = {"1e6": 1e6, "1e3": 1e3, "1": 1}[per]
    if direction == "rate/price":
        return rate / per_second / items
    if direction == "price·rate":
        return per_second * rate * items
    return per_second / rate * items


_SLIPS = {
    "hour": [
        ("3600", None),
        (
            "none",
            "the price is per HOUR and the throughput per SECOND: divide price_per_hour by 3600 "
            "to get dollars per second first (your answer is 3600× too big).",
        ),
        ("60", "an hour has 3600 seconds, not 60: dollars per second = price_per_hour / 3600."),
    ],
    "per": [
        ("1e6", None),
        (
            "1e3",
            "per MILLION items: multiply the cost of one item by 1e6 (you priced a thousand).",
        ),
        ("1", "that is the cost of ONE item: multiply by 1e6 for the cost of a million."),
    ],
    "direction": [
        ("price/rate", None),
        (
            "rate/price",
            "cost is dollars per item: (dollars per second) / (items per second). You divided "
            "the other way round, which gives items per dollar.",
        ),
        (
            "price·rate",
            "divide by the throughput, don't multiply: a faster machine makes each item "
            "CHEAPER. cost = price_per_hour / 3600 / items_per_second · 1e6.",
        ),
    ],
}


def _cost_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(COST, _student, _SLIPS, outcomes) or zero_hint(o)


COST = Task(
    name="cost_per_million",
    arg_names=("price_per_hour", "items_per_second"),
    reference=_reference,
    cases=_cost_cases,
    covers="MLPerf throughputs, half an item per second, 2.5M items per second and whole numbers",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_cost_diagnose,
    encode=encode_number("the US dollars per million items"),
    symptom=number_symptom(" USD"),
    fallback_hint="cost per 1M = price_per_hour / 3600 (USD per second) / items_per_second "
    "(USD per item) · 1e6.",
    forbidden=(_reference,),
    forbidden_hint="write the formula yourself: inferlab.hw.cost_per_million is the reference "
    "the check compares with (use it to test your function in a cell of your own).",
)


def check_cost_per_million(fn) -> None:
    """Check your ``cost_per_million(price_per_hour, items_per_second)`` against
    ``inferlab.hw.cost_per_million``."""
    __tracebackhide__ = True
    run(COST, fn)
