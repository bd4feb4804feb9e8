"""Calibrators against onnxruntime's own (calibrate.py) and torch's moving-average observer.

ORT references are driven directly: ``HistogramCollector`` for the per-batch (streaming) path,
``MinMaxCalibrater`` / ``PercentileCalibrater`` / ``EntropyCalibrater`` on a one-node Identity
model for quantize_static's one-pass path. Every range is compared with assert_array_equal.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from onnxruntime.quantization.calibrate import (
    CalibrationDataReader,
    CalibrationMethod,
    EntropyCalibrater,
    HistogramCollector,
    MinMaxCalibrater,
    PercentileCalibrater,
    create_calibrator,
)
from torch.ao.quantization.observer import MovingAverageMinMaxObserver

from inferlab.errors import DTypeError, InvalidValueError
from inferlab.quant.affine import fake_quant
from inferlab.quant.calibrate import (
    METHODS,
    MSE,
    Calibrator,
    Entropy,
    MinMax,
    MovingAverageMinMax,
    Percentile,
    calibrate,
    make_calibrator,
)
from inferlab.quant.params import qparams

# ----------------------------------------------------------------------------------- data


def heavy_tailed(rng, n, scale=1.0):
    """Student-t (3 dof) plus a few large outliers: MinMax is dominated by the outliers."""
    x = rng.standard_t(3, size=n).astype(np.float32) * np.float32(scale)
    x[rng.integers(0, n, size=5)] = rng.choice([-1, 1], size=5) * 40 * scale
    return x.astype(np.float32)


def growing_batches(seed=0, n=4000):
    """Batches whose range grows, shrinks and grows again: every histogram merge path.

    batch 2 fits inside batch 1's range (same grid) and has |x| below batch 1's smallest (the
    |x| histogram drops those), 3 and 5 are wider (the grid grows), 4 is narrower again.
    """
    rng = np.random.default_rng(seed)
    return [
        heavy_tailed(rng, n, 1.0),
        (rng.standard_normal(n) * 0.5).astype(np.float32),
        heavy_tailed(rng, n, 3.0),
        (rng.uniform(0.5, 2.0, n) * rng.choice([-1, 1], n)).astype(np.float32),
        (rng.laplace(size=n) * 10 + 1).astype(np.float32),
    ]


# ------------------------------------------------------------------------- ORT references


def quiet(fn, *args, **kwargs):
    """HistogramCollector prints progress lines on stdout; keep the test log readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


class Reader(CalibrationDataReader):
    def __init__(self, batches):
        self._it = iter([{"x": b} for b in batches])

    def get_next(self):
        return next(self._it, None)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """y = Identity(x), x float32 of any length: ORT calibrates x and y (both == the batch)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("calib") / "identity.onnx"
    onnx.save(model, path)
    return path


def _range_of(tensors_data, name="y"):
    td = tensors_data[name]
    return np.float32(np.ravel(td.range_value[0])[0]), np.float32(np.ravel(td.range_value[1])[0])


def ort_calibrater(model_path, tmp_path, cls, passes, **kwargs):
    """Run an ORT calibrater over ``passes`` (a list of lists of batches: one collect_data
    call per inner list) and return its range for y."""
    cal = cls(model_path, augmented_model_path=str(tmp_path / "aug.onnx"), **kwargs)
    cal.augment_graph()
    cal.create_inference_session()
    for batches in passes:
        quiet(cal.collect_data, Reader(batches))
    return _range_of(quiet(cal.compute_data))


def ort_collector(batches, method, *, symmetric, num_bins, num_quantized_bins=128, pct=99.999):
    """ORT's HistogramCollector fed one batch per collect() call (the streaming path)."""
    col = HistogramCollector(method, symmetric, num_bins, num_quantized_bins, pct, "same")
    for b in batches:
        quiet(col.collect, {"y": b})
    lo, hi = quiet(col.compute_collection_result)["y"][:2]
    return np.float32(lo), np.float32(hi), col.histogram_dict["y"]


def ours(cal: Calibrator, batches):
    for b in batches:
        cal.collect(b)
    return cal.range()


def assert_same_range(got, want, what):
    np.testing.assert_array_equal(
        np.array(got, np.float32), np.array(want, np.float32), err_msg=f"{what} [ours, reference]"
    )


