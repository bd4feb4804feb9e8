"""Exercise 03, task 4: ``throughput_and_saturation`` — fresh cases, known mistakes, diagnosis."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from inferlab.bench import saturation_point
from inferlab.checks.ch03._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run

TOLERANCE = 0.1  # a bigger batch must add more than 10 % throughput to be worth it

# Throughput curves (items/s) the cases are built from; each case adds its own noise.
_CURVES = [
    # (batch sizes, items/s, note)
    ((1, 2, 4, 8, 16, 32, 64, 128), None, "saturating: b / (1 + b/12) × 1000 items/s"),
    (
        (1, 2, 4, 8, 16, 32, 64),
        (900, 1700, 3100, 5200, 6900, 7400, 6100),
        "a peak, then a drop (the batch spills out of cache)",
    ),
    (
        (1, 2, 4, 8, 16, 32, 64, 128, 256),
        (500, 950, 1800, 1900, 1950, 3600, 5000, 5150, 5400),
        "a plateau, then a second rise (a faster kernel for big batches)",
    ),
    ((1, 2, 4, 8, 16), (100, 198, 390, 770, 1500), "still rising: not saturated"),
    ((1, 3, 5, 10, 20, 50, 100), (300, 850, 1300, 2100, 2600, 2800, 2850), "odd batch sizes"),
    ((1, 2, 4, 8), (4000, 4200, 4300, 4250), "saturated at batch 1 already"),
    ((8, 16), (1000, 1050), "two batch sizes, saturated"),
    ((8, 16), (1000, 1500), "two batch sizes, not saturated"),
    ((2, 4, 8, 16, 32, 64), (410, 800, 1500, 2600, 2950, 3050), "starting at batch 2"),
]


def _throughput_cases() -> list[Case]:
    rng = _rng(4)
    cases = []
    for sizes, items_per_s, note in _CURVES:
        b = np.array(sizes, dtype=np.float64)
        x = 1000 * b / (1 + b / 12) if items_per_s is None else np.array(items_per_s, float)
        x = x * np.exp(0.004 * rng.standard_normal(b.size))  # a little measurement noise
        latencies = b / x  # seconds per batch
        tags = frozenset({"unsaturated"}) if _saturation(sizes, x) is None else frozenset()
        cases.append(Case((list(sizes), latencies), note=note, tags=tags))
    return cases


def _saturation(batch_sizes, throughput, tolerance=TOLERANCE):
    return saturation_point(dict(zip(batch_sizes, map(float, throughput), strict=True)), tolerance)


def _reference(batch_sizes, latencies_s):
    throughput = np.asarray(batch_sizes, dtype=np.float64) / np.asarray(latencies_s)
    return throughput, _saturation(batch_sizes, throughput)


def _kind(value) -> str:
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 20 else "")


def _encode(result) -> np.ndarray:
    if isinstance(result, np.ndarray) or not isinstance(result, tuple | list) or len(result) != 2:
        raise TypeError(
            "return a pair `(throughput, saturation)`: an array of items/s, one per batch size, "
            "and the saturation batch size (an int, or None)."
        )
    throughput, batch = result
    if np.ndim(throughput) == 0 and np.ndim(batch) == 1:
        raise TypeError(
            "return `(throughput, saturation)` in this order: the array of items/s first, then "
            "the saturation batch size."
        )
    try:
        x = np.asarray(throughput, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            "the first element, throughput, must be numbers: one items/s value per batch size."
        ) from None
    if batch is not None and (
        isinstance(batch, bool)
        or not isinstance(batch, Integral | float | np.floating)
        or (isinstance(batch, float | np.floating) and not float(batch).is_integer())
    ):
        raise TypeError(
            "the second element must be a batch size from batch_sizes (an int), or None when "
            f"the sweep has not saturated; got {_kind(batch)}."
        )
    return np.concatenate([x.ravel(), [math.nan if batch is None else float(batch)]])


def _batch(value: float):
    return None if math.isnan(value) else int(value)


def _symptom(o: Outcome) -> str | None:
    assert o.got is not None
    sizes = o.case.args[0]
    n = len(sizes)
    got_x, got_b = o.got[:-1], o.got[-1]
    exp_x, exp_b = o.expected[:-1], o.expected[-1]
    parts = []
    if got_x.size != n:
        parts.append(f"throughput has {got_x.size} values for {n} batch sizes")
    elif not np.allclose(got_x, exp_x, rtol=1e-6, atol=0, equal_nan=True):
        with np.errstate(all="ignore"):
            err = np.abs(got_x - exp_x) / np.abs(exp_x)
        i = int(np.nanargmax(np.where(np.isnan(err), np.inf, err)))
        parts.append(
            f"throughput at batch {sizes[i]}: expected {exp_x[i]:.6g} items/s, got {got_x[i]:.6g}"
        )
    if not (got_b == exp_b or (math.isnan(got_b) and math.isnan(exp_b))):
        parts.append(f"saturation batch: expected {_batch(exp_b)}, got {_batch(got_b)}")
    return "; ".join(parts) or None


def _student(batch_sizes, latencies_s, *, per_item=True, rule="knee", sat_as="batch"):
    """A student's answer with switches for their mistakes."""
    b = np.asarray(batch_sizes, dtype=np.float64)
    x = (b if per_item else 1.0) / np.asarray(latencies_s)
    if rule == "knee":
        sat = _saturation(batch_sizes, x)
    elif rule == "argmax":
        sat = batch_sizes[int(np.argmax(x))]
    elif rule == "largest if none":
        sat = _saturation(batch_sizes, x)
        sat = batch_sizes[-1] if sat is None else sat
    elif rule == "next only":
        sat = next(
            (batch_sizes[i] for i in range(len(x) - 1) if x[i + 1] <= (1 + TOLERANCE) * x[i]),
            None,
        )
    if sat_as == "index" and sat is not None:
        sat = list(batch_sizes).index(sat)
    return x, sat


