"""inferlab.widgets: the pure functions against closed forms, and the UI callbacks headless.

ipywidgets work in plain pytest (comm >= 0.1.3 gives a no-op comm), so setting a slider's value
runs the same callback a browser would trigger.
"""

import math
import subprocess
import sys

import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

from inferlab import widgets
from inferlab.errors import InvalidValueError, ShapeError

LOGITS = np.array([2.0, 1.0, 0.5, -1.0])
CACHES = {"L1": 48 * 1024, "L2": 2 * 1024 * 1024}


# ---- softmax temperature ------------------------------------------------------------------


def test_softmax_temperature_matches_closed_form():
    for t in (0.3, 1.0, 2.5):
        e = np.exp(LOGITS / t)
        np.testing.assert_allclose(widgets.softmax_temperature(LOGITS, t), e / e.sum(), rtol=1e-12)


def test_high_temperature_is_uniform_and_low_is_one_hot():
    np.testing.assert_allclose(widgets.softmax_temperature(LOGITS, 1e6), 0.25, atol=1e-6)
    p = widgets.softmax_temperature(LOGITS, 1e-3)
    np.testing.assert_allclose(p, [1, 0, 0, 0], atol=1e-12)


def test_entropy_closed_forms():
    assert widgets.entropy([1.0, 0.0, 0.0]) == 0.0
    assert widgets.entropy(np.full(8, 1 / 8)) == pytest.approx(math.log(8))
    p = np.array([0.5, 0.25, 0.25])
    assert widgets.entropy(p) == pytest.approx(-(p * np.log(p)).sum())
    # entropy rises monotonically with temperature, from 0 towards ln(n)
    hs = [widgets.entropy(widgets.softmax_temperature(LOGITS, t)) for t in (0.01, 0.5, 1, 4, 1e4)]
    assert hs[0] == pytest.approx(0, abs=1e-6)
    assert hs[-1] == pytest.approx(math.log(4), rel=1e-6)
    assert all(a < b for a, b in zip(hs, hs[1:], strict=False))


