"""All kernels, by ONNX op type: ``KERNELS["MatMul"](inputs, attrs) -> outputs``.

The kernels live in modules of one topic each, which register themselves on import:
``kernels_math`` (elementwise arithmetic, comparisons, reductions), ``kernels_activation``,
``kernels_nn`` (MatMul, Gemm, FusedMatMul, norms, softmax), ``kernels_conv`` (Conv, pooling),
``kernels_attention`` (FusedAttention), ``kernels_tensor`` (reshape, index) and
``kernels_create`` (cast, constants, ranges, padding).
"""

from __future__ import annotations

from inferlab.graph import (  # noqa: F401 (importing a kernel module registers its kernels)
    kernels_activation,
    kernels_attention,
    kernels_conv,
    kernels_create,
    kernels_math,
    kernels_nn,
    kernels_quant,
    kernels_tensor,
)
from inferlab.graph.kernels_create import ONNX_DTYPES
from inferlab.graph.registry import (
    INPLACE,
    KERNELS,
    MAX_ELEMENTS,
    OUT_KERNELS,
    PREPARE,
    VIEWS,
    prepare_attrs,
)

SUPPORTED_OPS = frozenset(KERNELS)

__all__ = [
    "INPLACE",
    "KERNELS",
    "MAX_ELEMENTS",
    "ONNX_DTYPES",
    "OUT_KERNELS",
    "PREPARE",
    "SUPPORTED_OPS",
    "VIEWS",
    "prepare_attrs",
]