# ----------------------------------------------------------------------------- MinMax


@pytest.mark.parametrize("symmetric", [False, True])
def test_minmax_matches_ort_calibrater_in_one_pass_and_per_batch(model_path, tmp_path, symmetric):
    rng = np.random.default_rng(1)
    # Different lengths and an all-positive batch: per-batch ReduceMin/ReduceMax, then nanmin.
    batches = [heavy_tailed(rng, n, s) for n, s in ((300, 1.0), (50, 4.0), (999, 0.5))]
    batches.append(rng.uniform(2, 3, 77).astype(np.float32))
    got = ours(MinMax(symmetric=symmetric), batches)
    one_pass = ort_calibrater(
        model_path, tmp_path, MinMaxCalibrater, [batches], symmetric=symmetric
    )
    per_batch = ort_calibrater(
        model_path, tmp_path, MinMaxCalibrater, [[b] for b in batches], symmetric=symmetric
    )
    assert_same_range(got, one_pass, "MinMax, one collect_data pass")
    assert_same_range(got, per_batch, "MinMax, one collect_data per batch (merge_range)")
    allx = np.concatenate(batches)
    amax = np.abs(allx).max()
    want = (-amax, amax) if symmetric else (allx.min(), allx.max())
    assert_same_range(got, want, "MinMax is just the extremes of every value seen")


# ------------------------------------------------------------------------ moving average


def _drifting_batches(n_batches=250, seed=2):
    """Many small batches whose scale and offset drift, one with an outlier. Many batches make
    the float32 summation order (ORT's nanmean) and float32 EMA arithmetic (torch) matter."""
    rng = np.random.default_rng(seed)
    out = [
        (rng.standard_normal(int(rng.integers(1, 64))) * (1 + 0.03 * k) + 0.01 * k).astype(
            np.float32
        )
        for k in range(n_batches)
    ]
    out[7][0] = 80.0  # one outlier batch
    return out


def test_moving_average_ort_is_the_plain_mean_of_batch_ranges(model_path, tmp_path):
    batches = _drifting_batches()
    got = ours(MovingAverageMinMax(averaging_constant=0.01, convention="ort"), batches)
    want = ort_calibrater(
        model_path,
        tmp_path,
        MinMaxCalibrater,
        [batches],
        moving_average=True,
        averaging_constant=0.01,
    )
    assert_same_range(got, want, "MovingAverageMinMax('ort') vs MinMaxCalibrater(moving_average)")
    # Within one quantize_static pass ORT averages the per-batch extremes: c plays no part.
    c_half = ort_calibrater(
        model_path,
        tmp_path,
        MinMaxCalibrater,
        [batches],
        moving_average=True,
        averaging_constant=0.5,
    )
    assert_same_range(c_half, want, "ORT one pass ignores averaging_constant")
    maxs = np.float32([b.max() for b in batches])
    np.testing.assert_allclose(got[1], maxs.mean(), rtol=1e-6)
    minmax = ours(MinMax(), batches)
    assert got[1] < minmax[1] / 4, "the single 80.0 outlier must barely move the averaged max"


@pytest.mark.parametrize("symmetric", [False, True])
def test_moving_average_torch_matches_observer_and_ort_per_batch_passes(
    model_path, tmp_path, symmetric
):
    batches = _drifting_batches(seed=3)
    cal = MovingAverageMinMax(averaging_constant=0.01, convention="torch", symmetric=symmetric)
    got = ours(cal, batches)
    obs = MovingAverageMinMaxObserver(averaging_constant=0.01)
    for b in batches:
        obs(torch.from_numpy(b))
    want = (obs.min_val.numpy(), obs.max_val.numpy())
    if symmetric:
        amax = np.maximum(np.abs(want[0]), np.abs(want[1]))
        want = (-amax, amax)
    else:
        assert_same_range((cal.min, cal.max), want, "running min/max vs torch min_val/max_val")
    assert_same_range(got, want, "MovingAverageMinMax('torch') vs torch observer")
    if not symmetric:
        # ORT's merge_range between collect_data passes is the same EMA, in float32.
        per_pass = ort_calibrater(
            model_path,
            tmp_path,
            MinMaxCalibrater,
            [[b] for b in batches],
            moving_average=True,
            averaging_constant=0.01,
        )
        assert_same_range(got, per_pass, "torch EMA vs ORT one collect_data pass per batch")


