"""Post-training quantization of whole engine graphs, node for node as onnxruntime does it.

    >>> g = inferlab.onnx.load("cnn.onnx")
    >>> qd = quantize_dynamic(g)                                  # int8 weights, u8 at run time
    >>> qs = quantize_static(g, [{"x": xb} for xb in batches],    # calibrated u8 activations
    ...                      method="percentile", per_channel=True)
    >>> Executor(qs).run({"x": x})["logits"]                     # runs in the engine ...
    >>> inferlab.onnx.save(qs, "cnn.qdq.onnx")                   # ... and in onnxruntime
    >>> weight_bytes(g) / weight_bytes(qs)                       # ~4x smaller

**Dynamic** (``onnxruntime/quantization/onnx_quantizer.py``, ``operators/matmul.py``): the
weights of MatMuls with a constant B become int8 (symmetric, per tensor or per output column);
the activation is quantized to uint8 at run time from its own min/max::

    x -> DynamicQuantizeLinear -> (x_q, x_s, x_zp) -> MatMulInteger(x_q, w_q, x_zp, w_zp)
      -> Cast(float) -> Mul(x_s * w_s) -> y

ORT first rewrites every Gemm (alpha = beta = 1, no transA) as MatMul [+ Add], storing a
transposed copy ``{B}_Transposed`` of a constant transB weight (``onnx_model.py
replace_gemm_with_matmul``), so the digits MLP's Gemms are quantized as MatMuls. ORT's default
op types are all of ``IntegerOpsRegistry`` (Conv, MatMul, Gather, Transpose, Attention, LSTM,
EmbedLayerNormalization); here only MatMul is implemented.

**Static QDQ** (``qdq_quantizer.py``, ``base_quantizer.py``, ``calibrate.py``): calibration runs
the float graph on the calibration batches, and a calibrator (:mod:`inferlab.quant.calibrate`)
turns each activation's values into a range. Then a QuantizeLinear -> DequantizeLinear pair is
put on each tensor an operator wants quantized:

- Conv, Gemm: input, output, weight (per tensor, or per output channel: axis 0, Gemm with
  transB) and bias, stored as int32 with scale ``s_x * s_w * beta`` and zero point 0;
- MatMul: every input and the output (a constant input is a weight, per channel on axis 1);
- Relu, Clip: *folded*: the range of their output is used for their input, and when the input
  has no other reader the node is dropped (uint8 with zero point 0 clips at 0 already);
- MaxPool, Flatten, Reshape, Transpose, ...: the output reuses the input's scale and zero
  point, if the input is quantized;
- Add, Mul, Concat, Softmax (range [0, 1]), ...: every input and output.

Weights are stored quantized (``{w}_quantized`` -> DequantizeLinear), activations get
``{t}_QuantizeLinear`` / ``{t}_DequantizeLinear`` nodes and ``{t}_scale`` / ``{t}_zero_point``
initializers: ORT's names, so the two graphs can be compared tensor by tensor. The float
kernels of the calibration run decide the ranges to the last bit: ``runner="onnxruntime"``
computes the activations with onnxruntime (``ORT_DISABLE_ALL``, as ORT's calibrater does) and
reproduces ORT's scales exactly; the engine's BLAS sums differ in the last bits.
"""

from inferlab.quant._graph_edit import (
    DYNAMIC_OP_TYPES,
    STATIC_OP_TYPES,
    size_by_dtype,
    weight_bytes,
)
from inferlab.quant.dynamic import quantize_dynamic
from inferlab.quant.static import quantize_static, tensor_ranges

__all__ = [
    "DYNAMIC_OP_TYPES",
    "STATIC_OP_TYPES",
    "quantize_dynamic",
    "quantize_static",
    "size_by_dtype",
    "tensor_ranges",
    "weight_bytes",
]
