"""Widget: bits x granularity x calibration -> quantization error and accuracy (chapter 05).

Pure functions first, then the UI builder:

    >>> s = quant_scenario(bits=4, granularity="group32", method="percentile", model="cnn")
    >>> s["accuracy"], s["fp32_accuracy"]        # digits test split, 359 images
    >>> s["weight_sqnr_db"], s["act_sqnr_db"]    # error of the weights / of the activations
    >>> plot_quant_scenario(4, "tensor", "minmax")   # the two error histograms -> Figure

What is simulated (fake quantization in float32, :mod:`inferlab.quant`):

- **weights**: symmetric signed ``bits``-bit integers, levels ``-(2^(b-1)-1) .. 2^(b-1)-1``,
  ``scale = max|w| / (2^(b-1)-1)`` per tensor, per output channel, or per group of 32 / 128
  weights along the reduction axis K (one scale per output channel per group, as in ONNX
  Runtime's MatMulNBits and GPTQ's g128). At 8 bits this is ORT's symmetric int8 exactly
  (``qparams_of(w, "int8", symmetric=True)``). Groups as wide as K are per-channel.
- **activations**: the input of every Conv / MatMul, unsigned ``bits``-bit, asymmetric, per
  tensor (as ORT's quantize_static), range from the fp32 model's activations on calibration
  data by ``method`` (:func:`inferlab.quant.calibrate.calibrate`), scale and zero point by ORT's
  formula (at 8 and 4 bits exactly ``qparams(rmin, rmax, "uint8" / "uint4")``). Values outside
  the range are clipped to it.

Models: ``"cnn"``, the digits CNN (:mod:`inferlab.models.cnn`; 256 training images calibrate,
the 359 test images score, accuracy in %); ``"linear"``, one transformer-like linear layer
``y = x @ W`` (384 -> 384): Gaussian activations with four outlier channels 20x larger (as in
MiniLM's FFN inputs, chapter 05 section 12) and Gaussian weights whose output columns differ in
size; its score is the output's SQNR (no accuracy).

Calibration methods (:data:`CALIBRATION`): ORT's defaults, except Percentile keeps 99.99 % (on
~65 k values 99.999 % cuts less than one value, i.e. equals MinMax) and Entropy histograms 2048
bins (ORT's default of 128 bins leaves one candidate threshold: MinMax again). MSE (ours) scores
candidates on the int4 / int8 grids, so it needs ``bits`` 4 or 8.
"""

from __future__ import annotations

import functools
import math
from numbers import Integral

import numpy as np
from matplotlib.figure import Figure

from inferlab import data, ops
from inferlab.errors import InvalidValueError
from inferlab.quant.affine import dequantize, quantize, sqnr_db
from inferlab.quant.calibrate import calibrate
from inferlab.quant.params import QParams

__all__ = [
    "BITS",
    "CALIBRATION",
    "GRANULARITIES",
    "METHODS",
    "QUANT_MODELS",
    "activation_qparams",
    "plot_quant_scenario",
    "quant_explorer",
    "quant_scenario",
    "quant_scenario_text",
    "weight_qparams",
]

BITS = (2, 3, 4, 5, 6, 7, 8)
GRANULARITIES = ("tensor", "channel", "group32", "group128")
METHODS = ("minmax", "percentile", "entropy", "mse")
QUANT_MODELS = ("cnn", "linear")
CALIBRATION = {
    "minmax": {},
    "percentile": {"percentile": 99.99},
    "entropy": {"num_bins": 2048},
    "mse": {},  # + dtype "uint4" / "uint8" by bits
}
N_CALIBRATION = 256  # images (cnn) / rows (linear) the calibrators see, in batches of 64
SCALE_BITS = 32  # each scale is stored as a float32


