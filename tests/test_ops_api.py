"""The shape of the ``inferlab.ops`` API: every op has a cost, Cost behaves, dtypes are checked."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from inferlab import ops
from inferlab.errors import DTypeError

# Public names that are not tensor ops: records, tables and plain arithmetic on sizes.
NOT_OPS = {"Cost", "COSTS", "FLOPS_PER_ELEMENT", "conv_output_size"}


def public_ops():
    return sorted(
        name
        for name in ops.__all__
        if name not in NOT_OPS and not name.endswith("_cost") and callable(getattr(ops, name))
    )


def test_all_names_exist():
    missing = [name for name in ops.__all__ if not hasattr(ops, name)]
    assert not missing


def test_costs_cover_every_public_op():
    assert set(ops.COSTS) == set(public_ops())
    for name, cost_fn in ops.COSTS.items():
        assert callable(cost_fn) and cost_fn.__name__.endswith("_cost"), name
        assert "flop" in (cost_fn.__doc__ or "").lower(), f"{name}: document the FLOP formula"


def test_contract_names_are_all_there():
    contract = """Cost matmul_naive matmul_vectorized matmul_tiled matmul matmul_cost linear
    linear_cost im2col conv2d conv2d_direct conv2d_cost conv_output_size max_pool2d avg_pool2d
    pool2d_cost relu sigmoid silu tanh erf gelu elementwise_cost softmax_naive softmax log_softmax
    softmax_cost layer_norm rms_norm layer_norm_cost rms_norm_cost embedding embedding_cost
    causal_mask scaled_dot_product_attention attention_cost COSTS""".split()
    assert set(contract) <= set(ops.__all__)


def test_every_public_function_documents_itself():
    for name in ops.__all__:
        obj = getattr(ops, name)
        if inspect.isfunction(obj):
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name


def test_cost_is_a_frozen_record_that_adds():
    a, b = ops.Cost(100, 50), ops.Cost(20, 30)
    assert a + b == ops.Cost(120, 80)
    assert sum([a, b]) == ops.Cost(120, 80)  # sum() starts from 0
    assert a.intensity == 2.0
    assert ops.Cost(5, 0).intensity == float("inf")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.flops = 1
    assert "FLOP/byte" in str(a)


def test_a_small_model_cost_adds_up():
    """A 2-layer MLP block on (B, T, C): the total is the sum of its ops' costs."""
    B, T, C = 2, 16, 64
    parts = [
        ops.layer_norm_cost((B, T, C), C),
        ops.linear_cost((B, T, C), (4 * C, C)),
        ops.gelu_cost((B, T, 4 * C)),
        ops.linear_cost((B, T, 4 * C), (C, 4 * C)),
    ]
    total = sum(parts)
    assert total.flops == sum(p.flops for p in parts)
    assert total.flops > 2 * 2 * B * T * C * 4 * C  # the two matmuls dominate


# Every float op rejects integer input with a DTypeError that tells how to convert.
INT_CALLS = {
    "matmul_naive": lambda x: ops.matmul_naive(x, x),
    "matmul_vectorized": lambda x: ops.matmul_vectorized(x, x),
    "matmul_tiled": lambda x: ops.matmul_tiled(x, x),
    "matmul": lambda x: ops.matmul(x, x),
    "linear": lambda x: ops.linear(x, x),
    "im2col": lambda x: ops.im2col(x[None, None], 1),
    "conv2d": lambda x: ops.conv2d(x[None, None], x[None, None]),
    "conv2d_direct": lambda x: ops.conv2d_direct(x[None, None], x[None, None]),
    "max_pool2d": lambda x: ops.max_pool2d(x[None, None], 1),
    "avg_pool2d": lambda x: ops.avg_pool2d(x[None, None], 1),
    "softmax_naive": ops.softmax_naive,
    "softmax": ops.softmax,
    "log_softmax": ops.log_softmax,
    "layer_norm": lambda x: ops.layer_norm(x, 2),
    "rms_norm": lambda x: ops.rms_norm(x, 2),
    "embedding": lambda x: ops.embedding(np.zeros(2, np.int64), x),
    "scaled_dot_product_attention": lambda x: ops.scaled_dot_product_attention(x, x, x),
}


@pytest.mark.parametrize("name", sorted(INT_CALLS))
def test_integer_input_raises_dtype_error(name):
    with pytest.raises(DTypeError, match=r"int64.*astype"):
        INT_CALLS[name](np.ones((2, 2), np.int64))


def test_ops_keep_float64_on_each_path():
    x = np.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    assert ops.conv2d(x, x[:, :, :2, :2]).dtype == np.float64
    assert ops.max_pool2d(x, 2).dtype == np.float64
    assert ops.avg_pool2d(x, 2).dtype == np.float64
    assert ops.linear(x[0, 0], x[0, 0]).dtype == np.float64
    assert ops.embedding([0, 1], x[0, 0]).dtype == np.float64
    q = x[0]
    assert ops.scaled_dot_product_attention(q, q, q).dtype == np.float64


def test_ops_never_modify_their_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    m = rng.standard_normal((6, 6)).astype(np.float32)
    before = [a.copy() for a in (x, w, m)]
    calls = [
        lambda: ops.conv2d(x, w, w[:, 0, 0, 0], padding=1),
        lambda: ops.max_pool2d(x, 2),
        lambda: ops.max_pool2d(x, 1),
        lambda: ops.avg_pool2d(x, 3, 1, 1),
        lambda: ops.im2col(x, 2),
        lambda: ops.im2col(x, 1),  # 1x1 windows could be a mere view of x
        lambda: ops.softmax(x),
        lambda: ops.log_softmax(x),
        lambda: ops.layer_norm(x, 6, m[0], m[1]),
        lambda: ops.rms_norm(x, (6, 6), m),
        lambda: ops.matmul_tiled(m, m, 4),
        lambda: ops.linear(x, m, m[0]),
        lambda: ops.scaled_dot_product_attention(x, x, x, mask=m, causal=True),
    ]
    calls += [lambda f=f: f(x) for f in (ops.relu, ops.sigmoid, ops.silu, ops.erf, ops.gelu)]
    calls += [lambda: ops.conv2d(x, w[:, :, :1, :1]), lambda: ops.embedding([0, 5], m)]
    for call in calls:
        out = call()
        assert not any(np.shares_memory(out, a) for a in (x, w, m))  # a new array, no view
        out[...] = 0  # writing to a result never reaches an input
        for a, b in zip((x, w, m), before, strict=True):
            np.testing.assert_array_equal(a, b)
