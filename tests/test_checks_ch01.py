"""Every check of exercises 01 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/01_ops.ipynb (extracted from the notebook's own
cells and exec'd) passes; the generated stub in exercises/01_ops.ipynb is "not attempted"; and
plausible wrong answers, written the way students write them, fail with a specific hint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from exercise_support import check_helpers, notebook_functions

from inferlab import ops
from inferlab.checks import ch01, core

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["matmul_tiled", "conv2d", "softmax", "layer_norm", "causal_attention"]


SOLUTION = notebook_functions(ROOT / "solutions" / "01_ops.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "01_ops.ipynb", TASKS)


check, fails = check_helpers(ch01)


# ----------------------------------------------------------------------------- the reference


@pytest.mark.parametrize("task", TASKS)
def test_the_reference_itself_is_refused(task):
    reference = {
        "matmul_tiled": ops.matmul_tiled,
        "conv2d": ops.conv2d,
        "softmax": ops.softmax,
        "layer_norm": ops.layer_norm,
        "causal_attention": ops.scaled_dot_product_attention,
    }[task]
    assert "needs your own" in fails(task, reference)


# ----------------------------------------------------------------------------- wrong answers


def mm_full_tiles_only(a, b, tile):
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n))
    for i in range(0, m - tile + 1, tile):
        for j in range(0, n - tile + 1, tile):
            for p in range(0, k - tile + 1, tile):
                c[i : i + tile, j : j + tile] += (
                    a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
                )
    return c


def mm_tile_count(a, b, tile):  # range(M // tile): the same mistake, written differently
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n))
    for bi in range(m // tile):
        for bj in range(n // tile):
            for bp in range(k // tile):
                i, j, p = bi * tile, bj * tile, bp * tile
                c[i : i + tile, j : j + tile] += (
                    a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
                )
    return c


def mm_fixed_buffer(a, b, tile):  # a tile-sized buffer: raises on the smaller remainder tiles
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n))
    buf = np.zeros((tile, tile))
    for i in range(0, m, tile):
        for j in range(0, n, tile):
            buf[:] = 0
            for p in range(0, k, tile):
                buf[:] += a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
            c[i : i + tile, j : j + tile] = buf
    return c


def mm_overwrite(a, b, tile):
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n))
    for i in range(0, m, tile):
        for j in range(0, n, tile):
            for p in range(0, k, tile):
                c[i : i + tile, j : j + tile] = (
                    a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
                )
    return c


def mm_float32(a, b, tile):  # a float32 accumulator for float64 inputs
    c = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for i in range(0, a.shape[0], tile):
        for j in range(0, b.shape[1], tile):
            for p in range(0, a.shape[1], tile):
                c[i : i + tile, j : j + tile] += (
                    a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
                )
    return c


def mm_never_stored(a, b, tile):
    c = np.zeros((a.shape[0], b.shape[1]))
    for i in range(0, a.shape[0], tile):
        for j in range(0, b.shape[1], tile):
            block = c[i : i + tile, j : j + tile].copy()
            for p in range(0, a.shape[1], tile):
                block += a[i : i + tile, p : p + tile] @ b[p : p + tile, j : j + tile]
    return c


def mm_square_output(a, b, tile):
    return np.zeros((a.shape[0], a.shape[0]))


def conv_loops(
    x,
    weight,
    stride=1,
    padding=0,
    *,
    flip=False,
    pad_all=False,
    use_stride=True,
    formula="right",
    transpose=True,
):
    """A student's im2col with switches for their mistakes."""
    s = stride if use_stride else 1
    p = padding
    if flip:
        weight = np.flip(weight, axis=(2, 3))
    xp = np.pad(x, p) if pad_all else np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    n, c, h, w = x.shape
    oc, _, kh, kw = weight.shape
    if formula == "right":
        oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    else:  # (H + 2p - KH + 1) // stride: right for stride 1 only
        oh, ow = (h + 2 * p - kh + 1) // s, (w + 2 * p - kw + 1) // s
    rows = []
    for i in range(oh):
        for j in range(ow):
            rows.append(xp[:, :, i * s : i * s + kh, j * s : j * s + kw].reshape(n, -1))
    cols = np.stack(rows, axis=1)  # (N, OH*OW, C*KH*KW)
    out = cols.reshape(-1, cols.shape[-1]) @ weight.reshape(oc, -1).T  # (N*OH*OW, OC)
    if transpose:
        return out.reshape(n, oh * ow, oc).transpose(0, 2, 1).reshape(n, oc, oh, ow)
    return out.reshape(n, oc, oh, ow)


def test_conv_student_helper_is_right_without_mistakes():
    check("conv2d", conv_loops)  # so each switch below is the only mistake


