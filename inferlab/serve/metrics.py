"""Serving metrics with vLLM's definitions, goodput under an SLO, Little's law, $ per 1M tokens.

Every simulator in :mod:`inferlab.serve` (request-level and LLM alike) returns a :class:`Result`:
one entry per request, in workload order, times in seconds on the simulation clock. The metrics are
those of vLLM's ``benchmarks/benchmark_serving.py`` (``calculate_metrics``), in seconds, not ms:

- TTFT = first_token − arrival (time to first token; for a non-LLM request first_token = finish);
- TPOT = (e2e − TTFT) / (output_len − 1), only for requests with output_len > 1 (time per output
  token after the first; request-weighted when averaged);
- ITL = every gap between consecutive tokens of a request (token-weighted when averaged);
- E2EL = finish − arrival (end-to-end latency); waiting = start − arrival (queueing delay);
- percentiles: ``np.percentile`` with linear interpolation; request throughput = completed /
  duration, output tok/s = Σ output_len / duration, total tok/s adds the prompt tokens;
- goodput (vLLM PR #9338, ``--goodput ttft:… tpot:… e2el:…``): requests meeting ALL of the SLO's
  limits (``<=``), per second of duration. As there, a request with one output token counts
  TPOT = 0; a rejected request never counts.

Little's law ``L = λ·W`` (mean number in system = throughput × mean time in system). On a
finished run it is an identity when both sides use the same window: here the window is
``[first arrival, last finish]`` of the completed requests, ``L`` is the time-average of the
count N(t) of completed requests with arrival <= t < finish (integrated step by step), ``λ`` the
completed requests per second of that window and ``W`` their mean E2E latency. A simulator that
loses or double-counts time breaks it; :func:`littles_law` returns both sides.

    >>> r = batching.simulate(w, service_time=0.01)
    >>> r.summary()["p99_e2el_s"], goodput(r, SLO(e2e=0.05)), littles_law(r)
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError, describe

__all__ = [
    "SLO",
    "SLO_PRESETS",
    "Result",
    "cost_per_million_tokens",
    "goodput",
    "littles_law",
    "percentile",
    "slo_attainment",
]

_TOL = 1e-9  # s: slack for float round-off when checking arrival <= start <= first <= finish


def _vec(name: str, x, n: int, dtype) -> np.ndarray:
    a = np.array(x, dtype=dtype).reshape(-1) if np.ndim(x) else np.full(n, x, dtype=dtype)
    if a.shape != (n,):
        raise ShapeError(f"Result.{name} must have shape ({n},) like arrival; got {describe(x)}")
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Result:
    """What every simulator returns. Build it with keyword arrays; only ``arrival`` and
    ``finish`` are required, the rest have the defaults below.

    Per request, (n,) arrays in workload order, seconds on the simulation clock:

    - ``arrival``: float64, when the request was sent (closed loop: when it was issued);
    - ``finish``: float64, last token / response done; NaN for a rejected request;
    - ``start``: float64, first service (first batch it ran in / first scheduled); default
      ``arrival`` (no queueing); NaN if rejected;
    - ``first_token``: float64, when the first output token was produced; default ``finish``
      (a non-LLM request answers all at once); NaN if rejected;
    - ``prompt_len``, ``output_len``: int64 tokens, default 1;
    - ``rejected``: bool, default ``isnan(finish)``; ``reject_reason``: tuple of str or None, one
      per request, a str (e.g. ``"prompt+output > KV capacity"``) exactly where rejected (default
      ``"rejected"`` there).

    Per run: ``duration`` (s) first arrival to last finish (default computed so);
    ``batch_sizes``: (steps,) int64, the size of every batch / step executed; ``busy_time`` (s)
    the server was running a batch (summed over replicas); ``itl``: float64 array of every
    inter-token latency of every request, or None for a non-LLM run; ``extra``: dict of
    policy-specific data (KV utilisation samples, preemptions, replica of each request, ...).
    """

    arrival: np.ndarray
    finish: np.ndarray
    start: np.ndarray | None = None
    first_token: np.ndarray | None = None
    prompt_len: np.ndarray | None = None
    output_len: np.ndarray | None = None
    rejected: np.ndarray | None = None
    reject_reason: tuple | None = None
    duration: float | None = None
    batch_sizes: np.ndarray | None = None
    busy_time: float = math.nan
    itl: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        arrival = _vec("arrival", self.arrival, np.size(self.arrival), np.float64)
        n = arrival.size
        finish = _vec("finish", self.finish, n, np.float64)
        rej = np.isnan(finish) if self.rejected is None else np.asarray(self.rejected, bool)
        rej = _vec("rejected", rej, n, bool)
        start = arrival if self.start is None else _vec("start", self.start, n, np.float64)
        first = finish if self.first_token is None else self.first_token
        first = _vec("first_token", first, n, np.float64)
        s = object.__setattr__
        for name, a in (("arrival", arrival), ("finish", finish), ("rejected", rej)):
            s(self, name, a)
        s(self, "start", np.where(rej, np.nan, start))
        s(self, "first_token", np.where(rej, np.nan, first))
        for name in ("prompt_len", "output_len"):
            v = getattr(self, name)
            s(self, name, _vec(name, 1 if v is None else v, n, np.int64))
        reasons = self.reject_reason
        if reasons is None:
            reasons = tuple("rejected" if r else None for r in rej)
        reasons = tuple(reasons)
        if len(reasons) != n or any(
            (r is not None) != bool(x) for r, x in zip(reasons, rej, strict=True)
        ):
            raise InvalidValueError(
                f"Result.reject_reason needs one entry per request ({n}), a str exactly where "
                f"rejected ({int(rej.sum())} rejected); got {len(reasons)} entries"
            )
        s(self, "reject_reason", reasons)
        ok = ~rej
        times = np.stack([arrival, self.start, self.first_token, finish])[:, ok]
        if not np.isfinite(times).all() or (np.diff(times, axis=0) < -_TOL).any():
            raise InvalidValueError(
                "Result: every completed request needs finite times with arrival <= start <= "
                "first_token <= finish; some do not"
            )
        if self.duration is None:
            dur = float(finish[ok].max() - arrival.min()) if ok.any() else 0.0
            s(self, "duration", dur)
        bs = np.zeros(0) if self.batch_sizes is None else self.batch_sizes
        s(self, "batch_sizes", np.asarray(bs, dtype=np.int64).reshape(-1))
        if self.itl is not None:
            s(self, "itl", np.asarray(self.itl, dtype=np.float64).reshape(-1))

    # -- counts
    def __len__(self) -> int:
        return int(self.arrival.size)

    @property
    def completed(self) -> np.ndarray:
        """(n,) bool: the request finished (not rejected)."""
        return ~self.rejected

    @property
    def n_completed(self) -> int:
        return int(self.completed.sum())

    @property
    def n_rejected(self) -> int:
        return int(self.rejected.sum())

    def reject_counts(self) -> dict[str, int]:
        """How many requests were rejected for each reason."""
        return dict(Counter(r for r in self.reject_reason if r is not None))

    # -- per-request metrics (completed requests only, in workload order)
    def latency(self) -> np.ndarray:
        """E2EL (s): finish − arrival."""
        ok = self.completed
        return self.finish[ok] - self.arrival[ok]

    def ttft(self) -> np.ndarray:
        """TTFT (s): first_token − arrival."""
        ok = self.completed
        return self.first_token[ok] - self.arrival[ok]

    def tpot(self) -> np.ndarray:
        """TPOT (s/token): (finish − first_token) / (output_len − 1), output_len > 1 only."""
        ok = self.completed & (self.output_len > 1)
        return (self.finish[ok] - self.first_token[ok]) / (self.output_len[ok] - 1)

    def waiting(self) -> np.ndarray:
        """Queueing delay (s): start − arrival."""
        ok = self.completed
        return self.start[ok] - self.arrival[ok]

    # -- run totals
    def _per_s(self, x: float) -> float:
        return x / self.duration if self.duration > 0 else math.nan

    def request_throughput(self) -> float:
        """Completed requests per second of duration."""
        return self._per_s(self.n_completed)

    def output_throughput(self) -> float:
        """Output tokens of completed requests per second of duration."""
        return self._per_s(float(self.output_len[self.completed].sum()))

    def summary(self, percentiles=(50, 90, 99)) -> dict:
        """Headline numbers, vLLM style, in seconds: ``{mean,median,std,p<q>}_{ttft,tpot,itl,
        e2el,wait}_s`` (NaN where a metric has no samples: no TPOT for 1-token outputs, no ITL for
        a non-LLM run), ``completed``, ``rejected``, ``rejected_by_reason``, ``duration_s``,
        ``request_throughput`` (req/s), ``output_throughput``, ``total_token_throughput``
        (tok/s), ``mean_batch_size``, ``busy_time_s``, ``utilisation`` (busy / duration)."""
        ok = self.completed
        out = {
            "completed": self.n_completed,
            "rejected": self.n_rejected,
            "rejected_by_reason": self.reject_counts(),
            "duration_s": self.duration,
            "request_throughput": self.request_throughput(),
            "output_throughput": self.output_throughput(),
            "total_token_throughput": self._per_s(
                float(self.output_len[ok].sum() + self.prompt_len[ok].sum())
            ),
            "mean_batch_size": float(self.batch_sizes.mean())
            if self.batch_sizes.size
            else math.nan,
            "busy_time_s": self.busy_time,
            "utilisation": self._per_s(self.busy_time),
        }
        series = {
            "ttft": self.ttft(),
            "tpot": self.tpot(),
            "itl": np.zeros(0) if self.itl is None else self.itl,
            "e2el": self.latency(),
            "wait": self.waiting(),
        }
        for name, x in series.items():
            empty = x.size == 0
            out[f"mean_{name}_s"] = math.nan if empty else float(x.mean())
            out[f"median_{name}_s"] = math.nan if empty else float(np.median(x))
            out[f"std_{name}_s"] = math.nan if empty else float(x.std())
            for q in percentiles:
                out[f"p{q:g}_{name}_s"] = math.nan if empty else percentile(x, q)
        return out


# ----------------------------------------------------------------------------- functions


def percentile(x, q) -> float:
    """The ``q``-th percentile (0–100) of ``x`` with linear interpolation (``np.percentile``'s
    default, as vLLM). InvalidValueError on an empty or non-finite ``x`` or q outside [0, 100]."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise InvalidValueError("percentile of an empty array: no completed requests to measure")
    if not np.isfinite(a).all():
        raise InvalidValueError(f"percentile needs finite values; got {describe(a)} with NaN/Inf")
    if isinstance(q, bool) or not isinstance(q, Real) or not 0 <= q <= 100:
        raise InvalidValueError(f"percentile q must be a number in [0, 100]; got {q!r}")
    return float(np.percentile(a, q))


