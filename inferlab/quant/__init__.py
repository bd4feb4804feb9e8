"""Quantization (chapter 05): store and compute with fewer bits, and say exactly how.

    >>> from inferlab import quant
    >>> qp = quant.qparams_of(w, "int8", symmetric=True, axis=0)   # per output channel, ORT's way
    >>> w_q = quant.quantize(w, qp)                                 # int8, bit-exact to ORT
    >>> quant.sqnr_db(w, quant.dequantize(w_q, qp))                 # ~6 dB per bit
    >>> quant.calibrate(batches, "percentile")                      # an activation's range
    >>> quant.matmul_integer(a_q, w_q, a_zp, 0)                     # exact int32 accumulation
    >>> packed, scales, zps = quant.quantize_4bits(w, block_size=128)   # MatMulNBits bytes
    >>> qs = quant.quantize_static(graph, feeds, method="entropy")  # a QDQ engine graph

Modules, one idea each:

- ``params``: the affine map's scale and zero point (``QParams``) in ONNX Runtime's or torch's
  convention, per tensor / channel / block; ``affine``: quantize, dequantize, fake-quant, SQNR;
- ``calibrate``: an activation's range from data (MinMax, moving average, Percentile, Entropy,
  MSE), bit-exact to ORT's calibrators;
- ``integer``: integer kernels (DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, a dynamic
  int8 linear layer) and when float32 BLAS computes them exactly;
- ``blockwise``: weight-only int4 in ORT's MatMulNBits layout; ``ggml``: llama.cpp's Q8_0/Q4_0;
- ``outliers``: SmoothQuant's scale migration and LLM.int8's outlier split;
- ``ptq`` (``dynamic``, ``static``): whole engine graphs quantized node for node as ORT does it,
  and saved with :func:`inferlab.onnx.save` for onnxruntime to run.
"""

from inferlab.quant.affine import (
    dequantize,
    fake_quant,
    quantization_error,
    quantize,
    sqnr_db,
)
from inferlab.quant.blockwise import (
    dequantize_4bits,
    matmul_4bits,
    pack_nibbles,
    quantize_4bits,
    unpack_nibbles,
)
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
from inferlab.quant.ggml import dequantize_q4_0, dequantize_q8_0, quantize_q4_0, quantize_q8_0
from inferlab.quant.integer import (
    dynamic_quant_linear,
    dynamic_quantize_linear,
    exact_in_float32,
    matmul_integer,
    max_exact_k,
    qlinear_matmul,
)
from inferlab.quant.outliers import Int8Info, llm_int8_matmul, smooth, smoothquant_scales
from inferlab.quant.params import CONVENTIONS, INT_DTYPES, QParams, qparams, qparams_of, qrange
from inferlab.quant.ptq import (
    quantize_dynamic,
    quantize_static,
    size_by_dtype,
    tensor_ranges,
    weight_bytes,
)

__all__ = [
    "CONVENTIONS",
    "INT_DTYPES",
    "METHODS",
    "MSE",
    "Calibrator",
    "Entropy",
    "Int8Info",
    "MinMax",
    "MovingAverageMinMax",
    "Percentile",
    "QParams",
    "calibrate",
    "dequantize",
    "dequantize_4bits",
    "dequantize_q4_0",
    "dequantize_q8_0",
    "dynamic_quant_linear",
    "dynamic_quantize_linear",
    "exact_in_float32",
    "fake_quant",
    "llm_int8_matmul",
    "make_calibrator",
    "matmul_4bits",
    "matmul_integer",
    "max_exact_k",
    "pack_nibbles",
    "qlinear_matmul",
    "qparams",
    "qparams_of",
    "qrange",
    "quantization_error",
    "quantize",
    "quantize_4bits",
    "quantize_dynamic",
    "quantize_q4_0",
    "quantize_q8_0",
    "quantize_static",
    "size_by_dtype",
    "smooth",
    "smoothquant_scales",
    "sqnr_db",
    "tensor_ranges",
    "unpack_nibbles",
    "weight_bytes",
]
