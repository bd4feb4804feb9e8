"""Widget: one model on one device (chapter 04). Pure functions, then the UI builder.

    >>> s = scenario("H100", "llama2-7b decode", batch=1, dtype="bf16")
    >>> s["latency_s"], s["items_per_s"], s["bound"]           # one decode step, tokens/s
    >>> plot_scenario("H100", "resnet50", batch=64)            # the point on the roofline

Every number comes from :mod:`inferlab.hw`: the course's engine graphs ("mlp", "cnn", "gpt",
"minilm") through ``hw.model_estimate`` (node by node), ResNet-50 through
``hw.workload_estimate`` (one fused kernel) and Llama-2-7B decoding through ``hw.decode_step``.
Weights, activations and the KV cache are all stored in ``dtype``, so the device needs a dense
``dtype`` peak; a device without one is an :class:`InvalidValueError` naming the formats it has
(the UI shows that message instead of a figure).
"""

from __future__ import annotations

import functools
from numbers import Integral

from matplotlib.figure import Figure

from inferlab import hw
from inferlab.errors import InvalidValueError

COURSE_MODELS = ("mlp", "cnn", "gpt", "minilm")
MODELS = (*COURSE_MODELS, "resnet50", "llama2-7b decode")
# What one item is, and the efficiency preset each kind of model gets by default (hw.estimate):
# the tiny course graphs run one kernel per node, ResNet-50 as MLPerf's CNNs, Llama as serving.
ITEM = {"mlp": "sample", "cnn": "image", "gpt": "sequence", "minilm": "sequence",
        "resnet50": "image", "llama2-7b decode": "token"}  # fmt: skip
DEFAULT_PRESET = {**dict.fromkeys(COURSE_MODELS, "kernel"), "resnet50": "cnn",
                  "llama2-7b decode": "llm_serving"}  # fmt: skip
MAX_SEQ = {"gpt": 128, "minilm": 512}  # the models' position tables (context lengths)
BATCHES = tuple(2**i for i in range(11))  # 1 .. 1024
SEQS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@functools.cache
def course_graph(name: str):
    """The optimised engine graph of a course model (chapter 02), exported once and cached."""
    from inferlab import onnx as ilonnx
    from inferlab.graph import optimize
    from inferlab.reference.export import export_onnx

    if name not in COURSE_MODELS:
        raise InvalidValueError(f"course models are {COURSE_MODELS}; got {name!r}")
    return optimize(ilonnx.load(export_onnx(name)))


def _device(device) -> hw.Device:
    return device if isinstance(device, hw.Device) else hw.device(device)


