"""Activation outliers: SmoothQuant migration and the LLM.int8() mixed-precision matmul."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.quant.outliers import llm_int8_matmul, smooth, smoothquant_scales

OUTLIER_CHANNELS = [17, 200, 411]


def outlier_activations(tokens=256, k=512, scale=50.0, seed=0) -> np.ndarray:
    """Transformer-like activations: N(0, 1) channels, plus a few channels `scale`x larger in
    every token (LLM.int8() / SmoothQuant observe such systematic outlier features)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, k)).astype(np.float32)
    x[:, OUTLIER_CHANNELS] *= scale
    return x


def weight(k=512, n=256, seed=1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((k, n)) * 0.05).astype(np.float32)


def per_tensor_int8(a: np.ndarray) -> np.ndarray:
    """Symmetric per-tensor int8 fake quantization (scale = absmax / 127, as ORT for weights)."""
    scale = np.float32(np.abs(a).max() / 127)
    return (np.clip(np.rint(a / scale), -127, 127) * scale).astype(np.float32)


def rel_err(y, ref) -> float:
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


# ---------------------------------------------------------------- SmoothQuant


def test_scales_match_the_smoothquant_reference_formula_in_torch():
    x, w = outlier_activations(), weight()
    act = np.abs(x).max(axis=0)
    for alpha in (0.0, 0.5, 0.8, 1.0):
        s = smoothquant_scales(act, w, alpha)
        # mit-han-lab/smoothquant smooth.py (nn.Linear weight is (out, in) = w.T)
        fc_w = torch.from_numpy(w.T.copy())
        w_scales = fc_w.abs().max(dim=0)[0].clamp(min=1e-5)
        ref = (torch.from_numpy(act).pow(alpha) / w_scales.pow(1 - alpha)).clamp(min=1e-5)
        assert s.dtype == np.float32 and s.shape == (512,)
        np.testing.assert_allclose(s, ref.numpy(), rtol=1e-6, err_msg=f"alpha={alpha}")


def test_alpha_half_balances_activation_and_weight_ranges():
    x, w = outlier_activations(), weight()
    act = np.abs(x).max(axis=0)
    xs, ws = smooth(x, w, smoothquant_scales(act, w, 0.5))
    # after migration both operands of channel j have range sqrt(max|X_j| * max|W_j|)
    np.testing.assert_allclose(np.abs(xs).max(axis=0), np.abs(ws).max(axis=1), rtol=1e-5)
    # alpha = 1 puts everything on the weights: every activation channel ends with range 1
    xs1, _ = smooth(x, w, smoothquant_scales(act, w, 1.0))
    np.testing.assert_allclose(np.abs(xs1).max(axis=0), 1.0, rtol=1e-5)


