"""LLM inference on the roofline: prefill (compute-bound) and decode (memory-bound), with KV cache.

Decoding one token for each of ``B`` sequences reads every weight once (``P_bytes``) and each
sequence's KV cache (``context * kv_bytes_per_token``), and does ``2 * P`` FLOPs per token. The
weight matmuls overlap their compute and memory traffic; the attention over the cache is a
separate memory-bound step. That gives scaling-book's decode-step time (inference.md):

    T_step = B * context * KV / BW  +  max(2 * B * P / FLOPs, P_bytes / BW)

With small B the second term is ``P_bytes / BW``: the step costs the same for 1 or 32 sequences,
so batching is free throughput until ``2 * B * P / FLOPs`` catches up (B ~ the ridge point).
Prefill of ``S`` prompt tokens does ``2 * P * S`` FLOPs (+ attention ``4 * L * S^2 * d``) for the
same weight traffic: compute-bound for any real prompt. ``chips`` splits the model over N chips
(tensor parallelism): N times the FLOP/s and the bandwidth, plus optional all-reduce time.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferlab.errors import InvalidValueError
from inferlab.hw.device import Device, dtype_bytes
from inferlab.hw.estimate import _efficiency, compute_dtype
from inferlab.hw.roofline import Estimate, roofline_time

__all__ = [
    "LLAMA2_70B",
    "LLAMA2_7B",
    "LLAMA3_8B",
    "Transformer",
    "decode_step",
    "decode_throughput",
    "prefill",
]


@dataclass(frozen=True)
class Transformer:
    """A decoder-only transformer, as far as its cost goes.

    n_params: parameters (weights); n_layers, d_model; n_kv_heads and d_head size the KV cache
    (grouped-query attention: n_kv_heads < n_heads). Unknown sizes may be None when a
    ``kv_bytes_per_token`` is given directly to :func:`decode_step`.
    """

    name: str
    n_params: float
    n_layers: int | None = None
    d_model: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    d_head: int | None = None

    def __post_init__(self):
        if not isinstance(self.n_params, int | float) or self.n_params <= 0:
            raise InvalidValueError(f"{self.name}: n_params must be > 0; got {self.n_params!r}")
        if self.d_head is None and self.d_model and self.n_heads:
            object.__setattr__(self, "d_head", self.d_model // self.n_heads)

    def weight_bytes(self, dtype: str = "bf16") -> float:
        return self.n_params * dtype_bytes(dtype)

    def kv_bytes_per_token(self, dtype: str = "bf16") -> float:
        """K and V for one token over all layers: ``2 * n_layers * n_kv_heads * d_head * bytes``."""
        if None in (self.n_layers, self.n_kv_heads, self.d_head):
            raise InvalidValueError(
                f"{self.name}: the KV size needs n_layers, n_kv_heads and d_head; pass "
                "kv_bytes_per_token= instead"
            )
        return 2 * self.n_layers * self.n_kv_heads * self.d_head * dtype_bytes(dtype)


# Shapes from the models' config.json on the Hugging Face Hub (meta-llama/*); parameter counts
# are the exact totals of the checkpoints.
LLAMA2_7B = Transformer("Llama-2-7B", 6.738e9, 32, 4096, 32, 32)
LLAMA2_70B = Transformer("Llama-2-70B", 68.98e9, 80, 8192, 64, 8)
LLAMA3_8B = Transformer("Llama-3-8B", 8.03e9, 32, 4096, 32, 8)


def _split(device: Device, chips: int) -> tuple[float, float]:
    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 1:
        raise InvalidValueError(f"chips must be an int >= 1; got {chips!r}")
    return chips, chips * device.mem_bw


def decode_step(
    model: Transformer,
    batch: int,
    context: int,
    device: Device,
    chips: int = 1,
    weight_dtype: str = "bf16",
    act_dtype: str | None = None,
    kv_dtype: str | None = None,
    efficiency=None,
    kv_bytes_per_token: float | None = None,
    ici_bw: float | None = None,
) -> Estimate:
    """Time of one decode step: ``batch`` sequences, each ``context`` tokens long so far.

    Returns the sum of two Estimates, the attention over the KV cache (memory-bound) and the
    weight matmuls (``max`` of compute and weight traffic). ``ici_bw`` (bytes/s per chip), with
    chips > 1, adds two all-reduces of the (batch, d_model) activations per layer.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidValueError(f"batch must be an int >= 1; got {batch!r}")
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise InvalidValueError(f"context must be an int >= 0 tokens; got {context!r}")
    act_dtype = act_dtype or ("bf16" if weight_dtype in ("int4", "int8", "fp4") else weight_dtype)
    kv_dtype = kv_dtype or act_dtype
    chips, bw = _split(device, chips)
    eff = _efficiency(efficiency)
    peak = chips * device.peak_for(compute_dtype(weight_dtype, act_dtype))
    kv = (
        kv_bytes_per_token if kv_bytes_per_token is not None else model.kv_bytes_per_token(kv_dtype)
    )
    attn_flops = 4 * model.n_layers * context * model.d_model * batch if model.d_model else 0
    attention = roofline_time(
        attn_flops, batch * context * kv, peak, bw, eff.compute, eff.memory, 0.0, eff.overlap
    )
    comm = 0.0
    if ici_bw and chips > 1:
        comm = model.n_layers * 2 * (2 * batch * model.d_model * dtype_bytes(act_dtype)) / ici_bw
    weights = roofline_time(
        2 * batch * model.n_params, model.weight_bytes(weight_dtype), peak, bw, eff.compute,
        eff.memory, eff.overhead_s + comm, eff.overlap,
    )  # fmt: skip
    return attention + weights


def decode_throughput(model: Transformer, batch: int, context: int, device: Device, **kw) -> float:
    """Output tokens per second at a steady ``batch`` of sequences of ``context`` tokens."""
    return batch / decode_step(model, batch, context, device, **kw).seconds


def prefill(
    model: Transformer,
    batch: int,
    prompt_len: int,
    device: Device,
    chips: int = 1,
    weight_dtype: str = "bf16",
    act_dtype: str | None = None,
    kv_dtype: str | None = None,
    efficiency=None,
) -> Estimate:
    """Time to process ``batch`` prompts of ``prompt_len`` tokens and write their KV cache.

    FLOPs: ``2 * P * B * S`` for the weights plus ``4 * L * S^2 * d_model * B`` for attention
    (no causal saving counted); bytes: the weights once, the KV cache written once.
    """
    for name, v in (("batch", batch), ("prompt_len", prompt_len)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InvalidValueError(f"{name} must be an int >= 1; got {v!r}")
    act_dtype = act_dtype or ("bf16" if weight_dtype in ("int4", "int8", "fp4") else weight_dtype)
    kv_dtype = kv_dtype or act_dtype
    chips, bw = _split(device, chips)
    eff = _efficiency(efficiency)
    peak = chips * device.peak_for(compute_dtype(weight_dtype, act_dtype))
    flops = 2 * model.n_params * batch * prompt_len
    if model.n_layers and model.d_model:
        flops += 4 * model.n_layers * prompt_len**2 * model.d_model * batch
    kv = batch * prompt_len * model.kv_bytes_per_token(kv_dtype) if model.n_layers else 0
    moved = model.weight_bytes(weight_dtype) + kv
    return roofline_time(
        flops, moved, peak, bw, eff.compute, eff.memory, eff.overhead_s, eff.overlap
    )