def softmax_naive(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_global_max(x, axis=-1):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_sum_everything(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum()


def softmax_last_axis(x, axis=-1):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_first_axis(x, axis=-1):  # hard-coded axis=0
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_in_place(x, axis=-1):
    x -= np.max(x, axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x


def softmax_no_keepdims(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis))
    return e / np.sum(e, axis=axis)


def softmax_minus_mean(x, axis=-1):
    e = np.exp(x - np.mean(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_no_return(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e / e.sum(axis=axis, keepdims=True)


def ln_axis0(x, weight, bias, eps=1e-5):
    mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def ln_ddof1(x, weight, bias, eps=1e-5):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, ddof=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def ln_eps_outside(x, weight, bias, eps=1e-5):
    mean, std = x.mean(-1, keepdims=True), x.std(-1, keepdims=True)
    return (x - mean) / (std + eps) * weight + bias


def ln_no_eps(x, weight, bias, eps=1e-5):
    mean, std = x.mean(-1, keepdims=True), x.std(-1, keepdims=True)
    return (x - mean) / std * weight + bias


def ln_one_pass(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = (x * x).mean(-1, keepdims=True) - mean * mean
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def ln_swapped(x, weight, bias, eps=1e-5):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * bias + weight


def ln_eps_constant(x, weight, bias, eps=1e-5):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * weight + bias


def attn(
    q, k, v, *, scale=True, mask="causal", transpose="swap", fill=-np.inf, how="where", stable=True
):
    """A student's attention with switches for their mistakes."""
    kt = k.T if transpose == "T" else np.swapaxes(k, -1, -2)
    s = q @ kt
    if scale:
        s = s / np.sqrt(q.shape[-1])
    t = s.shape[-1]
    future = {
        "causal": np.triu(np.ones((t, t), bool), k=1),
        "strict": np.triu(np.ones((t, t), bool), k=0),
        "past": np.tril(np.ones((t, t), bool), k=-1),
        "none": np.zeros((t, t), bool),
    }[mask]
    if how == "where":
        s = np.where(future, fill, s)
    elif how == "multiply":
        s = s * ~future
    e = np.exp(s - s.max(axis=-1, keepdims=True)) if stable else np.exp(s)
    w = e / e.sum(axis=-1, keepdims=True)
    if how == "after":
        w = w * ~future
    return w @ v


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("matmul_tiled", mm_full_tiles_only, "handle the remainder tiles"),
    ("matmul_tiled", mm_tile_count, "handle the remainder tiles"),
    ("matmul_tiled", mm_fixed_buffer, "handle the remainder tiles"),
    ("matmul_tiled", mm_overwrite, "Use `+=`"),
    ("matmul_tiled", mm_square_output, "A (M, K) @ B (K, N) is (M, N)"),
    ("matmul_tiled", mm_float32, "keep the input's precision"),
    ("matmul_tiled", mm_never_stored, "your result is all zeros"),
    (
        "conv2d",
        lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding, flip=True),
        "cross-correlation: don't flip",
    ),
    (
        "conv2d",
        lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding, pad_all=True),
        "np.pad(x, p) would pad N and C too",
    ),
    (
        "conv2d",
        lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding, use_stride=False),
        "apply the stride",
    ),
    (
        "conv2d",
        lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding, formula="wrong"),
        "OH = (H + 2*padding - KH) // stride + 1",
    ),
    (
        "conv2d",
        lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding, transpose=False),
        "must be transposed",
    ),
    ("softmax", softmax_naive, "subtract the max along `axis` before np.exp"),
    ("softmax", softmax_minus_mean, "subtract the max along `axis` before np.exp"),
    ("softmax", softmax_global_max, "not the global max"),
    ("softmax", softmax_sum_everything, "sum along `axis` only"),
    ("softmax", softmax_last_axis, "use the `axis` argument"),
    ("softmax", softmax_first_axis, "your output sums to 1 along axis 0 instead"),
    ("softmax", softmax_in_place, "changed its input `x` in place"),
    ("softmax", softmax_no_keepdims, "keepdims=True"),
    ("softmax", softmax_no_return, "forget the `return`"),
    ("layer_norm", ln_axis0, "you normalised over axis 0"),
    ("layer_norm", ln_ddof1, "use the biased variance (divide by N"),
    ("layer_norm", ln_eps_outside, "add eps inside the square root"),
    ("layer_norm", ln_no_eps, "add eps to the variance before the square root"),
    ("layer_norm", ln_one_pass, "cancels catastrophically"),
    ("layer_norm", ln_swapped, "you swapped them"),
    ("layer_norm", ln_eps_constant, "use the `eps` argument"),
    ("causal_attention", lambda q, k, v: attn(q, k, v, mask="none"), "apply the causal mask"),
    (
        "causal_attention",
        lambda q, k, v: attn(q, k, v, scale=False),
        "scale the scores by 1/sqrt(D)",
    ),
    (
        "causal_attention",
        lambda q, k, v: attn(q, k, v, scale=False, mask="none"),
        "two things are missing",
    ),
    ("causal_attention", lambda q, k, v: attn(q, k, v, transpose="T"), "`k.T` reverses ALL axes"),
    (
        "causal_attention",
        lambda q, k, v: attn(q, k, v, mask="strict", fill=-1e9),
        "keep the diagonal",
    ),
    ("causal_attention", lambda q, k, v: attn(q, k, v, mask="strict"), "keep the diagonal"),
    (
        "causal_attention",
        lambda q, k, v: attn(q, k, v, mask="past"),
        "masked the past instead of the future",
    ),
    ("causal_attention", lambda q, k, v: attn(q, k, v, how="multiply"), "not 0: exp(0) = 1"),
    ("causal_attention", lambda q, k, v: attn(q, k, v, how="after"), "BEFORE the softmax"),
    ("causal_attention", lambda q, k, v: attn(q, k, v, stable=False), "numerically stable softmax"),
]


