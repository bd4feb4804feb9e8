"""Widget: pruning method x sparsity -> accuracy, size and measured latency (chapter 06).

Pure functions first, then the UI builder:

    >>> s = prune_scenario("magnitude", 0.8, model="cnn")     # 80 % of each layer's weights zeroed
    >>> s["accuracy"], s["dense_accuracy"]                   # digits test split, 359 images, %
    >>> s["nonzero_weights"], s["n_weights"]                 # what is left of the weights
    >>> s["bytes_dense"], s["bytes_csr"], s["bytes_structured"]
    >>> s["latency_ms"], s["dense_latency_ms"]               # inferlab engine, batch 64
    >>> plot_prune_scenario("structured", 0.5)               # per-layer density, bytes, latency

What each method zeroes (:mod:`inferlab.prune.masks`, :mod:`inferlab.prune.structured`), on
every weight tensor of the model (conv kernels viewed as ``(out, in * kh * kw)``; biases are
never pruned):

- ``magnitude``: the ``sparsity`` share of each layer's weights with the smallest |w|
  (``l1_unstructured``, torch's ``prune.l1_unstructured``: round(sparsity * n) weights);
- ``global``: one |w| threshold across all layers (``global_unstructured``), so layers with
  small weights lose more than ``sparsity`` and others less;
- ``wanda``: per output row, the ``int(in * sparsity)`` weights with the smallest
  |W_ij| * sqrt(mean X_j^2) (``wanda_mask``), X the layer's input on 128 training images (for a
  conv: every 3x3 patch, ``ops.im2col``);
- ``random``: a random ``sparsity`` share of each layer (seed 0), the baseline;
- ``structured``: the ``sparsity`` share of the output channels (filters, rows) of every layer
  but the last, by L2 norm, *removed* (``prune_channels``): a smaller graph.

The first four keep the model's shapes (a masked, dense-with-zeros model); only ``structured``
makes it smaller, and only it can be faster in the engine. ``finetune=True`` trains the result
for 12 epochs with torch (:func:`inferlab.prune.finetune.finetune`, :data:`FINETUNE`; masked
weights kept at zero), about a second. Latency: the engine as it is normally run
(``graph.optimize`` for batch 64, then ``Executor(memory="plan")``), the pruned model and the
dense one timed interleaved (``bench.compare``, one BLAS thread), median of 15 rounds. Results
are cached per argument tuple, so moving a control back is instant; the latency is measured
once per combination and process.

Bytes: ``bytes_dense`` is the unpruned model in fp32 (also what a masked model stores: its zeros
take 4 bytes each); ``bytes_csr`` the result's weights in CSR (4-byte value + 4-byte column index
per nonzero + 4 bytes per row + 4) plus fp32 biases; ``bytes_structured`` the physically smaller
graph's initializers (``structured`` only, else None).
"""

from __future__ import annotations

import functools
from numbers import Real

import numpy as np
from matplotlib.figure import Figure

from inferlab.errors import InferlabError, InvalidValueError

__all__ = [
    "LATENCY_BATCH",
    "MAX_SPARSITY",
    "PRUNE_METHODS",
    "PRUNE_MODELS",
    "plot_prune_scenario",
    "prune_explorer",
    "prune_scenario",
    "prune_scenario_text",
]

PRUNE_METHODS = ("magnitude", "global", "structured", "wanda", "random")
PRUNE_MODELS = ("cnn", "mlp")
MAX_SPARSITY = 0.95  # the slider's end: 5 % of each layer must remain
LATENCY_BATCH = 64  # images per timed run
LATENCY_REPEAT = 15  # interleaved rounds, pruned vs dense
N_CALIBRATION = 128  # training images whose activations score Wanda's weights
# A short fine-tuning recipe (the widget must answer in ~1 s): torch Adam, batch 64, seed 0,
# 8 epochs at lr 3e-3 then 4 at 3e-4 (a step decay: two calls, the second with a fresh Adam).
FINETUNE = ({"epochs": 8, "lr": 3e-3}, {"epochs": 4, "lr": 3e-4})


