"""Every check of exercises 03 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/03_speed.ipynb (extracted from the notebook's own
cells and exec'd) passes; the generated stub in exercises/03_speed.ipynb is "not attempted"; and
plausible wrong answers, written the way students write them, fail with a specific hint. The
grader grades both notebooks end to end (marked ``slow``).
"""

from __future__ import annotations

import math
import re
import statistics
import threading
import time
import timeit
from pathlib import Path
from time import perf_counter as imported_perf_counter

import numpy as np
import pytest
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
)

from inferlab import bench
from inferlab.bench import stats
from inferlab.checks import ch03
from inferlab.checks.ch03 import time_it as time_it_check
from inferlab.checks.ch03.median_ci import _ranks
from inferlab.checks.ch03.throughput import TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["percentile", "median_ci", "time_it", "throughput_and_saturation", "amdahl_fit"]


SOLUTION = notebook_functions(ROOT / "solutions" / "03_speed.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "03_speed.ipynb", TASKS)


check, fails = check_helpers(ch03)


# ----------------------------------------------------------------------------- the reference


@pytest.mark.parametrize(
    ("task", "library"),
    [
        ("percentile", stats.quantile),
        ("median_ci", stats.quantile_ci),
        ("time_it", bench.measure),
        ("throughput_and_saturation", bench.saturation_point),
        ("amdahl_fit", bench.sweep_threads),
    ],
)
def test_a_library_function_itself_is_refused(task, library):
    assert "needs your own" in fails(task, library)


# ----------------------------------------------------------------------------- wrong answers: 1


def _interpolate(x, pos):
    lo = math.floor(pos)
    hi = min(lo + 1, len(x) - 1)
    return x[lo] + (x[hi] - x[lo]) * (pos - lo)


def pct_rank_n_unclipped(samples, q):  # q·n, and the next index past the end
    x = np.sort(samples)
    pos = q / 100 * len(x)
    lo = int(pos)
    return x[lo] + (x[lo + 1] - x[lo]) * (pos - lo)


def pct_rank_n_clipped(samples, q):
    x = np.sort(samples)
    return _interpolate(x, min(q / 100 * len(x), len(x) - 1))


def pct_unsorted(samples, q):
    x = np.asarray(samples)
    return _interpolate(x, q / 100 * (len(x) - 1))


def pct_fraction(samples, q):  # q used as a fraction of 1
    x = np.sort(samples)
    return _interpolate(x, q * (len(x) - 1))


def pct_no_clip(samples, q):
    x = np.sort(samples)
    pos = q / 100 * (len(x) - 1)
    lo = math.floor(pos)
    return x[lo] + (x[lo + 1] - x[lo]) * (pos - lo)


def pct_round(samples, q):
    x = np.sort(samples)
    return x[round(q / 100 * (len(x) - 1))]


def pct_nearest_rank(samples, q):
    x = sorted(samples)
    return x[max(math.ceil(q / 100 * len(x)) - 1, 0)]


def pct_exclusive(samples, q):  # statistics.quantiles' default, (n + 1) positions
    x = np.sort(samples)
    return _interpolate(x, min(max(q / 100 * (len(x) + 1) - 1, 0), len(x) - 1))


def pct_numpy(samples, q):
    return np.percentile(samples, q)


def pct_quantile(samples, q):
    return float(np.quantile(np.asarray(samples), q / 100))


def pct_statistics(samples, q):
    return statistics.quantiles(samples, n=100, method="inclusive")[0]


def pct_sort_in_place(samples, q):
    samples.sort()
    return SOLUTION["percentile"](samples, q)


def pct_size_attribute(samples, q):  # fails on the Python list
    x = np.sort(samples)
    return _interpolate(x, q / 100 * (samples.size - 1))


# ----------------------------------------------------------------------------- wrong answers: 2


def _low_rank(n, tail):
    cdf = 0.0
    for k in range(n + 1):
        cdf += math.comb(n, k) / 2**n
        if cdf >= tail:
            return k
    return n


def ci_mean_sem(samples, level=0.95):
    x = np.asarray(samples)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def ci_mean_sd(samples, level=0.95):
    x = np.asarray(samples)
    return x.mean() - 1.96 * x.std(), x.mean() + 1.96 * x.std()


def ci_median_sem(samples, level=0.95):
    x = np.asarray(samples)
    half = 1.96 * x.std() / math.sqrt(len(x))
    return np.median(x) - half, np.median(x) + half


def ci_one_sided(samples, level=0.95):
    x = np.sort(samples)
    n, low = len(x), _low_rank(len(x), 1 - level)
    if low == 0:
        return -math.inf, math.inf
    return x[low - 1], x[n - low]


def ci_zero_based_high(samples, level=0.95):  # u = n - l, read as x[u - 1]
    x = np.sort(samples)
    n, low = len(x), _low_rank(len(x), (1 - level) / 2)
    if low == 0:
        return -math.inf, math.inf
    return x[low - 1], x[n - low - 1]


def ci_zero_based_both(samples, level=0.95):  # x[l], x[u]: past the end for n = 6
    x = np.sort(samples)
    n, low = len(x), _low_rank(len(x), (1 - level) / 2)
    if low == 0:
        return -math.inf, math.inf
    return x[low], x[n + 1 - low]


def ci_never_unbounded(samples, level=0.95):  # x[l - 1] with l = 0 is x[-1]
    x = np.sort(samples)
    n, low = len(x), _low_rank(len(x), (1 - level) / 2)
    return x[low - 1], x[n - low]


def ci_unsorted(samples, level=0.95):
    x = np.asarray(samples)
    n, low = len(x), _low_rank(len(x), (1 - level) / 2)
    if low == 0:
        return -math.inf, math.inf
    return x[low - 1], x[n - low]


def ci_normal_ranks(samples, level=0.95):  # normal approximation of the binomial ranks
    x = np.sort(samples)
    n = len(x)
    low = math.floor(n / 2 - 1.96 * math.sqrt(n) / 2)
    if low < 1:
        return -math.inf, math.inf
    return x[low - 1], x[n - low]


def ci_fixed_level(samples, level=0.95):
    return SOLUTION["median_ci"](samples)


def ci_swapped(samples, level=0.95):
    low, high = SOLUTION["median_ci"](samples, level)
    return high, low


def ci_none_for_unbounded(samples, level=0.95):
    low, high = SOLUTION["median_ci"](samples, level)
    return (None, None) if math.isinf(low) else (low, high)


def ci_in_a_list(samples, level=0.95):
    return [SOLUTION["median_ci"](samples, level)]


# ----------------------------------------------------------------------------- wrong answers: 3


def ti_no_warmup(fn, warmup, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def ti_warmup_timed(fn, warmup, repeat):
    return ti_no_warmup(fn, 0, warmup + repeat)


def ti_warmup_one_short(fn, warmup, repeat):
    for _ in range(1, warmup):
        fn()
    return ti_no_warmup(fn, 0, repeat)


def ti_one_too_many(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    return ti_no_warmup(fn, 0, repeat + 1)


def ti_wall_clock(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.time()
        fn()
        times.append(time.time() - t0)
    return times


def ti_cpu_time(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return times


def ti_monotonic(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.monotonic()
        fn()
        times.append(time.monotonic() - t0)
    return times


def ti_imported_clock(fn, warmup, repeat):  # bound before the check swapped the clock
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = imported_perf_counter()
        fn()
        times.append(imported_perf_counter() - t0)
    return times


def ti_timeit(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    return [timeit.timeit(fn, number=1) for _ in range(repeat)]


def ti_one_timer(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return [(time.perf_counter() - t0) / repeat] * repeat


def ti_mean(fn, warmup, repeat):
    return float(np.mean(SOLUTION["time_it"](fn, warmup, repeat)))


def ti_cumulative(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
        times.append(time.perf_counter() - t0)
    return times


def ti_milliseconds(fn, warmup, repeat):
    return [t * 1000 for t in SOLUTION["time_it"](fn, warmup, repeat)]


def ti_clock_before_warmup(fn, warmup, repeat):
    times = []
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    for _ in range(repeat):
        fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return times


def ti_extra_call_after(fn, warmup, repeat):
    times = SOLUTION["time_it"](fn, warmup, repeat)
    fn()  # "check the result once more"
    return times


def ti_skips_two(fn, warmup, repeat):  # always two warm-up calls
    for _ in range(2):
        fn()
    return ti_no_warmup(fn, 0, repeat)


# ----------------------------------------------------------------------------- wrong answers: 4


def tp(batch_sizes, latencies_s, *, per_item=True, rule="knee", index=False):
    """A student's throughput_and_saturation with switches for their mistakes."""
    x = (np.asarray(batch_sizes, dtype=float) if per_item else 1.0) / np.asarray(latencies_s)
    sat = None
    if rule == "argmax":
        sat = batch_sizes[int(np.argmax(x))]
    elif rule == "next":
        sat = next(
            (batch_sizes[i] for i in range(len(x) - 1) if x[i + 1] <= 1.1 * x[i]),
            None,
        )
    elif rule == "within 10% of the max":  # including the largest batch itself
        sat = next(b for b, v in zip(batch_sizes, x, strict=True) if v >= 0.9 * x.max())
    else:
        for i in range(len(x) - 1):
            if x[i + 1 :].max() <= 1.1 * x[i]:
                sat = batch_sizes[i]
                break
        if rule == "largest when none" and sat is None:
            sat = batch_sizes[-1]
    if index and sat is not None:
        sat = list(batch_sizes).index(sat)
    return x, sat


def tp_only_throughput(batch_sizes, latencies_s):
    return np.asarray(batch_sizes) / np.asarray(latencies_s)


def tp_swapped(batch_sizes, latencies_s):
    x, sat = SOLUTION["throughput_and_saturation"](batch_sizes, latencies_s)
    return sat, x


def tp_strict(batch_sizes, latencies_s):  # 5 % instead of 10 %
    x = np.asarray(batch_sizes) / np.asarray(latencies_s)
    for i in range(len(x) - 1):
        if x[i + 1 :].max() <= 1.05 * x[i]:
            return x, batch_sizes[i]
    return x, None


# ----------------------------------------------------------------------------- wrong answers: 5


def amdahl(threads, seconds, *, x="1/n", fraction="parallel", limit="1/(1-p)", t1="fit"):
    """A student's amdahl_fit with switches for their mistakes."""
    n = np.asarray(threads, dtype=float)
    b, a = np.polyfit(1 / n if x == "1/n" else n, seconds, 1)
    total = a + b if t1 == "fit" else seconds[0]
    p = b / total if fraction == "parallel" else a / total
    if limit == "1/p":
        return p, 1 / p
    if limit == "no inf":
        return p, 1 / (1 - p)
    return p, (1 / (1 - p) if p < 1 else math.inf)


def amdahl_two_points(threads, seconds):
    p = (1 - seconds[-1] / seconds[0]) / (1 - threads[0] / threads[-1])
    return p, (1 / (1 - p) if p < 1 else math.inf)


def amdahl_needs_one_thread(threads, seconds):
    t1 = seconds[threads.index(1)]
    b, a = np.polyfit(1 / np.asarray(threads, dtype=float), seconds, 1)
    return b / t1, t1 / a


def amdahl_clipped(threads, seconds):
    p, limit = SOLUTION["amdahl_fit"](threads, seconds)
    return min(p, 1.0), limit


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("percentile", pct_rank_n_unclipped, "not q/100 * n"),
    ("percentile", pct_rank_n_clipped, "q/100 * (n - 1), not q/100 * n"),
    ("percentile", pct_unsorted, "sort the samples first"),
    ("percentile", pct_fraction, "q is a percentage, from 0 to 100"),
    ("percentile", pct_no_clip, "clip the upper neighbour"),
    ("percentile", pct_round, "interpolate between the two neighbouring samples"),
    ("percentile", pct_nearest_rank, "that is the nearest-rank method"),
    ("percentile", pct_exclusive, "that is the (n + 1) method"),
    ("percentile", pct_numpy, "calls `numpy.percentile`"),
    ("percentile", pct_quantile, "calls `numpy.quantile`"),
    ("percentile", pct_statistics, "calls `statistics.quantiles`"),
    ("percentile", pct_sort_in_place, "`samples.sort()` reorders the caller's measurements"),
    ("percentile", pct_size_attribute, "samples may be a Python list"),
    ("median_ci", ci_mean_sem, "normal-theory interval"),
    ("median_ci", ci_mean_sd, "normal-theory interval"),
    ("median_ci", ci_median_sem, "normal-theory interval"),
    ("median_ci", ci_one_sided, "Split 1 - level between the two tails"),
    ("median_ci", ci_zero_based_high, "off by one"),
    ("median_ci", ci_zero_based_both, "ranks l and u = n + 1 - l are 1-based"),
    ("median_ci", ci_never_unbounded, "return (-math.inf, math.inf) when l == 0"),
    ("median_ci", ci_unsorted, "sort the samples first"),
    ("median_ci", ci_normal_ranks, "Compute F exactly from math.comb"),
    ("median_ci", ci_fixed_level, "use the `level` argument"),
    ("median_ci", ci_swapped, "the smaller end first"),
    ("median_ci", ci_none_for_unbounded, "using -math.inf / math.inf"),
    ("median_ci", ci_in_a_list, "return the interval as a pair `(low, high)`"),
    ("time_it", ti_no_warmup, "call fn() `warmup` times BEFORE the timed loop"),
    ("time_it", ti_warmup_timed, "must run but not be timed nor returned"),
    ("time_it", ti_warmup_one_short, "you ran one fewer"),
    ("time_it", ti_one_too_many, "return exactly `repeat` times"),
    ("time_it", ti_wall_clock, "not time.time()"),
    ("time_it", ti_cpu_time, "not time.process_time()"),
    ("time_it", ti_monotonic, "not time.monotonic()"),
    ("time_it", ti_imported_clock, "your time_it never read it"),
    ("time_it", ti_timeit, "your time_it never read it"),
    ("time_it", ti_one_timer, "time each call on its own"),
    ("time_it", ti_mean, "not their mean"),
    ("time_it", ti_cumulative, "read the clock again before each call"),
    ("time_it", ti_milliseconds, "seconds, not milliseconds"),
    ("time_it", ti_clock_before_warmup, "start the clock after the warm-up"),
    ("time_it", ti_extra_call_after, "call it exactly warmup + repeat"),
    ("time_it", ti_skips_two, "yours called it"),
    (
        "throughput_and_saturation",
        lambda b, t: tp(b, t, per_item=False),
        "b / latency items per second",
    ),
    ("throughput_and_saturation", lambda b, t: tp(b, t, rule="argmax"), "not the argmax"),
    (
        "throughput_and_saturation",
        lambda b, t: tp(b, t, rule="largest when none"),
        "return None when only the largest batch qualifies",
    ),
    (
        "throughput_and_saturation",
        lambda b, t: tp(b, t, rule="within 10% of the max"),
        "return None when only the largest batch qualifies",
    ),
    ("throughput_and_saturation", lambda b, t: tp(b, t, rule="next"), "not just the next one"),
    ("throughput_and_saturation", lambda b, t: tp(b, t, index=True), "not its index"),
    ("throughput_and_saturation", tp_only_throughput, "return a pair `(throughput, saturation)`"),
    ("throughput_and_saturation", tp_swapped, "in this order"),
    ("throughput_and_saturation", tp_strict, "qualifies: return it"),
    ("amdahl_fit", lambda n, t: amdahl(n, t, x="n"), "linear in 1/n, not in n"),
    ("amdahl_fit", lambda n, t: amdahl(n, t, fraction="serial"), "is the SERIAL fraction"),
    ("amdahl_fit", lambda n, t: amdahl(n, t, limit="1/p"), "the speed-up limit is 1 / (1 - p)"),
    ("amdahl_fit", lambda n, t: amdahl(n, t, t1="first"), "not the first measurement"),
    ("amdahl_fit", lambda n, t: amdahl(n, t, limit="no inf"), "max_speedup is math.inf"),
    ("amdahl_fit", amdahl_two_points, "fit all the points by least squares"),
    ("amdahl_fit", amdahl_needs_one_thread, "need not start at 1"),
    ("amdahl_fit", amdahl_clipped, "don't clip anything"),
]


def test_the_student_helpers_are_right_without_mistakes(capsys):
    check("throughput_and_saturation", tp)
    check("amdahl_fit", amdahl)
    check("median_ci", lambda s, level=0.95: ci_one_sided(s, 1 - (1 - level) / 2))


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


def test_messages_name_the_part_that_is_wrong():
    message = fails("throughput_and_saturation", lambda b, t: tp(b, t, rule="argmax"))
    assert "saturation batch: expected 64, got 128" in message, message
    message = fails("amdahl_fit", lambda n, t: (amdahl(n, t)[0], 2.0))
    assert "max_speedup: expected 9.469, got 2" in message and "parallel_fraction" not in message
    message = fails("median_ci", ci_mean_sem)
    assert re.search(r"expected \(0\.00\d+, 0\.00\d+\), got \(", message), message
    message = fails("percentile", pct_round)
    assert re.search(r"expected 0\.00\d+, got 0\.00\d+", message), message


def test_the_rank_diagnosis_names_the_ranks():
    message = fails("median_ci", ci_one_sided)
    assert "your interval runs from the 11th to the 21st smallest sample" in message, message
    assert "the 95% CI runs from the 10th to the 22nd" in message, message


def test_a_list_result_and_numpy_scalars_are_accepted(capsys):
    check("percentile", lambda s, q: np.float32(SOLUTION["percentile"](s, q)))
    check("median_ci", lambda s, level=0.95: np.array(SOLUTION["median_ci"](s, level)))
    check("time_it", lambda fn, warmup, repeat: np.array(SOLUTION["time_it"](fn, warmup, repeat)))
    check(
        "throughput_and_saturation",
        lambda b, t: (list(SOLUTION["throughput_and_saturation"](b, t)[0]), tp(b, t)[1]),
    )
    assert capsys.readouterr().out.count("✓") == 4


def test_perf_counter_ns_is_as_good_as_perf_counter(capsys):
    def time_it(fn, warmup, repeat):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - t0) / 1e9)
        return times

    check("time_it", time_it)
    assert capsys.readouterr().out.startswith("✓ time_it")


# ----------------------------------------------------------------------------- the fake clock


def test_the_reference_is_what_bench_measure_reads_on_the_fake_clock():
    for case in ch03.TASKS["time_it"].cases():
        fn, warmup, repeat = case.args[0], case.kwargs["warmup"], case.kwargs["repeat"]
        with time_it_check.fake_clocks() as clock:
            timing = bench.measure(fn, warmup=warmup, repeat=repeat)
        np.testing.assert_allclose(
            timing.times, time_it_check._reference(fn, warmup, repeat), rtol=1e-9
        )
        assert clock.calls[fn.key] == warmup + repeat


def test_the_real_clocks_come_back_even_after_a_failure():
    real = (time.perf_counter, time.time, time.monotonic, time.process_time, timeit.default_timer)
    fails("time_it", ti_wall_clock)
    check("time_it", SOLUTION["time_it"])
    now = (time.perf_counter, time.time, time.monotonic, time.process_time, timeit.default_timer)
    assert now == real
    assert time_it_check._ACTIVE is None


def test_other_threads_keep_the_real_clock():
    seen = []
    with time_it_check.fake_clocks():
        fake = time.time()
        worker = threading.Thread(target=lambda: seen.append(time.time()))
        worker.start()
        worker.join()
    assert fake == time_it_check._EPOCH  # the check's thread reads the fake clock
    assert abs(seen[0] - time.time()) < 60  # the other thread read the real one


def test_the_fake_fn_schedule_is_cold_first_then_steady():
    for case in ch03.TASKS["time_it"].cases():
        d = case.args[0].durations
        steady = float(np.median(d[2:]))
        assert d[0] > 5 * steady and d[1] > 1.5 * steady
        assert len(set(d)) == len(d)  # every call has its own duration: they identify the call
        assert len(d) >= case.kwargs["warmup"] + case.kwargs["repeat"] + 2


# ----------------------------------------------------------------------------- the inputs


def test_inputs_are_fresh_and_deterministic():
    for task in ch03.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 8
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs
    samples = ch03.TASKS["percentile"].cases()[0].args[0]
    seen = np.random.default_rng(0).standard_normal(samples.shape)
    assert not np.allclose(np.log(samples / 5e-3) / 0.5, seen), "a check reuses the notebook's seed"


def test_median_cases_are_far_from_a_tie_in_the_binomial_cdf():
    # The student's exact CDF (math.comb) and bench's log-space one must pick the same ranks.
    for case in ch03.TASKS["median_ci"].cases():
        n, level = len(case.args[0]), case.kwargs.get("level", 0.95)
        low, _ = _ranks(n, level)
        cdf = np.cumsum([math.comb(n, k) / 2**n for k in range(n + 1)])
        tail = (1 - level) / 2
        assert cdf[low] - tail > 1e-9 and (low == 0 or tail - cdf[low - 1] > 1e-9)
        ranks = stats.order_statistic_ranks(n, 0.5, level)[:2]
        assert ranks == ((low, n + 1 - low) if low else (0, n + 1))


def test_throughput_cases_are_far_from_the_10_percent_boundary():
    for case in ch03.TASKS["throughput_and_saturation"].cases():
        sizes, latencies = case.args
        x = np.asarray(sizes) / latencies
        for i in range(len(x) - 1):
            ratio = x[i + 1 :].max() / x[i]
            assert abs(ratio - (1 + TOLERANCE)) > 0.005, (case.note, sizes[i], ratio)


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def time_it(fn, warmup, repeat):\n"
        "    times = []\n"
        "    for _ in range(repeat):\n"
        "        t0 = time.perf_counter()\n"
        "        fn()\n"
        "        times.append(time.perf_counter() - t0)\n"
        "    return times"
    )
    folder = tmp_path_factory.mktemp("student03")
    return grade_three(folder, ROOT, "03_speed", "time_it", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_wrong_timing_loop_with_its_hint(graded):
    assert_one_failure(
        graded["student"], "time_it", "call fn() `warmup` times BEFORE the timed loop"
    )
