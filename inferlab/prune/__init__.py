"""Pruning and sparsity (chapter 06): which weights to drop, and when dropping them is faster.

    >>> from inferlab import prune
    >>> mask = prune.l1_unstructured(w, 0.5)                # torch.nn.utils.prune's mask, exactly
    >>> mask = prune.nm_mask(w, 2, 4)                       # 2 of every 4 kept: what GPUs run
    >>> mask = prune.wanda_mask(w, prune.wanda_stats(x), 0.5)   # |W| * ||X||, per output row
    >>> small = prune.prune_channels(graph, {"/conv1/Conv": 0.5})   # really fewer filters
    >>> csr = prune.to_csr(prune.apply_mask(w, mask))       # sparse storage, and its bytes
    >>> tuned = prune.finetune(small, x, y, epochs=3)       # win the accuracy back with torch

Modules, one idea each:

- ``masks``: unstructured and structured masks (magnitude, random, global, Ln-structured, N:M),
  iterative schedules, sparsity; bit-exact to ``torch.nn.utils.prune`` on tie-free data;
  ``wanda``: Wanda's |W| * ||X|| masks from calibration activations;
- ``structured``: physically remove channels/filters and follow the dependencies (conv -> norm ->
  conv, linear -> linear, flatten -> linear); ``heads``: the same for attention heads;
- ``sensitivity``: prune one layer at a time and see what it costs;
- ``sparse``: CSR and 2:4-compressed storage, their byte costs, and the measured sparsity past
  which a CSR matmul beats a dense one on this CPU;
- ``finetune``: an engine graph as a torch module, trained with the pruned weights held at zero.
"""

from inferlab.prune.finetune import GraphModule, finetune
from inferlab.prune.heads import head_importance, masked_heads, prune_heads
from inferlab.prune.masks import (
    apply_mask,
    global_unstructured,
    iterative_schedule,
    l1_unstructured,
    ln_structured,
    n_to_prune,
    nm_mask,
    random_unstructured,
    schedule_sparsity,
    sparsity,
)
from inferlab.prune.sensitivity import prunable_layers, sensitivity_scan
from inferlab.prune.sparse import (
    CSR,
    NM24,
    Crossover,
    compress_24,
    crossover_sparsity,
    csr_bytes,
    csr_matmul,
    csr_matmul_flops,
    csr_size_break_even,
    csr_to_dense,
    decompress_24,
    dense_bytes,
    matmul_flops,
    measure_crossover,
    nm_bytes,
    to_csr,
)
from inferlab.prune.structured import (
    channel_importance,
    masked_channels,
    prune_channels,
)
from inferlab.prune.wanda import WandaStats, wanda_mask, wanda_stats

__all__ = [
    "CSR",
    "NM24",
    "Crossover",
    "GraphModule",
    "WandaStats",
    "apply_mask",
    "channel_importance",
    "compress_24",
    "crossover_sparsity",
    "csr_bytes",
    "csr_matmul",
    "csr_matmul_flops",
    "csr_size_break_even",
    "csr_to_dense",
    "decompress_24",
    "dense_bytes",
    "finetune",
    "global_unstructured",
    "head_importance",
    "iterative_schedule",
    "l1_unstructured",
    "ln_structured",
    "masked_channels",
    "masked_heads",
    "matmul_flops",
    "measure_crossover",
    "n_to_prune",
    "nm_bytes",
    "nm_mask",
    "prunable_layers",
    "prune_channels",
    "prune_heads",
    "random_unstructured",
    "schedule_sparsity",
    "sensitivity_scan",
    "sparsity",
    "to_csr",
    "wanda_mask",
    "wanda_stats",
]