_KNEE = (
    "The saturation batch is the SMALLEST batch size b (other than the largest) after which no "
    "bigger batch gives more than 10 % more throughput: max(throughput of larger batches) <= "
    "1.1 * throughput[b]."
)

_MISTAKES = (
    Mistake(
        lambda b, t: _student(b, t, per_item=False),
        "throughput counts items: a batch of b items done in `latency` seconds is b / latency "
        "items per second. 1 / latency counts batches per second.",
    ),
    Mistake(
        lambda b, t: _student(b, t, rule="largest if none"),
        "return None when only the largest batch qualifies: the throughput is still growing, so "
        "the sweep has not found the saturation point (sweep bigger batches).",
    ),
    Mistake(
        lambda b, t: _student(b, t, rule="argmax"),
        "look for the knee, not the argmax: past the knee a bigger batch adds little "
        "throughput but makes every request wait longer. " + _KNEE,
    ),
    Mistake(
        lambda b, t: _student(b, t, rule="next only"),
        "compare with ALL larger batches (their max), not just the next one: a plateau can be "
        "followed by another rise, e.g. when bigger batches switch to a faster kernel.",
    ),
    Mistake(
        lambda b, t: _student(b, t, sat_as="index"),
        "return the saturation batch SIZE (an element of batch_sizes), not its index.",
    ),
)


def _throughput_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None or o.got.shape != o.expected.shape:
        return None
    sizes = list(o.case.args[0])
    x = o.expected[:-1]
    if not np.allclose(o.got[:-1], x, rtol=1e-6, atol=0):
        return None  # a wrong throughput: the mistakes and the fallback say more
    got, expected = _batch(o.got[-1]), _batch(o.expected[-1])
    if got is not None and got in sizes[:-1]:
        i = sizes.index(got)
        best = max(x[i + 1 :])
        if best > (1 + TOLERANCE) * x[i]:
            return (
                f"at batch {got} ({x[i]:.4g} items/s) a larger batch still gives {best:.4g} "
                f"items/s, {best / x[i] - 1:.0%} more: not saturated yet. " + _KNEE
            )
        if expected is not None and expected < got:
            return f"batch {expected} already qualifies, and it is smaller. " + _KNEE
    if got is None and expected is not None:
        return f"batch {expected} qualifies: return it. " + _KNEE
    if expected is None and got is not None:
        return (
            "this sweep has not saturated: every batch but the largest is beaten by more than "
            "10 % by a larger one. Return None then. " + _KNEE
        )
    return _KNEE


THROUGHPUT = Task(
    name="throughput_and_saturation",
    arg_names=("batch_sizes", "latencies_s"),
    reference=_reference,
    cases=_throughput_cases,
    covers="a peak then a drop, a plateau then a second rise, unsaturated sweeps and "
    "saturation at batch 1",
    mistakes=_MISTAKES,
    diagnose=_throughput_diagnose,
    encode=_encode,
    symptom=_symptom,
    shape_hint="return one throughput per batch size, in the order of batch_sizes.",
    fallback_hint="throughput = batch_sizes / latencies_s (items per second, element by "
    "element). " + _KNEE,
)


def check_throughput_and_saturation(fn) -> None:
    """Check your ``throughput_and_saturation(batch_sizes, latencies_s)`` against
    ``inferlab.bench.saturation_point``."""
    __tracebackhide__ = True
    run(THROUGHPUT, fn)