# ------------------------------------------------------------------------ histogram methods


@pytest.mark.parametrize("symmetric", [True, False])
def test_percentile_matches_ort_collector_across_growing_batches(symmetric):
    batches = growing_batches()
    cal = Percentile(percentile=99.9, symmetric=symmetric)
    got = ours(cal, batches)
    lo, hi, (hist, edges, *_) = ort_collector(
        batches, "percentile", symmetric=symmetric, num_bins=2048, pct=99.9
    )
    np.testing.assert_array_equal(cal.hist, hist, err_msg="merged histogram counts")
    np.testing.assert_array_equal(cal.edges, edges, err_msg="merged histogram edges")
    assert_same_range(got, (lo, hi), f"Percentile(symmetric={symmetric}) vs HistogramCollector")
    assert len(cal.hist) > 2048, "the later, wider batches must have grown the histogram"
    if symmetric:
        # ORT's |x| histogram starts at the first batch's smallest |x|: smaller values of later
        # batches fall outside the explicit edges and are not counted.
        assert cal.hist.sum() < cal.n_values
    else:
        assert cal.hist.sum() == cal.n_values


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_signed_histogram_after_an_all_zero_first_batch_matches_ort(method):
    # The first histogram spans [-0.5, 0.5] (np.histogram widens an empty range); a wider batch
    # then re-grids and adds the old counts index-wise (merge_histogram's old_threshold == 0).
    rng = np.random.default_rng(11)
    batches = [np.zeros(50, np.float32), heavy_tailed(rng, 3000), np.zeros(7, np.float32)]
    cal = make_calibrator(method, num_bins=256, symmetric=False)
    got = ours(cal, batches)
    lo, hi, (hist, *_) = ort_collector(batches, method, symmetric=False, num_bins=256, pct=99.999)
    np.testing.assert_array_equal(cal.hist, hist)
    assert_same_range(got, (lo, hi), f"{method} after a zero batch")


def test_float64_and_float16_batches_are_calibrated_as_float32():
    x = heavy_tailed(np.random.default_rng(12), 1000)
    want = ours(Percentile(), [x])
    assert_same_range(ours(Percentile(), [x.astype(np.float64)]), want, "float64 input")
    assert_same_range(
        ours(MinMax(), [x.astype(np.float16)]),
        ours(MinMax(), [x.astype(np.float16).astype(np.float32)]),
        "float16 input",
    )
    assert all(isinstance(v, np.float32) for v in want)


@pytest.mark.parametrize("num_bins", [128, 512])
def test_entropy_matches_ort_collector_across_growing_batches(num_bins):
    batches = growing_batches(seed=4)
    cal = Entropy(num_bins=num_bins, num_quantized_bins=128)
    got = ours(cal, batches)
    lo, hi, (hist, edges, *_) = ort_collector(
        batches, "entropy", symmetric=False, num_bins=num_bins
    )
    np.testing.assert_array_equal(cal.hist, hist, err_msg="merged histogram counts")
    np.testing.assert_array_equal(cal.edges, edges, err_msg="merged histogram edges")
    assert_same_range(got, (lo, hi), f"Entropy(num_bins={num_bins}) vs HistogramCollector")
    assert cal.kl.size == len(cal.hist) // 2 - 64 + 1, "one KL value per candidate threshold"


def test_entropy_search_matches_ort_on_a_fine_histogram():
    rng = np.random.default_rng(5)
    x = heavy_tailed(rng, 20000)
    cal = Entropy(num_bins=2048, num_quantized_bins=128)
    got = ours(cal, [x])
    lo, hi, _ = ort_collector([x], "entropy", symmetric=False, num_bins=2048)
    assert_same_range(got, (lo, hi), "Entropy(num_bins=2048)")
    assert np.argmin(cal.kl) > 0, "the KL minimum is a real clipping threshold, not the first"
    assert got[1] < 0.5 * x.max(), "KL clips the outliers on heavy-tailed data"