# ---- quantization parameters for any bit width ------------------------------------------------
def _check(bits, granularity, method, model) -> None:
    if isinstance(bits, bool) or not isinstance(bits, Integral) or bits not in BITS:
        raise InvalidValueError(f"bits must be one of {BITS}; got {bits!r}")
    if granularity not in GRANULARITIES:
        raise InvalidValueError(f"granularity must be one of {GRANULARITIES}; got {granularity!r}")
    if method not in METHODS:
        raise InvalidValueError(f"method must be one of {METHODS}; got {method!r}")
    if model not in QUANT_MODELS:
        raise InvalidValueError(f"model must be one of {QUANT_MODELS}; got {model!r}")
    if method == "mse" and bits not in (4, 8):
        raise InvalidValueError(
            f"method 'mse' scores ranges on the uint4 / uint8 grids, so it needs bits 4 or 8; "
            f"got bits={bits} (pick minmax, percentile or entropy)"
        )


def weight_qparams(w2d: np.ndarray, bits: int, granularity: str) -> QParams:
    """Symmetric ``bits``-bit parameters of a 2-D weight ``(out_channels, K)``.

    scale = absmax / (2^(bits-1) - 1) over the whole tensor, each row ("channel"), or each
    group of 32 / 128 consecutive weights of a row ("group32" / "group128"; the last group of a
    row may be shorter). Zero point 0; the integers are held in int8 with ``qmin, qmax = -qmax,
    qmax``, so ``quantize(w, qp, narrow=True)`` clips to the b-bit grid. An all-zero block gets
    scale 1 (ORT's fallback), never a division by zero.
    """
    w2d = np.asarray(w2d, np.float32)
    if w2d.ndim != 2:
        raise InvalidValueError(f"weight_qparams needs a 2-D (out, K) weight; got {w2d.shape}")
    qmax = 2 ** (bits - 1) - 1
    out, k = w2d.shape
    a = np.abs(w2d)
    if granularity == "tensor":
        amax, axis, block = a.max(), None, None
    elif granularity == "channel":
        amax, axis, block = a.max(axis=1), 0, None
    else:
        block = int(granularity.removeprefix("group"))
        groups = -(-k // block)
        padded = np.pad(a, ((0, 0), (0, groups * block - k)))  # |0| never raises a maximum
        amax, axis = padded.reshape(out, groups, block).max(axis=2), 1
    # float64 division, stored as float32: ORT's compute_scale_zp (2 amax / (2 qmax) is the same)
    scale = (np.asarray(amax, np.float64) / qmax).astype(np.float32)
    scale = np.where(scale < np.finfo(np.float32).tiny, np.float32(1), scale)
    return QParams(scale, 0, "int8", axis, block, -qmax, qmax)


def activation_qparams(rmin, rmax, bits: int) -> QParams:
    """Asymmetric unsigned ``bits``-bit parameters for the range [rmin, rmax] (per tensor).

    ORT's ``compute_scale_zp`` on the grid [0, 2^bits - 1]: the range widened to include 0,
    scale = (rmax - rmin) / (2^bits - 1) in float64 stored as float32, zero point
    round_half_even(-rmin / scale); equal to ``qparams(rmin, rmax, "uint8")`` at 8 bits and
    ``"uint4"`` at 4. Held in uint8 with ``qmax = 2^bits - 1`` (quantize with ``narrow=True``).
    """
    qmax = 2**bits - 1
    lo = min(float(np.float32(rmin)), 0.0)
    hi = max(float(np.float32(rmax)), 0.0)
    scale64 = (hi - lo) / qmax
    if scale64 < np.finfo(np.float32).tiny:  # a constant-zero tensor: scale 1, zp 0
        return QParams(np.float32(1), 0, "uint8", qmin=0, qmax=qmax)
    zp = int(np.clip(np.round(-lo / scale64), 0, qmax))
    return QParams(np.float32(scale64), zp, "uint8", qmin=0, qmax=qmax)


def _fake(x: np.ndarray, qp: QParams) -> np.ndarray:
    """Quantize to qp's narrow grid and back (float32)."""
    return dequantize(quantize(x, qp, narrow=True), qp)


# ---- the two models ---------------------------------------------------------------------------
_CNN_LAYERS = ("conv1", "conv2", "fc1", "fc2")


def _cnn_forward(weights: dict, x: np.ndarray, act=None, taps=None) -> np.ndarray:
    """The digits CNN (inferlab.models.cnn) with a hook on the input of each Conv / Linear:
    ``act(name, a) -> a'`` replaces it (fake quantization); ``taps[name]`` records it."""

    def inp(name, a):
        if taps is not None:
            taps.setdefault(name, []).append(a)
        return a if act is None else act(name, a)

    w = weights
    h = ops.conv2d(inp("conv1", x), w["conv1.weight"], w["conv1.bias"], padding=1)
    h = ops.max_pool2d(ops.relu(h), 2)
    h = ops.conv2d(inp("conv2", h), w["conv2.weight"], w["conv2.bias"], padding=1)
    h = ops.max_pool2d(ops.relu(h), 2)
    h = h.reshape(len(h), -1)  # (C, H, W) order, like torch.flatten
    h = ops.relu(ops.linear(inp("fc1", h), w["fc1.weight"], w["fc1.bias"]))
    return ops.linear(inp("fc2", h), w["fc2.weight"], w["fc2.bias"])


def _linear_forward(weights: dict, x: np.ndarray, act=None, taps=None) -> np.ndarray:
    if taps is not None:
        taps.setdefault("linear", []).append(x)
    a = x if act is None else act("linear", x)
    return a @ weights["linear.weight"].T  # the weight is stored (out, K), like torch


@functools.cache
def _model(name: str) -> dict:
    """Weights, calibration batches, test inputs (and labels), fp32 outputs and the fp32
    activations each calibrator sees, for ``name``; built once per process."""
    if name == "cnn":
        from inferlab.models import cnn

        split = data.digits_split()
        weights = dict(cnn.load().weights)
        forward = _cnn_forward
        x_cal = split.x_train[:N_CALIBRATION, None]
        x_test, y_test = split.x_test[:, None], split.y_test
    else:
        rng = np.random.default_rng(0)
        k, n = 384, 384
        x = rng.standard_normal((N_CALIBRATION + 512, k)).astype(np.float32)
        x[:, [17, 99, 201, 300]] *= 20  # outlier channels: a few features 20x the rest
        col = np.exp(0.5 * rng.standard_normal(n))  # output columns of different sizes
        w = rng.standard_normal((n, k)) / np.sqrt(k) * col[:, None]
        weights = {"linear.weight": w.astype(np.float32)}
        forward = _linear_forward
        x_cal, x_test, y_test = x[:N_CALIBRATION], x[N_CALIBRATION:], None
    taps: dict[str, list] = {}
    for start in range(0, len(x_cal), 64):  # the calibration batches
        forward(weights, x_cal[start : start + 64], taps=taps)
    reference = forward(weights, x_test)
    return {
        "weights": weights,
        "forward": forward,
        "calibration": taps,  # layer -> list of fp32 input batches
        "x_test": x_test,
        "y_test": y_test,
        "reference": reference,  # fp32 outputs on x_test
    }


def _ranges(model: str, method: str, bits: int) -> dict:
    """layer -> (rmin, rmax) of its input: ``calibrate`` on the fp32 calibration activations.
    Only mse's ranges depend on bits (the grid it scores on); the others are cached once."""
    return _ranges_cached(model, method, bits if method == "mse" else 0)


@functools.cache
def _ranges_cached(model: str, method: str, bits: int) -> dict:
    options = dict(CALIBRATION[method])
    if method == "mse":
        options["dtype"] = "uint8" if bits == 8 else "uint4"
    taps = _model(model)["calibration"]
    return {layer: calibrate(batches, method, **options) for layer, batches in taps.items()}


def _weights_2d(model: str) -> dict:
    """Layer -> its weight as (out_channels, K): conv kernels flattened over (C_in, kh, kw)."""
    w = _model(model)["weights"]
    return {k.removesuffix(".weight"): v.reshape(len(v), -1) for k, v in w.items() if "weight" in k}


def quant_scenario(
    bits: int = 8, granularity: str = "channel", method: str = "minmax", model: str = "cnn"
) -> dict:
    """Quantize ``model``'s weights (``bits``, ``granularity``) and activations (``bits``,
    calibrated by ``method``), run the test inputs, and measure the damage.

    Returns a dict:
      accuracy, fp32_accuracy: % of test images right (None for "linear");
      output_sqnr_db: SQNR of the model's outputs (logits / y) against fp32;
      weight_sqnr_db, act_sqnr_db: SQNR of all weights / all quantized activations (test run);
      weight_errors: (w - w_hat) / max|W| for every weight (per layer's absmax), float32;
      act_errors: (a - a_hat) / max|a| for every activation value, float32;
      clipped: fraction of activation values outside their calibrated range;
      ranges: layer -> (rmin, rmax); weight_qparams: layer -> QParams;
      bits_per_weight: bits + 32-bit scales spread over the weights; n_weights.
    """
    _check(bits, granularity, method, model)
    m = _model(model)
    ranges = _ranges(model, method, bits)
    act_qp = {layer: activation_qparams(lo, hi, bits) for layer, (lo, hi) in ranges.items()}

    weights, w_qp, w_err, w_sq, e_sq, n_scales = dict(m["weights"]), {}, [], 0.0, 0.0, 0
    for layer, w2d in _weights_2d(model).items():
        qp = weight_qparams(w2d, bits, granularity)
        w_hat = _fake(w2d, qp)
        key = layer + ".weight"
        weights[key] = w_hat.reshape(m["weights"][key].shape)
        diff = w2d.astype(np.float64) - w_hat
        w_err.append((diff / np.abs(w2d).max()).astype(np.float32).ravel())
        w_sq += float(np.sum(w2d.astype(np.float64) ** 2))
        e_sq += float(np.sum(diff**2))
        n_scales += qp.scale.size
        w_qp[layer] = qp

    acts = {"err": [], "sig": 0.0, "noise": 0.0, "clipped": 0, "n": 0}

    def act(layer, a):
        qp = act_qp[layer]
        a_hat = _fake(a, qp)
        diff = a.astype(np.float64) - a_hat
        acts["err"].append((diff / max(float(np.abs(a).max()), 1e-30)).astype(np.float32).ravel())
        acts["sig"] += float(np.sum(a.astype(np.float64) ** 2))
        acts["noise"] += float(np.sum(diff**2))
        lo, hi = ranges[layer]
        acts["clipped"] += int(np.count_nonzero((a < lo) | (a > hi)))
        acts["n"] += a.size
        return a_hat

    out = m["forward"](weights, m["x_test"], act=act)
    n_weights = sum(w.size for w in _weights_2d(model).values())
    accuracy = fp32_accuracy = None
    if m["y_test"] is not None:
        accuracy = 100.0 * float(np.mean(out.argmax(1) == m["y_test"]))
        fp32_accuracy = 100.0 * float(np.mean(m["reference"].argmax(1) == m["y_test"]))

    def db(signal, noise):
        return math.inf if noise == 0 else 10 * math.log10(signal / noise)

    return {
        "bits": bits,
        "granularity": granularity,
        "method": method,
        "model": model,
        "accuracy": accuracy,
        "fp32_accuracy": fp32_accuracy,
        "output_sqnr_db": sqnr_db(m["reference"], out),
        "weight_sqnr_db": db(w_sq, e_sq),
        "act_sqnr_db": db(acts["sig"], acts["noise"]),
        "weight_errors": np.concatenate(w_err),
        "act_errors": np.concatenate(acts["err"]),
        "clipped": acts["clipped"] / acts["n"],
        "ranges": ranges,
        "weight_qparams": w_qp,
        "bits_per_weight": bits + SCALE_BITS * n_scales / n_weights,
        "n_weights": n_weights,
    }


def _text(s: dict) -> str:
    parts = []
    if s["accuracy"] is not None:
        change = s["accuracy"] - s["fp32_accuracy"]
        parts.append(
            f"accuracy {s['accuracy']:.1f} % (fp32 {s['fp32_accuracy']:.1f} %, "
            f"{change:+.1f} points)"
        )
    parts += [
        f"output SQNR {s['output_sqnr_db']:.1f} dB",
        f"weights {s['bits_per_weight']:.2f} bits each, SQNR {s['weight_sqnr_db']:.1f} dB",
        f"activations SQNR {s['act_sqnr_db']:.1f} dB, {s['clipped']:.3%} clipped",
    ]
    return " · ".join(parts)


def quant_scenario_text(bits=8, granularity="channel", method="minmax", model="cnn") -> str:
    """The line the widget shows; for a combination that cannot run, the reason instead."""
    try:
        return _text(quant_scenario(bits, granularity, method, model))
    except InvalidValueError as e:
        return f"cannot compute: {e}"


def plot_quant_scenario(bits=8, granularity="channel", method="minmax", model="cnn") -> Figure:
    """Histograms (log counts) of the weight errors and the activation errors, each in units
    of its tensor's largest magnitude. Dashed lines: half a step of a per-tensor grid (signed
    for the weights, unsigned over [0, max] for the activations). Errors beyond the axis (clipped
    activations) are piled into the end bins, and the title counts them."""
    s = quant_scenario(bits, granularity, method, model)
    fig = Figure(figsize=(11, 3.8))
    left, right = fig.subplots(1, 2)
    half_w = 0.5 / (2 ** (bits - 1) - 1)  # half a step of a per-tensor symmetric grid
    half_a = 0.5 / (2**bits - 1)  # ... of an unsigned grid over [0, max|a|]
    for ax, errors, title, half, lim in (
        (left, s["weight_errors"], f"weights, per {granularity}", half_w, 1.25 * half_w),
        (right, s["act_errors"], f"activations, {method}", half_a, 5 * half_a),
    ):
        beyond = int(np.count_nonzero(np.abs(errors) > lim))
        ax.hist(np.clip(errors, -lim, lim), bins=81, range=(-lim, lim), log=True,
                color="C0" if ax is left else "C1")  # fmt: skip
        for sign in (-1, 1):
            ax.axvline(sign * half, color="k", ls="--", lw=0.8)
        db = s["weight_sqnr_db"] if ax is left else s["act_sqnr_db"]
        note = f"; {beyond} beyond the axis" if beyond else ""
        ax.set(
            xlabel="error / largest |value| of the tensor",
            ylabel="count",
            title=f"{title}: SQNR {db:.1f} dB{note}",
        )
    head = f"{model}: int{bits} weights, uint{bits} activations"
    if s["accuracy"] is not None:
        head += f" — accuracy {s['accuracy']:.1f} % (fp32 {s['fp32_accuracy']:.1f} %)"
    else:
        head += f" — output SQNR {s['output_sqnr_db']:.1f} dB"
    fig.suptitle(head, fontsize=11)
    fig.tight_layout()
    return fig


def quant_explorer(bits=8, granularity="channel", method="minmax", model="cnn"):
    """A bits slider, granularity / calibration / model dropdowns, a label with the numbers
    and the figure; returns the VBox.

    Layout: ``ui.children == (controls, label, output)`` with ``controls.children == (bits,
    granularity, method, model)``; CSS classes ``inferlab-quant-text`` (the label) and
    ``inferlab-quant-ui`` (the box).
    """
    import ipywidgets as w
    from IPython.display import display

    _check(bits, granularity, method, model)
    style = {"description_width": "initial"}
    controls = [
        w.SelectionSlider(
            options=BITS, value=bits, description="bits", style=style, continuous_update=False
        ),
        w.Dropdown(
            options=GRANULARITIES, value=granularity, description="weight granularity", style=style
        ),  # fmt: skip
        w.Dropdown(options=METHODS, value=method, description="calibration", style=style),
        w.Dropdown(options=QUANT_MODELS, value=model, description="model"),
    ]
    label = w.HTML()
    label.add_class("inferlab-quant-text")

    def update(bits, granularity, method, model):
        label.value = quant_scenario_text(bits, granularity, method, model)
        if not label.value.startswith("cannot compute"):
            display(plot_quant_scenario(bits, granularity, method, model))

    keys = ("bits", "granularity", "method", "model")
    out = w.interactive_output(update, dict(zip(keys, controls, strict=True)))
    box = w.GridBox(controls, layout=w.Layout(grid_template_columns="repeat(2, auto)"))
    ui = w.VBox([box, label, out])
    ui.add_class("inferlab-quant-ui")
    return ui
