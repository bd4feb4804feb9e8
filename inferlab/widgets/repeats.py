"""Widget: how many repeats a median and a p99 need (chapter 03). Pure functions, then the UI.

The first ``n`` samples of one long measurement stand in for "had we measured only ``n`` times":
the median's confidence interval narrows as ``n`` grows, and the p99's stays unbounded until
``n >= stats.min_samples(0.99)`` (about 300 at 95 %).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from inferlab.bench.stats import CI
from inferlab.bench.timing import Timing
from inferlab.errors import InvalidValueError

US = 1e6  # seconds -> microseconds


def _times(times) -> tuple[float, ...]:
    """Seconds per call from a Timing or a sequence of positive numbers."""
    if isinstance(times, Timing):
        t = times.times
    else:
        try:
            t = Timing(tuple(times)).times
        except InvalidValueError:
            raise
        except (TypeError, ValueError):
            raise InvalidValueError(
                f"repeats_ci needs a Timing or a sequence of seconds; got {type(times).__name__}"
            ) from None
    if min(t) <= 0:
        raise InvalidValueError(f"repeats_ci needs times > 0 seconds; got a minimum of {min(t)}")
    return t


def _check_n(n, total: int) -> int:
    if isinstance(n, bool) or not isinstance(n, Integral) or not 1 <= n <= total:
        raise InvalidValueError(f"n must be an integer from 1 to {total} (the samples); got {n!r}")
    return int(n)


def repeats_ci(times, n: int = 50, level: float = 0.95) -> tuple[CI, CI]:
    """(median CI, p99 CI) of the first ``n`` samples of ``times`` (a Timing or seconds)."""
    t = _times(times)
    first = Timing(t[: _check_n(n, len(t))])
    return first.ci(0.5, level), first.ci(0.99, level)


def repeats_ci_text(times, n: int = 50, level: float = 0.95) -> str:
    """The line the widget shows: ``n = 50: median CI width 1.23 µs; p99 CI bounded: False``."""
    med, tail = repeats_ci(times, n, level)
    width = format(med.width * US, ".2f") + " µs" if med.bounded else "unbounded"
    return f"n = {n}: median CI width {width}; p99 CI bounded: {tail.bounded}"


def repeats_ci_figure(times, n: int = 50, level: float = 0.95, bins: int = 50) -> Figure:
    """Histogram of the first ``n`` samples on fixed log-spaced bins (spanning all samples, so
    the axes stay put as ``n`` moves), with the median and p99 and their CIs shaded."""
    t = _times(times)
    med, tail = repeats_ci(t, n, level)
    if isinstance(bins, bool) or not isinstance(bins, Integral) or bins < 1:
        raise InvalidValueError(f"bins must be a positive integer; got {bins!r}")
    lo, hi = min(t) * US, max(t) * US
    if hi <= lo:  # all samples equal: widen so the bins have a width
        lo, hi = lo / 1.1, hi * 1.1
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.hist(np.array(t[:n]) * US, bins=np.geomspace(lo, hi, bins + 1), color="C0", alpha=0.7)
    for ci, name, color in ((med, "median", "C1"), (tail, "p99", "C3")):
        ax.axvline(ci.estimate * US, color=color, label=f"{name} {ci.estimate * US:.1f} µs")
        if ci.bounded:
            ax.axvspan(ci.low * US, ci.high * US, color=color, alpha=0.2)
    ax.set(xscale="log", xlabel="µs per call (log scale)", ylabel="samples")
    ax.xaxis.set_minor_formatter(NullFormatter())  # a narrow log range labels every minor tick
    ax.set_title(f"first {n} of {len(t)} samples ({level:.0%} CI shaded)")
    ax.legend()
    return fig


def repeats_ci_ui(times, n: int = 50, level: float = 0.95):
    """A slider for ``n``, the CI label and the figure; returns the VBox.

    Layout: ``ui.children == (slider, label, output)``; the label has CSS class
    ``inferlab-repeats-text`` and the container ``inferlab-repeats-ui``.
    """
    import ipywidgets as w
    from IPython.display import display

    t = _times(times)
    repeats_ci(t, n, level)  # validates n and level before any widget exists
    slider = w.IntSlider(
        value=n,
        min=min(7, len(t)),
        max=len(t),
        step=1,
        description="repeats n",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    label = w.HTML()
    label.add_class("inferlab-repeats-text")

    def update(n):
        display(repeats_ci_figure(t, n, level))
        label.value = repeats_ci_text(t, n, level)

    out = w.interactive_output(update, {"n": slider})
    ui = w.VBox([slider, label, out])
    ui.add_class("inferlab-repeats-ui")
    return ui