def test_histogram_methods_match_ort_on_many_small_histograms():
    # Few bins and few levels make the KL argmin sensitive to every detail of p and q (the
    # integer truncation when spreading a level over its bins, the eps smoothing, the float32
    # sums) and the percentile index to the cumulative sum's rounding.
    rng = np.random.default_rng(13)
    for k in range(30):
        n_bins, n_q = [(24, 8), (40, 16), (33, 4)][k % 3]
        batches = [
            (rng.gamma(0.5 + k % 4, size=int(rng.integers(20, 400))) * rng.choice([-1, 1]) + 0.3)
            .round(int(k % 3))
            .astype(np.float32)
            for _ in range(1 + k % 3)
        ]
        cal = Entropy(num_bins=n_bins, num_quantized_bins=n_q)
        lo, hi, _ = ort_collector(
            batches, "entropy", symmetric=False, num_bins=n_bins, num_quantized_bins=n_q
        )
        assert_same_range(ours(cal, batches), (lo, hi), f"entropy case {k}")
        pct, sym = [99.0, 90.0, 100.0][k % 3], bool(k % 2)
        cal = Percentile(percentile=pct, num_bins=n_bins, symmetric=sym)
        lo, hi, _ = ort_collector(batches, "percentile", symmetric=sym, num_bins=n_bins, pct=pct)
        assert_same_range(ours(cal, batches), (lo, hi), f"percentile case {k}")


def test_entropy_threshold_search_matches_ort_on_random_histograms():
    # The KL search alone, on histograms of small random counts (many empty bins, levels that
    # do not divide evenly, so the integer truncation when a level's count is spread over its
    # bins decides the argmin in a few % of them): ORT's get_entropy_threshold vs ours on the
    # very same histogram.
    rng = np.random.default_rng(14)
    col = HistogramCollector("entropy", False, 64, 8, 99.9, "same")
    for k in range(400):
        n_bins = int(rng.integers(8, 80))
        n_q = int(rng.integers(2, n_bins + 1))
        hist = rng.integers(0, rng.integers(1, 6), n_bins) * (rng.random(n_bins) < rng.random())
        hist[rng.integers(0, n_bins)] += 1  # never all empty
        edges = np.linspace(-3, 3, n_bins + 1, dtype=np.float32)
        lo, hi = np.float32(-2.9), np.float32(rng.uniform(1, 3.5))
        want = col.get_entropy_threshold((hist, edges, lo, hi), n_q)
        cal = Entropy(num_bins=n_bins, num_quantized_bins=n_q)
        cal.hist, cal.edges, cal.min, cal.max, cal.n_batches = hist, edges, lo, hi, 1
        assert_same_range(cal.range(), want, f"histogram {k} (levels {n_q}): {hist.tolist()}")


def test_entropy_with_ort_defaults_is_minmax_in_one_pass_and_ignores_symmetric():
    # num_bins == num_quantized_bins (128, quantize_static's default): one candidate, the whole
    # histogram, clamped to (min, max).
    # ReLU-like data: the candidate (-t, t) is clamped to the observed (0, max).
    x = np.maximum(heavy_tailed(np.random.default_rng(6), 5000), 0)
    got = ours(Entropy(), [x])
    assert_same_range(got, (0, x.max()), "Entropy with ORT defaults")
    for symmetric in (False, True):
        lo, hi, _ = ort_collector([x], "entropy", symmetric=symmetric, num_bins=128)
        assert_same_range((lo, hi), got, f"ORT entropy with symmetric={symmetric}")
        assert_same_range(ours(Entropy(symmetric=symmetric), [x]), got, "symmetric is ignored")


def test_defaults_are_quantize_statics_create_calibrator_defaults(model_path, tmp_path):
    aug = str(tmp_path / "aug.onnx")
    ort = {
        m: create_calibrator(model_path, augmented_model_path=aug, calibrate_method=m)
        for m in (CalibrationMethod.MinMax, CalibrationMethod.Percentile, CalibrationMethod.Entropy)
    }
    mm, pc, en = (ort[m] for m in ort)
    assert (MinMax().symmetric, MovingAverageMinMax().averaging_constant) == (
        mm.symmetric,
        mm.averaging_constant,
    )
    p = Percentile()
    assert (p.symmetric, p.num_bins, p.percentile) == (pc.symmetric, pc.num_bins, pc.percentile)
    assert p.symmetric is True, "quantize_static's Percentile is symmetric (|x| histogram)"
    e = Entropy()
    assert (e.symmetric, e.num_bins, e.num_quantized_bins) == (
        en.symmetric,
        en.num_bins,
        en.num_quantized_bins,
    )


