"""Exercise 04, task 4: ``decode_step_time`` — its fresh cases, known mistakes and diagnosis.

scaling-book's decode step (inference.md): the weight matmuls overlap their compute with the
weight read, the attention over each sequence's KV cache is a separate memory-bound read:

    T = B · ctx · KV / BW  +  max(2 · B · P / peak, P · bytes_per_param / BW)
"""

from __future__ import annotations

from inferlab.checks.ch04._common import (
    A100,
    H100,
    H200,
    L4,
    MI300X,
    ORIN_NANO,
    RPI5_FP16,
    TPU_V5E,
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    several_slips,
    times,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.hw.device import Device
from inferlab.hw.llm import Transformer, decode_step, decode_throughput

# bytes_per_param -> the weights' format; activations are bf16, so every step runs at the bf16
# peak (weight-only quantization changes the bytes, not the peak).
WEIGHT_DTYPES = {2: "bf16", 1: "int8", 0.5: "int4"}


def _kv(layers: int, kv_heads: int, d_head: int, nbytes: int = 2) -> int:
    """KV-cache bytes per token: K and V, every layer, every KV head (2 · L · n_kv · d · bytes)."""
    return 2 * layers * kv_heads * d_head * nbytes


def _decode_cases() -> list[Case]:
    rng = _rng(4)
    cases = [
        # (n_params, bytes_per_param, kv_bytes_per_token, batch, context, peak, bw)
        Case((6.738e9, 2, _kv(32, 32, 128), 1, 1024, *H100), note="Llama-2-7B, bf16, batch 1"),
        Case((8.03e9, 1, _kv(32, 8, 128), 16, 4096, *L4), note="Llama-3-8B, int8, on an L4"),
        Case(
            (68.98e9, 0.5, _kv(80, 8, 128), 128, 2048, *times(A100, 8)),
            note="Llama-2-70B, int4, batch 128 on 8 A100s",
        ),
        Case(
            (8.03e9, 2, _kv(32, 8, 128), 512, 512, *H200),
            note="Llama-3-8B, bf16, batch 512: compute-bound weights",
        ),
        Case((7.24e9, 2, _kv(32, 8, 128), 8, 0, *MI300X), note="context 0: an empty KV cache"),
        Case((124e6, 2, _kv(12, 12, 64), 1, 1, *RPI5_FP16), note="GPT-2 small on a Raspberry Pi"),
        Case(
            (405e9, 2, _kv(126, 8, 128), 64, 131072, *times(H100, 32)),
            note="Llama-3.1-405B, 128k context, on 32 H100s",
        ),
        Case((494e6, 0.5, _kv(24, 2, 64), 3, 777, *ORIN_NANO), note="a 0.5B model, odd sizes"),
        Case(
            (13.0e9, 1, _kv(40, 40, 128), 32, 4096, *times(TPU_V5E, 8)),
            note="Llama-2-13B, int8, on 8 TPU v5e",
        ),
    ]
    for _ in range(3):
        n_params = float(f"{10 ** rng.uniform(8, 11.5):.3g}")
        kv = int(2 ** rng.integers(12, 21))
        batch, context = int(2 ** rng.integers(0, 10)), int(rng.integers(1, 32768))
        peak, bw = (float(f"{10**e:.4g}") for e in rng.uniform([11, 9.5], [15.5, 13]))
        b = [2, 1, 0.5][int(rng.integers(3))]
        cases.append(Case((n_params, b, kv, batch, context, peak, bw), note="a random model"))
    return cases


def _reference(n_params, bytes_per_param, kv_bytes_per_token, batch, context, peak_flops, mem_bw):
    model = Transformer("model", n_params)
    chip = Device("chip", "datacenter_gpu", peak={"bf16": peak_flops}, mem_bw=mem_bw)
    step = decode_step(
        model,
        batch,
        context,
        chip,
        weight_dtype=WEIGHT_DTYPES[bytes_per_param],
        act_dtype="bf16",
        kv_bytes_per_token=kv_bytes_per_token,
    )
    return step.seconds


def _student(
    p, b, kv, batch, ctx, peak, bw, *, cache="B·ctx", where="outside", flops="2BP", combine="max"
):
    """A student's decode step with switches for their mistakes."""
    kv_bytes = {"B·ctx": batch * ctx, "none": 0, "ctx": ctx, "B": batch}[cache] * kv
    ops = {"2BP": 2 * batch * p, "2BP·bytes": 2 * batch * p * b, "BP": batch * p, "2P": 2 * p}
    compute = ops[flops] / peak
    weights = p * b / bw
    if where == "in the weight read":
        weights += kv_bytes / bw
    elif where == "a third term":
        compute = max(compute, kv_bytes / bw)
    overlap = max(compute, weights) if combine == "max" else compute + weights
    return overlap + (kv_bytes / bw if where == "outside" else 0)


_INSIDE = (
    "keep the KV read outside the max: the weight matmuls overlap their compute with the "
    "weight read, but attention over the cache is a separate memory-bound step that adds its "
    "own time: T = batch·context·KV / BW + max(2·batch·P / peak, P·bytes_per_param / BW)."
)

_SLIPS = {
    "cache": [
        ("B·ctx", None),
        (
            "none",
            "add the KV cache: every sequence reads its own cache each step, "
            "batch·context·kv_bytes_per_token bytes on top of the weights, and at long "
            "contexts and big batches it dominates.",
        ),
        (
            "ctx",
            "each of the `batch` sequences has its own KV cache: the KV read is "
            "batch·context·kv_bytes_per_token bytes (the weights are shared, the caches are not).",
        ),
        (
            "B",
            "a sequence's cache holds all `context` tokens so far, and a step reads it all: "
            "batch·context·kv_bytes_per_token bytes.",
        ),
    ],
    "where": [
        ("outside", None),
        ("in the weight read", _INSIDE),
        ("a third term", _INSIDE),
    ],
    "flops": [
        ("2BP", None),
        (
            "2BP·bytes",
            "FLOPs don't depend on the storage format: a weight costs 2 FLOPs per token "
            "whether it is stored in 2 bytes or 0.5. bytes_per_param only sizes the weight "
            "read, P·bytes_per_param / BW.",
        ),
        ("BP", "a multiply-add is 2 FLOPs: the compute time is 2·batch·n_params / peak_flops."),
        (
            "2P",
            "every sequence of the batch goes through every weight: 2·batch·n_params FLOPs per "
            "step (that is what makes big batches compute-bound).",
        ),
    ],
    "combine": [
        ("max", None),
        (
            "sum",
            "the weight matmuls overlap compute and weight traffic: take "
            "max(2·batch·P / peak, P·bytes_per_param / BW), not their sum.",
        ),
    ],
}


def _decode_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(DECODE, _student, _SLIPS, outcomes) or zero_hint(o)


DECODE = Task(
    name="decode_step_time",
    arg_names=(
        "n_params",
        "bytes_per_param",
        "kv_bytes_per_token",
        "batch",
        "context",
        "peak_flops",
        "mem_bw",
    ),
    reference=_reference,
    cases=_decode_cases,
    covers="memory- and compute-bound steps, context 0, batch 1 to 512, GPT-2 on a Raspberry Pi "
    "and a 405B model at 128k context",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_decode_diagnose,
    encode=encode_number("the seconds of one decode step"),
    symptom=number_symptom(" s"),
    fallback_hint="T = batch·context·kv_bytes_per_token / mem_bw + max(2·batch·n_params / "
    "peak_flops, n_params·bytes_per_param / mem_bw): the KV read, then the weight matmuls.",
    forbidden=(decode_step, decode_throughput),
    forbidden_hint="write the formula yourself: inferlab.hw.decode_step is the reference the "
    "check compares with (use it to test your function in a cell of your own).",
)


def check_decode_step_time(fn) -> None:
    """Check your ``decode_step_time(n_params, bytes_per_param, kv_bytes_per_token, batch,
    context, peak_flops, mem_bw)`` against ``inferlab.hw.decode_step``."""
    __tracebackhide__ = True
    run(DECODE, fn)
