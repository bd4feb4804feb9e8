"""Exercise 03, task 3: ``time_it`` — its fresh cases, known mistakes and diagnosis.

A timing function can't be checked against real time (a loaded machine makes every number
different), so the check makes time itself deterministic. While it runs, ``time.perf_counter``
and the other clocks of :mod:`time` read a **fake clock** (in the thread that runs the check
only), and the ``fn`` it passes to your ``time_it`` advances that clock by a scheduled duration
per call: a slow first (cold) call, a slower-than-steady second one, then steady calls with a
little jitter, each a different number. Your times then tell exactly which calls you timed, and
a call counter tells how many calls you made. The other clocks are faked the way they are
wrong for benchmarking: ``time.time`` and ``time.monotonic`` tick every 1/64 s (15.6 ms, the
Windows timer tick), ``time.process_time`` counts CPU seconds of two busy BLAS threads.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import timeit
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from inferlab.checks.ch03._common import _rng
from inferlab.checks.core import Case, Mistake, Outcome, Task, first_failure, run
from inferlab.errors import CheckFailed

_BASE = 5000.0  # perf_counter's origin is arbitrary: only differences mean anything
_EPOCH = 1_750_000_000.0  # time.time(): seconds since 1970
_TICK = 1 / 64  # a coarse clock's resolution (the 15.6 ms Windows timer tick)
_CPU_THREADS = 2  # process_time adds up the CPU time of every thread

_REAL = {
    name: getattr(time, name)
    for name in (
        "perf_counter",
        "perf_counter_ns",
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "process_time",
        "process_time_ns",
    )
}


@dataclass
class _Clock:
    """The fake time of one check run, in seconds since it started, and what was read."""

    owner: int = field(default_factory=threading.get_ident)
    t: float = 0.0
    reads: Counter = field(default_factory=Counter)  # clock name -> reads
    calls: Counter = field(default_factory=Counter)  # case key -> calls of its fn


_ACTIVE: _Clock | None = None


def _coarse(t: float) -> float:
    return math.floor(t / _TICK) * _TICK


_VALUES = {  # what each clock reads at fake time t
    "perf_counter": lambda t: _BASE + t,
    "perf_counter_ns": lambda t: round((_BASE + t) * 1e9),
    "time": lambda t: _EPOCH + _coarse(t),
    "time_ns": lambda t: round((_EPOCH + _coarse(t)) * 1e9),
    "monotonic": lambda t: _BASE + _coarse(t),
    "monotonic_ns": lambda t: round((_BASE + _coarse(t)) * 1e9),
    "process_time": lambda t: _CPU_THREADS * t,
    "process_time_ns": lambda t: round(_CPU_THREADS * t * 1e9),
}


def _fake(name: str):
    real, value, kind = _REAL[name], _VALUES[name], name.removesuffix("_ns")

    def clock():
        active = _ACTIVE
        if active is None or threading.get_ident() != active.owner:
            return real()  # other threads (a Jupyter kernel's) keep the real clock
        active.reads[kind] += 1
        return value(active.t)

    clock.__name__ = clock.__qualname__ = name
    return clock


@contextlib.contextmanager
def fake_clocks():
    """Replace the clocks of :mod:`time` (and ``timeit.default_timer``) with the fake clock in
    this thread; yields the :class:`_Clock`. Restores the real ones on exit."""
    global _ACTIVE
    if _ACTIVE is not None:  # already inside one (a check calling a check): share it
        yield _ACTIVE
        return
    _ACTIVE = _Clock()
    saved = {name: getattr(time, name) for name in _REAL}
    saved_timer = timeit.default_timer
    try:
        for name in _REAL:
            setattr(time, name, _fake(name))
        timeit.default_timer = time.perf_counter
        yield _ACTIVE
    finally:
        for name, fn in saved.items():
            setattr(time, name, fn)
        timeit.default_timer = saved_timer
        _ACTIVE = None


class Work:
    """The ``fn`` the check times: call ``k`` (1-based) takes ``durations[k - 1]`` fake seconds.

    A fresh copy (the check deep-copies its inputs for every call of ``time_it``) starts again at
    call 1. ``key`` names the case, to count its calls.
    """

    def __init__(self, key: int, durations: tuple[float, ...]):
        self.key = key
        self.durations = durations
        self._done = 0

    def __call__(self, *args, **kwargs) -> None:
        d = self.durations[min(self._done, len(self.durations) - 1)]
        self._done += 1
        active = _ACTIVE
        if active is not None:
            active.t += d
            active.calls[self.key] += 1

    def __repr__(self) -> str:
        steady = float(np.median(self.durations[2:]))
        return f"<fn: cold call {self.durations[0] * 1e3:.0f} ms, then ~{steady * 1e3:.1f} ms>"


def _time_it_cases() -> list[Case]:
    rng = _rng(3)
    cases = []
    plan = [
        (1, 5, "warmup=1"),
        (2, 7, "warmup=2"),
        (0, 4, "warmup=0: the cold call is timed too"),
        (3, 1, "a single timed call"),
        (1, 10, "10 timed calls"),
        (5, 3, "a long warm-up"),
        (2, 20, "20 timed calls"),
        (4, 6, "warmup=4"),
    ]
    for key, (warmup, repeat, note) in enumerate(plan):
        steady = rng.uniform(0.004, 0.02)  # seconds per warm call
        cold = rng.uniform(0.15, 0.4)  # the first call: loading, page faults, cold caches
        jitter = steady * np.exp(0.08 * rng.standard_normal(warmup + repeat + 4))
        durations = (cold, steady * rng.uniform(2, 3), *jitter.tolist())
        tags = frozenset({"no warm-up"}) if warmup == 0 else frozenset()
        cases.append(
            Case(
                (Work(key, tuple(durations)),),
                {"warmup": warmup, "repeat": repeat},
                note=note,
                tags=tags,
            )
        )
    return cases


def _timed(fn: Work, start: int, count: int) -> list[float]:
    """Fake seconds of calls ``start + 1 .. start + count`` (``start`` calls came before)."""
    return [fn.durations[min(i, len(fn.durations) - 1)] for i in range(start, start + count)]


def _reference(fn: Work, warmup: int, repeat: int) -> list[float]:
    # What inferlab.bench.measure(fn, warmup=warmup, repeat=repeat).times reads on the fake
    # clock (tests/test_checks_ch03.py runs it to prove that): the calls after the warm-up.
    return _timed(fn, warmup, repeat)


def _start_before_warmup(fn, warmup, repeat):
    times = _timed(fn, warmup, repeat)
    times[0] += sum(_timed(fn, 0, warmup))
    return times


_COUNT_HINT = "return exactly `repeat` times, one per timed call: `for _ in range(repeat)`."

_MISTAKES = (
    Mistake(
        lambda fn, warmup, repeat: _timed(fn, 0, repeat),
        "call fn() `warmup` times BEFORE the timed loop and don't time those calls: the first "
        "call is the cold one (loading, page faults, empty caches), here 10-100× slower than the "
        "rest, and a warm service never sees it.",
    ),
    Mistake(
        lambda fn, warmup, repeat: _timed(fn, 0, warmup + repeat),
        "the warm-up calls must run but not be timed nor returned: return only the `repeat` "
        "times measured after them.",
    ),
    Mistake(
        lambda fn, warmup, repeat: _timed(fn, max(warmup - 1, 0), repeat),
        "run exactly `warmup` untimed calls (`for _ in range(warmup)`): you ran one fewer.",
    ),
    Mistake(
        lambda fn, warmup, repeat: _timed(fn, warmup + 1, repeat),
        "run exactly `warmup` untimed calls (`for _ in range(warmup)`): you ran one more.",
    ),
    Mistake(lambda fn, warmup, repeat: _timed(fn, warmup, repeat + 1), _COUNT_HINT),
    Mistake(lambda fn, warmup, repeat: _timed(fn, warmup, max(repeat - 1, 0)), _COUNT_HINT),
    Mistake(
        lambda fn, warmup, repeat: [t * 1e3 for t in _timed(fn, warmup, repeat)],
        "return seconds, not milliseconds: perf_counter() differences are already in seconds.",
    ),
    Mistake(
        lambda fn, warmup, repeat: [-t for t in _timed(fn, warmup, repeat)],
        "a duration is end - start: `t1 - t0` with t1 read after the call.",
    ),
    Mistake(
        lambda fn, warmup, repeat: np.cumsum(_timed(fn, warmup, repeat)).tolist(),
        "read the clock again before each call: your times grow because every one is measured "
        "from the same start (t0 read once, before the loop).",
    ),
    Mistake(
        lambda fn, warmup, repeat: [float(np.mean(_timed(fn, warmup, repeat)))] * repeat,
        "time each call on its own (t0 before, t1 after, append t1 - t0): one total divided "
        "by `repeat` hides the spread, the very thing a percentile or a CI is about.",
    ),
    Mistake(
        lambda fn, warmup, repeat: float(np.mean(_timed(fn, warmup, repeat))),
        "return a list with one time per timed call, not their mean: the spread matters.",
    ),
    Mistake(
        lambda fn, warmup, repeat: float(np.sum(_timed(fn, warmup, repeat))),
        "return a list with one time per timed call, not their total.",
    ),
    Mistake(
        _start_before_warmup,
        "start the clock after the warm-up: your first time includes the warm-up calls.",
    ),
)

_CLOCK_HINTS = {
    "time": "use time.perf_counter(), not time.time(): time.time() is the wall clock, "
    "which can be coarse (15.6 ms ticks on some systems, as the check's fake clock does) and "
    "jumps when the system clock is adjusted (NTP). perf_counter is monotonic and as fine as "
    "the hardware allows.",
    "monotonic": "use time.perf_counter(), not time.monotonic(): monotonic's resolution can be "
    "as coarse as 15.6 ms (Windows, as the check's fake clock does); perf_counter is the "
    "clock for short durations.",
    "process_time": "use time.perf_counter(), not time.process_time(): process_time is CPU "
    "time, added up over all threads (here two busy BLAS threads, so twice the wall time) and "
    "without the time spent waiting. Latency is wall time: what the caller waits.",
}


def _time_it_diagnose(outcomes: list[Outcome]) -> str | None:
    clock = _ACTIVE
    if clock is None:
        return None
    if not clock.reads["perf_counter"]:
        for name, hint in _CLOCK_HINTS.items():
            if clock.reads[name]:
                return hint
        return (
            "call `time.perf_counter()` (read through the `time` module) right before and "
            "right after each timed call. The check swaps in a fake clock there, and your "
            "time_it never read it: timeit and a `from time import perf_counter` made before "
            "the check ran bypass it."
        )
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    fn, warmup, repeat = o.case.args[0], o.case.kwargs["warmup"], o.case.kwargs["repeat"]
    made = clock.calls[fn.key]
    if made != warmup + repeat:
        return (
            f"with warmup={warmup} and repeat={repeat}, time_it must call fn exactly "
            f"{warmup + repeat} times ({warmup} untimed, then {repeat} timed); yours called it "
            f"{made} times."
        )
    got = o.got.ravel()
    for start in range(len(fn.durations) - got.size + 1):
        if np.allclose(got, _timed(fn, start, got.size), rtol=1e-6, atol=1e-9):
            return (
                f"you timed calls {start + 1} to {start + got.size}; with warmup={warmup} the "
                f"timed calls are {warmup + 1} to {warmup + repeat}."
            )
    return None


TIME_IT = Task(
    name="time_it",
    arg_names=("fn",),
    reference=_reference,
    cases=_time_it_cases,
    covers="warmup=0, a single timed call, a long warm-up and 20 repeats, on a fake clock",
    mistakes=_MISTAKES,
    diagnose=_time_it_diagnose,
    shape_hint=_COUNT_HINT,
    fallback_hint="for each of the `repeat` timed calls: t0 = time.perf_counter(); fn(); "
    "t1 = time.perf_counter(); append t1 - t0.",
)


def check_time_it(fn) -> None:
    """Check your ``time_it(fn, warmup, repeat)`` on a fake clock (see this module's doc)."""
    __tracebackhide__ = True
    with fake_clocks() as clock:
        count = run(TIME_IT, fn, verbose=False)
        for case in TIME_IT.cases():
            work, warmup, repeat = case.args[0], case.kwargs["warmup"], case.kwargs["repeat"]
            made = clock.calls[work.key]
            if made != warmup + repeat:
                raise CheckFailed(
                    f"time_it returned the right times but called fn {made} times with "
                    f"warmup={warmup}, repeat={repeat}.\nHint: call it exactly warmup + repeat = "
                    f"{warmup + repeat} times: in a benchmark every extra call costs a whole "
                    "inference."
                )
    print(f"✓ time_it: correct on {count} fresh inputs, including {TIME_IT.covers}")
