"""inferlab.bench.sampling: autorange, warm-up until stable, measure's "auto" modes.

Assertions count calls and compare sleeps against their own lower bounds (sleep never returns
early): nothing here depends on how fast the machine is.
"""

import time

import pytest

from inferlab import bench
from inferlab.bench import autorange, measure, warm_up
from inferlab.errors import InvalidValueError


class Counter:
    def __init__(self, sleep=0.0):
        self.calls = 0
        self.sleep = sleep

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)


class ColdStart:
    """Slow for the first `cold` calls (a cache filling up), then steady."""

    def __init__(self, cold=3, slow=0.03, fast=0.002):
        self.calls, self.cold, self.slow, self.fast = 0, cold, slow, fast

    def __call__(self):
        self.calls += 1
        time.sleep(self.slow if self.calls <= self.cold else self.fast)


def test_autorange_slow_function_needs_one_call():
    fn = Counter(sleep=0.002)
    assert autorange(fn, target=0.001) == 1  # one call already takes >= 2 ms
    assert fn.calls == 1


def test_autorange_tries_1_2_5_10():
    fn = Counter(sleep=0.001)
    number = autorange(fn, target=0.0045)  # >= 1 ms per call: 5 calls reach 4.5 ms, maybe fewer
    assert number in (1, 2, 5)
    assert fn.calls == {1: 1, 2: 3, 5: 8}[number]  # every try is real calls


def test_autorange_fast_function_takes_many_calls():
    fn = Counter()
    number = autorange(fn)  # a no-op takes far below 1 ms
    assert number > 10 and str(number).strip("0") in ("1", "2", "5")
    assert fn.calls > number


def test_measure_number_auto():
    fn = Counter()
    t = measure(fn, warmup=2, repeat=5, number="auto")
    assert t.number > 1 and t.n == 5
    assert len(t.warmup_times) == 2
    assert fn.calls > 2 + 5 * t.number  # autorange's calls come on top


def test_measure_records_warmup_times():
    fn = Counter(sleep=0.001)
    t = measure(fn, warmup=3, repeat=2)
    assert len(t.warmup_times) == 3 and all(w >= 0.001 for w in t.warmup_times)
    assert fn.calls == 5


def test_warm_up_waits_out_a_cold_start():
    fn = ColdStart(cold=3)
    w = warm_up(fn, window=3, rtol=0.5, max_time=10.0)
    assert w.stable
    # settled = the window before the last (calls n-5..n-3) is mostly warm: n - 5 >= 3
    assert len(w.times) >= 8 and len(w.times) == fn.calls
    assert min(w.times[:3]) >= 0.03  # sleep never returns early
    assert w.times[0] > min(w.times[3:])


def test_warm_up_steady_function_stops_at_two_windows():
    fn = Counter(sleep=0.002)
    w = warm_up(fn, window=2, rtol=10.0)  # any change under 1000 % counts as settled
    assert w.stable and len(w.times) == 4 and fn.calls == 4


def test_warm_up_gives_up_after_max_calls():
    fn = Counter()
    w = warm_up(fn, window=5, rtol=0.0, max_calls=7)  # 7 < 2 * window: never decides
    assert not w.stable and len(w.times) == 7 and fn.calls == 7


def test_warm_up_gives_up_after_max_time():
    fn = Counter(sleep=0.01)
    w = warm_up(fn, window=50, max_time=0.03)
    assert not w.stable and 1 <= len(w.times) <= 3  # 3 calls take >= 30 ms


def test_measure_warmup_auto():
    fn = ColdStart(cold=3, slow=0.02, fast=0.001)
    t = measure(fn, warmup="auto", repeat=3)
    # window 5: settled once the earlier window (calls n-9..n-5) holds <= 2 cold calls: n >= 11
    assert len(t.warmup_times) >= 11
    assert fn.calls == len(t.warmup_times) + 3
    assert min(t.warmup_times[:3]) >= 0.02


def test_measure_passes_kwargs_named_like_warm_up_options():
    seen = {}

    def fn(window=None, target=None):
        seen.update(window=window, target=target)

    measure(fn, warmup="auto", number="auto", repeat=1, window="w", target="t")
    assert seen == {"window": "w", "target": "t"}


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: measure(Counter(), warmup="auto-ish"), "warmup"),
        (lambda: measure(Counter(), number="AUTO"), "number"),
        (lambda: measure(Counter(), repeat="auto"), "repeat"),
        (lambda: autorange(Counter(), target=0), "target"),
        (lambda: autorange(3), "callable"),
        (lambda: warm_up(Counter(), window=0), "window"),
        (lambda: warm_up(Counter(), rtol=-0.1), "rtol"),
        (lambda: warm_up(Counter(), max_calls=0), "max_calls"),
        (lambda: warm_up(Counter(), max_time=0), "max_time"),
        (lambda: warm_up(None), "callable"),
    ],
)
def test_bad_arguments(call, name):
    with pytest.raises(InvalidValueError, match=name):
        call()


def test_package_api_still_exports_chapter_01_names():
    assert bench.measure is measure
    assert {"Timing", "measure", "gflops"} <= set(bench.__all__)
    for name in bench.__all__:
        assert getattr(bench, name) is not None