def _check(model, batch, seq) -> None:
    if model not in MODELS:
        raise InvalidValueError(f"model must be one of {MODELS}; got {model!r}")
    for name, v in (("batch", batch), ("seq", seq)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise InvalidValueError(f"{name} must be a positive integer; got {v!r}")
    if seq > MAX_SEQ.get(model, seq):
        raise InvalidValueError(f"{model} reads at most {MAX_SEQ[model]} tokens; got seq={seq}")


def input_shapes(graph, model: str, batch: int, seq: int) -> dict:
    """Graph input name -> shape: (B, 64) pixels for the MLP, (B, 1, 8, 8) for the CNN,
    (B, seq) token ids (and masks) for GPT and MiniLM."""
    shape = {"mlp": (batch, 64), "cnn": (batch, 1, 8, 8)}.get(model, (batch, seq))
    return {i.name: shape for i in graph.inputs}


def scenario(device, model: str = "llama2-7b decode", batch: int = 1, dtype: str = "bf16",
             efficiency=None, seq: int = 128, graphs=None) -> dict:  # fmt: skip
    """Predicted latency, throughput, energy and cost of ``batch`` items of ``model`` on ``device``.

    device: a catalog name or a :class:`hw.Device`; efficiency: an ``hw.Efficiency``, a preset
    name, or None for :data:`DEFAULT_PRESET`; seq: tokens per sequence (GPT / MiniLM input length,
    Llama's context already in the KV cache); graphs: {name: engine graph} to reuse.
    Returns latency_s (one batch), items_per_s, joules_per_item and usd_per_million (None where the
    device has no TDP / price), bound ("compute", "memory" or "overhead": the fixed costs are at
    least half the time), intensity (FLOP/B), the time parts, flops, bytes, fits_memory (None if
    the capacity is unknown).
    """
    dev = _device(device)
    _check(model, batch, seq)
    if not dev.has(hw.compute_dtype(dtype, dtype)):
        raise InvalidValueError(
            f"{dev.name} has no dense {dtype} peak to run {model} in {dtype}; it has "
            f"{', '.join(dev.peak)}: pick one of those"
        )
    eff = DEFAULT_PRESET[model] if efficiency is None else efficiency
    nbytes = hw.dtype_bytes(dtype)
    if model in COURSE_MODELS:
        graph = (graphs or {}).get(model) or course_graph(model)
        est = hw.model_estimate(graph, input_shapes(graph, model, batch, seq), dev, dtype,
                                efficiency=eff).total  # fmt: skip
        resident = sum(a.size for a in graph.initializers.values()) * nbytes
    elif model == "resnet50":
        est = hw.workload_estimate(hw.CNNS["resnet50"], batch, dev, dtype, efficiency=eff)
        resident = hw.CNNS["resnet50"].params * nbytes
    else:
        llama = hw.LLAMA2_7B
        est = hw.decode_step(llama, batch, seq, dev, weight_dtype=dtype, act_dtype=dtype,
                             kv_dtype=dtype, efficiency=eff)  # fmt: skip
        resident = llama.weight_bytes(dtype) + batch * seq * llama.kv_bytes_per_token(dtype)
    latency = est.seconds
    rate = batch / latency
    # utilisation against the peak of the format this run uses (compute_dtype: weight-only
    # formats run at the activations' peak)
    joules = hw.energy_j(est, dev, hw.compute_dtype(dtype)) / batch if dev.tdp else None
    usd = hw.cost_per_million(dev.price_per_hour, rate) if dev.price_per_hour else None
    bound = "overhead" if est.overhead_s >= 0.5 * latency else est.bound
    return {
        "device": dev.name, "model": model, "batch": batch, "dtype": dtype, "seq": seq,
        "item": ITEM[model], "latency_s": latency, "items_per_s": rate,
        "joules_per_item": joules, "usd_per_million": usd, "bound": bound,
        "intensity": est.intensity, "flops": est.flops, "bytes": est.bytes,
        "compute_s": est.compute_s, "memory_s": est.memory_s, "overhead_s": est.overhead_s,
        "achieved_flops": est.flops / latency, "peak": dev.peak_for(dtype),
        "fits_memory": None if dev.mem_capacity is None else resident <= dev.mem_capacity,
    }  # fmt: skip


def _num(x: float) -> str:
    """4 significant digits; thousands separated where that reads better than an exponent."""
    return f"{x:,.0f}" if 1e4 <= x < 1e12 else f"{x:.4g}"


def _time(seconds: float) -> tuple[float, str]:
    """A unit that keeps the number readable: (scale, "ms") or (scale, "µs")."""
    return (1e3, "ms") if seconds >= 1e-3 else (1e6, "µs")


def _fmt(s: dict) -> list[str]:
    scale, unit = _time(s["latency_s"])
    out = [f"latency {s['latency_s'] * scale:.4g} {unit} per batch of {s['batch']}",
           f"{_num(s['items_per_s'])} {s['item']}s/s", f"{s['bound']}-bound",
           f"{s['intensity']:.3g} FLOP/B"]  # fmt: skip
    if s["joules_per_item"] is not None:
        out.append(f"{s['joules_per_item']:.3g} J per {s['item']}")
    if s["usd_per_million"] is not None:
        out.append(f"${s['usd_per_million']:.3g} per 1M {s['item']}s")
    if s["fits_memory"] is False:
        out.append("does NOT fit in device memory")
    return out


def scenario_text(device, model="llama2-7b decode", batch=1, dtype="bf16", **kw) -> str:
    """The line the widget shows; for a device without the format, the reason instead."""
    try:
        return " · ".join(_fmt(scenario(device, model, batch, dtype, **kw)))
    except InvalidValueError as e:
        return f"cannot predict: {e}"


def plot_scenario(device, model="llama2-7b decode", batch=1, dtype="bf16", **kw) -> Figure:
    """Left: the device's ``dtype`` roofline with the run as a star (intensity, achieved FLOP/s).
    Right: the latency split into compute, memory and fixed overhead (roofline terms, ms)."""
    s = scenario(device, model, batch, dtype, **kw)
    dev = _device(device)
    fig = Figure(figsize=(11, 4))
    roof, parts = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    low, high = min(0.1, s["intensity"] / 3), max(1e4, s["intensity"] * 3)
    label = f"{model} x{batch}"
    hw.plot_roofline(dev, dtype, points=[(label, s["intensity"], s["achieved_flops"])], ax=roof,
                     intensity_range=(low, high))  # fmt: skip
    names = ["compute", "memory", "overhead", "latency"]
    values = [s["compute_s"], s["memory_s"], s["overhead_s"], s["latency_s"]]
    scale, unit = _time(s["latency_s"])
    parts.barh(names, [v * scale for v in values], color=["C0", "C1", "C2", "k"])
    parts.invert_yaxis()
    parts.set(xlabel=f"{unit} per batch", title=f"{s['bound']}-bound: " + _fmt(s)[1])
    fig.suptitle(f"{model}, batch {batch}, {dtype} on {dev.name}", fontsize=11)
    fig.tight_layout()
    return fig


def hardware_explorer(device="H100 SXM", model="llama2-7b decode", batch=1, dtype="bf16",
                      seq=128, graphs=None, efficiencies=None):  # fmt: skip
    """Dropdowns for device, model, format and efficiency, sliders for batch and sequence length,
    a label with the numbers and the figure; returns the VBox.

    efficiencies: extra {name: hw.Efficiency} offered beside the presets (e.g. one calibrated on
    this machine). Layout: ``ui.children == (grid, label, output)`` with ``grid.children ==
    (device, model, dtype, efficiency, batch, seq)``; CSS classes ``inferlab-hardware-text`` and
    ``inferlab-hardware-ui``.
    """
    import ipywidgets as w
    from IPython.display import display

    names = list(hw.load_catalog())
    effs = {"default": None, **{k: k for k in hw.DEFAULT_EFFICIENCY}, **(efficiencies or {})}
    dev = _device(device)
    if dev.name not in names or batch not in BATCHES or seq not in SEQS:
        raise InvalidValueError(f"the explorer offers catalog devices, batch in {BATCHES} and "
                                f"seq in {SEQS}; got {device!r}, {batch!r}, {seq!r}")  # fmt: skip
    _check(model, batch, seq)
    hw.dtype_bytes(dtype)
    style = {"description_width": "initial"}
    controls = [
        w.Dropdown(options=names, value=dev.name, description="device"),
        w.Dropdown(options=MODELS, value=model, description="model"),
        w.Dropdown(options=hw.DTYPES, value=dtype, description="format"),
        w.Dropdown(options=list(effs), value="default", description="efficiency"),
        w.SelectionSlider(
            options=BATCHES, value=batch, description="batch", style=style, continuous_update=False
        ),
        w.SelectionSlider(
            options=SEQS,
            value=seq,
            description="tokens (seq / context)",
            style=style,
            continuous_update=False,
        ),
    ]
    label = w.HTML()
    label.add_class("inferlab-hardware-text")

    def update(device, model, dtype, efficiency, batch, seq):
        kw = {"efficiency": effs[efficiency], "seq": seq, "graphs": graphs}
        label.value = scenario_text(device, model, batch, dtype, **kw)
        if not label.value.startswith("cannot predict"):
            display(plot_scenario(device, model, batch, dtype, **kw))

    keys = ("device", "model", "dtype", "efficiency", "batch", "seq")
    out = w.interactive_output(update, dict(zip(keys, controls, strict=True)))
    grid = w.GridBox(controls, layout=w.Layout(grid_template_columns="repeat(3, auto)"))
    ui = w.VBox([grid, label, out])
    ui.add_class("inferlab-hardware-ui")
    return ui
