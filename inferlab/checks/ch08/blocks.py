"""Exercise 08, task 4: ``block_tables`` — its fresh cases, known mistakes and diagnosis.

vLLM's paged KV cache (PagedAttention; nano-vllm's ``block_manager.py``): the cache is cut into
``num_blocks`` blocks of ``block_size`` tokens, and each sequence owns a *block table*, the list
of its physical blocks in token order. Replaying a list of operations:

    free list  starts as [0, 1, ..., num_blocks - 1]; blocks are TAKEN FROM THE FRONT
    ("allocate", seq, n)   a new sequence of n tokens gets ceil(n / block_size) blocks
    ("append", seq, n)     seq grows by n tokens; it takes a new block only when its last one
                           is full (the number of blocks becomes ceil(tokens / block_size))
    ("free", seq)          seq is done: its blocks go BACK TO THE END of the free list, in
                           table order

The answer is ``{seq: [block ids]}`` for the sequences still holding blocks. The cases never
run out of blocks. The reference is :class:`inferlab.serve.kvcache.BlockManager` (watermark 0).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from inferlab.checks.ch08._common import _rng, kind, mistakes, several_slips
from inferlab.checks.core import Case, Outcome, Task, first_failure, run
from inferlab.serve import kvcache


def _random_ops(rng, num_blocks: int, block_size: int, n_ops: int) -> list[tuple]:
    """Feasible allocate / append / free operations (checked with the reference)."""
    bm = kvcache.BlockManager(num_blocks, block_size, watermark=0.0)
    ops, live, next_id = [], [], 0
    while len(ops) < n_ops:
        roll = rng.random()
        if live and roll < 0.25:
            seq = live.pop(int(rng.integers(len(live))))
            bm.free(seq)
            ops.append(("free", seq))
        elif live and roll < 0.65:
            seq = live[int(rng.integers(len(live)))]
            n = int(rng.choice([1, 1, 1, int(rng.integers(2, 3 * block_size))]))
            if bm.can_append(seq, n):
                bm.append(seq, n)
                ops.append(("append", seq, n))
        else:
            n = int(rng.integers(1, 4 * block_size))
            if bm.can_allocate(n):
                bm.allocate(next_id, n)
                ops.append(("allocate", next_id, n))
                live.append(next_id)
                next_id += 1
    return ops


def _block_cases() -> list[Case]:
    rng = _rng(4)
    return [
        Case(
            (8, 4, [("allocate", 0, 6), ("allocate", 1, 4), ("append", 0, 1)]),
            note="6 tokens take 2 blocks; a 7th fits in the second",
        ),  # fmt: skip
        Case(
            (6, 4, [("allocate", 0, 8), ("append", 0, 1), ("allocate", 1, 3)]),
            note="a full block: the 9th token needs a third",
        ),  # fmt: skip
        Case(
            (10, 16, [("allocate", 0, 20), ("allocate", 1, 40), ("free", 0), ("allocate", 2, 33)]),
            note="freed blocks go to the END of the free list",
        ),  # fmt: skip
        Case(
            (5, 2, [("allocate", 7, 3), ("allocate", 3, 1), ("free", 7), ("append", 3, 4)]),
            note="sequence ids need not be 0, 1, 2 ...",
        ),  # fmt: skip
        Case((4, 8, [("allocate", 0, 8), ("free", 0)]), note="everything freed: {}"),
        Case(
            (
                12,
                4,
                [
                    ("allocate", 0, 4),
                    ("append", 0, 9),
                    ("allocate", 1, 2),
                    ("append", 1, 2),
                    ("append", 1, 1),
                ],
            ),
            note="appends of several tokens",
        ),  # fmt: skip
        Case((32, 16, _random_ops(rng, 32, 16, 25)), note="25 random operations"),
        Case((20, 4, _random_ops(rng, 20, 4, 40)), note="40 random operations, blocks of 4"),
        Case((64, 1, _random_ops(rng, 64, 1, 30)), note="blocks of one token"),
    ]


def _reference(num_blocks, block_size, ops):
    bm = kvcache.BlockManager(num_blocks, block_size, watermark=0.0)
    live = []
    for op in ops:
        if op[0] == "allocate":
            bm.allocate(op[1], op[2])
            live.append(op[1])
        elif op[0] == "append":
            bm.append(op[1], op[2])
        else:
            bm.free(op[1])
            live.remove(op[1])
    return {s: bm.block_table(s) for s in live}


def _student(num_blocks, block_size, ops, *, count="ceil", grow="when full", reuse="back"):
    """A student's block tables with switches for their mistakes."""
    free = deque(range(num_blocks))
    tables, tokens = {}, {}

    def blocks(n):
        return {"ceil": -(-n // block_size), "floor": n // block_size,
                "plus one": n // block_size + 1}[count]  # fmt: skip

    for op in ops:
        if op[0] == "allocate":
            _, seq, n = op
            tables[seq] = [free.popleft() for _ in range(blocks(n))]
            tokens[seq] = n
        elif op[0] == "append":
            _, seq, n = op
            tokens[seq] += n
            need = blocks(tokens[seq]) - len(tables[seq]) if grow == "when full" else blocks(n)
            tables[seq] += [free.popleft() for _ in range(max(need, 0))]
        else:
            gone = tables.pop(op[1])
            del tokens[op[1]]
            if reuse == "back":
                free.extend(gone)
            elif reuse == "front":
                free.extendleft(reversed(gone))
            else:  # "reversed": the table's last block first
                free.extend(reversed(gone))
    return tables


_SLIPS = {
    "count": [
        ("ceil", None),
        (
            "floor",
            "a partly filled block is still a block: n tokens need ceil(n / block_size) "
            "blocks, -(-n // block_size) in integers (n // block_size drops the last, partial "
            "one).",
        ),
        (
            "plus one",
            "n // block_size + 1 is one block too many when n is a multiple of block_size: "
            "use ceil(n / block_size) = -(-n // block_size).",
        ),
    ],
    "grow": [
        ("when full", None),
        (
            "fresh blocks",
            "an append first fills the room left in the sequence's LAST block: the table "
            "must hold ceil(total tokens / block_size) blocks, so take only the difference "
            "(often 0), not ceil(n_new / block_size) new ones.",
        ),
    ],
    "reuse": [
        ("back", None),
        (
            "front",
            "freed blocks go to the END of the free list (free.extend(table)) and new ones are "
            "taken from the front: the free list is a queue (a collections.deque), not a stack.",
        ),
        (
            "reversed",
            "return a freed sequence's blocks in TABLE order (free.extend(table)), not last "
            "block first.",
        ),
    ],
}


def _encode(result) -> np.ndarray:
    """{seq: [blocks]} as one array: for each seq in sorted order, seq, len, the blocks."""
    if not isinstance(result, dict):
        raise TypeError(
            f"return the block tables as a dict {{seq: [block ids]}} of the sequences that "
            f"still hold blocks; got {kind(result)}."
        )
    parts = []
    for seq in sorted(result, key=repr):
        try:
            table = [int(b) for b in np.asarray(result[seq]).reshape(-1)]
        except (TypeError, ValueError):
            raise TypeError(
                f"the block table of sequence {seq!r} must be a list of block ids; got "
                f"{kind(result[seq])}."
            ) from None
        if not isinstance(seq, int | np.integer):
            raise TypeError(f"the keys are the sequence ids of the ops (ints); got {seq!r}.")
        parts += [int(seq), len(table), *table]
    return np.asarray(parts, np.float64)


def _decode(a: np.ndarray) -> dict[int, list[int]] | None:
    out, i, a = {}, 0, np.asarray(a)
    while i < len(a):
        if i + 1 >= len(a):
            return None
        seq, n = int(a[i]), int(a[i + 1])
        out[seq] = [int(b) for b in a[i + 2 : i + 2 + n]]
        i += 2 + n
    return out


def _tables_symptom(o: Outcome) -> str | None:
    if o.got is None:
        return None
    got, expected = _decode(o.got), _decode(o.expected)
    if got is None or expected is None:
        return None
    if set(got) != set(expected):
        return (
            f"expected tables for sequences {sorted(expected)}, got {sorted(got)} (a freed "
            "sequence has no table)"
        )
    for seq in sorted(expected):
        if got[seq] != expected[seq]:
            return f"sequence {seq}: expected blocks {expected[seq]}, got {got[seq]}"
    return None


def _blocks_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None:
        return None
    if o.problem == "exception" and isinstance(o.error, IndexError | KeyError):
        return (
            "did the free list run dry, or a freed sequence stay in the tables? Each "
            "sequence holds ceil(its tokens / block_size) blocks, and `free` removes its "
            "table (del tables[seq])."
        )
    if o.got is None:
        return None
    return several_slips(BLOCKS, _student, _SLIPS, outcomes)


BLOCKS = Task(
    name="block_tables",
    arg_names=("num_blocks", "block_size", "ops"),
    reference=_reference,
    cases=_block_cases,
    covers="partly filled and exactly full blocks, multi-token appends, reuse of freed blocks, "
    "blocks of one token and runs of 40 random operations",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_blocks_diagnose,
    encode=_encode,
    symptom=_tables_symptom,
    fallback_hint="keep free = collections.deque(range(num_blocks)); a sequence with T tokens "
    "holds -(-T // block_size) blocks, new ones taken with free.popleft(); free returns them "
    "with free.extend(table).",
    forbidden=(kvcache.BlockManager.allocate, kvcache.BlockManager.append),
    forbidden_hint="keep the free list and the tables yourself: inferlab.serve.BlockManager is "
    "the reference the check compares with.",
)


def check_block_tables(fn) -> None:
    """Check your ``block_tables(num_blocks, block_size, ops) -> {seq: [blocks]}`` against
    ``inferlab.serve.kvcache.BlockManager``."""
    __tracebackhide__ = True
    run(BLOCKS, fn)
