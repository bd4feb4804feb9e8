"""Widget: an LLM served on one device, under load (chapter 08). Pure functions, then the UI.

    >>> s = llm_serving_scenario("paged", rate=8.0, device="H100 SXM")
    >>> s["p99_ttft_s"], s["p99_tpot_s"], s["goodput"], s["usd_per_million"]
    >>> plot_llm_serving_scenario("static", rate=8.0)       # KV memory and latency vs the SLO
    >>> max_rate_under_slo("paged", "L4")                  # the highest rate the SLO allows

A scenario is a workload (Poisson arrivals at ``rate`` req/s, prompt and output lengths drawn
from the course's chat-length table, ``datasets/chat_lengths.csv``) run through
:func:`inferlab.serve.llm.simulate` with one scheduling ``policy`` and a roofline step time
(:class:`inferlab.serve.llm.RooflineStep`, the ``"llm_serving"`` efficiency of
:mod:`inferlab.hw`). The KV cache gets what is left of the device memory after the weights:

    kv_capacity_tokens = (chips · memory · memory_fraction - weight bytes) / KV bytes per token

(vLLM's ``gpu_memory_utilization`` is the memory fraction, 0.9 by default). The numbers are
vLLM ``benchmark_serving``'s (TTFT, TPOT excluding the first token, ITL, goodput under an SLO:
:mod:`inferlab.serve.metrics`) plus the cost: the device's price per hour in the catalog over the
output tokens per second, in USD per million output tokens.

"Meets the SLO" for a whole run (:func:`meets_slo`) is MLPerf's Server-scenario rule: the 99th
percentile of TTFT and of TPOT within the limits, and no request rejected.
"""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real

import numpy as np
from matplotlib.figure import Figure

from inferlab import hw
from inferlab.errors import InvalidValueError
from inferlab.serve.llm import POLICIES, RooflineStep, simulate
from inferlab.serve.metrics import SLO, SLO_PRESETS, goodput, percentile, slo_attainment
from inferlab.serve.workload import make_workload

__all__ = [
    "DEVICES",
    "LLM_MODELS",
    "LLM_POLICIES",
    "kv_capacity_tokens",
    "llm_serving_explorer",
    "llm_serving_scenario",
    "llm_serving_text",
    "max_rate_under_slo",
    "meets_slo",
    "plot_llm_serving_scenario",
]

LLM_MODELS = {"Llama-2-7B": hw.LLAMA2_7B, "Llama-3-8B": hw.LLAMA3_8B}
LLM_POLICIES = tuple(POLICIES)  # static, orca-max, orca-pow2, orca-oracle, paged, chunked
# Catalog devices with a price and enough memory for an 8B model in bf16 (TPU v5e: 2 chips).
DEVICES = {"H100 SXM": 1, "A100 80GB SXM": 1, "L4": 1, "Inferentia2": 1, "TPU v5e": 2}
DEFAULT_SLO = "mlperf-llama3.1-8b-server"  # TTFT 2 s, TPOT 100 ms (MLPerf loadgen)


def _model(model) -> hw.Transformer:
    if isinstance(model, hw.Transformer):
        return model
    if model not in LLM_MODELS:
        raise InvalidValueError(f"model must be one of {list(LLM_MODELS)}; got {model!r}")
    return LLM_MODELS[model]


def _device(device) -> hw.Device:
    return device if isinstance(device, hw.Device) else hw.device(device)


def _slo(slo) -> SLO:
    if isinstance(slo, SLO):
        return slo
    if slo not in SLO_PRESETS:
        raise InvalidValueError(f"slo must be an SLO or one of {list(SLO_PRESETS)}; got {slo!r}")
    return SLO_PRESETS[slo]


