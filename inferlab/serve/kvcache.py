"""The KV cache as memory: bytes per token, and paged blocks (vLLM's PagedAttention).

Every token a model has seen leaves a key and a value vector in every layer, so one token of
context costs

    kv_bytes_per_token = 2 (K and V) * n_layers * n_kv_heads * d_head * dtype_bytes

Llama-2-7B in fp16: 2 * 32 * 32 * 128 * 2 = 524 288 B = 512 KiB per token; a 13B model
(OPT-13B, Llama-2-13B: 40 layers, 5120 wide) 2 * 40 * 5120 * 2 = 819 200 B, the "800 KB per
token" of the vLLM paper (Kwon et al., SOSP'23). A 4096-token conversation of the 7B model holds
2 GiB: KV memory, not compute, decides how many requests a GPU can serve at once.

Paging (vLLM; nano-vllm ``engine/block_manager.py``). Instead of reserving one contiguous slab of
``max_len`` tokens per request up front (what Orca and FasterTransformer do), the cache is cut
into fixed blocks of ``block_size`` tokens. A request holds a *block table*: the list of the
physical blocks its tokens live in, in order, taken from a free list as the sequence grows. Waste
is at most one partly filled block per request (internal fragmentation), and no memory is held
for tokens that have not been generated yet.

    >>> bm = BlockManager(num_blocks=8, block_size=16)
    >>> bm.allocate(seq_id=0, n_tokens=20)        # 20 tokens -> 2 blocks
    >>> bm.block_table(0)                         # [0, 1]
    >>> bm.append(0, 12)                          # 32 tokens: still 2 blocks
    >>> bm.append(0)                              # 33: a third block
    >>> bm.utilisation                            # 33 tokens / (3 * 16) = 0.6875

The watermark (vLLM ``watermark=0.01``): a NEW request is only admitted while at least
``watermark * num_blocks`` blocks stay free afterwards, so that running requests can still grow
for a while before someone has to be preempted. Appending to a running request ignores it.

Course simplifications: no prefix caching / reference counts (nano-vllm hashes full blocks and
shares them between requests), no copy-on-write, no swapping to CPU memory.
The simulator in :mod:`inferlab.serve.llm` does the same block arithmetic on NumPy arrays of block
counts (as Vidur does) instead of keeping tables, so that 100 000 requests run in seconds.
"""

from __future__ import annotations

from collections import deque
from numbers import Integral, Real

from inferlab.errors import InvalidValueError

__all__ = ["BlockManager", "blocks_for", "kv_bytes_per_token"]


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise InvalidValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def kv_bytes_per_token(n_layers: int, n_kv_heads: int, d_head: int, dtype_bytes: float = 2) -> int:
    """Bytes of K and V that one token of context occupies: ``2 * L * n_kv * d_head * bytes``.

    n_layers, n_kv_heads (grouped-query attention: fewer KV heads than query heads), d_head:
    ints >= 1; dtype_bytes: bytes per element (2 for fp16/bf16, 1 for fp8, 0.5 for int4).
    Returns an int (bytes, rounded down for sub-byte formats).
    """
    for name, v in (("n_layers", n_layers), ("n_kv_heads", n_kv_heads), ("d_head", d_head)):
        _positive_int(name, v)
    if isinstance(dtype_bytes, bool) or not isinstance(dtype_bytes, Real) or not dtype_bytes > 0:
        raise InvalidValueError(
            f"dtype_bytes must be a positive number of bytes per element (2 for fp16); "
            f"got {dtype_bytes!r}"
        )
    return int(2 * n_layers * n_kv_heads * d_head * dtype_bytes)


