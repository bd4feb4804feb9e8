"""Widget: arrival rate x max batch x max delay -> latency percentiles, throughput, goodput
(chapter 07).

Pure functions first, then the UI builder:

    >>> s = batching_scenario(rate=600, max_batch=16, max_delay_ms=2.0)   # Triton-style dynamic
    >>> s["p50_ms"], s["p99_ms"], s["throughput"], s["goodput"]          # ms, ms, req/s, req/s
    >>> s["mean_batch"], s["utilisation"], s["capacity"]                 # requests, share, req/s
    >>> plot_batching_scenario(rate=600, max_batch=16, max_delay_ms=2.0)  # -> Figure

The server is one model replica behind a FIFO queue, simulated request by request by
:func:`inferlab.serve.batching.simulate` (a discrete-event simulator). A batch of ``B`` requests
takes ``service(B) = a + b·B`` seconds (:data:`DEFAULT_SERVICE`: a fixed cost per launch, as a
GPU's kernel launches and weight reads, plus a cost per request). Requests arrive as a Poisson
stream of ``rate`` per second (``n`` of them, seed ``seed``). The policies (``policy``):

- ``"none"``: one request at a time (``max_batch`` ignored);
- ``"static"``: wait until ``max_batch`` requests are queued, then run them (the last, partial
  batch runs when the stream ends);
- ``"dynamic"`` (NVIDIA Triton's dynamic batcher): run ``max_batch`` at once if that many are
  queued, else the largest ``preferred`` size that can be formed, else everything queued once
  the oldest request has waited ``max_delay_ms``.

``capacity`` is the most requests per second the server can finish, ``max_batch / service(
max_batch)`` (``1 / service(1)`` for ``"none"``); an arrival rate above it makes the queue, and
the latency, grow for as long as the stream lasts. Goodput counts the requests whose latency is at
most ``slo_ms``, per second of the run (vLLM's definition, :func:`inferlab.serve.metrics.
goodput`). Results are cached per argument tuple, so moving a slider back is instant.
"""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from inferlab.errors import InferlabError, InvalidValueError

__all__ = [
    "BATCHING_POLICIES",
    "DEFAULT_SERVICE",
    "batching_explorer",
    "batching_scenario",
    "batching_scenario_text",
    "plot_batching_scenario",
]

BATCHING_POLICIES = ("dynamic", "static", "none")
# service(B) = a + b·B seconds: 4 ms per launch + 0.5 ms per request (batch 1: 4.5 ms, 222 req/s;
# batch 16: 12 ms, 1,333 req/s) — the shape of a small CNN on a GPU; chapter 07 measures its own.
DEFAULT_SERVICE = (0.004, 0.0005)
N_REQUESTS = 20_000  # per scenario: ~0.2 s of simulation
MAX_RATE = 5_000.0
MAX_BATCH = 128
MAX_DELAY_MS = 100.0


def _number(name, value, low, high, *, integer=False):
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, Integral if integer else Real):
        raise InvalidValueError(f"{name} must be {kind} in [{low:g}, {high:g}]; got {value!r}")
    if not low <= value <= high:  # also NaN
        raise InvalidValueError(f"{name} must be in [{low:g}, {high:g}]; got {value!r}")
    return int(value) if integer else round(float(value), 9)


def _check(rate, max_batch, max_delay_ms, policy, preferred, n, service, slo_ms, seed):
    if policy not in BATCHING_POLICIES:
        raise InvalidValueError(f"policy must be one of {BATCHING_POLICIES}; got {policy!r}")
    rate = _number("rate (requests/s)", rate, 1e-3, MAX_RATE)
    if rate <= 0:
        raise InvalidValueError(f"rate must be > 0 requests/s; got {rate!r}")
    max_batch = _number("max_batch", max_batch, 1, MAX_BATCH, integer=True)
    max_delay_ms = _number("max_delay_ms", max_delay_ms, 0, MAX_DELAY_MS)
    try:
        preferred = tuple(sorted({int(p) for p in preferred}))
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"preferred must be a sequence of batch sizes; got {preferred!r}"
        ) from None
    if any(not 1 <= p <= max_batch for p in preferred):
        raise InvalidValueError(
            f"preferred batch sizes must be in [1, max_batch={max_batch}]; got {preferred}"
        )
    n = _number("n", n, 10, 1_000_000, integer=True)
    if not (isinstance(service, tuple | list) and len(service) == 2):
        raise InvalidValueError(f"service must be (a, b) seconds: a + b·B; got {service!r}")
    a = _number("service a (s)", service[0], 0, 10)
    b = _number("service b (s per request)", service[1], 0, 10)
    if a + b <= 0:
        raise InvalidValueError(f"service(1) = a + b must be > 0 seconds; got {a} + {b}")
    slo_ms = _number("slo_ms", slo_ms, 1e-3, 1e6)
    seed = _number("seed", seed, 0, 2**32 - 1, integer=True)
    return rate, max_batch, max_delay_ms, policy, preferred, n, (a, b), slo_ms, seed


