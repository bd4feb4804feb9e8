"""Workloads: when requests arrive and how long they are. Pure functions returning NumPy arrays.

A :class:`Workload` is ``n`` requests: ``arrival`` times (s, non-decreasing, >= 0), and
``prompt_len`` / ``output_len`` in tokens (>= 1; both 1 for a classifier or embedding request).
Every simulator in :mod:`inferlab.serve` takes one and returns a :class:`~inferlab.serve.metrics.
Result` with one entry per request, in workload order.

Arrivals (open loop: the client sends at these times whatever the server does):

- Poisson at rate ``λ`` req/s: gaps ``~ Exp(mean 1/λ)``, so ``t_i = gap_1 + ... + gap_i``.
- Gamma (vLLM ``benchmark_serving --burstiness b``): gaps ``~ Gamma(shape=b, scale=1/(λ·b))``;
  mean gap ``1/λ`` whatever ``b``, coefficient of variation ``1/sqrt(b)``: ``b = 1`` is Poisson,
  ``b < 1`` burstier, ``b > 1`` more regular (``b → ∞`` a fixed gap).
- On/off bursts: Poisson at ``rate`` during ``on`` seconds, silence for ``off`` seconds, repeat;
  long-run mean rate ``rate · on / (on + off)``.

Closed loop (fixed concurrency ``C``, LLMPerf ``--num-concurrent-requests``, vLLM
``--max-concurrency``) is not a list of times but a policy of the simulator: a new request is sent
when one finishes; see ``simulate(..., concurrency=C)`` in :mod:`inferlab.serve.batching`.

Lengths (:func:`lengths`): ``fixed``, ``uniform`` (inclusive ints), ``lognormal`` (by its mean or
median and the sigma of its log, or by median and p90) and ``trace``: rows drawn at random from
``datasets/chat_lengths.csv``, a table shaped like the ShareGPT chat traces used by vLLM's and
others' benchmarks (see ``datasets/README.md`` for how it was made).

Example::

    >>> w = make_workload(rate=10.0, n=1000)                       # Poisson, 1-token requests
    >>> w = make_workload(5.0, 500, prompt="trace", output="trace") # chat-shaped LLM requests
    >>> w = make_workload(5.0, 500, arrivals="gamma", burstiness=0.5,
    ...                   prompt=512, output={"kind": "lognormal", "median": 128, "sigma": 0.8})
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError, describe

__all__ = [
    "ARRIVALS",
    "LENGTH_KINDS",
    "Workload",
    "burst_arrivals",
    "chat_lengths",
    "gamma_arrivals",
    "lengths",
    "make_workload",
    "poisson_arrivals",
]

ARRIVALS = ("poisson", "gamma", "burst")
LENGTH_KINDS = ("fixed", "uniform", "lognormal", "trace")
Z90 = 1.2815515655446004  # standard normal 90th percentile: p90 = median * exp(Z90 * sigma)


# ----------------------------------------------------------------------------- the type


@dataclass(frozen=True)
class Workload:
    """``n`` requests. ``arrival``: (n,) float64 s, non-decreasing, >= 0. ``prompt_len``,
    ``output_len``: (n,) int64 tokens >= 1 (both 1 for a non-LLM request). The arrays are copied
    and made read-only, so a workload can be shared between simulations safely."""

    arrival: np.ndarray
    prompt_len: np.ndarray
    output_len: np.ndarray

    def __post_init__(self):
        arrival = np.array(self.arrival, dtype=np.float64).reshape(-1)
        n = arrival.size
        if n < 1:
            raise ShapeError(f"a Workload needs at least one request; got {describe(arrival)}")
        if not np.isfinite(arrival).all() or arrival[0] < 0 or (np.diff(arrival) < 0).any():
            raise InvalidValueError(
                "Workload.arrival must be finite, >= 0 and non-decreasing (seconds); "
                f"got min {np.nanmin(arrival)!r}, {int((np.diff(arrival) < 0).sum())} decrease(s)"
            )
        arrays = {"arrival": arrival}
        for name in ("prompt_len", "output_len"):
            x = np.asarray(getattr(self, name))
            if x.ndim == 0:
                x = np.full(n, x)
            if x.shape != (n,):
                raise ShapeError(f"Workload.{name} must have shape ({n},); got {describe(x)}")
            if x.dtype.kind not in "iuf" or (x != np.round(x)).any() or (x < 1).any():
                raise InvalidValueError(
                    f"Workload.{name} must hold whole token counts >= 1; got {describe(x)} "
                    f"with min {x.min()!r}"
                )
            arrays[name] = x.astype(np.int64)
        for name, x in arrays.items():
            x.flags.writeable = False
            object.__setattr__(self, name, x)

    def __len__(self) -> int:
        return int(self.arrival.size)

    @property
    def duration(self) -> float:
        """The last arrival time (s): the span the client sends over."""
        return float(self.arrival[-1])

    @property
    def rate(self) -> float:
        """Measured arrival rate (req/s): ``n / last arrival`` (inf if all arrive at 0)."""
        return len(self) / self.duration if self.duration > 0 else math.inf

    def __repr__(self) -> str:
        return (
            f"Workload(n={len(self)}, duration={self.duration:.4g} s, "
            f"mean prompt={self.prompt_len.mean():.1f}, mean output={self.output_len.mean():.1f})"
        )


# ----------------------------------------------------------------------------- validation


def _positive(name: str, x, op: str) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not (math.isfinite(x) and x > 0):
        raise InvalidValueError(f"{op} needs {name} > 0 (finite); got {x!r}")
    return float(x)


def _count(n, op: str) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise InvalidValueError(f"{op} needs a request count n >= 1 (an int); got {n!r}")
    return int(n)


# ----------------------------------------------------------------------------- arrivals


def poisson_arrivals(rate: float, n: int, seed=0) -> np.ndarray:
    """(n,) arrival times (s) of a Poisson process at ``rate`` req/s: cumulative Exp(1/rate)
    gaps (the first request arrives after one gap, not at 0). ``seed``: int or Generator."""
    rate = _positive("rate (req/s)", rate, "poisson_arrivals")
    n = _count(n, "poisson_arrivals")
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))


def gamma_arrivals(rate: float, n: int, burstiness: float = 1.0, seed=0) -> np.ndarray:
    """(n,) arrival times (s) with Gamma gaps, as vLLM's benchmark: ``gamma(shape=b,
    scale=1/(rate·b))``. Mean gap ``1/rate``; CV of the gaps ``1/sqrt(b)``; ``b = 1`` is Poisson."""
    rate = _positive("rate (req/s)", rate, "gamma_arrivals")
    b = _positive("burstiness", burstiness, "gamma_arrivals")
    n = _count(n, "gamma_arrivals")
    return np.cumsum(np.random.default_rng(seed).gamma(b, 1.0 / (rate * b), n))


def burst_arrivals(rate: float, n: int, on: float = 1.0, off: float = 1.0, seed=0) -> np.ndarray:
    """(n,) arrival times (s) of an on/off source: Poisson at ``rate`` req/s while on (``on``
    seconds), nothing while off (``off`` seconds), repeating from t = 0 (on first).

    Long-run mean rate ``rate · on / (on + off)``. Built by drawing Poisson times on the "on"
    clock ``u`` and mapping ``t = u + floor(u / on) · off``.
    """
    rate = _positive("rate (req/s)", rate, "burst_arrivals")
    on = _positive("on (s)", on, "burst_arrivals")
    if isinstance(off, bool) or not isinstance(off, Real) or not (math.isfinite(off) and off >= 0):
        raise InvalidValueError(f"burst_arrivals needs off >= 0 seconds; got {off!r}")
    u = poisson_arrivals(rate, n, seed)
    return u + np.floor(u / on) * float(off)


# ----------------------------------------------------------------------------- lengths


@lru_cache(maxsize=1)
def chat_lengths() -> tuple[np.ndarray, np.ndarray]:
    """The (prompt_len, output_len) columns of ``datasets/chat_lengths.csv``: (rows,) int64 each,
    one row per conversation turn (a synthetic table shaped like ShareGPT; see its README)."""
    from inferlab.data import dataset_path

    with open(dataset_path("chat_lengths.csv"), newline="") as f:
        rows = [(int(r["prompt_len"]), int(r["output_len"])) for r in csv.DictReader(f)]
    table = np.array(rows, dtype=np.int64)
    prompt, output = table[:, 0].copy(), table[:, 1].copy()
    prompt.flags.writeable = output.flags.writeable = False
    return prompt, output


def _lognormal_mu_sigma(params: dict) -> tuple[float, float]:
    op = "lengths('lognormal')"
    keys = set(params) - {"max_len"}
    if keys == {"median", "p90"}:
        med = _positive("median", params["median"], op)
        p90 = _positive("p90", params["p90"], op)
        if p90 <= med:
            raise InvalidValueError(f"{op} needs p90 > median; got median {med}, p90 {p90}")
        return math.log(med), math.log(p90 / med) / Z90
    if keys in ({"mean", "sigma"}, {"median", "sigma"}):
        s = _positive("sigma", params["sigma"], op)
        if "mean" in keys:  # E[X] = exp(mu + s^2/2)
            return math.log(_positive("mean", params["mean"], op)) - s * s / 2, s
        return math.log(_positive("median", params["median"], op)), s
    raise InvalidValueError(
        f"{op} takes (mean, sigma), (median, sigma) or (median, p90) [+ max_len]; "
        f"got {sorted(params)}"
    )


def lengths(kind: str, n: int, seed=0, **params) -> np.ndarray:
    """(n,) int64 token counts >= 1.

    - ``"fixed"``: ``value`` (int >= 1);
    - ``"uniform"``: ``low``, ``high`` inclusive ints, ``1 <= low <= high``;
    - ``"lognormal"``: ``mean`` + ``sigma`` (mean of the lengths, sigma of their log), or
      ``median`` + ``sigma``, or ``median`` + ``p90``; rounded, at least 1, optional ``max_len``;
    - ``"trace"``: ``column`` ``"prompt"`` or ``"output"`` of ``datasets/chat_lengths.csv``,
      rows drawn with replacement (the same seed draws the same rows for both columns, so
      ``lengths("trace", n, s, column="prompt")`` and ``..., column="output")`` are paired).
    """
    n = _count(n, "lengths")
    rng = np.random.default_rng(seed)
    if kind == "fixed":
        value = params.get("value")
        if set(params) != {"value"} or isinstance(value, bool) or not isinstance(value, Integral):
            raise InvalidValueError(f"lengths('fixed') needs value=<int >= 1>; got {params}")
        if value < 1:
            raise InvalidValueError(f"lengths('fixed') needs value >= 1 tokens; got {value}")
        return np.full(n, int(value), dtype=np.int64)
    if kind == "uniform":
        low, high = params.get("low"), params.get("high")
        ok = set(params) == {"low", "high"} and all(
            isinstance(v, Integral) and not isinstance(v, bool) for v in (low, high)
        )
        if not ok or not 1 <= low <= high:
            raise InvalidValueError(f"lengths('uniform') needs ints 1 <= low <= high; got {params}")
        return rng.integers(low, high + 1, n, dtype=np.int64)
    if kind == "lognormal":
        mu, sigma = _lognormal_mu_sigma(params)
        x = np.maximum(np.rint(rng.lognormal(mu, sigma, n)), 1).astype(np.int64)
        if "max_len" in params:
            x = np.minimum(x, int(_positive("max_len", params["max_len"], "lengths")))
        return x
    if kind == "trace":
        column = params.get("column", "output")
        if set(params) - {"column"} or column not in ("prompt", "output"):
            raise InvalidValueError(
                f"lengths('trace') takes column='prompt' or 'output'; got {params}"
            )
        prompt, output = chat_lengths()
        idx = rng.integers(0, prompt.size, n)
        return (prompt if column == "prompt" else output)[idx].copy()
    raise InvalidValueError(f"lengths: kind must be one of {LENGTH_KINDS}; got {kind!r}")


def _length_spec(spec, n: int, seed, what: str) -> np.ndarray:
    """int -> fixed; "trace"/kind -> lengths(kind); dict(kind=..., **params); array of n."""
    if isinstance(spec, Integral) and not isinstance(spec, bool):
        return lengths("fixed", n, seed, value=int(spec))
    if isinstance(spec, str):
        extra = {"column": what} if spec == "trace" else {}
        return lengths(spec, n, seed, **extra)
    if isinstance(spec, dict):
        params = dict(spec)
        kind = params.pop("kind", None)
        if kind == "trace":
            params.setdefault("column", what)
        return lengths(kind, n, seed, **params)
    arr = np.asarray(spec)
    if arr.shape != (n,):
        raise InvalidValueError(
            f"make_workload: {what} must be an int, a kind name, a dict with 'kind', or an "
            f"array of shape ({n},); got {describe(spec)}"
        )
    return arr


def make_workload(
    rate: float,
    n: int,
    arrivals="poisson",
    prompt=1,
    output=1,
    seed=0,
    burstiness: float = 1.0,
    on: float = 1.0,
    off: float = 1.0,
) -> Workload:
    """A :class:`Workload` of ``n`` requests at ``rate`` req/s.

    arrivals: ``"poisson"``, ``"gamma"`` (with ``burstiness``), ``"burst"`` (Poisson at ``rate``
    while on; ``on``/``off`` seconds), or an (n,) array of times. prompt, output: an int (fixed),
    a kind name (``"trace"`` draws paired rows of the chat table for both), a dict
    ``{"kind": ..., **params}`` for :func:`lengths`, or an (n,) array. Arrivals, prompt and output
    use independent streams derived from ``seed`` (except trace/trace, which share rows).
    """
    n = _count(n, "make_workload")
    s_arr, s_prompt, s_out = np.random.SeedSequence(seed).spawn(3)
    if isinstance(arrivals, str):
        if arrivals == "poisson":
            t = poisson_arrivals(rate, n, s_arr)
        elif arrivals == "gamma":
            t = gamma_arrivals(rate, n, burstiness, s_arr)
        elif arrivals == "burst":
            t = burst_arrivals(rate, n, on, off, s_arr)
        else:
            raise InvalidValueError(
                f"make_workload: arrivals must be one of {ARRIVALS} or an array; got {arrivals!r}"
            )
    else:
        t = np.asarray(arrivals, dtype=np.float64)
    paired = _is_trace(prompt) and _is_trace(output)
    p = _length_spec(prompt, n, s_prompt, "prompt")
    o = _length_spec(output, n, s_prompt if paired else s_out, "output")
    return Workload(arrival=t, prompt_len=p, output_len=o)


def _is_trace(spec) -> bool:
    return (
        spec == "trace"
        if isinstance(spec, str)
        else (isinstance(spec, dict) and spec.get("kind") == "trace")
    )