def test_the_student_attention_helper_is_right_without_mistakes():
    check("causal_attention", attn)


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


# ----------------------------------------------------------------------------- messages


def test_an_exception_names_itself_the_inputs_and_the_line():
    def softmax(x, axis=-1):
        rows = {2: "matrix"}[x.ndim]  # KeyError on 1-D input
        return SOLUTION["softmax"](x, axis) if rows else None

    message = fails("softmax", softmax)
    assert message.startswith("softmax raised KeyError: 1"), message
    assert "x: (5,) float64 (1-D)" in message
    assert 'of softmax: `rows = {2: "matrix"}[x.ndim]' in message


def test_a_wrong_value_says_where_and_how_right_the_function_is():
    def layer_norm(x, weight, bias, eps=1e-5):
        out = SOLUTION["layer_norm"](x, weight, bias, eps)
        return out + (x.shape[0] == 5) * 0.5  # wrong only on the (5, 3) case

    message = fails("layer_norm", layer_norm)
    assert "layer_norm is wrong for x: (5, 3) float64, weight: (3,) float64" in message
    assert "largest error 0.5 at index" in message
    assert "(It is right on 9 of the 10 inputs.)" in message


def test_calling_the_reference_or_torch_is_not_an_answer():
    message = fails("softmax", lambda x, axis=-1: ops.softmax(x, axis=axis))
    assert "calls `inferlab.ops.softmax.softmax`" in message and "write it yourself" in message
    torch = pytest.importorskip("torch")
    by_torch = fails("softmax", lambda x, axis=-1: torch.softmax(torch.from_numpy(x), axis).numpy())
    assert "calls `torch." in by_torch


def test_not_implemented_for_some_inputs_only_is_a_crash_not_a_stub():
    def conv2d(x, weight, stride=1, padding=0):
        if padding:
            raise NotImplementedError("padding is not supported yet")
        return SOLUTION["conv2d"](x, weight, stride, padding)

    message = fails("conv2d", conv2d)
    assert message.startswith("conv2d raised NotImplementedError: padding is not supported yet")
    assert "right without padding and wrong with it" in message


def test_not_a_function_and_not_an_array():
    assert "needs your function" in fails("softmax", None)
    assert "not a numeric array" in fails("softmax", lambda x, axis=-1: "softmax")


def test_a_list_result_is_accepted(capsys):
    check("softmax", lambda x, axis=-1: SOLUTION["softmax"](x, axis).tolist())
    assert capsys.readouterr().out.startswith("✓ softmax")


def test_inputs_are_fresh_and_deterministic():
    for task in ch01.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 8
        for a, b in zip(first, second, strict=True):
            for x, y in zip(a.args, b.args, strict=True):
                assert np.array_equal(x, y)  # the same inputs every run: reproducible hints
        x = next(a for c in first for a in c.args if isinstance(a, np.ndarray) and a.size > 1)
        seen = np.random.default_rng(0).standard_normal(x.shape)
        assert not np.allclose(x, seen), "a check reuses the notebook's seed"


def test_fails_only_on():
    ok = core.Outcome(core.Case(()), np.zeros(1))
    bad = core.Outcome(core.Case((), tags=frozenset({"t"})), np.zeros(1), problem="values")
    assert core.fails_only_on([ok, bad], "t")
    assert not core.fails_only_on([bad], "t")  # nothing without the tag passed
    assert not core.fails_only_on([ok], "t")  # nothing failed