def service_seconds(batch, service=DEFAULT_SERVICE) -> float:
    """``a + b·batch``: the seconds one batch of ``batch`` requests takes."""
    a, b = service
    return a + b * batch


@functools.lru_cache(maxsize=128)
def _scenario(rate, max_batch, max_delay_ms, policy, preferred, n, service, slo_ms, seed) -> dict:
    from inferlab.serve import batching, metrics, workload

    w = workload.make_workload(rate, n, seed=seed)
    a, b = service
    r = batching.simulate(
        w,
        lambda size: a + b * size,
        policy=policy,
        max_batch=1 if policy == "none" else max_batch,
        preferred=preferred if policy == "dynamic" else (),
        max_delay=max_delay_ms / 1e3 if policy == "dynamic" else 0.0,
    )
    latency = np.sort(r.latency())
    s = r.summary()
    cap_batch = 1 if policy == "none" else max_batch
    capacity = cap_batch / (a + b * cap_batch)
    return {
        "rate": rate,
        "max_batch": max_batch,
        "max_delay_ms": max_delay_ms,
        "policy": policy,
        "preferred": preferred,
        "n": n,
        "service": service,
        "slo_ms": slo_ms,
        "completed": s["completed"],
        "rejected": s["rejected"],
        "mean_ms": 1e3 * s["mean_e2el_s"],
        "p50_ms": 1e3 * metrics.percentile(latency, 50),
        "p90_ms": 1e3 * metrics.percentile(latency, 90),
        "p99_ms": 1e3 * metrics.percentile(latency, 99),
        "mean_wait_ms": 1e3 * s["mean_wait_s"],
        "throughput": s["request_throughput"],
        "goodput": metrics.goodput(r, metrics.SLO(e2e=slo_ms / 1e3)),
        "slo_attainment": metrics.slo_attainment(r, metrics.SLO(e2e=slo_ms / 1e3)),
        "utilisation": s["utilisation"],
        "mean_batch": s["mean_batch_size"],
        "batch_sizes": r.batch_sizes,
        "capacity": capacity,
        "overloaded": rate >= capacity,
        "latency_ms": 1e3 * latency,
        "result": r,
    }


def batching_scenario(
    rate: float = 600.0,
    max_batch: int = 16,
    max_delay_ms: float = 2.0,
    policy: str = "dynamic",
    preferred=(),
    n: int = N_REQUESTS,
    service=DEFAULT_SERVICE,
    slo_ms: float = 20.0,
    seed: int = 0,
) -> dict:
    """Simulate ``n`` Poisson requests at ``rate`` per second through one batching server.

    Returns a dict: the arguments (``preferred`` sorted, ``service`` as a tuple); ``completed``,
    ``rejected`` (counts; every request completes here); ``mean_ms``, ``p50_ms``, ``p90_ms``,
    ``p99_ms``: end-to-end latency (arrival to finish) in ms, percentiles by ``np.percentile``;
    ``mean_wait_ms``: arrival to the start of its batch; ``throughput``, ``goodput`` (latency <=
    ``slo_ms``) in requests/s over the run, ``slo_attainment`` (share of requests); ``utilisation``
    (share of the run the server was busy); ``mean_batch``, ``batch_sizes`` (every batch run);
    ``capacity`` (req/s) and ``overloaded`` (rate >= capacity); ``latency_ms`` (sorted, for a
    CDF); ``result``: the simulator's :class:`~inferlab.serve.metrics.Result`.
    """
    args = _check(rate, max_batch, max_delay_ms, policy, preferred, n, service, slo_ms, seed)
    return dict(_scenario(*args))


def _text(s: dict) -> str:
    verdict = (
        f"OVERLOADED: {s['rate']:g} req/s >= capacity {s['capacity']:.0f} req/s, the queue grows"
        if s["overloaded"]
        else f"offered load {s['rate'] / s['capacity']:.0%} of the full-batch capacity "
        f"{s['capacity']:.0f} req/s"
    )
    return " · ".join(
        [
            f"latency p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms",
            f"throughput {s['throughput']:.0f} req/s, goodput {s['goodput']:.0f} req/s "
            f"(p ≤ {s['slo_ms']:g} ms: {s['slo_attainment']:.1%})",
            f"mean batch {s['mean_batch']:.2f}, server busy {s['utilisation']:.0%}",
            verdict,
        ]
    )


def batching_scenario_text(
    rate=600.0, max_batch=16, max_delay_ms=2.0, policy="dynamic", **kwargs
) -> str:
    """The line the widget shows; for arguments that cannot run, the reason instead."""
    try:
        return _text(batching_scenario(rate, max_batch, max_delay_ms, policy, **kwargs))
    except InferlabError as e:
        return f"cannot compute: {e}"