@dataclass(frozen=True)
class SLO:
    """Latency limits in seconds (None = no limit): TTFT, TPOT and end-to-end latency."""

    ttft: float | None = None
    tpot: float | None = None
    e2e: float | None = None
    name: str = ""

    def __post_init__(self):
        for k in ("ttft", "tpot", "e2e"):
            v = getattr(self, k)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, Real) or not (v > 0 and math.isfinite(v))
            ):
                raise InvalidValueError(f"SLO.{k} must be None or a limit > 0 seconds; got {v!r}")
        if self.ttft is None and self.tpot is None and self.e2e is None:
            raise InvalidValueError("an SLO needs at least one limit (ttft, tpot or e2e seconds)")


# MLPerf Inference loadgen (mlcommons/inference, loadgen/mlperf.conf): LLM Server-scenario limits.
SLO_PRESETS = {
    "mlperf-llama2-70b-server": SLO(ttft=2.0, tpot=0.2, name="mlperf-llama2-70b-server"),
    "mlperf-llama2-70b-interactive": SLO(
        ttft=0.45, tpot=0.04, name="mlperf-llama2-70b-interactive"
    ),
    "mlperf-llama3.1-8b-server": SLO(ttft=2.0, tpot=0.1, name="mlperf-llama3.1-8b-server"),
    "mlperf-llama3.1-8b-interactive": SLO(
        ttft=0.5, tpot=0.03, name="mlperf-llama3.1-8b-interactive"
    ),
}