def test_smoothing_preserves_the_product():
    x, w = outlier_activations(), weight()
    s = smoothquant_scales(np.abs(x).max(axis=0), w)
    xs, ws = smooth(x, w, s)
    ref = x.astype(np.float64) @ w.astype(np.float64)
    np.testing.assert_allclose(xs @ ws, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # powers of two make the rescaling exact: the products x_j * w_jn are bit-identical
    p2 = (2.0 ** np.round(np.log2(s))).astype(np.float32)
    xp, wp = smooth(x[:4], w, p2)
    np.testing.assert_array_equal(xp[:, :, None] * wp[None], x[:4, :, None] * w[None])


def test_smoothing_cuts_per_tensor_w8a8_error():
    x, w = outlier_activations(), weight()
    ref = x @ w
    before = rel_err(per_tensor_int8(x) @ per_tensor_int8(w), ref)
    xs, ws = smooth(x, w, smoothquant_scales(np.abs(x).max(axis=0), w, alpha=0.5))
    after = rel_err(per_tensor_int8(xs) @ per_tensor_int8(ws), ref)
    # 3 channels 50x larger leave ~2.5 int8 levels for the other 509: most of the error
    assert after < before / 3, f"W8A8 relative error {before:.4f} -> {after:.4f} after smoothing"
    # and without outliers there is little to gain: the cure targets exactly this problem
    plain = outlier_activations(scale=1.0)
    no_outliers = rel_err(per_tensor_int8(plain) @ per_tensor_int8(w), plain @ w)
    assert no_outliers < before / 3


def test_zero_channels_are_guarded():
    x, w = outlier_activations(), weight()
    act = np.abs(x).max(axis=0)
    act[5] = 0.0  # a dead activation channel
    w[9] = 0.0  # a pruned input row
    s = smoothquant_scales(act, w, 0.5)
    assert np.isfinite(s).all() and (s >= 1e-5).all()
    xs, ws = smooth(x, w, s)
    assert np.isfinite(xs).all() and np.isfinite(ws).all()


# ---------------------------------------------------------------- LLM.int8()


def test_outlier_part_is_exact_fp32():
    x, w = outlier_activations(tokens=32), weight()
    only = np.zeros_like(x)
    only[:, OUTLIER_CHANNELS] = x[:, OUTLIER_CHANNELS]  # nothing left for the int8 path
    y, info = llm_int8_matmul(only, w)
    np.testing.assert_array_equal(info.outlier_columns, OUTLIER_CHANNELS)
    np.testing.assert_array_equal(y, x[:, OUTLIER_CHANNELS] @ w[OUTLIER_CHANNELS])


def test_mixed_precision_beats_per_tensor_int8_on_outliers():
    x, w = outlier_activations(), weight()
    ref = x @ w
    y, info = llm_int8_matmul(x, w, threshold=6.0)
    np.testing.assert_array_equal(info.outlier_columns, OUTLIER_CHANNELS)
    mixed = rel_err(y, ref)
    per_tensor = rel_err(per_tensor_int8(x) @ per_tensor_int8(w), ref)
    # vector-wise int8 alone (threshold above every |x|): per-row scales still see the outliers
    vectorwise, none = llm_int8_matmul(x, w, threshold=1e6)
    assert none.outlier_columns.size == 0 and none.int8_fraction == 1.0
    assert mixed < per_tensor / 10, f"LLM.int8 {mixed:.5f} vs per-tensor int8 {per_tensor:.5f}"
    assert mixed < rel_err(vectorwise, ref) / 5
    assert mixed < 0.01


def test_rare_outliers_leave_more_than_99_percent_in_int8():
    x, w = outlier_activations(tokens=64, k=1024, scale=1.0, seed=3), weight(k=1024, seed=4)
    x[7, 300] = 20.0  # one large value in one token marks its whole column
    x[50, 901] = -6.0  # |x| >= threshold counts (bitsandbytes' test)
    x[3, 12] = 5.9
    y, info = llm_int8_matmul(x, w, threshold=6.0)
    np.testing.assert_array_equal(info.outlier_columns, [300, 901])
    assert info.int8_fraction == (1024 - 2) / 1024 > 0.99
    assert rel_err(y, x @ w) < 0.02  # int8 rounding of both operands: ~1 % on Gaussian data


def test_batch_dimensions_and_dtype():
    x, w = outlier_activations(tokens=24).reshape(2, 12, 512), weight()
    y, info = llm_int8_matmul(x, w)
    assert y.shape == (2, 12, 256) and y.dtype == np.float32
    y2, _ = llm_int8_matmul(x.reshape(24, 512), w)
    np.testing.assert_array_equal(y.reshape(24, 256), y2)
    assert info.threshold == 6.0


X, W = np.ones((4, 8), np.float32), np.ones((8, 3), np.float32)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: smoothquant_scales(np.ones(8), W, alpha=1.5), InvalidValueError, "[0, 1]"),
        (lambda: smoothquant_scales(np.ones(8), W, alpha=-0.1), InvalidValueError, "[0, 1]"),
        (lambda: smoothquant_scales(np.ones(7), W), ShapeError, "(7,)"),
        (lambda: smoothquant_scales(-np.ones(8), W), InvalidValueError, ">= 0"),
        (lambda: smoothquant_scales(np.full(8, np.nan), W), InvalidValueError, "NaN/Inf"),
        (lambda: smooth(X, W, np.zeros(8, np.float32)), InvalidValueError, "s > 0"),
        (lambda: smooth(X, W, np.ones(3, np.float32)), ShapeError, "(8,)"),
        (lambda: smooth(X, W.T, np.ones(8, np.float32)), ShapeError, "same K"),
        (lambda: llm_int8_matmul(X, W, threshold=0.0), InvalidValueError, "threshold > 0"),
        (lambda: llm_int8_matmul(X, W, threshold=-1), InvalidValueError, "got -1"),
        (lambda: llm_int8_matmul(X, W, threshold=np.nan), InvalidValueError, "finite"),
        (lambda: llm_int8_matmul(X, np.ones(8, np.float32)), ShapeError, "(K, N)"),
        (lambda: llm_int8_matmul(np.where(X > 0, np.inf, X), W), InvalidValueError, "NaN/Inf"),
        (lambda: llm_int8_matmul(X.astype(np.int8), W), DTypeError, "floating-point"),
    ],
)  # fmt: skip
def test_bad_input_says_what_was_expected(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value), str(info.value)
