"""A KV cache: the keys and values a transformer already computed, kept for the next token.

Without a cache, generating token t+1 reruns the model on all t tokens before it, although their
keys and values (one (d_head,) vector per head, layer and token) never change: only the new
token's query has to meet them. A cache stores them once, so a decode step costs one token's
work plus reading the cache:

    prefill   tokens 0..T-1 of a sequence   -> write k, v at positions 0..T-1
    decode    token T                       -> write k, v at position T; attend to 0..T

The storage is the simplest that serves a *batch* of sequences at different positions
(continuous batching mixes new and old ones): one slot per sequence in padded arrays

    k, v: (n_layer, max_seqs, n_head, context, d_head) float32
    lengths: (max_seqs,) int64           tokens stored in each slot
    start: (max_seqs,) int64             leading padding tokens of each slot (static batching
                                         pads prompts on the left to one length): never attended

A sequence (any hashable id: a request number) takes a free slot with :meth:`KVCache.add` and
gives it back with :meth:`KVCache.remove`. The slots are what vLLM's paged blocks replace: each
reserves room for the whole context, used or not (see :mod:`inferlab.serve.kvcache` for the
block accounting). :class:`inferlab.models.gpt.GPT` reads and writes it (``prefill``,
``decode``, ``extend``).

    >>> cache = KVCache(n_layer=4, n_head=4, d_head=24, context=128, max_seqs=8)
    >>> cache.add("a")                  # its slot
    0
    >>> cache.bytes_per_token           # 2 * 4 layers * 4 heads * 24 * 4 bytes
    3072
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError, ShapeError

__all__ = ["KVCache"]


def _positive_int(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InvalidValueError(f"KVCache needs {name}, an int >= 1; got {value!r}")
    return int(value)


class KVCache:
    """Per-sequence keys and values of every layer, in ``max_seqs`` slots of ``context`` tokens.

    k, v: (n_layer, max_seqs, n_head, context, d_head) float32; ``lengths[slot]`` tokens of a
    slot are valid, the rest is stale. Memory: ``nbytes`` = 2 * 4 bytes * every element, used
    or not; ``bytes_per_token`` = 2 * n_layer * n_head * d_head * 4.
    """

    def __init__(self, n_layer: int, n_head: int, d_head: int, context: int, max_seqs: int = 16):
        dims = [
            _positive_int(name, value)
            for name, value in (
                ("n_layer", n_layer),
                ("max_seqs", max_seqs),
                ("n_head", n_head),
                ("context", context),
                ("d_head", d_head),
            )
        ]
        self.n_layer, self.max_seqs, self.n_head, self.context, self.d_head = dims
        self.k = np.zeros(dims, np.float32)
        self.v = np.zeros(dims, np.float32)
        self.lengths = np.zeros(self.max_seqs, np.int64)
        self.start = np.zeros(self.max_seqs, np.int64)
        self._slot: dict = {}  # sequence id -> slot
        self._free = list(range(self.max_seqs - 1, -1, -1))  # pop() gives the lowest slot

    # ---- sequences --------------------------------------------------------------------------

    def add(self, seq_id) -> int:
        """Give a new, empty sequence a slot; returns the slot."""
        if seq_id in self._slot:
            raise InvalidValueError(f"sequence {seq_id!r} is already in the KV cache")
        if not self._free:
            raise InvalidValueError(
                f"the KV cache is full: {self.max_seqs} sequences (max_seqs) hold slots; remove "
                f"one or make a cache with a larger max_seqs"
            )
        slot = self._free.pop()
        self._slot[seq_id] = slot
        self.lengths[slot] = self.start[slot] = 0
        return slot

    def remove(self, seq_id) -> None:
        """Forget a sequence and free its slot (its keys and values stay, stale)."""
        slot = self.slots([seq_id])[0]
        del self._slot[seq_id]
        self.lengths[slot] = self.start[slot] = 0
        self._free.append(slot)
        self._free.sort(reverse=True)  # reuse the lowest slots first: batches stay contiguous

    def __contains__(self, seq_id) -> bool:
        return seq_id in self._slot

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def seq_ids(self) -> list:
        """The sequences held, in the order they were added."""
        return list(self._slot)

    def slots(self, seq_ids) -> np.ndarray:
        """(B,) int64 slots of these sequences; InvalidValueError naming an unknown one."""
        try:
            return np.array([self._slot[s] for s in seq_ids], dtype=np.int64)
        except KeyError as e:
            raise InvalidValueError(
                f"sequence {e.args[0]!r} is not in the KV cache; it holds {self.seq_ids[:8]}"
                f"{' ...' if len(self) > 8 else ''} (add it with prefill)"
            ) from None

    def length(self, seq_id) -> int:
        """Tokens stored for this sequence."""
        return int(self.lengths[self.slots([seq_id])[0]])

    # ---- keys and values --------------------------------------------------------------------

    def check_room(self, seq_ids, n_new) -> None:
        """ShapeError if appending ``n_new`` (B,) tokens would pass any sequence's context."""
        slots = self.slots(seq_ids)
        end = self.lengths[slots] + np.asarray(n_new, np.int64)
        if (end > self.context).any():
            i = int(np.argmax(end > self.context))
            raise ShapeError(
                f"sequence {list(seq_ids)[i]!r} would hold {end[i]} tokens "
                f"({self.lengths[slots[i]]} + {int(np.asarray(n_new).reshape(-1)[i])} new); "
                f"the model's context is {self.context} tokens"
            )

    def write(self, layer: int, slots, positions, k, v) -> None:
        """Store N new tokens: slots, positions (N,) int; k, v (N, n_head, d_head)."""
        self.k[layer, slots, :, positions] = k
        self.v[layer, slots, :, positions] = v

    def window(self, layer: int, slots: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of positions 0..t-1 of these slots: 2 x (B, n_head, t, d_head).

        A view when the slots are consecutive (the usual case: slots are reused lowest first),
        else a copy gathered with fancy indexing.
        """
        k, v = self.k[layer], self.v[layer]
        first = int(slots[0])
        if np.array_equal(slots, np.arange(first, first + len(slots))):
            part = slice(first, first + len(slots))
            return k[part, :, :t], v[part, :, :t]
        return k[slots, :, :t], v[slots, :, :t]

    def advance(self, slots, n_new) -> None:
        """Count ``n_new`` (B,) more tokens as stored in these slots (after every layer wrote)."""
        self.lengths[slots] += np.asarray(n_new, np.int64)

    @property
    def bytes_per_token(self) -> int:
        """2 (k and v) * n_layer * n_head * d_head * 4 bytes (float32)."""
        return 2 * self.n_layer * self.n_head * self.d_head * 4

    @property
    def nbytes(self) -> int:
        """Bytes reserved: every slot's whole context, used or not."""
        return self.k.nbytes + self.v.nbytes

    def __repr__(self) -> str:
        return (
            f"KVCache({len(self)}/{self.max_seqs} sequences, context {self.context}, "
            f"{self.n_layer} layers x {self.n_head} heads x {self.d_head}, "
            f"{self.nbytes / 2**20:.1f} MiB)"
        )