def _check(method, sparsity, model, finetune) -> float:
    if method not in PRUNE_METHODS:
        raise InvalidValueError(f"method must be one of {PRUNE_METHODS}; got {method!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, Real):
        raise InvalidValueError(
            f"sparsity must be a number in [0, {MAX_SPARSITY}]; got {sparsity!r}"
        )
    value = round(float(sparsity), 6)  # slider floats: 0.30000000000000004 -> 0.3 (one key)
    if not 0 <= value <= MAX_SPARSITY:  # also NaN
        raise InvalidValueError(
            f"sparsity must be in [0, {MAX_SPARSITY}] (at least 5 % of each layer kept); "
            f"got {sparsity!r}"
        )
    if model not in PRUNE_MODELS:
        raise InvalidValueError(f"model must be one of {PRUNE_MODELS}; got {model!r}")
    if not isinstance(finetune, bool):
        raise InvalidValueError(f"finetune must be True or False; got {finetune!r}")
    return value


# ---- the dense model, its data, its layers ------------------------------------------------------


@functools.cache
def _dense(model: str) -> dict:
    """The exported engine graph, its weight layers, data and dense accuracy; once per process."""
    from inferlab import data
    from inferlab import onnx as inferlab_onnx
    from inferlab.reference.export import export_onnx

    graph = inferlab_onnx.load(export_onnx(model))
    split = data.digits_split()
    shape = (1, 8, 8) if model == "cnn" else (64,)
    x_train = np.ascontiguousarray(split.x_train.reshape(-1, *shape), np.float32)
    x_test = np.ascontiguousarray(split.x_test.reshape(-1, *shape), np.float32)
    # weight initializer -> the Conv / Gemm node reading it (every weight layer, in order)
    layers = {}
    for node in graph.nodes:
        if node.op in ("Conv", "Gemm", "MatMul") and node.inputs[1] in graph.initializers:
            layers[node.inputs[1]] = node
    last = next(n for n in graph.nodes if graph.outputs[0].name in n.outputs)
    return {
        "graph": graph,
        "layers": layers,
        "structured_layers": [n.name for n in layers.values() if n is not last],
        "x_train": x_train,
        "y_train": split.y_train,
        "x_test": x_test,
        "y_test": split.y_test,
        "accuracy": _accuracy(graph, x_test, split.y_test),
    }


def _accuracy(graph, x, y) -> float:
    from inferlab import graph as G

    out = G.Executor(G.optimize(graph, {"x": x.shape})).run({"x": x})[graph.outputs[0].name]
    return 100.0 * float(np.mean(out.argmax(1) == y))


def _as_2d(w: np.ndarray) -> np.ndarray:
    """(out, in) view: conv kernels (out, c, kh, kw) -> (out, c * kh * kw)."""
    return np.asarray(w).reshape(len(w), -1)


@functools.cache
def _wanda_norms(model: str) -> dict:
    """weight name -> mean over the calibration tokens of X_j^2 (the input of that layer; for a
    conv, every patch of ``ops.im2col`` is a token), from the dense graph."""
    from inferlab import graph as G
    from inferlab import ops
    from inferlab.graph.ir import Value
    from inferlab.prune.wanda import wanda_stats

    d = _dense(model)
    graph = d["graph"].copy()
    graph.outputs = [Value(n.inputs[0]) for n in d["layers"].values()]
    x = d["x_train"][:N_CALIBRATION]
    acts = G.Executor(graph).run({"x": x})
    norms = {}
    for name, node in d["layers"].items():
        a = np.asarray(acts[node.inputs[0]], np.float32)
        if node.op == "Conv":
            k = node.attrs["kernel_shape"]
            cols = ops.im2col(a, tuple(k), stride=1, padding=node.attrs["pads"][0])
            a = cols.transpose(0, 2, 1).reshape(-1, cols.shape[1])  # (N * OH * OW, C * kh * kw)
        norms[name] = wanda_stats(a)
    return norms


def _masks(method: str, sparsity: float, model: str) -> dict[str, np.ndarray]:
    """weight name -> bool mask (True = keep) of the weight's shape, by ``method``."""
    from inferlab.prune import masks as M
    from inferlab.prune.wanda import wanda_mask

    d = _dense(model)
    weights = {k: np.asarray(d["graph"].initializers[k]) for k in d["layers"]}
    if method == "magnitude":
        return {k: M.l1_unstructured(w, sparsity) for k, w in weights.items()}
    if method == "global":
        return M.global_unstructured(weights, sparsity)
    if method == "random":
        rng = np.random.default_rng(0)
        return {k: M.random_unstructured(w, sparsity, rng) for k, w in weights.items()}
    norms = _wanda_norms(model)
    return {
        k: wanda_mask(_as_2d(w), norms[k], sparsity).reshape(w.shape) for k, w in weights.items()
    }


# ---- the scenario -------------------------------------------------------------------------------


def _csr_bytes(graph, weight_names) -> int:
    from inferlab.prune.sparse import csr_bytes, to_csr

    total = 0
    for k, a in graph.initializers.items():
        a = np.asarray(a)
        if k in weight_names:
            total += csr_bytes(to_csr(np.ascontiguousarray(_as_2d(a), np.float32)))
        else:
            total += a.nbytes
    return int(total)


def _latency(graph, model: str) -> tuple[float, float, list]:
    """(ms of ``graph``, ms of the dense model, [low, high] of dense / graph) at batch 64, one
    BLAS thread, interleaved."""
    from inferlab import bench
    from inferlab import graph as G
    from inferlab.bench.stats import ratio_ci

    d = _dense(model)
    x = np.ascontiguousarray(np.resize(d["x_test"], (LATENCY_BATCH, *d["x_test"].shape[1:])))
    feeds = {"x": x}
    runners = {}
    for name, g in (("pruned", graph), ("dense", d["graph"])):
        ex = G.Executor(G.optimize(g, {"x": x.shape}), memory="plan")
        runners[name] = lambda ex=ex: ex.run(feeds)
    with bench.threads(1):
        r = bench.compare(runners, baseline="dense", warmup=2, repeat=LATENCY_REPEAT, number="auto")
    p, d = r.timings["pruned"], r.timings["dense"]
    speed = ratio_ci(d.times, p.times)
    return p.median * 1e3, d.median * 1e3, [speed.low, speed.high]


@functools.lru_cache(maxsize=256)
def _scenario(method: str, sparsity: float, model: str, finetune: bool) -> dict:
    from inferlab.prune.masks import apply_mask

    d = _dense(model)
    dense = d["graph"]
    masks = None
    if method == "structured":
        from inferlab.prune.structured import prune_channels

        plan = dict.fromkeys(d["structured_layers"], sparsity)
        graph = prune_channels(dense, plan) if sparsity > 0 else dense.copy()
    else:
        masks = _masks(method, sparsity, model)
        graph = dense.copy()
        graph.initializers = dict(graph.initializers)
        for k, m in masks.items():
            graph.initializers[k] = apply_mask(np.asarray(dense.initializers[k]), m)
    if finetune:
        from inferlab.prune.finetune import finetune as train

        for phase in FINETUNE:
            graph = train(graph, d["x_train"], d["y_train"], masks=masks, seed=0, **phase)
    names = [n.inputs[1] for n in graph.nodes if n.op in ("Conv", "Gemm", "MatMul")]
    weights = {k: np.asarray(graph.initializers[k]) for k in names if k in graph.initializers}
    layers = {}
    for k, w in weights.items():
        dense_size = int(np.asarray(dense.initializers[k]).size)
        layers[k] = {
            "shape": tuple(w.shape),
            "dense_shape": tuple(np.shape(dense.initializers[k])),
            "nonzero": int(np.count_nonzero(w)),
            "dense_size": dense_size,
            "density": int(np.count_nonzero(w)) / dense_size,
        }
    n_weights = sum(v["dense_size"] for v in layers.values())
    nonzero = sum(v["nonzero"] for v in layers.values())
    bytes_dense = int(sum(np.asarray(a).nbytes for a in dense.initializers.values()))
    latency, dense_latency, ci = _latency(graph, model)
    return {
        "method": method,
        "sparsity": sparsity,
        "model": model,
        "finetune": finetune,
        "accuracy": _accuracy(graph, d["x_test"], d["y_test"]),
        "dense_accuracy": d["accuracy"],
        "n_weights": n_weights,
        "nonzero_weights": nonzero,
        "weight_sparsity": 1 - nonzero / n_weights,
        "n_params": int(sum(np.asarray(a).size for a in graph.initializers.values())),
        "layers": layers,
        "bytes_dense": bytes_dense,
        "bytes_csr": _csr_bytes(graph, set(weights)),
        "bytes_structured": (
            int(sum(np.asarray(a).nbytes for a in graph.initializers.values()))
            if method == "structured"
            else None
        ),
        "latency_ms": latency,
        "dense_latency_ms": dense_latency,
        "speedup": dense_latency / latency,
        "speedup_ci": ci,
        "latency_batch": LATENCY_BATCH,
        "graph": graph,
    }


def prune_scenario(
    method: str = "magnitude", sparsity: float = 0.5, model: str = "cnn", finetune: bool = False
) -> dict:
    """Prune ``model`` by ``method`` to ``sparsity`` (optionally fine-tune), score and time it.

    Returns a dict:
      accuracy, dense_accuracy: % of the 359 test images right;
      n_weights, nonzero_weights, weight_sparsity: the weight tensors (no biases) of the dense
      model, how many are nonzero now, 1 - nonzero / n_weights;
      n_params: parameters the resulting graph stores (biases included);
      layers: weight name -> shape, dense_shape, nonzero, dense_size, density;
      bytes_dense, bytes_csr, bytes_structured: see the module doc (bytes_structured is None
      unless method is "structured");
      latency_ms, dense_latency_ms, speedup (dense / pruned), speedup_ci: engine, batch 64;
      graph: the resulting engine graph.
    ``sparsity`` is in [0, 0.95]: the share of weights zeroed (of channels removed for
    "structured").
    """
    sparsity = _check(method, sparsity, model, finetune)
    return dict(_scenario(method, sparsity, model, finetune))


def _text(s: dict) -> str:
    change = s["accuracy"] - s["dense_accuracy"]
    structured = (
        "n/a (no channel removed)"
        if s["bytes_structured"] is None
        else f"{s['bytes_structured'] / 1e3:.1f} kB"
    )
    return " · ".join(
        [
            f"accuracy {s['accuracy']:.1f} % (dense {s['dense_accuracy']:.1f} %, "
            f"{change:+.1f} points)",
            f"{s['nonzero_weights']:,} of {s['n_weights']:,} weights nonzero "
            f"({s['weight_sparsity']:.0%} sparse)",
            f"bytes: dense {s['bytes_dense'] / 1e3:.1f} kB, CSR {s['bytes_csr'] / 1e3:.1f} kB, "
            f"structured {structured}",
            f"latency {s['latency_ms']:.3f} ms vs dense {s['dense_latency_ms']:.3f} ms at batch "
            f"{s['latency_batch']} ({s['speedup']:.2f}x)",
        ]
    )


def prune_scenario_text(method="magnitude", sparsity=0.5, model="cnn", finetune=False) -> str:
    """The line the widget shows; for a combination that cannot run, the reason instead."""
    try:
        return _text(prune_scenario(method, sparsity, model, finetune))
    except InferlabError as e:
        return f"cannot compute: {e}"


def plot_prune_scenario(method="magnitude", sparsity=0.5, model="cnn", finetune=False) -> Figure:
    """Three panels: the share of each layer's weights kept (its shape after pruning on the
    bar), the bytes of the model as dense fp32 / CSR / structured, and the measured latency of
    the dense and the pruned model at batch 64."""
    s = prune_scenario(method, sparsity, model, finetune)
    fig = Figure(figsize=(12, 3.8))
    left, mid, right = fig.subplots(1, 3)
    names = list(s["layers"])
    density = [s["layers"][k]["density"] for k in names]
    bars = left.bar([k.removesuffix(".weight") for k in names], density, color="C0")
    for bar, k in zip(bars, names, strict=True):
        shape = "x".join(str(v) for v in s["layers"][k]["shape"])
        left.annotate(shape, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)  # fmt: skip
    left.set(ylim=(0, 1.12), ylabel="share of the dense weights kept (nonzero)",
             title=f"{method}, sparsity {s['sparsity']:.2f}")  # fmt: skip
    kinds = ["dense fp32", "CSR", "structured"]
    sizes = [s["bytes_dense"], s["bytes_csr"], s["bytes_structured"] or 0]
    mid.bar(kinds, [b / 1e3 for b in sizes], color=["C7", "C1", "C2"])
    if s["bytes_structured"] is None:
        mid.annotate("n/a", (2, 0), ha="center", va="bottom")
    mid.set(ylabel="kB", title="storage")
    right.bar(["dense", "pruned"], [s["dense_latency_ms"], s["latency_ms"]], color=["C7", "C3"])
    right.set(ylabel=f"ms per batch of {s['latency_batch']}",
              title=f"inferlab engine: {s['speedup']:.2f}x")  # fmt: skip
    ft = ", fine-tuned" if finetune else ""
    fig.suptitle(
        f"{model}{ft}: accuracy {s['accuracy']:.1f} % (dense {s['dense_accuracy']:.1f} %), "
        f"{s['weight_sparsity']:.0%} of the weights zero or removed",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def prune_explorer(method="magnitude", sparsity=0.5, model="cnn", finetune=False):
    """A method dropdown, a sparsity slider, a model dropdown, a fine-tune checkbox, a label
    with the numbers and the figure; returns the VBox.

    Layout: ``ui.children == (controls, label, output)`` with ``controls.children == (method,
    sparsity, model, finetune)``; CSS classes ``inferlab-prune-text`` (the label) and
    ``inferlab-prune-ui`` (the box).
    """
    import ipywidgets as w
    from IPython.display import display

    sparsity = _check(method, sparsity, model, finetune)
    style = {"description_width": "initial"}
    controls = [
        w.Dropdown(options=PRUNE_METHODS, value=method, description="method", style=style),
        w.FloatSlider(
            value=sparsity,
            min=0.0,
            max=MAX_SPARSITY,
            step=0.05,
            description="sparsity",
            style=style,
            continuous_update=False,
            readout_format=".2f",
        ),  # fmt: skip
        w.Dropdown(options=PRUNE_MODELS, value=model, description="model", style=style),
        w.Checkbox(value=finetune, description="fine-tune (12 epochs)", indent=False),
    ]
    label = w.HTML()
    label.add_class("inferlab-prune-text")

    def update(method, sparsity, model, finetune):
        label.value = prune_scenario_text(method, sparsity, model, finetune)
        if not label.value.startswith("cannot compute"):
            display(plot_prune_scenario(method, sparsity, model, finetune))

    keys = ("method", "sparsity", "model", "finetune")
    out = w.interactive_output(update, dict(zip(keys, controls, strict=True)))
    box = w.GridBox(controls, layout=w.Layout(grid_template_columns="repeat(2, auto)"))
    ui = w.VBox([box, label, out])
    ui.add_class("inferlab-prune-ui")
    return ui