@pytest.mark.parametrize(
    ("method", "cls", "kwargs"),
    [
        ("minmax", MinMaxCalibrater, {}),
        ("moving_average", MinMaxCalibrater, {"moving_average": True}),
        ("percentile", PercentileCalibrater, {"symmetric": True}),
        ("entropy", EntropyCalibrater, {"num_bins": 512}),
    ],
)
def test_calibrate_is_one_quantize_static_pass(model_path, tmp_path, method, cls, kwargs):
    # One collect_data call over all batches: the histogram calibraters stack the batches into
    # one array (np.asarray of the list) before building a single histogram.
    batches = [b[:2000] for b in growing_batches(seed=7)]
    want = ort_calibrater(model_path, tmp_path, cls, [batches], **kwargs)
    opts = {"num_bins": 512} if method == "entropy" else {}
    got = calibrate(batches, method, **opts)
    assert_same_range(got, want, f"calibrate(..., {method!r}) vs ORT {cls.__name__} one pass")
    if method in ("percentile", "entropy"):
        streamed = ours(make_calibrator(method, **opts), batches)
        assert not np.array_equal(got, streamed), "one pass != batch by batch (growing range)"


# ---------------------------------------------------------------------- method ordering


def test_methods_order_on_outlier_data():
    # Student-t bulk with rare outliers: the tail-aware methods give the bulk a range several
    # times narrower than MinMax (so several times finer steps); averaging sits in between.
    rng = np.random.default_rng(8)
    batches = [heavy_tailed(rng, 10000) for _ in range(3)]
    amax = {}
    for method, opts in [
        ("minmax", {}),
        ("moving_average", {}),
        ("percentile", {"percentile": 99.9}),
        ("entropy", {"num_bins": 2048}),
        ("mse8", {"dtype": "int8", "symmetric": True}),
        ("mse4", {"dtype": "int4", "symmetric": True}),
    ]:
        lo, hi = calibrate(batches, method[:3] if method.startswith("mse") else method, **opts)
        assert lo <= hi
        amax[method] = float(max(-lo, hi))
    assert amax["moving_average"] <= amax["minmax"]
    for m in ("percentile", "entropy", "mse4"):
        assert amax[m] < 0.5 * amax["minmax"], f"{m} must clip the outliers: {amax}"
    # MSE squares the clipping error of each outlier: with 255 levels the rounding error of a
    # wide range is small, so it clips little; with 15 levels clipping pays off.
    assert amax["mse4"] < amax["mse8"] <= amax["minmax"]
    assert amax["percentile"] > np.percentile(np.abs(np.concatenate(batches)), 99.0)


# ----------------------------------------------------------------------------------- MSE


def _mse(x, lo, hi, **kw):
    qp = qparams(lo, hi, **kw)
    return float(np.mean((fake_quant(x, qp).astype(np.float64) - x) ** 2))


@pytest.mark.parametrize(
    "kw",
    [
        {"dtype": "int8", "symmetric": True},
        {"dtype": "uint8", "symmetric": False},
        {"dtype": "int4", "symmetric": False, "convention": "torch"},
    ],
)
def test_mse_minimises_reconstruction_error(kw):
    rng = np.random.default_rng(9)
    x = np.concatenate([heavy_tailed(rng, 6000), rng.exponential(2.0, 2000).astype(np.float32)])
    cal = MSE(num_candidates=50, **kw)
    lo, hi = ours(cal, [x[:3000], x[3000:]])
    err = _mse(x, lo, hi, **kw)
    assert err == pytest.approx(cal.errors.min(), rel=1e-12), "range() returns the best candidate"
    mm_lo, mm_hi = ours(MinMax(symmetric=kw["symmetric"]), [x])
    assert err <= _mse(x, mm_lo, mm_hi, **kw), "never worse than MinMax (a = 1 is a candidate)"
    if kw["dtype"] == "int4":
        assert err < 0.9 * _mse(x, mm_lo, mm_hi, **kw), "with 15 levels clipping must pay off"
    # A brute-force grid 8x finer over the same family finds nothing much better.
    grid = [cal._candidate(a) for a in np.linspace(0.005, 1, 400)]
    best = min(_mse(x, g_lo, g_hi, **kw) for g_lo, g_hi in grid)
    assert err <= best * 1.05, f"MSE {err:.4g} vs finest grid {best:.4g}"


