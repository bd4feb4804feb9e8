"""Checks of exercises 08 (serving LLMs): ``from inferlab.checks import ch08``.

Each ``check_<task>(fn)`` calls your function on fresh inputs (model configurations, token
streams, KV caches, block operations and scheduler states the notebook never shows, from a
fixed seed of its own), compares with the reference (``inferlab.serve``'s KV-cache arithmetic
and ``BlockManager``, ``inferlab.ops`` attention, vLLM's metric definitions, Sarathi's token
budget) and, when something is wrong, raises :class:`~inferlab.errors.CheckFailed` with a hint
diagnosed from what your function returned (one known slip, or two or three at once).

    ch08.check_kv_cache_bytes(kv_cache_bytes)        ch08.check_token_metrics(token_metrics)
    ch08.check_decode_attention(decode_attention)    ch08.check_block_tables(block_tables)
    ch08.check_chunked_prefill_step(chunked_prefill_step)

One module per task (``kvbytes.py``, ``metrics.py``, ``attention.py``, ``blocks.py``,
``chunked.py``) lists its fresh cases, the known wrong answers it recognises and its diagnosis.
"""

from __future__ import annotations

from inferlab.checks.ch08.attention import ATTENTION, check_decode_attention
from inferlab.checks.ch08.blocks import BLOCKS, check_block_tables
from inferlab.checks.ch08.chunked import CHUNKED, check_chunked_prefill_step
from inferlab.checks.ch08.kvbytes import KV_BYTES, check_kv_cache_bytes
from inferlab.checks.ch08.metrics import METRICS, check_token_metrics
from inferlab.checks.core import Task

__all__ = [
    "TASKS",
    "check_kv_cache_bytes",
    "check_token_metrics",
    "check_decode_attention",
    "check_block_tables",
    "check_chunked_prefill_step",
]

TASKS: dict[str, Task] = {t.name: t for t in (KV_BYTES, METRICS, ATTENTION, BLOCKS, CHUNKED)}
