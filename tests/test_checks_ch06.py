"""Every check of exercises 06 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/06_pruning.ipynb (extracted from the notebook's
own cells and exec'd) passes; the generated stub in exercises/06_pruning.ipynb is "not
attempted"; every slip a check knows fails with its hint, alone and two at once; plausible wrong
answers, written the way students write them, fail with a specific hint; and equivalent right
answers pass. The checks' references agree with torch itself on the checks' own cases
(``torch.nn.utils.prune``'s masks, Wanda's ``lib/prune.py`` formula, ``to_sparse_csr``, the
masked vs the pruned conv pair). The grader grades the notebooks end to end (marked ``slow``).
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
    slip_tests,
)
from torch.nn.utils import prune

from inferlab.checks import ch06
from inferlab.checks.ch06 import channels, csr, magnitude, matvec, nm, remove, wanda
from inferlab.checks.ch06._common import encode_arrays, split_arrays
from inferlab.graph.ir import Graph
from inferlab.prune import masks, sparse, structured
from inferlab.prune import wanda as prune_wanda

ROOT = Path(__file__).resolve().parents[1]
TASKS = [
    "magnitude_mask",
    "nm_mask",
    "wanda_mask",
    "channels_to_keep",
    "remove_filters",
    "to_csr",
    "csr_matvec",
]
MODULES = {
    "magnitude_mask": magnitude,
    "nm_mask": nm,
    "wanda_mask": wanda,
    "channels_to_keep": channels,
    "remove_filters": remove,
    "to_csr": csr,
    "csr_matvec": matvec,
}

SOLUTION = notebook_functions(ROOT / "solutions" / "06_pruning.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "06_pruning.ipynb", TASKS)

check, fails = check_helpers(ch06)


def cases(task: str):
    return ch06.TASKS[task].cases()


def t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


# ----------------------------------------------------------------------------- the references


@pytest.mark.parametrize(
    ("task", "library"),
    [
        ("magnitude_mask", masks.l1_unstructured),
        ("nm_mask", masks.nm_mask),
        ("wanda_mask", prune_wanda.wanda_mask),
        ("channels_to_keep", masks.ln_structured),
        ("remove_filters", structured.prune_channels),
        ("to_csr", sparse.to_csr),
        ("csr_matvec", sparse.csr_matmul),
    ],
)
def test_a_library_function_itself_is_refused(task, library):
    assert "needs your own" in fails(task, library)


def test_the_magnitude_reference_is_torchs_l1_unstructured():
    for case in cases("magnitude_mask"):
        w, amount = case.args
        mask = prune.L1Unstructured(amount).compute_mask(t(w), torch.ones(w.shape))
        ours = magnitude._reference(w, amount)
        np.testing.assert_array_equal(ours, mask.numpy().astype(bool), err_msg=case.note)


def test_the_channel_reference_is_torchs_ln_structured():
    for case in cases("channels_to_keep"):
        w, amount = case.args
        mask = prune.LnStructured(amount, n=2, dim=0).compute_mask(t(w), torch.ones(w.shape))
        kept = np.flatnonzero(mask.numpy().reshape(len(w), -1).any(axis=1))
        np.testing.assert_array_equal(channels._reference(w, amount), kept, err_msg=case.note)


def test_the_nm_reference_keeps_the_n_largest_of_each_group():
    for case in cases("nm_mask"):
        w = case.args[0]
        n = case.args[1] if len(case.args) > 1 else 2
        m = case.args[2] if len(case.args) > 2 else 4
        keep = nm._reference(*case.args).reshape(*w.shape[:-1], -1, m)
        groups = np.abs(w).reshape(*w.shape[:-1], -1, m)
        assert np.all(keep.sum(-1) == n), case.note
        kept_min = np.where(keep, groups, np.inf).min(-1)
        pruned_max = np.where(keep, -np.inf, groups).max(-1)
        assert np.all(kept_min > pruned_max), case.note


def test_the_wanda_reference_is_wandas_formula():
    """locuslab/wanda lib/prune.py: W_metric = |W| * sqrt(scaler_row), sorted per row (stable),
    the first int(in * ratio) of each row pruned."""
    for case in cases("wanda_mask"):
        w, x, ratio = case.args
        scaler_row = (t(x).double() ** 2).sum(0) / len(x)  # one batch of len(x) samples
        metric = torch.abs(t(w)) * torch.sqrt(scaler_row.to(t(w).dtype)).reshape(1, -1)
        pruned = torch.zeros_like(metric, dtype=torch.bool)
        order = torch.sort(metric, dim=-1, stable=True)[1]
        pruned.scatter_(1, order[:, : int(metric.shape[1] * ratio)], True)
        ours = wanda._reference(w, x, ratio)
        np.testing.assert_array_equal(ours, ~pruned.numpy(), err_msg=case.note)


def test_the_remove_reference_slices_and_computes_what_the_masked_pair_computes():
    rng = np.random.default_rng(1)
    for case in cases("remove_filters"):
        w1, b1, w2, keep = case.args
        new_w1, new_b1, new_w2 = remove._reference(*case.args)
        k = np.sort(np.asarray(keep))
        np.testing.assert_array_equal(new_w1, w1[k])
        np.testing.assert_array_equal(new_b1, b1[k])
        np.testing.assert_array_equal(new_w2, w2[:, k])
        gone = np.setdiff1d(np.arange(len(w1)), k)
        mw1, mb1 = w1.copy(), b1.copy()
        mw1[gone], mb1[gone] = 0, 0
        if w1.ndim == 4:
            x = t(rng.normal(size=(2, w1.shape[1], 9, 9)).astype(w1.dtype))

            def pair(a, b, c, x=x):
                return F.conv2d(F.relu(F.conv2d(x, t(a), t(b))), t(c))
        else:
            x = t(rng.normal(size=(3, w1.shape[1])).astype(w1.dtype))

            def pair(a, b, c, x=x):
                return F.linear(F.relu(F.linear(x, t(a), t(b))), t(c))

        np.testing.assert_allclose(
            pair(new_w1, new_b1, new_w2).numpy(), pair(mw1, mb1, w2).numpy(), rtol=1e-5, atol=1e-6
        )


def test_the_remove_reference_runs_on_an_engine_graph():
    w1, b1, w2, keep = cases("remove_filters")[0].args
    assert isinstance(remove._graph(w1, b1, w2), Graph)


def test_the_csr_reference_is_torchs_to_sparse_csr():
    for case in cases("to_csr"):
        (w,) = case.args
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # sparse CSR support is "beta"
            ref = t(w.astype(np.float32)).to_sparse_csr()
        data, indices, indptr = csr._reference(w)
        np.testing.assert_array_equal(indptr, ref.crow_indices().numpy(), err_msg=case.note)
        np.testing.assert_array_equal(indices, ref.col_indices().numpy(), err_msg=case.note)
        np.testing.assert_array_equal(data, ref.values().numpy(), err_msg=case.note)


def test_the_matvec_reference_is_the_dense_product():
    for case in cases("csr_matvec"):
        data, indices, indptr, x = case.args
        dense = np.zeros((len(indptr) - 1, len(x)), np.float64)
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        dense[rows, indices] = data
        np.testing.assert_allclose(
            matvec._reference(*case.args), dense @ x, rtol=1e-5, atol=1e-6, err_msg=case.note
        )


@pytest.mark.parametrize("task", TASKS)
def test_the_generated_stub_is_not_attempted(task):
    assert "not attempted yet" in fails(task, STUB[task])


def test_the_shipped_solutions_pass(capsys):
    for task in TASKS:
        check(task, SOLUTION[task])
    assert capsys.readouterr().out.count("✓") == len(TASKS)


# ----------------------------------------------------------------------------- every known slip


TWO_SLIPS = [
    ("magnitude_mask", {"count": "int", "score": "signed"}),
    ("magnitude_mask", {"count": "half-up", "keep": "smallest"}),
    ("nm_mask", {"keep": "smallest", "grouping": "strided"}),
    ("nm_mask", {"axis": "first", "count": "m - n"}),
    ("wanda_mask", {"scope": "tensor", "count": "round"}),
    ("wanda_mask", {"norm": "squared", "keep": "smallest"}),
    ("channels_to_keep", {"norm": "l1", "order": "by norm"}),
    ("channels_to_keep", {"norm": "l1", "count": "int"}),
    ("remove_filters", {"bias": "keep", "order": "as given"}),
    ("remove_filters", {"w2_axis": 0, "bias": "keep"}),
    ("to_csr", {"indptr": "no leading 0", "indices": "rows"}),
    ("to_csr", {"layout": "columns", "zeros": "keep"}),
]

# every slip alone, the switches left alone, two slips at once: the same for every chapter
globals().update(slip_tests(MODULES, check, fails, TWO_SLIPS))


def test_three_slips_at_once_are_named_all():
    switches = {"count": "int", "score": "signed", "output": "prune"}
    message = fails("magnitude_mask", functools.partial(magnitude._student, **switches))
    assert "your answer has 3 slips at once" in message, message


# ----------------------------------------------------------------------------- wrong answers


def mm(w, amount, *, count=round, descending=False, signed=False, out="mask"):
    a = (w if signed else np.abs(w)).ravel()
    k = int(count(amount * w.size))
    order = np.argsort(-a if descending else a)
    mask = np.ones(w.size, bool)
    mask[order[:k]] = False
    mask = mask.reshape(w.shape)
    return {"mask": mask, "inverted": ~mask, "weight": w * mask, "float": mask.astype(w.dtype)}[out]


def mm_threshold_ge(w, amount):
    a = np.abs(w)
    k = round(amount * w.size)
    return a >= np.sort(a, axis=None)[k - 1] if k else np.ones(w.shape, bool)


def mm_threshold_no_k0(w, amount):
    a = np.abs(w)
    return a > np.sort(a, axis=None)[round(amount * w.size) - 1]


def mm_quantile(w, amount):
    return np.abs(w) > np.quantile(np.abs(w), amount)


def mm_per_row(w, amount):
    if w.ndim < 2:
        return mm(w, amount)
    rows = w.reshape(-1, w.shape[-1])
    return np.stack([mm(r, amount) for r in rows]).reshape(w.shape)


def mm_list(w, amount):
    return mm(w, amount).tolist()


def mm_torch(w, amount):
    return prune.L1Unstructured(amount).compute_mask(t(w), torch.ones(w.shape)).numpy()


def mm_library(w, amount):
    return masks.l1_unstructured(w, amount)


def nmm(w, n=2, m=4, *, first=False, strided=False, smallest=False, signed=False, flip=False):
    a = w if signed else np.abs(w)
    if smallest:
        a = -a
    if first:
        a = np.moveaxis(a, 0, -1)
    lead, cols = a.shape[:-1], a.shape[-1]
    g = a.reshape(*lead, m, cols // m).swapaxes(-1, -2) if strided else a.reshape(*lead, -1, m)
    order = np.argsort(g, axis=-1)
    mask = np.ones(g.shape, bool)
    np.put_along_axis(mask, order[..., : n if flip else m - n], False, axis=-1)
    if strided:
        mask = mask.swapaxes(-1, -2)
    mask = mask.reshape(a.shape)
    return np.moveaxis(mask, -1, 0) if first else mask


def nm_argsort_once(w, n=2, m=4):
    g = np.abs(w).reshape(*w.shape[:-1], -1, m)
    return (np.argsort(-g, axis=-1) < n).reshape(w.shape)  # indices, not ranks


def nm_per_row(w, n=2, m=4):
    a = np.abs(w).reshape(-1, w.shape[-1])
    k = a.shape[1] * n // m
    order = np.argsort(-a, axis=1)
    mask = np.zeros(a.shape, bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    return mask.reshape(w.shape)


def nm_flat_groups(w, n=2, m=4):  # right: the last axis is a multiple of m
    g = np.abs(w).reshape(-1, m)
    return (np.argsort(np.argsort(-g, axis=1), axis=1) < n).reshape(w.shape)


def nm_library(w, n=2, m=4):
    return masks.nm_mask(w, n, m)


def wd(w, x, sparsity, *, norm=None, count=int, scope="row", dtype=None):
    xn = np.linalg.norm(x, axis=0) if norm is None else norm(x)
    s = np.abs(w) * xn
    if dtype is not None:
        s = np.abs(w.astype(dtype)) * xn.astype(dtype)
    if scope == "column":
        s = s.T
    flat = s.reshape(1, -1) if scope == "tensor" else s
    k = count(flat.shape[1] * sparsity)
    order = np.argsort(flat, axis=1)
    mask = np.ones(flat.shape, bool)
    np.put_along_axis(mask, order[:, :k], False, axis=1)
    mask = mask.reshape(s.shape)
    return mask.T if scope == "column" else mask


def wd_magnitude(w, x, sparsity):
    return wd(w, x, sparsity, norm=lambda x: np.ones(x.shape[1], x.dtype))


def wd_token_norm(w, x, sparsity):
    return wd(w, x, sparsity, norm=lambda x: np.linalg.norm(x, axis=1))


def wd_library(w, x, sparsity):
    return prune_wanda.wanda_mask(w, (x.astype(np.float64) ** 2).mean(0), sparsity)


def wd_stats_library(w, x, sparsity):
    return wd(w, x, sparsity, norm=lambda x: np.sqrt(prune_wanda.wanda_stats(x)))


def ck(w, amount, *, norm=None, count=round, axes=None, sort=True, pruned=False):
    flat = np.moveaxis(w, 1, 0).reshape(w.shape[1], -1) if axes == "input" else None
    if flat is None:
        flat = w.reshape(len(w), -1)
    scores = np.linalg.norm(flat, axis=1) if norm is None else norm(flat)
    k = int(count(amount * len(scores)))
    order = np.argsort(scores)
    chosen = order[:k] if pruned else order[k:]
    return np.sort(chosen) if sort else chosen[::-1]


def ck_mask(w, amount):
    mask = np.zeros(len(w), bool)
    mask[ck(w, amount)] = True
    return mask


def ck_float(w, amount):
    return ck(w, amount).astype(np.float64)


def ck_torch(w, amount):
    norms = torch.linalg.vector_norm(t(w).reshape(len(w), -1), dim=1).numpy()
    return np.sort(np.argsort(norms)[round(amount * len(w)) :])


def ck_library(w, amount):
    keep = masks.ln_structured(w, amount)
    return np.flatnonzero(keep.reshape(len(w), -1).any(axis=1))


def rf(w1, b1, w2, keep, *, rows=False, bias=True, sort=True):
    k = np.sort(keep) if sort else np.asarray(keep)
    return w1[k], (b1[k] if bias else b1), (w2[k] if rows else w2[:, k])


def rf_masked(w1, b1, w2, keep):
    gone = np.setdiff1d(np.arange(len(w1)), keep)
    w1, b1 = w1.copy(), b1.copy()
    w1[gone], b1[gone] = 0, 0
    return w1, b1, w2


def rf_in_place(w1, b1, w2, keep):
    gone = np.setdiff1d(np.arange(len(w1)), keep)
    w1[gone], b1[gone] = 0, 0
    return rf(w1, b1, w2, keep)


def rf_w1_inputs(w1, b1, w2, keep):
    k = np.sort(keep)
    return w1[:, k], b1[k], w2[:, k]


def rf_dict(w1, b1, w2, keep):
    return dict(zip(("w1", "b1", "w2"), rf(w1, b1, w2, keep), strict=True))


def rf_library(w1, b1, w2, keep):
    small = structured.prune_channels(remove._graph(w1, b1, w2), {"layer1": np.asarray(keep)})
    return tuple(small.initializers[n] for n in ("w1", "b1", "w2"))


def cs(w, *, transpose=False, ptr="cumsum", idx="cols", nonzero=lambda w: w != 0):
    a = w.T if transpose else w
    r, c = np.nonzero(nonzero(a))
    counts = np.bincount(r, minlength=a.shape[0])
    indptr = {
        "cumsum": np.concatenate([[0], np.cumsum(counts)]),
        "counts": counts,
        "no 0": np.cumsum(counts),
    }[ptr]
    return a[r, c], {"cols": c, "rows": r}[idx], indptr


def cs_dense(w):
    rows, cols = w.shape
    return w.ravel(), np.tile(np.arange(cols), rows), np.arange(rows + 1) * cols


def cs_loop(w):
    data, indices, indptr = [], [], [0]
    for row in w:
        for j, v in enumerate(row):
            if v != 0:
                data.append(v)
                indices.append(j)
        indptr.append(len(data))
    return np.array(data, w.dtype), np.array(indices, np.int32), np.array(indptr, np.int32)


def cs_float_indices(w):
    data, indices, indptr = cs(w)
    return data, indices.astype(np.float32), indptr


def cs_torch(w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        c = t(w).to_sparse_csr()
        return c.values().numpy(), c.col_indices().numpy(), c.crow_indices().numpy()


def cs_library(w):
    c = sparse.to_csr(w)
    return c.data, c.indices, c.indptr


def mv_loop(data, indices, indptr, x, *, minus=0):
    y = np.zeros(len(indptr) - 1, np.result_type(data, x))
    for r in range(len(y)):
        for p in range(indptr[r], indptr[r + 1] - minus):
            y[r] += data[p] * x[indices[p]]
    return y


def mv_reduceat(data, indices, indptr, x):
    return np.add.reduceat(data * x[indices], indptr[:-1])


def mv_transpose(data, indices, indptr, x):
    y = np.zeros(len(x), np.result_type(data, x))
    for r in range(len(indptr) - 1):
        for p in range(indptr[r], indptr[r + 1]):
            y[indices[p]] += data[p] * x[r]
    return y


def mv_dense(data, indices, indptr, x):
    a = np.zeros((len(indptr) - 1, len(x)), data.dtype)
    a[np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)), indices] = data
    return a @ x


def mv_reduceat_fixed(data, indices, indptr, x):
    y = np.zeros(len(indptr) - 1, np.result_type(data, x))
    filled = np.flatnonzero(np.diff(indptr))
    if filled.size:
        y[filled] = np.add.reduceat(data * x[indices], indptr[filled])
    return y


def mv_library(data, indices, indptr, x):
    return sparse.csr_matmul(sparse.CSR(data, indices, indptr, (len(indptr) - 1, len(x))), x)


def mv_torch(data, indices, indptr, x):
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        a = torch.sparse_csr_tensor(
            t(indptr.astype(np.int64)), t(indices.astype(np.int64)), t(data), check_invariants=True
        )
    return (a @ t(x)).numpy()


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("magnitude_mask", functools.partial(mm, count=int), "int() cuts 37.8 down to 37"),
    ("magnitude_mask", functools.partial(mm, count=math.ceil), "24.3 rounds to 24"),
    ("magnitude_mask", functools.partial(mm, count=lambda v: v + 0.5), "round half to EVEN"),
    ("magnitude_mask", functools.partial(mm, descending=True), "prune the SMALLEST magnitudes"),
    ("magnitude_mask", functools.partial(mm, signed=True), "rank the MAGNITUDES"),
    ("magnitude_mask", functools.partial(mm, out="inverted"), "True where a weight is KEPT"),
    ("magnitude_mask", functools.partial(mm, out="weight"), "not the pruned weights"),
    ("magnitude_mask", mm_threshold_ge, "you prune one weight too few"),
    ("magnitude_mask", mm_threshold_no_k0, "when round(amount · n) = 0 nothing is pruned"),
    ("magnitude_mask", mm_quantile, "np.quantile or np.percentile interpolates"),
    ("magnitude_mask", mm_per_row, "ranks the WHOLE tensor at once"),
    ("magnitude_mask", mm_list, "one boolean NumPy array of w's shape"),
    ("magnitude_mask", mm_torch, "calls `torch."),
    ("magnitude_mask", mm_library, "calls `inferlab.prune.masks.l1_unstructured`"),
    ("magnitude_mask", functools.partial(mm, count=int, signed=True), "2 slips at once"),
    ("nm_mask", functools.partial(nmm, first=True), "group along the LAST axis"),
    ("nm_mask", functools.partial(nmm, strided=True), "a group is m NEIGHBOURS"),
    ("nm_mask", functools.partial(nmm, smallest=True), "keep the n LARGEST |w|"),
    ("nm_mask", functools.partial(nmm, signed=True), "rank the MAGNITUDES np.abs(w)"),
    ("nm_mask", functools.partial(nmm, flip=True), "KEEPS n weights in every group of m"),
    ("nm_mask", nm_argsort_once, "np.argsort gives the ORDER"),
    ("nm_mask", nm_per_row, "keep n of EVERY group of m"),
    ("nm_mask", nm_library, "calls `inferlab.prune.masks.nm_mask`"),
    ("wanda_mask", wd_magnitude, "|w| alone is magnitude pruning"),
    ("wanda_mask", functools.partial(wd, norm=lambda x: (x**2).sum(0)), "not by its square"),
    ("wanda_mask", functools.partial(wd, norm=lambda x: np.abs(x).sum(0)), "the norm is L2"),
    ("wanda_mask", functools.partial(wd, scope="tensor"), "WITHIN EACH OUTPUT ROW"),
    ("wanda_mask", functools.partial(wd, scope="column"), "not within each input column"),
    ("wanda_mask", functools.partial(wd, count=round), "Wanda prunes int(in · sparsity)"),
    ("wanda_mask", wd_token_norm, "one norm per INPUT feature j"),
    ("wanda_mask", wd_library, "calls `inferlab.prune.wanda.wanda_mask`"),
    ("wanda_mask", wd_stats_library, "calls `inferlab.prune.wanda.wanda_stats`"),
    ("channels_to_keep", functools.partial(ck, norm=lambda f: np.abs(f).sum(1)), "(L1)"),
    ("channels_to_keep", functools.partial(ck, norm=lambda f: np.abs(f).max(1)), "largest |w|"),
    ("channels_to_keep", functools.partial(ck, norm=lambda f: f.sum(1)), "cancel"),
    ("channels_to_keep", functools.partial(ck, axes="input"), "the OUTPUT channels"),
    ("channels_to_keep", functools.partial(ck, count=int), "int() cuts 9.6 down to 9"),
    ("channels_to_keep", functools.partial(ck, sort=False), "SORTED ascending"),
    ("channels_to_keep", functools.partial(ck, pruned=True), "you returned the ones to remove"),
    ("channels_to_keep", ck_mask, "not a boolean mask"),
    ("channels_to_keep", ck_float, "as integers, not float64"),
    ("channels_to_keep", ck_torch, "calls `torch."),
    ("channels_to_keep", ck_library, "calls `inferlab.prune.masks.ln_structured`"),
    ("remove_filters", functools.partial(rf, rows=True), "conv2 loses its INPUT channels"),
    ("remove_filters", functools.partial(rf, bias=False), "slice conv1's bias too"),
    ("remove_filters", functools.partial(rf, sort=False), "their ORIGINAL order"),
    ("remove_filters", rf_masked, "REMOVE the channels"),
    ("remove_filters", rf_in_place, "zeroing w1[gone] = 0 writes into the model's weights"),
    ("remove_filters", rf_w1_inputs, "index the CHANNEL axes"),
    ("remove_filters", rf_dict, "return a tuple `(w1, b1, w2)`"),
    ("remove_filters", rf_library, "calls `inferlab.prune.structured.prune_channels`"),
    ("remove_filters", functools.partial(rf, bias=False, sort=False), "2 slips at once"),
    ("to_csr", functools.partial(cs, transpose=True), "that is CSC"),
    ("to_csr", functools.partial(cs, ptr="counts"), "where each row STARTS"),
    ("to_csr", functools.partial(cs, ptr="no 0"), "lacks the leading 0"),
    ("to_csr", functools.partial(cs, idx="rows"), "each value's COLUMN"),
    ("to_csr", cs_dense, "store only the NONZEROS"),
    ("to_csr", functools.partial(cs, nonzero=lambda w: np.abs(w) > 1e-6), "however small"),
    ("to_csr", functools.partial(cs, nonzero=lambda w: ~np.isclose(w, 0)), "however small"),
    ("to_csr", cs_float_indices, "`indices` holds indices: return it as integers"),
    ("to_csr", lambda w: cs(w)[:2], "3 arrays; got 2 values"),
    ("to_csr", cs_torch, "calls `torch."),
    ("to_csr", cs_library, "calls `inferlab.prune.sparse.to_csr`"),
    ("csr_matvec", functools.partial(mv_loop, minus=1), "do not subtract 1"),
    ("csr_matvec", mv_reduceat, "np.add.reduceat(v, indptr[:-1])"),
    ("csr_matvec", mv_transpose, "computes A.T @ x"),
    ("csr_matvec", mv_library, "calls `inferlab.prune.sparse.csr_matmul`"),
    ("csr_matvec", mv_torch, "calls `torch."),
]


@pytest.mark.parametrize(
    ("task", "fn", "hint"),
    WRONG,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(WRONG)],
)
def test_a_wrong_answer_fails_with_its_hint(task, fn, hint):
    message = fails(task, fn)
    assert "Hint: " in message, message
    assert hint in message, message


def test_every_task_has_wrong_answers():
    assert {t for t, _, _ in WRONG} == set(TASKS)


def test_equivalent_right_answers_pass(capsys):
    right = [
        ("magnitude_mask", mm),
        ("magnitude_mask", functools.partial(mm, out="float")),  # torch's 0/1 float mask
        ("magnitude_mask", functools.partial(mm, count=lambda v: np.round(v))),  # half to even
        ("nm_mask", nmm),
        ("nm_mask", nm_flat_groups),
        ("wanda_mask", wd),
        ("wanda_mask", functools.partial(wd, norm=lambda x: np.sqrt((x**2).mean(0)))),  # Wanda
        ("wanda_mask", functools.partial(wd, dtype=np.float64)),
        ("channels_to_keep", ck),
        ("channels_to_keep", lambda w, amount: ck(w, amount).tolist()),
        ("remove_filters", rf),
        (
            "remove_filters",
            lambda w1, b1, w2, keep: [
                np.take(a, np.sort(keep), axis=i) for a, i in ((w1, 0), (b1, 0), (w2, 1))
            ],
        ),
        ("to_csr", cs),
        ("to_csr", cs_loop),
        ("csr_matvec", mv_loop),
        ("csr_matvec", mv_dense),
        ("csr_matvec", mv_reduceat_fixed),
    ]
    for task, fn in right:
        check(task, fn)
    assert capsys.readouterr().out.count("✓") == len(right)


# ----------------------------------------------------------------------------- messages


def test_messages_show_what_differs():
    message = fails("magnitude_mask", functools.partial(mm, count=int))
    assert "(amount · n = 0.6 · 63 = 37.8: prune 38)" in message, message
    assert "you keep 26 of 63 weights, the answer keeps 25" in message, message
    message = fails("nm_mask", functools.partial(nmm, smallest=True))
    assert "(its group w[0, 0:4] = [" in message, message
    message = fails("channels_to_keep", functools.partial(ck, count=int))
    assert "expected 4 kept channels [0, 1, 3, 4], got 5: [0, 1, 2, 3, 4]" in message, message
    assert "is among the round(0.25 · 6) = 2 of smallest norm" in message, message
    message = fails("remove_filters", functools.partial(rf, rows=True))
    assert "w2: expected shape (32, 8, 3, 3), got (8, 16, 3, 3)" in message, message
    message = fails("to_csr", functools.partial(cs, ptr="no 0"))
    assert "indptr: expected shape (7,), got (6,)" in message, message


def test_tuples_are_spelled_with_their_shapes():
    encode = encode_arrays(("a", "b"))
    a, b = np.arange(6.0).reshape(2, 3), np.array([7, 8], np.int32)
    got = split_arrays(encode((a, b)), 2)
    assert got is not None
    np.testing.assert_array_equal(got[0], a)
    np.testing.assert_array_equal(got[1], b)
    assert not np.array_equal(encode((a, b)), encode((a.reshape(3, 2), b)))
    assert split_arrays(np.zeros(3), 2) is None


# ----------------------------------------------------------------------------- the inputs


def test_inputs_are_fresh_and_deterministic():
    for task in ch06.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 7
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs


def test_the_cases_are_tie_free_where_a_tie_would_decide():
    for case in cases("magnitude_mask"):
        w = case.args[0]
        nonzero = np.abs(w[w != 0])
        assert np.unique(nonzero).size == nonzero.size, case.note
        assert (w == 0).sum() <= round(case.args[1] * w.size), case.note  # zeros all pruned
    for case in cases("nm_mask"):
        w = case.args[0]
        m = case.args[2] if len(case.args) > 2 else 4
        n = case.args[1] if len(case.args) > 1 else 2
        groups = np.abs(w).reshape(-1, m)
        assert all(np.unique(g).size == m or (g == 0).sum() <= m - n for g in groups)
    for case in cases("wanda_mask"):
        assert wanda._separated(*case.args[:2]), case.note
    for case in cases("channels_to_keep"):
        w = case.args[0]
        norms = np.linalg.norm(w.reshape(len(w), -1).astype(np.float64), axis=1)
        assert np.unique(norms).size == norms.size, case.note


def test_the_cases_cover_what_the_hints_talk_about():
    fractions = [(a * w.size) % 1 for w, a in (c.args for c in cases("magnitude_mask"))]
    assert 0.5 in fractions and any(0 < f < 0.5 for f in fractions)
    assert any(f > 0.5 for f in fractions)
    assert any(round(a * w.size) == 0 for w, a in (c.args for c in cases("magnitude_mask")))
    assert {c.args[1:] for c in cases("nm_mask")} >= {(2, 4), (1, 4), (4, 8), (2, 8), (1, 2)}
    for case in cases("nm_mask"):
        w, m = case.args[0], case.args[2] if len(case.args) > 2 else 4
        assert w.shape[-1] % m == 0 and (w.ndim == 1 or w.shape[0] % m == 0), case.note
    loud = [c for c in cases("wanda_mask") if "outlier" in c.note]
    assert loud and all(
        np.linalg.norm(c.args[1], axis=0).max() > 10 * np.median(np.linalg.norm(c.args[1], axis=0))
        for c in loud
    )
    differs = [
        not np.array_equal(wd_magnitude(*c.args), wanda._reference(*c.args))
        for c in cases("wanda_mask")
    ]
    assert sum(differs) >= 5
    conv = [c.args[0] for c in cases("channels_to_keep") if c.args[0].ndim == 4]
    assert all(w.shape[0] != w.shape[1] for w in conv)
    ranked = [
        not np.array_equal(
            ck(*c.args, norm=lambda f: np.abs(f).sum(1)), channels._reference(*c.args)
        )
        for c in cases("channels_to_keep")
    ]
    assert sum(ranked) >= 3
    keeps = [c.args for c in cases("remove_filters")]
    assert any(list(k) != sorted(k) for *_, k in keeps)
    assert all(w2.shape[0] > w1.shape[0] for w1, _, w2, _ in keeps)
    ws = [c.args[0] for c in cases("to_csr")]
    assert any(not w[0].any() for w in ws) and any(not w[-1].any() for w in ws)
    assert any(not w.any() for w in ws) and any(w.shape[0] != w.shape[1] for w in ws)
    assert any(np.any((w != 0) & (np.abs(w) < 1e-6)) for w in ws)
    ptrs = [c.args[2] for c in cases("csr_matvec")]
    assert any(p[-1] == p[-2] for p in ptrs) and any(p[0] == p[1] for p in ptrs)


def test_the_checks_never_show_the_notebooks_examples():
    for case in cases("magnitude_mask"):
        assert case.args[0].shape != (2, 3)
    for case in cases("nm_mask"):
        assert not np.any(np.isclose(case.args[0], -0.9))
    for case in cases("wanda_mask"):
        assert case.args[0].shape != (1, 4)
    for case in cases("channels_to_keep"):
        assert len(case.args[0]) != 4
    for case in cases("to_csr"):
        assert case.args[0].shape != (3, 3)
    for case in cases("csr_matvec"):
        assert len(case.args[2]) != 4 or len(case.args[3]) != 3


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def magnitude_mask(w, amount):\n"
        "    k = int(amount * w.size)\n"
        "    order = np.argsort(np.abs(w).ravel())\n"
        "    mask = np.ones(w.size, dtype=bool)\n"
        "    mask[order[:k]] = False\n"
        "    return mask.reshape(w.shape)"
    )
    folder = tmp_path_factory.mktemp("student06")
    return grade_three(folder, ROOT, "06_pruning", "magnitude_mask", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_wrong_magnitude_mask_with_its_hint(graded):
    assert_one_failure(graded["student"], "magnitude_mask", "not int(amount · n) or floor")