def test_mse_keeps_a_strided_sample_but_exact_extremes():
    rng = np.random.default_rng(10)
    batches = [rng.standard_normal(n).astype(np.float32) for n in (700, 333, 1000)]
    allx = np.concatenate(batches)
    cal = MSE(max_samples=500)
    for b in batches:
        cal.collect(b)
    # The stride doubles until the sample fits: the smallest power of 2 with n / stride <= 500.
    assert cal.stride == 8 and cal.sample.size <= 500 < -(-allx.size // 4)
    np.testing.assert_array_equal(cal.sample, allx[:: cal.stride])
    assert (cal.min, cal.max) == (allx.min(), allx.max())
    assert cal._candidate(1.0) == (allx.min(), allx.max())


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("method", list(METHODS))
def test_nan_and_inf_are_rejected(method):
    cal = make_calibrator(method)
    for bad, word in ((np.float32([1, np.nan, 2]), "NaN"), (np.float32([1, -np.inf]), "Inf")):
        with pytest.raises(InvalidValueError, match=f"needs finite values; got {word}"):
            cal.collect(bad)
    with pytest.raises(InvalidValueError, match="overflow|after rounding to float32"):
        cal.collect(np.array([1e39]))
    assert cal.n_batches == 0, "a rejected batch must not be half-collected"


@pytest.mark.parametrize("method", list(METHODS))
def test_empty_batch_and_range_before_collect_are_clear_errors(method):
    cal = make_calibrator(method)
    with pytest.raises(InvalidValueError, match=r"call collect\(x\).*got 0 batches"):
        cal.range()
    with pytest.raises(InvalidValueError, match=r"non-empty array.*shape \(0, 3\)"):
        cal.collect(np.zeros((0, 3), np.float32))
    with pytest.raises(DTypeError, match="needs a float array.*int64"):
        cal.collect(np.arange(4))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("value", [0.0, 2.5, -1.0])
def test_constant_data_gives_a_safe_range(method, value):
    with np.errstate(all="raise"):  # no division by zero, no invalid op, anywhere
        lo, hi = calibrate([np.full(100, value, np.float32)] * 2, method)
        assert np.isfinite(lo) and np.isfinite(hi) and lo <= hi
        qp = qparams(lo, hi, "uint8")
        assert np.isfinite(qp.scale) and qp.scale > 0


def test_bad_options_say_what_was_expected():
    with pytest.raises(InvalidValueError, match="one of 'minmax', 'moving_average'.*got 'kl'"):
        make_calibrator("kl")
    with pytest.raises(InvalidValueError, match="accepts percentile, num_bins, symmetric.*bins"):
        make_calibrator("percentile", bins=10)
    for p in (0, -1, 100.5, float("nan")):
        with pytest.raises(InvalidValueError, match="0 < percentile <= 100"):
            Percentile(percentile=p)
    assert Percentile(percentile=100).percentile == 100.0
    with pytest.raises(InvalidValueError, match="0 <= averaging_constant <= 1; got 1.5"):
        MovingAverageMinMax(averaging_constant=1.5)
    with pytest.raises(InvalidValueError, match="convention 'ort' or 'torch'; got 'tf'"):
        MovingAverageMinMax(convention="tf")
    with pytest.raises(InvalidValueError, match="num_bins >= num_quantized_bins"):
        Entropy(num_bins=64, num_quantized_bins=128)
    with pytest.raises(InvalidValueError, match="num_bins to be an int >= 1; got 0"):
        Percentile(num_bins=0)
    with pytest.raises(DTypeError, match="int8.*got 'int3'"):
        MSE(dtype="int3")
    with pytest.raises(InvalidValueError, match="at least one batch"):
        calibrate([], "minmax")