def kv_capacity_tokens(model="Llama-3-8B", device="H100 SXM", memory_fraction: float = 0.9,
                       chips: int = 1, dtype: str = "bf16") -> int:  # fmt: skip
    """Tokens of KV cache that fit beside the weights: ``(chips · memory · memory_fraction -
    weights) / kv_bytes_per_token``, rounded down; InvalidValueError when the weights alone do
    not fit (naming how much memory they need)."""
    m, dev = _model(model), _device(device)
    if not (isinstance(memory_fraction, Real) and 0 < memory_fraction <= 1):
        raise InvalidValueError(f"memory_fraction must be in (0, 1]; got {memory_fraction!r}")
    if isinstance(chips, bool) or not isinstance(chips, Integral) or chips < 1:
        raise InvalidValueError(f"chips must be an int >= 1; got {chips!r}")
    if not dev.mem_capacity:
        raise InvalidValueError(f"{dev.name} has no memory capacity in the catalog")
    usable = chips * dev.mem_capacity * memory_fraction
    left = usable - m.weight_bytes(dtype)
    if left < 16 * m.kv_bytes_per_token(dtype):
        raise InvalidValueError(
            f"{m.name} in {dtype} needs {m.weight_bytes(dtype) / 1e9:.1f} GB of weights; "
            f"{chips} x {dev.name} offers {usable / 1e9:.1f} GB at memory_fraction "
            f"{memory_fraction}: no room for a KV cache (use more chips)"
        )
    return int(left // m.kv_bytes_per_token(dtype))


def meets_slo(s: dict, slo=DEFAULT_SLO) -> bool:
    """MLPerf Server rule for a scenario's numbers: p99 TTFT and p99 TPOT within the limits of
    ``slo`` and no request rejected."""
    limit = _slo(slo)
    ok = s["rejected"] == 0 and s["completed"] > 0
    if limit.ttft is not None:
        ok = ok and s["p99_ttft_s"] <= limit.ttft
    if limit.tpot is not None:
        ok = ok and s["p99_tpot_s"] <= limit.tpot
    if limit.e2e is not None:
        ok = ok and s["p99_e2e_s"] <= limit.e2e
    return bool(ok)


def llm_serving_scenario(policy: str = "paged", rate: float = 8.0, device="H100 SXM",
                         model="Llama-3-8B", slo=DEFAULT_SLO, n: int = 600,
                         memory_fraction: float = 0.9, max_len: int = 4096,
                         efficiency="llm_serving", chips: int | None = None,
                         seed: int = 0) -> dict:  # fmt: skip
    """Serve ``n`` chat requests at ``rate`` req/s with ``policy``; returns the headline numbers.

    Keys: policy, device, model, rate, chips, kv_capacity_tokens, completed, rejected,
    preemptions, {p50,p99}_{ttft,tpot}_s, p99_itl_s, p99_e2e_s (seconds), request_throughput
    (req/s), output_throughput (tok/s), goodput (req/s meeting every SLO limit), slo_attainment
    (share of requests meeting it), meets_slo (MLPerf's p99 rule), mean_batch_size,
    kv_utilisation (tokens stored / KV reserved, averaged over steps: vLLM's measure of waste),
    kv_occupancy (KV reserved / capacity), price_per_hour (USD for all chips, None if the catalog
    has no price) and usd_per_million (output tokens; None without a price). Cached: the same
    arguments return (a copy of) the same numbers.
    """
    if policy not in POLICIES:
        raise InvalidValueError(f"policy must be one of {list(POLICIES)}; got {policy!r}")
    if isinstance(rate, bool) or not isinstance(rate, Real) or not (0 < rate < math.inf):
        raise InvalidValueError(f"rate must be a number of requests per second > 0; got {rate!r}")
    dev = _device(device)
    chips = DEVICES.get(dev.name, 1) if chips is None else chips
    return dict(_scenario(policy, float(rate), dev.name, _model(model).name, _slo(slo), n,
                          memory_fraction, max_len, efficiency, chips, seed))  # fmt: skip


@functools.lru_cache(maxsize=256)
def _scenario(policy, rate, device, model, slo, n, memory_fraction, max_len, efficiency, chips,
              seed) -> dict:  # fmt: skip
    m = next(x for x in LLM_MODELS.values() if x.name == model)
    dev = hw.device(device)
    cap = kv_capacity_tokens(m, dev, memory_fraction, chips)
    w = make_workload(rate, n, prompt="trace", output="trace", seed=seed)
    step = RooflineStep(m, dev, efficiency=efficiency, chips=chips)
    r = simulate(w, policy, step, cap, max_len=max_len)
    s = r.summary()
    ok = r.completed
    used, alloc = r.extra["kv_used"], r.extra["kv_allocated"]
    price = None if dev.price_per_hour is None else chips * dev.price_per_hour
    out_tps = s["output_throughput"]
    tpot = r.tpot()
    return {
        "policy": policy,
        "device": dev.name,
        "model": model,
        "rate": rate,
        "chips": chips,
        "kv_capacity_tokens": cap,
        "completed": s["completed"],
        "rejected": s["rejected"],
        "preemptions": int(r.extra.get("preemptions", 0)),
        "p50_ttft_s": s["median_ttft_s"],
        "p99_ttft_s": s["p99_ttft_s"],
        "p50_tpot_s": s["median_tpot_s"],
        "p99_tpot_s": s["p99_tpot_s"],
        "p99_itl_s": s["p99_itl_s"],
        "p99_e2e_s": s["p99_e2el_s"],
        "request_throughput": s["request_throughput"],
        "output_throughput": out_tps,
        "goodput": goodput(r, slo),
        "slo_attainment": slo_attainment(r, slo),
        "mean_batch_size": s["mean_batch_size"],
        # tokens held / KV reserved, over all steps (<= 1: tests/test_serve_llm.py checks per step)
        "kv_utilisation": float(used.sum() / alloc.sum()) if alloc.sum() else math.nan,
        "kv_occupancy": float(alloc.mean()) if alloc.size else 0.0,
        "price_per_hour": price,
        "usd_per_million": None
        if price is None or not out_tps
        else hw.cost_per_million(price, out_tps),  # fmt: skip
        "slo": slo.name,
        "meets_slo": None,  # filled below
        # for the figure (not part of the documented numbers)
        "_ttft": r.ttft(),
        "_tpot": tpot if tpot.size else np.zeros(0),
        "_kv_used": used,
        "_kv_allocated": alloc,
        "_running": r.extra["running"],
        "_ok": int(ok.sum()),
    } | {"meets_slo": _meets(s, r, slo)}


def _meets(summary: dict, result, slo: SLO) -> bool:
    s = {"rejected": summary["rejected"], "completed": summary["completed"],
         "p99_ttft_s": summary["p99_ttft_s"], "p99_tpot_s": summary["p99_tpot_s"],
         "p99_e2e_s": summary["p99_e2el_s"]}  # fmt: skip
    return meets_slo(s, slo) if summary["completed"] else False


def max_rate_under_slo(policy: str = "paged", device="H100 SXM", model="Llama-3-8B",
                       slo=DEFAULT_SLO, low: float = 0.05, high: float = 200.0,
                       rel_tol: float = 0.05, **kw) -> tuple[float, dict]:  # fmt: skip
    """The highest rate (req/s) at which ``policy`` on ``device`` still meets ``slo`` by MLPerf's
    p99 rule, by bisection on a log scale between ``low`` and ``high`` (Vidur's capacity search,
    guidellm's "peak rate under an SLO"); returns ``(rate, scenario at that rate)``.

    The answer is within ``rel_tol`` (relative) of the boundary; ``(0.0, scenario at low)`` when
    even ``low`` misses the SLO. ``kw`` go to :func:`llm_serving_scenario` (n, seed, ...).
    """
    at = functools.partial(llm_serving_scenario, policy, device=device, model=model, slo=slo, **kw)
    lo_s = at(rate=low)
    if not lo_s["meets_slo"]:
        return 0.0, lo_s
    hi_s = at(rate=high)
    if hi_s["meets_slo"]:
        return high, hi_s
    lo, hi = low, high
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        s = at(rate=mid)
        if s["meets_slo"]:
            lo, lo_s = mid, s
        else:
            hi = mid
    return lo, lo_s


def _public(s: dict) -> dict:
    return {k: v for k, v in s.items() if not k.startswith("_")}


def llm_serving_text(policy="paged", rate=8.0, device="H100 SXM", **kw) -> str:
    """One line of the scenario's numbers (or ``cannot serve: ...`` for a config that fails)."""
    try:
        s = llm_serving_scenario(policy, rate, device, **kw)
    except InvalidValueError as e:
        return f"cannot serve: {e}"
    cost = "no price" if s["usd_per_million"] is None else f"${s['usd_per_million']:.3f}/1M tok"
    return (
        f"{s['policy']} · {s['rate']:g} req/s on {s['chips']}x {s['device']}: "
        f"TTFT p50 {s['p50_ttft_s'] * 1e3:.0f} / p99 {s['p99_ttft_s'] * 1e3:.0f} ms · "
        f"TPOT p50 {s['p50_tpot_s'] * 1e3:.1f} / p99 {s['p99_tpot_s'] * 1e3:.1f} ms · "
        f"{s['output_throughput']:.0f} tok/s · goodput {s['goodput']:.2f} req/s "
        f"({s['slo_attainment']:.0%} within {s['slo']}) · batch {s['mean_batch_size']:.1f} · "
        f"KV {s['kv_utilisation']:.0%} of reserved used · {cost}"
        + (f" · {s['rejected']} rejected" if s["rejected"] else "")
    )


def plot_llm_serving_scenario(policy="paged", rate=8.0, device="H100 SXM", **kw) -> Figure:
    """Left: KV memory over the run's steps (reserved vs holding tokens, share of capacity) and
    the running batch. Right: the distributions (ECDF) of TTFT and TPOT, each divided by its SLO
    limit, with the limit at 1 and the p99 marked."""
    s = llm_serving_scenario(policy, rate, device, **kw)
    slo = _slo(kw.get("slo", DEFAULT_SLO))
    fig = Figure(figsize=(11, 3.8))
    mem, lat = fig.subplots(1, 2)
    steps = np.arange(len(s["_kv_used"]))
    mem.fill_between(steps, s["_kv_allocated"], color="C1", alpha=0.35, label="KV reserved")
    mem.plot(steps, s["_kv_used"], color="C0", lw=1, label="KV holding tokens")
    mem.set(xlabel="iteration", ylabel="share of KV capacity", ylim=(0, 1.05),
            title=f"KV: {s['kv_utilisation']:.0%} of reserved used")  # fmt: skip
    batch = mem.twinx()
    batch.plot(steps, s["_running"], color="k", lw=0.6, alpha=0.5)
    batch.set_ylabel("running requests (grey)")
    mem.legend(loc="upper left", fontsize=8)
    for name, x, limit, color in (("TTFT", s["_ttft"], slo.ttft, "C2"),
                                  ("TPOT", s["_tpot"], slo.tpot, "C3")):  # fmt: skip
        if limit is None or not len(x):
            continue
        v = np.sort(x) / limit
        lat.step(v, np.arange(1, len(v) + 1) / len(v), where="post", color=color,
                 label=f"{name} (p99 {percentile(x, 99) / limit:.2f}x limit)")  # fmt: skip
    lat.axvline(1.0, color="k", ls="--", lw=1)
    lat.axhline(0.99, color="grey", ls=":", lw=1)
    lat.set_xscale("log")
    verdict = "SLO met (p99 within the limits)" if s["meets_slo"] else "SLO missed"
    lat.set(xlabel=f"latency / {slo.name} limit", ylabel="share of requests", title=verdict)
    lat.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{s['model']}, {s['policy']}, {s['rate']:g} req/s on {s['chips']}x "
                 f"{s['device']}", fontsize=11)  # fmt: skip
    fig.tight_layout()
    return fig