def plot_batching_scenario(
    rate=600.0, max_batch=16, max_delay_ms=2.0, policy="dynamic", **kwargs
) -> Figure:
    """Three panels: the latency CDF (p50, p99 and the SLO marked), how often each batch size
    ran, and offered load vs throughput vs goodput vs capacity (req/s)."""
    s = batching_scenario(rate, max_batch, max_delay_ms, policy, **kwargs)
    fig = Figure(figsize=(12, 3.8))
    left, mid, right = fig.subplots(1, 3)
    lat = s["latency_ms"]
    left.plot(lat, np.arange(1, lat.size + 1) / lat.size, color="C0")
    for q, style in (("p50", ":"), ("p99", "--")):
        left.axvline(s[f"{q}_ms"], color="C3", ls=style, lw=1, label=f"{q} {s[f'{q}_ms']:.1f} ms")
    left.axvline(s["slo_ms"], color="k", lw=1, label=f"SLO {s['slo_ms']:g} ms")
    left.set(xlabel="latency (ms)", ylabel="share of requests", ylim=(0, 1.01),
             title="latency CDF")  # fmt: skip
    if lat[-1] > 20 * lat[0]:  # a long tail: a log axis shows both ends
        left.set(xscale="log", xlabel="latency (ms, log scale)")
        left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        left.xaxis.set_minor_formatter(NullFormatter())
    left.legend(fontsize=8, loc="lower right")
    sizes, counts = np.unique(s["batch_sizes"], return_counts=True)
    mid.bar(sizes, counts, color="C2", width=0.8)
    mid.set(xlabel="batch size", ylabel="batches run", title=f"mean batch {s['mean_batch']:.2f}")
    labels = ["offered", "throughput", "goodput", "capacity"]
    values = [s["rate"], s["throughput"], s["goodput"], s["capacity"]]
    right.bar(labels, values, color=["C7", "C0", "C2", "C1"])
    right.set(ylabel="requests / s", title=f"server busy {s['utilisation']:.0%}")
    extra = f", max delay {s['max_delay_ms']:g} ms" if policy == "dynamic" else ""
    batch = "" if policy == "none" else f", max batch {s['max_batch']}"
    fig.suptitle(
        f"{policy} batching at {s['rate']:g} req/s{batch}{extra}: p99 {s['p99_ms']:.1f} ms",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def batching_explorer(rate=600.0, max_batch=16, max_delay_ms=2.0, policy="dynamic"):
    """Sliders for the arrival rate, the max batch and the max queue delay, a policy dropdown, a
    label with the numbers and the figure; returns the VBox.

    Layout: ``ui.children == (controls, label, output)`` with ``controls.children == (rate,
    max_batch, max_delay_ms, policy)``; CSS classes ``inferlab-batching-text`` (the label) and
    ``inferlab-batching-ui`` (the box).
    """
    import ipywidgets as w
    from IPython.display import display

    rate, max_batch, max_delay_ms, policy, *_ = _check(
        rate, max_batch, max_delay_ms, policy, (), N_REQUESTS, DEFAULT_SERVICE, 20.0, 0
    )
    style = {"description_width": "initial"}
    controls = [
        w.FloatLogSlider(
            value=rate,
            base=10,
            min=1,
            max=math.log10(MAX_RATE),
            step=0.05,
            description="arrival rate (req/s)",
            style=style,
            continuous_update=False,
            readout_format=".0f",
        ),  # fmt: skip
        w.IntSlider(
            value=max_batch,
            min=1,
            max=64,
            description="max batch",
            style=style,
            continuous_update=False,
        ),  # fmt: skip
        w.FloatSlider(
            value=max_delay_ms,
            min=0.0,
            max=20.0,
            step=0.5,
            description="max queue delay (ms)",
            style=style,
            continuous_update=False,
            readout_format=".1f",
        ),  # fmt: skip
        w.Dropdown(options=BATCHING_POLICIES, value=policy, description="policy", style=style),
    ]
    label = w.HTML()
    label.add_class("inferlab-batching-text")

    def update(rate, max_batch, max_delay_ms, policy):
        label.value = batching_scenario_text(rate, max_batch, max_delay_ms, policy)
        if not label.value.startswith("cannot compute"):
            display(plot_batching_scenario(rate, max_batch, max_delay_ms, policy))

    keys = ("rate", "max_batch", "max_delay_ms", "policy")
    out = w.interactive_output(update, dict(zip(keys, controls, strict=True)))
    box = w.GridBox(controls, layout=w.Layout(grid_template_columns="repeat(2, auto)"))
    ui = w.VBox([box, label, out])
    ui.add_class("inferlab-batching-ui")
    return ui
