"""Simulate an LLM server: a scheduler (:mod:`~inferlab.serve.llm_policies`) + a step-time model.

    >>> from inferlab import hw
    >>> from inferlab.serve.workload import make_workload
    >>> w = make_workload(rate=4.0, n=2000, prompt="trace", output="trace")
    >>> st = RooflineStep(hw.LLAMA2_7B, hw.device("H100 SXM"), efficiency="kernel")
    >>> r = simulate(w, "paged", st, kv_capacity_tokens=100_000)
    >>> r.summary()["p99_itl_s"], r.batch_sizes.mean(), r.extra["preemptions"]

The loop is the whole simulator (Vidur's, without its event queue): ask the scheduler for a
step, advance the clock by the step's time, report the step done; when the scheduler is idle,
jump to the next arrival:

    while True:
        step = s.schedule(now)
        if step is None:
            if s.next_arrival() is None: break
            now = max(now, s.next_arrival()); continue
        now += step_time(step.n_prefill_tokens, step.n_decode, step.kv_tokens, step.prefill_pairs)
        s.complete(step, now)

Between events (an arrival, a finish, a KV block running out) the loop skips whole runs of
decode steps at once (``fast_forward``, see :meth:`~inferlab.serve.llm_sched.Scheduler.horizon`);
the records are those of the step-by-step loop, which a test checks.

What it reproduces (tests/test_serve_llm.py, qualitatively): vLLM Fig. 13's mean batch sizes
Orca(Max) < Orca(Pow2) < Orca(Oracle) < vLLM (here ~6.9, 9.1, 11.9, 24 with the paper's buddy
allocator; paper 7.00, 9.81, 13.62, 30.42), continuous batching sustaining many times the rate of
static batching at the same p99, chunked prefill cutting p99 time between tokens, goodput
peaking and then falling as load grows.

Policies by name (:data:`POLICIES`): ``"static"`` (FasterTransformer, padded), ``"orca-max"``,
``"orca-pow2"``, ``"orca-oracle"`` (Orca with the three KV reservations of the vLLM paper),
``"paged"`` (vLLM), ``"chunked"`` (Sarathi-Serve). Each step costs a few NumPy operations over
the running set, no Python work per token: 100 000 requests simulate in seconds.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from inferlab.errors import InvalidValueError
from inferlab.serve.llm_policies import (
    ChunkedPrefillScheduler,
    OrcaScheduler,
    PagedScheduler,
    StaticBatching,
)
from inferlab.serve.llm_sched import Scheduler, Step
from inferlab.serve.metrics import Result
from inferlab.serve.steptime import RooflineStep, StepTime, TableStep, constant_step

__all__ = [
    "POLICIES",
    "ChunkedPrefillScheduler",
    "OrcaScheduler",
    "PagedScheduler",
    "RooflineStep",
    "Scheduler",
    "StaticBatching",
    "Step",
    "StepTime",
    "TableStep",
    "constant_step",
    "make_scheduler",
    "simulate",
]

POLICIES = {
    "static": (StaticBatching, {}),
    "orca-max": (OrcaScheduler, {"reserve": "max"}),
    "orca-pow2": (OrcaScheduler, {"reserve": "pow2"}),
    "orca-oracle": (OrcaScheduler, {"reserve": "oracle"}),
    "paged": (PagedScheduler, {}),
    "chunked": (ChunkedPrefillScheduler, {}),
}


def make_scheduler(workload, policy: str, kv_capacity_tokens: int, **kw) -> Scheduler:
    """A scheduler by policy name (see :data:`POLICIES`), e.g. for real mode's loop."""
    if policy not in POLICIES:
        raise InvalidValueError(f"policy must be one of {sorted(POLICIES)}; got {policy!r}")
    cls, defaults = POLICIES[policy]
    return cls(workload, kv_capacity_tokens, **{**defaults, **kw})