RATES = (0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)


def llm_serving_explorer(policy="paged", rate=8.0, device="H100 SXM", model="Llama-3-8B",
                         slo=DEFAULT_SLO):  # fmt: skip
    """Dropdowns for policy, device, model and SLO, a slider for the request rate, a label with
    the numbers and the figure; returns the VBox. Layout: ``ui.children == (grid, label,
    output)`` with ``grid.children == (policy, device, model, slo, rate)``; CSS classes
    ``inferlab-llm-text`` and ``inferlab-llm-ui``."""
    import ipywidgets as w
    from IPython.display import display

    if rate not in RATES or _device(device).name not in DEVICES:
        raise InvalidValueError(
            f"the explorer offers rates {RATES} and devices {list(DEVICES)}; got {rate!r}, "
            f"{device!r}"
        )
    _model(model), _slo(slo)
    style = {"description_width": "initial"}
    controls = [
        w.Dropdown(options=LLM_POLICIES, value=policy, description="policy"),
        w.Dropdown(options=list(DEVICES), value=_device(device).name, description="device"),
        w.Dropdown(options=list(LLM_MODELS), value=_model(model).name, description="model"),
        w.Dropdown(options=list(SLO_PRESETS), value=_slo(slo).name, description="SLO"),
        w.SelectionSlider(
            options=RATES,
            value=rate,
            description="requests/s",
            style=style,
            continuous_update=False,
        ),  # fmt: skip
    ]
    label = w.HTML()
    label.add_class("inferlab-llm-text")

    def update(policy, device, model, slo, rate):
        label.value = llm_serving_text(policy, rate, device, model=model, slo=slo)
        if not label.value.startswith("cannot serve"):
            display(plot_llm_serving_scenario(policy, rate, device, model=model, slo=slo))

    keys = ("policy", "device", "model", "slo", "rate")
    out = w.interactive_output(update, dict(zip(keys, controls, strict=True)))
    grid = w.GridBox(controls, layout=w.Layout(grid_template_columns="repeat(3, auto)"))
    ui = w.VBox([grid, label, out])
    ui.add_class("inferlab-llm-ui")
    return ui
