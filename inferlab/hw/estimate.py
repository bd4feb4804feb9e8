"""Op and model cost on a device: the roofline applied to real shapes and number formats.

    >>> est = matmul_estimate(1, 8192, 8192, h100, weight_dtype="bf16")   # one token, one layer
    >>> est.bound, est.seconds                                            # ('memory', 4.0e-05)
    >>> m = model_estimate(graph, {"x": (64, 1, 8, 8)}, h100, "bf16")     # every node, summed

Three rules make a roofline estimate dtype-aware (the same rules LLM-Viewer uses):

1. bytes follow the storage format: a weight in int4 moves 0.5 byte per element, an activation
   in bf16 moves 2;
2. the compute peak follows the *arithmetic* format (:func:`compute_dtype`): the int8 peak only
   when both operands are 8-bit, otherwise the wider operand's format. Weight-only quantization
   (int4 weights, bf16 activations) dequantizes to bf16 before multiplying: fewer bytes, same
   peak;
3. efficiency factors (:class:`Efficiency`) scale the roofs down to what real kernels reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inferlab.errors import InvalidValueError
from inferlab.hw.device import BITS, Device, dtype_bytes
from inferlab.hw.roofline import Estimate, roofline_time

__all__ = [
    "DEFAULT_EFFICIENCY",
    "Efficiency",
    "ModelEstimate",
    "MATRIX_OPS",
    "compute_dtype",
    "is_matrix_op",
    "matmul_estimate",
    "model_estimate",
    "op_estimate",
]


@dataclass(frozen=True)
class Efficiency:
    """Fractions of the roofs a real implementation reaches, and a fixed cost per op.

    compute: achieved / peak FLOP/s when compute-bound, in (0, 1];
    memory: achieved / peak bytes/s when memory-bound (> 1 means the data lives in a cache
    faster than main memory); overhead_s: seconds added per op (a kernel launch, a Python call);
    overlap: 1 if compute and memory traffic overlap fully (the roofline's ``max``), 0 if they
    take turns (their sum), in between otherwise; vector: the compute efficiency of ops that are
    not matrix products (elementwise, softmax, normalisation: vector units, not matrix units),
    None for the same as ``compute``.
    """

    compute: float = 1.0
    memory: float = 1.0
    overhead_s: float = 0.0
    overlap: float = 1.0
    vector: float | None = None

    def __post_init__(self):
        for name in ("compute", "memory", "vector"):
            v = getattr(self, name)
            if v is None and name == "vector":
                continue
            if not isinstance(v, int | float) or not np.isfinite(v) or v <= 0:
                raise InvalidValueError(f"Efficiency.{name} must be a positive fraction; got {v!r}")
        if not np.isfinite(self.overhead_s) or self.overhead_s < 0:
            raise InvalidValueError(f"Efficiency.overhead_s must be >= 0 s; got {self.overhead_s}")
        if not 0 <= self.overlap <= 1:
            raise InvalidValueError(f"Efficiency.overlap must be in [0, 1]; got {self.overlap}")


# Defaults by kind of work. "kernel": one big GEMM or stream (hardware.md section 5.7: eta_c
# 0.5-0.8, eta_m 0.6-0.9). Whole models reach less of the compute roof, because they also run
# small, memory-bound and badly shaped ops: MLPerf ResNet-50 Offline reaches 36-44 % of dense int8
# peak on H100, H200, L4 and 2-socket Sapphire Rapids; Llama-2-70B Offline reaches 17-27 % of the
# fp8/fp4 peak on H100, H200 and B200 counting output-token FLOPs (hardware.md section 6).
DEFAULT_EFFICIENCY = {
    "ideal": Efficiency(1.0, 1.0),
    "kernel": Efficiency(0.7, 0.8),
    "cnn": Efficiency(0.38, 0.8),
    "llm_serving": Efficiency(0.21, 0.8),
}


# Ops that are matrix products (run on matrix units / BLAS); the rest are vector ops.
MATRIX_OPS = frozenset({"MatMul", "Gemm", "Conv", "FusedMatMul", "FusedConv", "MatMulInteger",
                        "QLinearMatMul", "QLinearConv", "ConvInteger", "Einsum"})  # fmt: skip


def is_matrix_op(op: str) -> bool:
    """True for an op the matrix units run (a matmul, a convolution)."""
    return op in MATRIX_OPS


def compute_dtype(weight_dtype: str, act_dtype: str | None = None) -> str:
    """The number format the multiply-adds run in, given the weights' and activations' formats.

    Both <= 8-bit -> the 8-bit (or 4-bit, when both are 4-bit) peak of the *activation's* family
    (int8 x int8 -> int8, fp8 x fp8 -> fp8); otherwise the wider operand, because the narrower one
    is dequantized first (int4 weights x bf16 activations -> bf16).
    """
    act_dtype = act_dtype or weight_dtype
    for d in (weight_dtype, act_dtype):
        dtype_bytes(d)  # unknown format -> clear error
    if BITS[weight_dtype] <= 8 and BITS[act_dtype] <= 8:
        if BITS[weight_dtype] == BITS[act_dtype] == 4:
            return act_dtype
        return {"int4": "int8", "fp4": "fp8"}.get(act_dtype, act_dtype)
    return weight_dtype if BITS[weight_dtype] > BITS[act_dtype] else act_dtype


def _efficiency(efficiency) -> Efficiency:
    if efficiency is None:
        return DEFAULT_EFFICIENCY["ideal"]
    if isinstance(efficiency, str):
        if efficiency not in DEFAULT_EFFICIENCY:
            raise InvalidValueError(
                f"unknown efficiency preset {efficiency!r}; expected one of "
                f"{sorted(DEFAULT_EFFICIENCY)} or an Efficiency(compute, memory, overhead_s)"
            )
        return DEFAULT_EFFICIENCY[efficiency]
    if not isinstance(efficiency, Efficiency):
        raise InvalidValueError(
            f"efficiency must be an Efficiency or a preset name; got {efficiency!r}"
        )
    return efficiency


def op_estimate(flops, bytes, device: Device, dtype: str = "fp32", efficiency=None) -> Estimate:
    """Roofline time of one op with ``flops`` and ``bytes`` already counted, at ``dtype``'s peak."""
    eff = _efficiency(efficiency)
    return roofline_time(
        flops, bytes, device.peak_for(dtype), device.mem_bw, eff.compute, eff.memory,
        eff.overhead_s, eff.overlap,
    )  # fmt: skip


def matmul_estimate(
    m: int, k: int, n: int, device: Device, weight_dtype="bf16", act_dtype=None, efficiency=None
) -> Estimate:
    """``(m, k) activations @ (k, n) weights``: 2mkn FLOPs; the weight read in ``weight_dtype``,
    the input read and output written in ``act_dtype`` (default: the weight's format)."""
    act_dtype = act_dtype or weight_dtype
    w, a = dtype_bytes(weight_dtype), dtype_bytes(act_dtype)
    moved = k * n * w + (m * k + m * n) * a
    return op_estimate(
        2 * m * k * n, moved, device, compute_dtype(weight_dtype, act_dtype), efficiency
    )


@dataclass
class ModelEstimate:
    """A whole graph on one device: per-node estimates in run order and their sum."""

    name: str
    device: str
    per_node: list = field(default_factory=list)  # (node name, op, Estimate)
    weights_on_chip: bool = False

    @property
    def total(self) -> Estimate:
        return sum((e for _, _, e in self.per_node), Estimate(0, 0, 0, 0))

    @property
    def seconds(self) -> float:
        return self.total.seconds

    @property
    def flops(self) -> float:
        return self.total.flops

    @property
    def bytes(self) -> float:
        return self.total.bytes

    def throughput(self, batch: int) -> float:
        """Items per second when one run processes ``batch`` items."""
        return batch / self.seconds

    def share_by_bound(self) -> dict:
        """Fraction of the time in compute-bound and in memory-bound nodes."""
        out = {"compute": 0.0, "memory": 0.0}
        for _, _, e in self.per_node:
            out[e.bound] += e.seconds
        total = sum(out.values()) or 1.0
        return {k: v / total for k, v in out.items()}

    def __str__(self) -> str:
        t = self.total
        share = self.share_by_bound()
        return (
            f"{self.name} on {self.device}: {t.seconds * 1e3:.4g} ms, {t.flops / 1e9:.4g} GFLOP, "
            f"{t.bytes / 1e6:.4g} MB; {share['memory']:.0%} of the time memory-bound"
        )


def model_estimate(
    graph, input_shapes: dict, device: Device, weight_dtype="fp32", act_dtype=None, efficiency=None
) -> ModelEstimate:
    """Estimate every node of an engine graph on ``device`` and sum them (ops run one by one).

    graph: an :class:`inferlab.graph.Graph`; input_shapes: graph input name -> shape.
    FLOPs come from :func:`inferlab.graph.profile.node_cost` (the ops' cost functions); bytes
    are recounted per element in the chosen formats: initializers (weights) in ``weight_dtype``,
    everything else in ``act_dtype``. Nodes whose outputs are known before the run (shape
    arithmetic that constant folding removes) cost nothing. When the device has on-chip memory
    (``sram``) larger than all the weights, weights are read from there, not from main memory.
    """
    from inferlab.graph.kernels import VIEWS
    from inferlab.graph.profile import node_cost
    from inferlab.graph.shapes import analyze

    act_dtype = act_dtype or weight_dtype
    eff = _efficiency(efficiency)
    peak_dtype = compute_dtype(weight_dtype, act_dtype)
    ctx = analyze(graph, input_shapes)
    shapes = {name: (ctx.shape[name], ctx.dtype[name]) for name in ctx.shape}
    w_bytes, a_bytes = dtype_bytes(weight_dtype), dtype_bytes(act_dtype)
    weight_total = sum(a.size for a in graph.initializers.values()) * w_bytes
    on_chip = device.sram is not None and weight_total <= device.sram

    def moved(name: str) -> float:
        shape = ctx.shape.get(name)
        if not name or shape is None or not all(isinstance(d, int) for d in shape):
            return 0.0
        if name in graph.initializers:
            return 0.0 if on_chip else int(np.prod(shape)) * w_bytes
        return int(np.prod(shape)) * a_bytes

    result = ModelEstimate(graph.name, device.name, weights_on_chip=on_chip)
    for node in graph.topological_order():
        if all(o in ctx.const for o in node.outputs if o):
            continue  # folded away before the run
        flops = node_cost(node, shapes).flops
        nbytes = 0.0 if node.op in VIEWS else sum(map(moved, [*node.inputs, *node.outputs]))
        eta_c = eff.compute if is_matrix_op(node.op) or eff.vector is None else eff.vector
        est = roofline_time(
            flops, nbytes, device.peak_for(peak_dtype), device.mem_bw, eta_c, eff.memory,
            eff.overhead_s, eff.overlap,
        )  # fmt: skip
        result.per_node.append((node.name, node.op, est))
    return result