def blocks_for(n_tokens: int, block_size: int) -> int:
    """Blocks needed to hold ``n_tokens``: ``ceil(n_tokens / block_size)`` (0 for 0 tokens)."""
    return -(-int(n_tokens) // int(block_size))


class BlockManager:
    """A paged KV cache: ``num_blocks`` blocks of ``block_size`` tokens, a free list, block tables.

    num_blocks: int >= 1; block_size: tokens per block, int >= 1 (vLLM's default 16, nano-vllm
    256); watermark: fraction of the blocks, in [0, 1), that admitting a new sequence must leave
    free. Sequences are identified by any hashable ``seq_id``.

    State: ``num_free`` / ``num_used`` blocks, ``block_table(seq_id)`` (list of block ids),
    ``num_tokens(seq_id)``, ``utilisation`` (tokens stored / tokens the used blocks can hold),
    ``fragmentation`` (1 - utilisation: the share of allocated slots that are empty),
    ``occupancy`` (used blocks / all blocks).
    """

    def __init__(self, num_blocks: int, block_size: int = 16, watermark: float = 0.01):
        self.num_blocks = _positive_int("num_blocks", num_blocks)
        self.block_size = _positive_int("block_size", block_size)
        if (
            isinstance(watermark, bool)
            or not isinstance(watermark, Real)
            or not (0 <= watermark < 1)
        ):
            raise InvalidValueError(
                f"watermark is a fraction of the blocks in [0, 1); got {watermark!r}"
            )
        self.watermark = float(watermark)
        self.watermark_blocks = int(watermark * num_blocks)
        self._free: deque[int] = deque(range(self.num_blocks))
        self._tables: dict = {}
        self._tokens: dict = {}

    # ------------------------------------------------------------------ state
    @property
    def num_free(self) -> int:
        """Blocks on the free list."""
        return len(self._free)

    @property
    def num_used(self) -> int:
        """Blocks held by some sequence."""
        return self.num_blocks - len(self._free)

    @property
    def capacity_tokens(self) -> int:
        """Tokens the whole cache can hold: ``num_blocks * block_size``."""
        return self.num_blocks * self.block_size

    @property
    def tokens_stored(self) -> int:
        """Tokens of all sequences together."""
        return sum(self._tokens.values())

    @property
    def utilisation(self) -> float:
        """Tokens stored / token slots of the allocated blocks (1.0 when nothing is allocated)."""
        used = self.num_used
        return 1.0 if used == 0 else self.tokens_stored / (used * self.block_size)

    @property
    def fragmentation(self) -> float:
        """Share of allocated token slots that are empty (internal fragmentation)."""
        return 1.0 - self.utilisation

    @property
    def occupancy(self) -> float:
        """Used blocks / all blocks."""
        return self.num_used / self.num_blocks

    def __contains__(self, seq_id) -> bool:
        return seq_id in self._tables

    def block_table(self, seq_id) -> list[int]:
        """The physical blocks of ``seq_id``, in token order (a copy)."""
        return list(self._table(seq_id))

    def num_tokens(self, seq_id) -> int:
        """Tokens stored for ``seq_id``."""
        self._table(seq_id)
        return self._tokens[seq_id]

    def _table(self, seq_id) -> list[int]:
        if seq_id not in self._tables:
            raise InvalidValueError(
                f"sequence {seq_id!r} holds no blocks; expected one of {sorted(self._tables)[:8]}"
            )
        return self._tables[seq_id]

    # ------------------------------------------------------------------ operations
    def can_allocate(self, n_tokens: int) -> bool:
        """Whether a new sequence of ``n_tokens`` fits and leaves the watermark free."""
        need = blocks_for(_positive_int("n_tokens", n_tokens), self.block_size)
        return self.num_free - need >= self.watermark_blocks

    def allocate(self, seq_id, n_tokens: int) -> list[int]:
        """Give a new sequence the blocks for its first ``n_tokens``; returns its block table.

        InvalidValueError if ``seq_id`` already holds blocks or :meth:`can_allocate` is False.
        """
        n_tokens = _positive_int("n_tokens", n_tokens)
        if seq_id in self._tables:
            raise InvalidValueError(f"sequence {seq_id!r} already holds blocks; free it first")
        need = blocks_for(n_tokens, self.block_size)
        if not self.can_allocate(n_tokens):
            raise InvalidValueError(
                f"cannot allocate {need} block(s) for {n_tokens} tokens: {self.num_free} free, "
                f"{self.watermark_blocks} must stay free (watermark {self.watermark})"
            )
        self._tables[seq_id] = [self._free.popleft() for _ in range(need)]
        self._tokens[seq_id] = n_tokens
        return list(self._tables[seq_id])

    def blocks_needed(self, seq_id, n_new: int = 1) -> int:
        """New blocks ``seq_id`` needs to grow by ``n_new`` tokens (0 while its last has room)."""
        table = self._table(seq_id)
        n_new = _positive_int("n_new", n_new)
        return blocks_for(self._tokens[seq_id] + n_new, self.block_size) - len(table)

    def can_append(self, seq_id, n_new: int = 1) -> bool:
        """Whether ``seq_id`` can grow by ``n_new`` tokens (the watermark does not apply)."""
        return self.blocks_needed(seq_id, n_new) <= self.num_free

    def append(self, seq_id, n_new: int = 1) -> list[int]:
        """Grow ``seq_id`` by ``n_new`` tokens, taking blocks from the free list as needed.

        Returns the newly added block ids (often empty). InvalidValueError when out of blocks:
        the scheduler must preempt someone first (see :mod:`inferlab.serve.llm`).
        """
        need = self.blocks_needed(seq_id, n_new)
        if need > self.num_free:
            raise InvalidValueError(
                f"sequence {seq_id!r} needs {need} more block(s) for {n_new} token(s); only "
                f"{self.num_free} free: preempt a sequence first"
            )
        new = [self._free.popleft() for _ in range(need)]
        self._tables[seq_id].extend(new)
        self._tokens[seq_id] += n_new
        return new

    def free(self, seq_id) -> int:
        """Return all blocks of ``seq_id`` to the free list; returns how many."""
        table = self._table(seq_id)
        self._free.extend(table)
        del self._tables[seq_id], self._tokens[seq_id]
        return len(table)

    def __repr__(self) -> str:
        return (
            f"BlockManager({self.num_used}/{self.num_blocks} blocks of {self.block_size} used, "
            f"{len(self._tables)} sequences, utilisation {self.utilisation:.3f})"
        )
