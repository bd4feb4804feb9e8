"""Widget: softmax temperature (chapter 01). Pure functions, then the UI builder."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from inferlab import ops
from inferlab.errors import InvalidValueError, ShapeError, describe

# Next-token logits of a toy language model after "The cat sat on the" (made up for teaching).
DEFAULT_TOKENS = ("mat", "floor", "sofa", "roof", "dog", "moon", "and", "quantum")
DEFAULT_LOGITS = (4.0, 3.1, 2.6, 1.5, 0.7, -0.4, -1.2, -2.5)


# --------------------------------------------------------------------------------------------
# softmax temperature
# --------------------------------------------------------------------------------------------


def _check_logits(logits) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ShapeError(f"logits must be a non-empty 1-D array; got {describe(x)}")
    if not np.all(np.isfinite(x)):
        raise InvalidValueError(f"logits must be finite; got {x.tolist()}")
    return x


def _check_temperature(temperature) -> float:
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"temperature must be a positive number; got {temperature!r}"
        ) from None
    if not (math.isfinite(t) and t > 0):
        raise InvalidValueError(f"temperature must be a positive finite number; got {t}")
    return t


def softmax_temperature(logits, temperature: float = 1.0) -> np.ndarray:
    """Probabilities ``softmax(logits / T)`` (float64) of 1-D ``logits`` at temperature ``T > 0``.

    T -> 0 approaches one-hot on the largest logit (greedy decoding); T -> inf approaches uniform.
    """
    x = _check_logits(logits)
    t = _check_temperature(temperature)
    return ops.softmax(x / t)


def entropy(p) -> float:
    """Shannon entropy ``-sum(p * ln p)`` in nats (0 ln 0 counts as 0); at most ``ln(len(p))``."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ShapeError(f"entropy needs a non-empty 1-D probability vector; got {describe(p)}")
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-6):
        raise InvalidValueError(
            f"entropy needs probabilities (>= 0, summing to 1); got sum {p.sum():.6g}"
        )
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def softmax_temperature_text(logits=DEFAULT_LOGITS, temperature: float = 1.0) -> str:
    """The one-line summary the widget shows, e.g. ``T = 1.00 · entropy = 1.23 nats · ...``."""
    p = softmax_temperature(logits, temperature)
    h = entropy(p)
    return (
        f"T = {_check_temperature(temperature):.2f} · entropy = {h:.2f} nats "
        f"(uniform: {math.log(p.size):.2f}) · top-1 p = {p.max():.3f}"
    )


def softmax_temperature_figure(
    logits=DEFAULT_LOGITS, temperature: float = 1.0, labels=DEFAULT_TOKENS
) -> Figure:
    """Bars: probabilities at temperature T; dots: the same at T = 1. Entropy in the title."""
    x = _check_logits(logits)
    p = softmax_temperature(x, temperature)
    p1 = softmax_temperature(x, 1.0)
    if labels is None or len(labels) != x.size:
        labels = [str(i) for i in range(x.size)]
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    pos = np.arange(x.size)
    ax.bar(pos, p, color="tab:blue", label=f"T = {temperature:.2f}")
    ax.plot(pos, p1, "o", color="black", ms=4, label="T = 1")
    ax.axhline(1 / x.size, color="grey", ls=":", lw=1, label="uniform")
    ax.set_xticks(pos, labels)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability")
    ax.set_title(
        f"softmax(logits / T), T = {temperature:.2f}: entropy {entropy(p):.2f} nats "
        f"(uniform {math.log(x.size):.2f})"
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def softmax_temperature_ui(logits=DEFAULT_LOGITS, labels=DEFAULT_TOKENS, temperature=1.0):
    """A log-scale temperature slider, an entropy label and the figure; returns the VBox.

    Layout: ``ui.children == (slider, label, output)``; the label has CSS class
    ``inferlab-softmax-text`` and the container ``inferlab-softmax-ui``.
    """
    import ipywidgets as w
    from IPython.display import display

    _check_logits(logits)
    _check_temperature(temperature)
    slider = w.FloatLogSlider(
        value=temperature,
        base=10,
        min=-1.5,
        max=1.3,
        step=0.05,
        description="temperature",
        continuous_update=False,
        readout_format=".2f",
        style={"description_width": "initial"},
    )
    label = w.HTML()
    label.add_class("inferlab-softmax-text")

    def update(temperature):
        # The figure first: when the label changes, the matching figure is already on its way.
        display(softmax_temperature_figure(logits, temperature, labels))
        label.value = softmax_temperature_text(logits, temperature)

    out = w.interactive_output(update, {"temperature": slider})
    ui = w.VBox([slider, label, out])
    ui.add_class("inferlab-softmax-ui")
    return ui