def _meets(result: Result, slo: SLO) -> np.ndarray:
    """(n,) bool: completed and within every limit of ``slo`` (vLLM: ``<=``, TPOT 0 if 1 token)."""
    if not isinstance(slo, SLO):
        raise InvalidValueError(f"expected an SLO (or a SLO_PRESETS entry); got {describe(slo)}")
    ok = result.completed.copy()
    with np.errstate(invalid="ignore"):
        if slo.ttft is not None:
            ok &= result.first_token - result.arrival <= slo.ttft
        if slo.e2e is not None:
            ok &= result.finish - result.arrival <= slo.e2e
        if slo.tpot is not None:
            gaps = np.maximum(result.output_len - 1, 1)
            tpot = np.where(result.output_len > 1, (result.finish - result.first_token) / gaps, 0.0)
            ok &= tpot <= slo.tpot
    return ok


def goodput(result: Result, slo: SLO) -> float:
    """Requests per second that met ALL of the SLO's limits: count / ``result.duration``."""
    return result._per_s(float(_meets(result, slo).sum()))


def slo_attainment(result: Result, slo: SLO) -> float:
    """Share of ALL requests (rejected ones count as misses) that met every limit of ``slo``."""
    return float(_meets(result, slo).mean())


def cost_per_million_tokens(
    price_per_hour: float, tokens_per_second: float, n_devices: int = 1
) -> float:
    """USD per 1M tokens: ``n_devices · price_per_hour · 1e6 / (3600 · tokens_per_second)``.

    price_per_hour: USD per device-hour; tokens_per_second: of the whole ``n_devices`` system.
    """
    from inferlab.hw import cost_per_million

    if isinstance(n_devices, bool) or not isinstance(n_devices, int) or n_devices < 1:
        raise InvalidValueError(f"n_devices must be an int >= 1; got {n_devices!r}")
    return cost_per_million(price_per_hour * n_devices, tokens_per_second)


def littles_law(result: Result) -> tuple[float, float]:
    """``(L, λ·W)`` over the completed requests and the window [first arrival, last finish].

    L: time-average number in system, ∫ N(t) dt / T, integrated over the step function N(t)
    (+1 at each arrival, −1 at each finish); λ = completed / T; W = mean E2E latency. Equal up to
    round-off on a consistent run (see the module docstring); InvalidValueError if none completed.
    """
    ok = result.completed
    if not ok.any():
        raise InvalidValueError("littles_law needs at least one completed request; got none")
    a, f = result.arrival[ok], result.finish[ok]
    t0, t1 = float(a.min()), float(f.max())
    span = t1 - t0
    if span <= 0:
        raise InvalidValueError(f"littles_law needs a window of positive length; got {span} s")
    times = np.concatenate([a, f])
    steps = np.concatenate([np.ones(a.size), -np.ones(f.size)])
    order = np.argsort(times, kind="stable")
    count = np.cumsum(steps[order])  # N(t) just after each event
    area = float(np.sum(count[:-1] * np.diff(times[order])))
    lam = a.size / span
    return area / span, lam * float((f - a).mean())