def test_softmax_temperature_text_and_figure():
    text = widgets.softmax_temperature_text(LOGITS, 1.0)
    h = widgets.entropy(widgets.softmax_temperature(LOGITS, 1.0))
    assert f"entropy = {h:.2f} nats" in text
    assert f"uniform: {math.log(4):.2f}" in text
    fig = widgets.softmax_temperature_figure(LOGITS, 0.5, labels=["a", "b", "c", "d"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # one bar per token
    heights = [b.get_height() for b in ax.patches]
    np.testing.assert_allclose(heights, widgets.softmax_temperature(LOGITS, 0.5))
    assert "entropy" in ax.get_title()
    assert isinstance(widgets.softmax_temperature_figure(), Figure)  # defaults work


@pytest.mark.parametrize("t", [0, -1.0, float("inf"), float("nan"), "hot", None])
def test_bad_temperature_raises(t):
    with pytest.raises(InvalidValueError, match="temperature"):
        widgets.softmax_temperature(LOGITS, t)


def test_bad_logits_raise():
    with pytest.raises(ShapeError, match="1-D"):
        widgets.softmax_temperature(np.zeros((2, 2)), 1.0)
    with pytest.raises(ShapeError):
        widgets.softmax_temperature([], 1.0)
    with pytest.raises(InvalidValueError, match="finite"):
        widgets.softmax_temperature([1.0, np.inf], 1.0)
    with pytest.raises(InvalidValueError, match="probabilities"):
        widgets.entropy([0.5, 0.6])


def test_softmax_ui_callback_updates_label():
    ui = widgets.softmax_temperature_ui()
    assert isinstance(ui, ipywidgets.VBox)
    slider, label, out = ui.children
    assert isinstance(slider, ipywidgets.FloatLogSlider)
    assert isinstance(out, ipywidgets.Output)
    assert "inferlab-softmax-text" in label._dom_classes
    before = label.value
    assert before == widgets.softmax_temperature_text(widgets.DEFAULT_LOGITS, 1.0)
    slider.value = 5.0
    assert label.value != before
    assert label.value == widgets.softmax_temperature_text(widgets.DEFAULT_LOGITS, 5.0)


def test_softmax_ui_bad_args():
    with pytest.raises(InvalidValueError):
        widgets.softmax_temperature_ui(temperature=0)
    with pytest.raises(ShapeError):
        widgets.softmax_temperature_ui(logits=[[1.0]])


# ---- matmul tiling ------------------------------------------------------------------------


def test_tiling_counts_and_bytes_closed_form():
    s = widgets.tiling_stats(256, 128, 512, 64, caches=CACHES)
    assert (s.tiles_m, s.tiles_n, s.tiles_k) == (4, 2, 8)
    assert s.tile_products == 4 * 2 * 8
    assert s.flops == 2 * 256 * 128 * 512
    assert s.working_set_bytes == 3 * 64 * 64 * 4  # A, B and C tiles in fp32: 48 KiB
    assert s.fits_in == "L1"
    # A is read once per column of C tiles, B once per row, C written once
    assert s.bytes_moved == 4 * (2 * 256 * 512 + 4 * 512 * 128 + 256 * 128)
    assert s.tile_intensity == pytest.approx(64 / 4)


def test_tiling_handles_ragged_sizes():
    s = widgets.tiling_stats(100, 70, 30, 32, caches=CACHES)
    assert (s.tiles_m, s.tiles_n, s.tiles_k) == (4, 3, 1)
    assert s.working_set_bytes == 4 * (32 * 30 + 30 * 32 + 32 * 32)  # k is smaller than a tile


def test_tiling_intensity_grows_with_tile_until_cache_spills():
    n = 1024
    untiled = widgets.tiling_stats(n, n, n, 1, caches=CACHES)
    # tile 1: every multiply-add loads two fp32 numbers -> about 1/4 FLOP per byte
    assert untiled.intensity == pytest.approx(2 * n**3 / (4 * (2 * n**3 + n * n)))
    intens = [widgets.tiling_stats(n, n, n, t, caches=CACHES).intensity for t in (1, 8, 64, 512)]
    assert all(a < b for a, b in zip(intens, intens[1:], strict=False))
    assert widgets.tiling_stats(n, n, n, 128, caches=CACHES).fits_in == "L2"
    assert widgets.tiling_stats(n, n, n, 512, caches=CACHES).fits_in == "memory"


def test_tiling_text_and_figure():
    text = widgets.matmul_tiling_text(512, 512, 512, 64, caches=CACHES)
    s = widgets.tiling_stats(512, 512, 512, 64, caches=CACHES)
    assert f"{s.tile_products} tile products" in text
    assert f"intensity = {s.intensity:.1f} FLOP/byte" in text
    assert "fits in L1" in text
    fig = widgets.matmul_tiling_figure(256, 256, 256, 32, caches=CACHES)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # grid, working set, intensity (twin axis)
    assert "tile 32" in fig.axes[1].get_title()
    assert isinstance(widgets.matmul_tiling_figure(), Figure)


@pytest.mark.parametrize(
    "args", [(0, 8, 8, 4), (8, -1, 8, 4), (8, 8, 8, 0), (8, 8, 8, 2.5), (8, 8, 8, True)]
)
def test_tiling_bad_args_raise(args):
    with pytest.raises(InvalidValueError, match="positive integer"):
        widgets.tiling_stats(*args)
    with pytest.raises(InvalidValueError):
        widgets.matmul_tiling_figure(*args)


def test_cache_sizes_are_sane():
    c = widgets.cache_sizes()
    assert set(c) >= {"L1", "L2"}
    assert 4 * 1024 <= c["L1"] < c["L2"]


def test_tiling_ui_callback_updates_label():
    ui = widgets.matmul_tiling_ui()
    size, tile, label, out = ui.children
    assert isinstance(tile, ipywidgets.IntSlider)
    assert isinstance(out, ipywidgets.Output)
    before = label.value
    assert "tile 64" in before
    tile.value = 128
    assert "tile 128" in label.value
    assert label.value != before
    size.value = 512
    caches = widgets.cache_sizes()
    assert label.value == widgets.matmul_tiling_text(512, 512, 512, 128, caches=caches)
    tile.value = 10_000  # out of range: the slider clamps to its max
    assert tile.value == tile.max


def test_tiling_ui_bad_args():
    with pytest.raises(InvalidValueError):
        widgets.matmul_tiling_ui(tile=0)


def test_import_displays_nothing():
    # A fresh interpreter: importing the module must not print, display or build widgets.
    out = subprocess.run(
        [sys.executable, "-c", "import inferlab.widgets"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == ""


# ---- repeats and confidence intervals -----------------------------------------------------

# 400 distinct samples, 1..400 µs, in a shuffled order: "the first n" is a random subset.
TIMES = tuple((np.random.default_rng(0).permutation(400) + 1) * 1e-6)


def test_repeats_ci_closed_forms():
    # Median at 95 %: with 6 samples P(all on one side) = 2 * 0.5**6 = 1/32 < 0.05, so the CI is
    # [min, max]; with 5 it is 1/16 > 0.05: unbounded.
    med, tail = widgets.repeats_ci(TIMES, 6)
    first6 = np.array(TIMES[:6])
    assert (med.low, med.high) == (first6.min(), first6.max())
    assert med.estimate == pytest.approx(np.median(first6))
    assert not tail.bounded
    assert not widgets.repeats_ci(TIMES, 5)[0].bounded
    # p99: bounded once 0.99**n <= 0.025, i.e. n >= ln(0.025) / ln(0.99) = 367.04
    n99 = math.ceil(math.log(0.025) / math.log(0.99))
    assert n99 == 368
    assert not widgets.repeats_ci(TIMES, n99 - 1)[1].bounded
    assert widgets.repeats_ci(TIMES, n99)[1].bounded
    # a Timing and a plain sequence of seconds give the same answer
    from inferlab.bench import Timing

    assert widgets.repeats_ci(Timing(TIMES), 50) == widgets.repeats_ci(TIMES, 50)


def test_repeats_ci_text():
    first6 = np.array(TIMES[:6])
    width = (first6.max() - first6.min()) * 1e6
    assert widgets.repeats_ci_text(TIMES, 6) == (
        f"n = 6: median CI width {width:.2f} µs; p99 CI bounded: False"
    )
    assert "median CI width unbounded" in widgets.repeats_ci_text(TIMES, 5)
    assert widgets.repeats_ci_text(TIMES, 400).endswith("p99 CI bounded: True")


def test_repeats_ci_figure_counts_the_first_n_samples_on_fixed_log_bins():
    fig = widgets.repeats_ci_figure(TIMES, 50, bins=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    bars = ax.patches[:20]
    assert sum(b.get_height() for b in bars) == 50
    # the bins span all 400 samples (1..400 µs), whatever n is: the axes stay put
    assert bars[0].get_x() == pytest.approx(1.0)
    assert bars[-1].get_x() + bars[-1].get_width() == pytest.approx(400.0)
    steps = [math.log(b.get_width() / b.get_x() + 1) for b in bars]
    assert steps == pytest.approx([math.log(400) / 20] * 20)
    assert "first 50 of 400" in ax.get_title()


def test_repeats_ui_callback_updates_label():
    ui = widgets.repeats_ci_ui(TIMES)
    slider, label, out = ui.children
    assert isinstance(slider, ipywidgets.IntSlider) and isinstance(out, ipywidgets.Output)
    assert (slider.value, slider.max) == (50, 400)
    assert label.value == widgets.repeats_ci_text(TIMES, 50)
    slider.value = 368
    assert label.value == widgets.repeats_ci_text(TIMES, 368)
    assert label.value.endswith("p99 CI bounded: True")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": 401},
        {"n": 2.5},
        {"n": True},
        {"times": []},
        {"times": [0.0, 1e-3]},
        {"times": ["fast", "slow"]},
        {"times": 3},
        {"level": 1.5},
    ],
)
def test_repeats_bad_args_raise(kwargs):
    args = {"times": TIMES, "n": 50, **kwargs}
    for fn in (widgets.repeats_ci, widgets.repeats_ci_text, widgets.repeats_ci_figure):
        with pytest.raises(InvalidValueError):
            fn(**args)
    with pytest.raises(InvalidValueError):
        widgets.repeats_ci_ui(**args)


def test_repeats_figure_bad_bins():
    with pytest.raises(InvalidValueError, match="bins"):
        widgets.repeats_ci_figure(TIMES, 50, bins=0)
