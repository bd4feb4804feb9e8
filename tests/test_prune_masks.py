"""inferlab.prune.masks against the real thing: torch.nn.utils.prune and Wanda's lib/prune.py.

Masks are compared entry for entry (assert_array_equal) with torch's ``weight_mask`` buffer on
tie-free weights (distinct magnitudes: torch's topk order among ties is unspecified), and with
a transcription of Wanda's formulas (``locuslab/wanda`` lib/prune.py, lib/layerwrapper.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch.nn.utils import prune

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.prune.masks import (
    apply_mask,
    global_unstructured,
    iterative_schedule,
    l1_unstructured,
    ln_structured,
    n_to_prune,
    nm_mask,
    random_unstructured,
    schedule_sparsity,
    sparsity,
)
from inferlab.prune.wanda import WandaStats, wanda_mask, wanda_stats


def distinct(shape, seed=0, scale=0.01) -> np.ndarray:
    """float32 weights with all-different magnitudes (a scaled permutation, random signs)."""
    rng = np.random.default_rng(seed)
    size = math.prod(shape)
    mags = (rng.permutation(size) + 1).astype(np.float32) * np.float32(scale)
    signs = rng.choice(np.array([-1, 1], np.float32), size)
    return (mags * signs).reshape(shape)


def module(w: np.ndarray) -> torch.nn.Module:
    mod = torch.nn.Module()
    mod.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
    return mod


def torch_mask(mod: torch.nn.Module) -> np.ndarray:
    mask = mod.weight_mask.detach().numpy()
    assert set(np.unique(mask)) <= {0.0, 1.0}
    return mask.astype(bool)


# ----------------------------------------------------------------------------- counts


@pytest.mark.parametrize("n", [1, 5, 7, 10, 25, 80, 81])
def test_n_to_prune_is_torchs_count_with_bankers_rounding(n):
    for amount in (0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.9, 0.999, 0, 1, n // 2, n):
        assert n_to_prune(amount, n) == prune._compute_nparams_toprune(amount, n)
    # The ties: round half to even, not up.
    assert n_to_prune(0.5, 5) == 2 and n_to_prune(0.5, 7) == 4 and n_to_prune(0.3, 5) == 2
    assert n_to_prune(0.1, 25) == 2  # 0.1 * 25 = 2.5 exactly in float64


# ----------------------------------------------------------------------------- l1 unstructured


@pytest.mark.parametrize("shape", [(80,), (8, 10), (5,), (7,), (4, 3, 3, 3)])
@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.25, 0.9, 0, 3])
def test_l1_unstructured_equals_torch(shape, amount):
    w = distinct(shape, seed=len(shape) + math.prod(shape))
    mod = module(w)
    prune.l1_unstructured(mod, "weight", amount=amount)
    ours = l1_unstructured(w, amount)
    assert_array_equal(ours, torch_mask(mod))
    assert (~ours).sum() == n_to_prune(amount, w.size)
    # torch's pruned weight is weight_orig * mask; ours is apply_mask.
    assert_array_equal(apply_mask(w, ours), mod.weight.detach().numpy())


def test_bankers_tie_amounts_equal_torch():
    # 0.5 of 5 -> 2 (2.5 rounds to even), 0.5 of 7 -> 4 (3.5 rounds to even): not "round up".
    for n, pruned in ((5, 2), (7, 4), (9, 4), (11, 6)):
        w = distinct((n,), seed=n)
        mod = module(w)
        prune.l1_unstructured(mod, "weight", amount=0.5)
        assert_array_equal(l1_unstructured(w, 0.5), torch_mask(mod))
        assert (~torch_mask(mod)).sum() == pruned


def test_iterative_l1_prunes_a_share_of_what_remains_like_torch():
    w = distinct((8, 10), seed=3)
    mod = module(w)
    prune.l1_unstructured(mod, "weight", amount=0.3)
    first = l1_unstructured(w, 0.3)
    assert_array_equal(first, torch_mask(mod))
    assert (~first).sum() == 24
    prune.l1_unstructured(mod, "weight", amount=0.5)
    second = l1_unstructured(w, 0.5, mask=first)
    assert_array_equal(second, torch_mask(mod))
    assert (~second).sum() == 52  # 24 + round(0.5 * 56), not 40
    assert not (second & ~first).any()  # nothing comes back
    # An int amount counts remaining weights too.
    prune.l1_unstructured(mod, "weight", amount=5)
    assert_array_equal(l1_unstructured(w, 5, mask=second), torch_mask(mod))


def test_mixed_structured_then_unstructured_chain_equals_torch():
    # torch's PruningContainer: unstructured prunes among mask==1 entries; structured counts
    # only channels not yet all-zero and ranks them by the ORIGINAL weights' norm.
    w = np.random.default_rng(5).standard_normal((12, 8, 3, 3)).astype(np.float32)
    mod = module(w)
    prune.ln_structured(mod, "weight", amount=0.25, n=2, dim=0)
    keep = ln_structured(w, 0.25, n=2, dim=0)
    assert_array_equal(keep, torch_mask(mod))
    prune.l1_unstructured(mod, "weight", amount=0.5)
    keep = l1_unstructured(w, 0.5, mask=keep)
    assert_array_equal(keep, torch_mask(mod))
    prune.ln_structured(mod, "weight", amount=0.34, n=1, dim=1)
    keep = ln_structured(w, 0.34, n=1, dim=1, mask=keep)
    assert_array_equal(keep, torch_mask(mod))
    prune.ln_structured(mod, "weight", amount=2, n=math.inf, dim=0)
    keep = ln_structured(w, 2, n=math.inf, dim=0, mask=keep)
    assert_array_equal(keep, torch_mask(mod))


# ----------------------------------------------------------------------------- ln structured


@pytest.mark.parametrize("n", [1, 2, math.inf, -math.inf, 3, 0.5])
@pytest.mark.parametrize(
    ("shape", "dim"),
    [((12, 10), 0), ((12, 10), 1), ((12, 10), -1), ((8, 6, 3, 3), 0), ((8, 6, 3, 3), 1)],
)
@pytest.mark.parametrize("amount", [0.25, 0.5, 3])
def test_ln_structured_equals_torch(n, shape, dim, amount):
    w = np.random.default_rng(len(shape) * 7 + dim).standard_normal(shape).astype(np.float32)
    mod = module(w)
    prune.ln_structured(mod, "weight", amount=amount, n=n, dim=dim)
    ours = ln_structured(w, amount, n=n, dim=dim)
    assert_array_equal(ours, torch_mask(mod))
    # Whole slices: every channel along dim is all kept or all pruned.
    d = dim % len(shape)
    other = tuple(i for i in range(len(shape)) if i != d)
    assert_array_equal(ours.all(axis=other), ours.any(axis=other))
    assert (~ours.any(axis=other)).sum() == n_to_prune(amount, shape[d])


def test_ln_structured_fro_and_zero_norm():
    w = np.random.default_rng(1).standard_normal((10, 12)).astype(np.float32)
    w[np.arange(12)[None, :] < np.random.default_rng(2).permutation(10)[:, None]] = 0
    for n in ("fro", 0):  # n=0 counts nonzeros: row i has a different count of zeros
        mod = module(w)
        prune.ln_structured(mod, "weight", amount=0.3, n=n, dim=0)
        assert_array_equal(ln_structured(w, 0.3, n=n, dim=0), torch_mask(mod))


# ----------------------------------------------------------------------------- global


def _three_layers(seed=0):
    # One permutation split across layers: magnitudes distinct across all of them.
    flat = distinct((400 + 800 + 90,), seed=seed)
    return {
        "fc1": flat[:400].reshape(20, 20),
        "conv": flat[400:1200].reshape(8, 4, 5, 5),
        "fc2": flat[1200:].reshape(9, 10),
    }


@pytest.mark.parametrize("amount", [0.5, 0.3, 0.75, 500])
def test_global_unstructured_equals_torch(amount):
    ws = _three_layers()
    mods = {k: module(w) for k, w in ws.items()}
    prune.global_unstructured(
        [(m, "weight") for m in mods.values()], pruning_method=prune.L1Unstructured, amount=amount
    )
    ours = global_unstructured(ws, amount)
    for k in ws:
        assert_array_equal(ours[k], torch_mask(mods[k]))
    total = sum(w.size for w in ws.values())
    assert sum((~m).sum() for m in ours.values()) == n_to_prune(amount, total)
    # One threshold: every kept |w| is above every pruned |w|, across layers.
    kept = np.concatenate([np.abs(ws[k][ours[k]]) for k in ws])
    gone = np.concatenate([np.abs(ws[k][~ours[k]]) for k in ws])
    assert kept.min() > gone.max()
    # ... so the per-layer sparsities differ (unlike layer-wise pruning).
    assert len({round(sparsity(m), 3) for m in ours.values()}) > 1


def test_global_unstructured_two_layers_and_iterated():
    ws = dict(list(_three_layers(seed=4).items())[:2])
    mods = {k: module(w) for k, w in ws.items()}
    params = [(m, "weight") for m in mods.values()]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.4)
    masks = global_unstructured(ws, 0.4)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.5)
    masks = global_unstructured(ws, 0.5, masks=masks)
    for k in ws:
        assert_array_equal(masks[k], torch_mask(mods[k]))
    assert sum((~m).sum() for m in masks.values()) == 480 + 360  # 0.4 of 1200, then 0.5 of 720


def test_global_unstructured_refuses_layer_collapse_unless_allowed():
    ws = {"big": distinct((20, 20), seed=1) + 100.0, "tiny": distinct((3, 4), seed=2) * 1e-4}
    with pytest.raises(InvalidValueError, match=r"'tiny'.*allow_empty"):
        global_unstructured(ws, 0.1)
    masks = global_unstructured(ws, 0.1, allow_empty=True)
    assert not masks["tiny"].any()
    mods = {k: module(w) for k, w in ws.items()}
    prune.global_unstructured(
        [(m, "weight") for m in mods.values()], pruning_method=prune.L1Unstructured, amount=0.1
    )
    for k in ws:
        assert_array_equal(masks[k], torch_mask(mods[k]))


# ----------------------------------------------------------------------------- random


def test_random_unstructured_count_determinism_and_mask():
    w = distinct((10, 10))
    a = random_unstructured(w, 0.3, rng=0)
    assert (~a).sum() == 30
    assert_array_equal(a, random_unstructured(w, 0.3, rng=np.random.default_rng(0)))
    b = random_unstructured(w, 0.5, rng=1, mask=a)
    assert (~b).sum() == 30 + 35 and not (b & ~a).any()


# ----------------------------------------------------------------------------- N:M


def wanda_nm_reference(metric: np.ndarray, n: int, m: int) -> np.ndarray:
    """lib/prune.py's N:M loop (prune_n = m - n pruned per block), as a keep-mask."""
    t = torch.from_numpy(metric)
    pruned = torch.zeros_like(t) == 1
    for ii in range(t.shape[1]):
        if ii % m == 0:
            tmp = t[:, ii : ii + m].float()
            pruned.scatter_(1, ii + torch.topk(tmp, m - n, dim=1, largest=False)[1], True)
    return ~pruned.numpy()


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (4, 8), (3, 4), (1, 2)])
def test_nm_mask_invariant_and_reference(n, m):
    w = distinct((16, 32), seed=n * 10 + m)
    keep = nm_mask(w, n, m)
    groups = keep.reshape(16, 32 // m, m)
    assert (groups.sum(-1) == n).all()  # exactly n of every m
    assert sparsity(keep) == 1 - n / m
    # The n kept are the n largest |w| of their group.
    mag = np.abs(w).reshape(groups.shape)
    assert (np.where(groups, mag, np.inf).min(-1) > np.where(groups, -np.inf, mag).max(-1)).all()
    assert_array_equal(keep, wanda_nm_reference(np.abs(w), n, m))


def test_nm_mask_other_axes():
    w = distinct((32, 12), seed=9)
    assert_array_equal(nm_mask(w, 2, 4, axis=0), nm_mask(w.T, 2, 4, axis=-1).T)
    conv = distinct((6, 8, 3, 3), seed=10)  # groups along the input channels
    keep = nm_mask(conv, 2, 4, axis=1)
    assert (keep.reshape(6, 2, 4, 3, 3).sum(2) == 2).all()
    moved = np.moveaxis(np.abs(conv), 1, -1).reshape(-1, 8)
    assert_array_equal(np.moveaxis(keep, 1, -1).reshape(-1, 8), wanda_nm_reference(moved, 2, 4))


# ----------------------------------------------------------------------------- Wanda


def wanda_unstructured_reference(w, scaler_row, ratio) -> np.ndarray:
    """lib/prune.py prune_wanda (unstructured): score, stable sort per row, prune the first
    int(cols * ratio); as a keep-mask."""
    W = torch.from_numpy(w)
    metric = torch.abs(W) * torch.sqrt(torch.from_numpy(scaler_row).float().reshape((1, -1)))
    pruned = torch.zeros_like(metric) == 1
    sort_res = torch.sort(metric, dim=-1, stable=True)
    indices = sort_res[1][:, : int(metric.shape[1] * ratio)]
    pruned.scatter_(1, indices, True)
    return ~pruned.numpy()


class WrappedReference:
    """lib/layerwrapper.py WrappedGPT.add_batch for a Linear layer, transcribed."""

    def __init__(self, columns):
        self.scaler_row = torch.zeros(columns)
        self.nsamples = 0

    def add_batch(self, inp):
        if len(inp.shape) == 2:
            inp = inp.unsqueeze(0)
        tmp = inp.shape[0]
        if len(inp.shape) == 3:
            inp = inp.reshape((-1, inp.shape[-1]))
        inp = inp.t()
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = inp.type(torch.float32)
        self.scaler_row += torch.norm(inp, p=2, dim=1) ** 2 / self.nsamples


def outlier_activations(tokens=1024, cols=64, seed=0) -> np.ndarray:
    """LLM-like inputs: most channels ~N(0, 1), a few 20x larger."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, cols)).astype(np.float32)
    x[:, [c for c in (3, 17, 40, 41) if c < cols]] *= 20
    return x


@pytest.mark.parametrize("ratio", [0.5, 0.3, 0.77, 0.0])
def test_wanda_mask_equals_reference(ratio):
    w = np.random.default_rng(2).standard_normal((24, 64)).astype(np.float32)
    s = wanda_stats(outlier_activations())
    keep = wanda_mask(w, s, ratio)
    assert_array_equal(keep, wanda_unstructured_reference(w, s, ratio))
    assert ((~keep).sum(1) == int(64 * ratio)).all()  # per output row, truncated


def test_wanda_mask_with_ties_still_equals_reference():
    # Both sort stably, so even equal scores give the same mask.
    w = np.random.default_rng(3).integers(-3, 4, (10, 16)).astype(np.float32)
    s = np.ones(16)
    assert_array_equal(wanda_mask(w, s, 0.5), wanda_unstructured_reference(w, s, 0.5))


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8)])
def test_wanda_nm_equals_reference(n, m):
    w = np.random.default_rng(4).standard_normal((12, 32)).astype(np.float32)
    s = wanda_stats(outlier_activations(cols=32)).astype(np.float32)
    metric = np.abs(w) * np.sqrt(s)[None, :]
    keep = wanda_mask(w, s, nm=(n, m))
    assert_array_equal(keep, wanda_nm_reference(metric, n, m))
    assert_array_equal(keep, wanda_mask(w, s, 1 - n / m, nm=(n, m)))


def test_wanda_stats_running_mean_matches_layerwrapper_and_one_big_batch():
    rng = np.random.default_rng(6)
    batches = [rng.standard_normal((b, 5, 16)).astype(np.float32) for b in (2, 5, 1, 3)]
    ref = WrappedReference(16)
    for b in batches:
        ref.add_batch(torch.from_numpy(b))
    ours = wanda_stats(batches)
    assert_allclose(ours, ref.scaler_row.numpy(), rtol=1e-5)
    big = wanda_stats(np.concatenate(batches))
    assert_allclose(ours, big, rtol=1e-12)
    # 2-D batches: rows are samples; any split equals one batch.
    x = outlier_activations(tokens=100, cols=16)
    split = wanda_stats([x[:7], x[7:60], x[60:]])
    assert_allclose(split, (x.astype(np.float64) ** 2).mean(0), rtol=1e-12)
    stats = WandaStats(16).add_batch(x[:50]).add_batch(x[50:])
    assert stats.nsamples == 100
    assert_allclose(stats.scaler_row, split, rtol=1e-12)
    # Wanda counts a 2-D call as ONE sample: another global factor, the same masks.
    ref2 = WrappedReference(16)
    for part in (x[:7], x[7:60], x[60:]):
        ref2.add_batch(torch.from_numpy(part))
    w = np.random.default_rng(7).standard_normal((8, 16)).astype(np.float32)
    assert_array_equal(wanda_mask(w, split, 0.5), wanda_mask(w, ref2.scaler_row.numpy(), 0.5))


def test_wanda_beats_magnitude_on_a_layer_with_outlier_channels():
    x = outlier_activations(tokens=2048, cols=64, seed=8)
    w = np.random.default_rng(9).standard_normal((32, 64)).astype(np.float32)
    y = x @ w.T

    def err(keep):
        return float(np.linalg.norm(y - x @ apply_mask(w, keep).T) / np.linalg.norm(y))

    wanda = err(wanda_mask(w, wanda_stats(x), 0.5))
    layer = err(l1_unstructured(w, 0.5))
    per_row = err(wanda_mask(w, np.ones(64), 0.5))  # |W| alone, per output row
    assert wanda < 0.5 * layer and wanda < 0.5 * per_row, (wanda, layer, per_row)  # ~0.05 vs ~0.25
    # 2:4 as well.
    assert err(wanda_mask(w, wanda_stats(x), nm=(2, 4))) < 0.5 * err(nm_mask(w, 2, 4))


# ----------------------------------------------------------------------------- schedules, helpers


def test_iterative_schedule_reaches_final_sparsity():
    assert iterative_schedule(0.75, 2) == pytest.approx([0.5, 0.5])
    for kind in ("constant", "agp"):
        for final, steps in ((0.9, 5), (0.5, 1), (0.0, 3), (0.8, 4)):
            amounts = iterative_schedule(final, steps, kind)
            assert len(amounts) == steps
            assert schedule_sparsity(amounts) == pytest.approx(final, abs=1e-12)
    agp = iterative_schedule(0.9, 5, "agp")
    assert agp[0] > agp[-1]  # big cuts first
    # Applied with rounding, within a weight per step of the target.
    w = distinct((1000,))
    keep = None
    for a in iterative_schedule(0.9, 5, "agp"):
        keep = l1_unstructured(w, a, mask=keep)
    assert abs((~keep).sum() - 900) <= 5


def test_sparsity_and_apply_mask():
    w = np.array([[1.0, 0.0], [-2.0, 3.0]], np.float32)
    keep = np.array([[True, True], [False, True]])
    assert sparsity(w) == 0.25 and sparsity(keep) == 0.25
    out = apply_mask(w, keep)
    assert out.dtype == w.dtype and out is not w
    assert_array_equal(out, [[1, 0], [0, 3]])
    assert sparsity({"a": keep, "b": np.zeros(4, bool)}) == 5 / 8
    assert_array_equal(apply_mask(w, keep.astype(np.float32)), out)


# ----------------------------------------------------------------------------- torch's leniency


def test_torch_accepts_what_we_refuse():
    # torch prunes a whole tensor with amount=1.0 (and an int == numel): a dead layer.
    w = distinct((4, 5))
    mod = module(w)
    prune.l1_unstructured(mod, "weight", amount=1.0)
    assert not torch_mask(mod).any()
    with pytest.raises(InvalidValueError, match=r"\[0, 1\).*1\.0 would prune every weight"):
        l1_unstructured(w, 1.0)
    with pytest.raises(InvalidValueError, match="every one of the 20 remaining weights of 'fc1'"):
        l1_unstructured(w, 20, name="fc1")


# ----------------------------------------------------------------------------- bad input


W = distinct((8, 12))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: l1_unstructured(W, 1.5), InvalidValueError, r"\[0, 1\); got 1.5"),
        (lambda: l1_unstructured(W, -0.1), InvalidValueError, r"\[0, 1\); got -0.1"),
        (lambda: l1_unstructured(W, float("nan")), InvalidValueError, r"\[0, 1\); got nan"),
        (lambda: l1_unstructured(W, -3), InvalidValueError, r"\[0, 96\].*got -3"),
        (lambda: l1_unstructured(W, 97), InvalidValueError, r"in \[0, 96\].*got 97"),
        (lambda: l1_unstructured(W, True), InvalidValueError, "got True"),
        (lambda: l1_unstructured(W, "half"), InvalidValueError, "got 'half'"),
        (lambda: l1_unstructured(W, 0.999, name="fc2"), InvalidValueError, "'fc2'"),
        (
            lambda: l1_unstructured(W, 0.5, mask=np.ones((12, 8))),
            ShapeError,
            r"\(8, 12\).*\(12, 8\)",
        ),
        (lambda: l1_unstructured(W, 0.5, mask=np.full(W.shape, 2)), InvalidValueError, "True/1"),
        (
            lambda: l1_unstructured(W, 0.1, mask=np.zeros(W.shape, bool)),
            InvalidValueError,
            "0 remaining",
        ),
        (lambda: l1_unstructured(np.where(W > 0.5, np.nan, W), 0.5), InvalidValueError, "NaN/Inf"),
        (lambda: l1_unstructured(np.zeros((0, 3)), 0.5), ShapeError, "non-empty"),
        (lambda: l1_unstructured(W.astype(complex), 0.5), DTypeError, "real-valued"),
        (lambda: ln_structured(W, 0.5, dim=2), ShapeError, r"dim=2.*\(8, 12\).*-2 <= dim < 2"),
        (lambda: ln_structured(W, 0.5, dim=-3), ShapeError, "dim=-3"),
        (lambda: ln_structured(W[0], 0.5), ShapeError, ">= 2 dims"),
        (lambda: ln_structured(W, 1.0), InvalidValueError, r"\[0, 1\)"),
        (
            lambda: ln_structured(W, 8, dim=0, name="conv1"),
            InvalidValueError,
            "8 remaining channels along dim 0 of 'conv1'",
        ),
        (lambda: ln_structured(W, 0.5, n=-1), InvalidValueError, "norm order"),
        (lambda: ln_structured(W, 0.5, n="nuc"), InvalidValueError, "norm order"),
        (lambda: nm_mask(W, 4, 4), InvalidValueError, "0 < n < m; got 4:4"),
        (lambda: nm_mask(W, 5, 4), InvalidValueError, "got 5:4"),
        (lambda: nm_mask(W, 0, 4), InvalidValueError, "prunes everything"),
        (lambda: nm_mask(W, 2, 5), ShapeError, r"multiple of 5.*\(8, 12\)"),
        (lambda: nm_mask(W, 2, 4, axis=2), ShapeError, "axis=2"),
        (lambda: global_unstructured({}, 0.5), InvalidValueError, "non-empty"),
        (lambda: global_unstructured({"a": W}, 0.5, masks={"b": W}), InvalidValueError, r"\['b'\]"),
        (lambda: global_unstructured({"a": W}, 1.0), InvalidValueError, r"\[0, 1\)"),
        (lambda: wanda_mask(W, np.ones(11), 0.5), ShapeError, r"\(12,\).*\(11,\)"),
        (lambda: wanda_mask(W, np.ones(12), 1.0), InvalidValueError, r"\[0, 1\); got 1.0"),
        (lambda: wanda_mask(W, np.ones(12)), InvalidValueError, "neither"),
        (lambda: wanda_mask(W, -np.ones(12), 0.5), InvalidValueError, ">= 0"),
        (lambda: wanda_mask(W, np.ones(12), 0.3, nm=(2, 4)), InvalidValueError, "sparsity 0.5"),
        (lambda: wanda_mask(W, np.ones(12), nm=(4, 4)), InvalidValueError, "got 4:4"),
        (lambda: wanda_mask(W, np.ones(12), nm=(2, 5)), ShapeError, "multiple of 5"),
        (lambda: wanda_mask(W, np.ones(12), nm=2), InvalidValueError, "pair"),
        (lambda: wanda_stats([]), InvalidValueError, "at least one batch"),
        (lambda: wanda_stats(np.ones(5)), ShapeError, r"\(rows, in\)"),
        (lambda: WandaStats(4).add_batch(np.ones((3, 5))), ShapeError, r"\(rows, 4\).*\(3, 5\)"),
        (lambda: WandaStats(4).add_batch(np.full((3, 4), np.nan)), InvalidValueError, "NaN"),
        (lambda: iterative_schedule(1.0, 3), InvalidValueError, r"\[0, 1\)"),
        (lambda: iterative_schedule(0.5, 0), InvalidValueError, "steps"),
        (lambda: iterative_schedule(0.5, 2, "cubic"), InvalidValueError, "'agp'"),
        (lambda: schedule_sparsity([0.5, 1.0]), InvalidValueError, r"\[0, 1\)"),
        (lambda: apply_mask(W, np.ones(3, bool)), ShapeError, r"\(8, 12\)"),
        (lambda: n_to_prune(0.5, -1), InvalidValueError, "n >= 0"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
