"""Exercise 08, task 1: ``kv_cache_bytes`` — its fresh cases, known mistakes and diagnosis.

Every token a decoder has seen leaves one key and one value vector per KV head in every layer:

    bytes = n_tokens · 2 (K and V) · n_layers · n_kv_heads · d_head · dtype_bytes,
    d_head = d_model / n_heads

With grouped-query attention (Llama-3-8B, Llama-2-70B, Mistral-7B) several query heads share
one KV head, so the cache is n_heads / n_kv_heads times smaller than the query heads suggest;
multi-query attention (Falcon-7B) keeps a single KV head. The cases are real configurations
(config.json on the Hugging Face Hub) in fp32, fp16, fp8 and int4. The reference is
:func:`inferlab.serve.kvcache.kv_bytes_per_token` times the tokens.
"""

from __future__ import annotations

from inferlab.checks.ch08._common import (
    _rng,
    encode_number,
    mistakes,
    number_symptom,
    several_slips,
    zero_hint,
)
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.hw.llm import Transformer
from inferlab.serve import kvcache


def _kv_cases() -> list[Case]:
    rng = _rng(1)
    # (n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes)
    cases = [
        Case((1, 40, 5120, 40, 40, 2), note="one token of Llama-2-13B in fp16"),
        Case((4096, 32, 4096, 32, 8, 2), note="Llama-3-8B (GQA, 8 KV heads), 4096 tokens"),
        Case((2048, 80, 8192, 64, 8, 2), note="Llama-2-70B (GQA), 2048 tokens"),
        Case((32768, 32, 4096, 32, 8, 1), note="Mistral-7B, fp8 cache, 32k tokens"),
        Case((1000, 32, 4544, 71, 1, 2), note="Falcon-7B: multi-query, one KV head"),
        Case((256, 4, 96, 4, 4, 4), note="a tiny GPT in float32"),
        Case((100_000, 126, 16384, 128, 8, 0.5), note="Llama-3.1-405B, int4 cache, 100k tokens"),
        Case((3, 12, 768, 12, 12, 2), note="GPT-2 small, 3 tokens"),
    ]
    for _ in range(2):
        heads = int(rng.choice([16, 32, 48]))
        kv = int(rng.choice([h for h in (1, 2, 4, 8) if heads % h == 0]))
        d_head = int(rng.choice([64, 128]))
        tokens = int(rng.integers(10, 50_000))
        layers = int(rng.integers(8, 64))
        cases.append(
            Case((tokens, layers, heads * d_head, heads, kv, 2), note="a made-up GQA model")
        )
    return cases


def _reference(n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes=2):
    per_token = kvcache.kv_bytes_per_token(n_layers, n_kv_heads, d_model // n_heads, dtype_bytes)
    return per_token * n_tokens


def _student(
    n_tokens,
    n_layers,
    d_model,
    n_heads,
    n_kv_heads,
    dtype_bytes=2,
    *,
    kv="both",
    heads="kv",
    layers="all",
    size="bytes",
    tokens="all",
):
    """A student's KV-cache size with switches for their mistakes."""
    d_head = d_model / n_heads
    per_layer = (n_kv_heads if heads == "kv" else n_heads) * d_head
    per_token = (2 if kv == "both" else 1) * (n_layers if layers == "all" else 1) * per_layer
    per_token *= {"bytes": dtype_bytes, "elements": 1, "bits": 8 * dtype_bytes}[size]
    return per_token * (n_tokens if tokens == "all" else 1)


_SLIPS = {
    "kv": [
        ("both", None),
        (
            "k_only",
            "the cache keeps a KEY and a VALUE vector for every token: multiply by 2 (your "
            "answer is half the right one).",
        ),
    ],
    "heads": [
        ("kv", None),
        (
            "query",
            "count the KV heads, not the query heads: with grouped-query attention several "
            "query heads share one key/value head, so a layer stores n_kv_heads · d_head "
            "numbers per token, where d_head = d_model / n_heads.",
        ),
    ],
    "layers": [
        ("all", None),
        ("one", "every LAYER keeps its own keys and values: multiply by n_layers."),
    ],
    "size": [
        ("bytes", None),
        (
            "elements",
            "that counts numbers, not bytes: multiply by dtype_bytes (2 for fp16, 1 for fp8, "
            "0.5 for int4, 4 for float32).",
        ),
        ("bits", "dtype_bytes is already in BYTES per number: do not multiply by 8."),
    ],
    "tokens": [
        ("all", None),
        ("one", "that is one token's cache: multiply by n_tokens."),
    ],
}


def _kv_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(KV_BYTES, _student, _SLIPS, outcomes) or zero_hint(o)


KV_BYTES = Task(
    name="kv_cache_bytes",
    arg_names=("n_tokens", "n_layers", "d_model", "n_heads", "n_kv_heads", "dtype_bytes"),
    reference=_reference,
    cases=_kv_cases,
    covers="Llama-2-13B's 800 KB per token, grouped- and multi-query attention, fp32, fp8 and "
    "int4 caches, and 100k tokens",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_kv_diagnose,
    encode=encode_number("the bytes of KV cache"),
    symptom=number_symptom(" bytes"),
    fallback_hint="bytes = n_tokens · 2 · n_layers · n_kv_heads · (d_model / n_heads) · "
    "dtype_bytes.",
    forbidden=(kvcache.kv_bytes_per_token, Transformer.kv_bytes_per_token),
    forbidden_hint="write the formula yourself: inferlab.serve.kv_bytes_per_token is the "
    "reference the check compares with (use it to test your function in a cell of your own).",
)


def check_kv_cache_bytes(fn) -> None:
    """Check your ``kv_cache_bytes(n_tokens, n_layers, d_model, n_heads, n_kv_heads,
    dtype_bytes=2)`` against ``inferlab.serve.kvcache.kv_bytes_per_token``."""
    __tracebackhide__ = True
    run(KV_BYTES, fn)