def _step_fn(step_time):
    """step_time as a 4-argument function; InvalidValueError if it is not a usable step time."""
    if isinstance(step_time, bool) or not callable(step_time):
        raise InvalidValueError(
            f"step_time must be a callable (n_prefill_tokens, n_decode, kv_tokens[, "
            f"prefill_pairs]) -> seconds, e.g. RooflineStep(...); got {step_time!r:.80}"
        )
    if not isinstance(step_time, RooflineStep | TableStep):
        try:
            params = inspect.signature(step_time).parameters.values()
            n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
            var = any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            n_pos, var = 4, True
        if n_pos < 3 and not var:
            raise InvalidValueError(
                "step_time must take (n_prefill_tokens, n_decode, kv_tokens[, prefill_pairs]); "
                f"got a callable with {n_pos} positional argument(s)"
            )
        if n_pos == 3 and not var:
            return lambda p, d, kv, pairs: step_time(p, d, kv)
    return step_time


def _bad_time(dt, step) -> InvalidValueError:
    return InvalidValueError(
        f"step_time must return a finite number of seconds > 0; got {dt!r} for a step of "
        f"{step.n_prefill_tokens} prefill tokens and {step.n_decode} decodes"
    )


def simulate(workload, policy: str, step_time: StepTime, kv_capacity_tokens: int,
             fast_forward: bool = True, **kw) -> Result:  # fmt: skip
    """Run ``workload`` through one LLM replica; returns a :class:`~inferlab.serve.metrics.Result`.

    policy: a name from :data:`POLICIES`; step_time: seconds per step (a :class:`RooflineStep`,
    :class:`TableStep` or any callable ``(n_prefill_tokens, n_decode, kv_tokens[,
    prefill_pairs])``); kv_capacity_tokens: KV the replica holds, in tokens. Keywords go to the
    scheduler: max_batch, max_len, block_size, watermark, concurrency (closed loop), think_time,
    reserve and buddy (Orca), max_tokens (paged), budget (chunked).

    fast_forward: skip over runs of pure-decode steps in one NumPy operation when nothing but
    the contexts' lengths changes (no arrival, no finish, no block running out) and
    ``step_time`` has a vectorised ``decode_times`` (RooflineStep, TableStep, constant_step).
    The records are the same as step by step, up to float rounding of the summed times.

    Every request finishes or is rejected with a reason (``result.reject_reason``). The result
    has ``itl`` (every inter-token latency), ``batch_sizes`` (requests in each step) and in
    ``extra``: preemptions, restarts per request, per-step running-set size and KV use.
    """
    sched = make_scheduler(workload, policy, kv_capacity_tokens, **kw)
    fn = _step_fn(step_time)
    times = getattr(step_time, "decode_times", None) if fast_forward else None
    schedule, complete, next_arrival = sched.schedule, sched.complete, sched.next_arrival
    now = 0.0
    isfinite = math.isfinite
    while True:
        step = schedule(now)
        if step is None:
            t = next_arrival()
            if t is None:
                break
            now = max(now, t)
            continue
        if times is not None and not step.n_prefill_tokens and (m := sched.horizon(step)) > 1:
            # event skipping: m decode steps with nothing but growing contexts, cut at the
            # step during which the next request arrives (it is admitted right after)
            dts = times(step.n_decode, step.kv_tokens, m)
            if not (dts[0] > 0 and isfinite(dts[-1])):  # times are monotone in the KV read
                raise _bad_time(dts[0], step)
            ends = now + np.cumsum(dts)
            t = next_arrival()
            if t is not None:
                ends = ends[: int(np.searchsorted(ends, t)) + 1]
            now = float(ends[-1])
            sched.complete_many(step, ends)
            continue
        dt = fn(step.n_prefill_tokens, step.n_decode, step.kv_tokens, step.prefill_pairs)
        if not (dt > 0 and isfinite(dt)):
            raise _bad_time(dt, step)
        now += dt
        complete(step, now)
    return sched.result()
