"""Tensor ops from scratch in NumPy (chapter 01), each with its FLOP and byte count.

    >>> from inferlab import ops
    >>> ops.matmul(a, b)                       # BLAS; ops.matmul_naive / _vectorized / _tiled
    >>> ops.matmul_cost(a.shape, b.shape)      # Cost(flops=2*M*N*K, bytes=...)
    >>> ops.COSTS["conv2d"]                    # every op's cost function, by op name

Tensors are NumPy arrays, NCHW layout, torch conventions (linear weight (out, in); conv weight
(OC, C/groups, KH, KW)). Float ops take float16/32/64 arrays (or lists of floats) and return
the same dtype; integer input raises DTypeError, wrong shapes ShapeError, bad settings
InvalidValueError (all from :mod:`inferlab.errors`).

Modules, one concept each: ``matmul`` (the ladder and linear), ``conv`` (im2col, conv2d),
``pool``, ``activations`` (with ``erf``), ``softmax``, ``norm``, ``embedding``, ``attention``,
``cost`` (the Cost record).
"""

from inferlab.ops.activations import (
    FLOPS_PER_ELEMENT,
    elementwise_cost,
    erf_cost,
    gelu,
    gelu_cost,
    relu,
    relu_cost,
    sigmoid,
    sigmoid_cost,
    silu,
    silu_cost,
    tanh,
    tanh_cost,
)
from inferlab.ops.attention import (
    attention_cost,
    causal_mask,
    causal_mask_cost,
    scaled_dot_product_attention,
)
from inferlab.ops.conv import (
    conv2d,
    conv2d_cost,
    conv2d_direct,
    conv_output_size,
    im2col,
    im2col_cost,
)
from inferlab.ops.cost import Cost
from inferlab.ops.embedding import embedding, embedding_cost
from inferlab.ops.erf import erf, erfc
from inferlab.ops.matmul import (
    linear,
    linear_cost,
    matmul,
    matmul_cost,
    matmul_naive,
    matmul_tiled,
    matmul_vectorized,
)
from inferlab.ops.norm import layer_norm, layer_norm_cost, rms_norm, rms_norm_cost
from inferlab.ops.pool import avg_pool2d, max_pool2d, pool2d_cost
from inferlab.ops.softmax import log_softmax, softmax, softmax_cost, softmax_naive

# Op name -> its cost function; the profiler and the hardware models of later chapters look
# ops up here. Each cost function takes the op's input *shapes* (and settings), not arrays.
COSTS = {
    "matmul_naive": matmul_cost,
    "matmul_vectorized": matmul_cost,
    "matmul_tiled": matmul_cost,
    "matmul": matmul_cost,
    "linear": linear_cost,
    "im2col": im2col_cost,
    "conv2d": conv2d_cost,
    "conv2d_direct": conv2d_cost,
    "max_pool2d": pool2d_cost,
    "avg_pool2d": pool2d_cost,
    "relu": relu_cost,
    "sigmoid": sigmoid_cost,
    "silu": silu_cost,
    "tanh": tanh_cost,
    "erf": erf_cost,
    "erfc": erf_cost,
    "gelu": gelu_cost,
    "softmax_naive": softmax_cost,
    "softmax": softmax_cost,
    "log_softmax": softmax_cost,
    "layer_norm": layer_norm_cost,
    "rms_norm": rms_norm_cost,
    "embedding": embedding_cost,
    "causal_mask": causal_mask_cost,
    "scaled_dot_product_attention": attention_cost,
}

__all__ = [
    "COSTS",
    "FLOPS_PER_ELEMENT",
    "Cost",
    "attention_cost",
    "avg_pool2d",
    "causal_mask",
    "causal_mask_cost",
    "conv2d",
    "conv2d_cost",
    "conv2d_direct",
    "conv_output_size",
    "elementwise_cost",
    "embedding",
    "embedding_cost",
    "erf",
    "erf_cost",
    "erfc",
    "gelu",
    "gelu_cost",
    "im2col",
    "im2col_cost",
    "layer_norm",
    "layer_norm_cost",
    "linear",
    "linear_cost",
    "log_softmax",
    "matmul",
    "matmul_cost",
    "matmul_naive",
    "matmul_tiled",
    "matmul_vectorized",
    "max_pool2d",
    "pool2d_cost",
    "relu",
    "relu_cost",
    "rms_norm",
    "rms_norm_cost",
    "scaled_dot_product_attention",
    "sigmoid",
    "sigmoid_cost",
    "silu",
    "silu_cost",
    "softmax",
    "softmax_cost",
    "softmax_naive",
    "tanh",
    "tanh_cost",
]
