"""inferlab.serve.kvcache: KV bytes per token against published figures, and the paged BlockManager.

References: the vLLM paper (Kwon et al., SOSP'23) gives 800 KB of KV per token for a 13B model;
Llama-2-7B's config.json (32 layers, 32 KV heads of 128) gives 512 KiB in fp16. The block manager
follows nano-vllm's ``engine/block_manager.py`` (free list, block tables) and vLLM's watermark.
"""

from __future__ import annotations

import numpy as np
import pytest

from inferlab import hw
from inferlab.errors import InvalidValueError
from inferlab.serve.kvcache import BlockManager, blocks_for, kv_bytes_per_token


def test_llama2_7b_is_512_kib_per_token_in_fp16():
    assert kv_bytes_per_token(32, 32, 128, 2) == 524_288 == 512 * 1024
    # the same number as inferlab.hw's model description
    assert kv_bytes_per_token(32, 32, 128) == hw.LLAMA2_7B.kv_bytes_per_token("fp16")


def test_13b_models_are_about_800_kb_per_token():
    """OPT-13B / Llama-2-13B: 40 layers, 40 heads of 128 -> 819 200 B, the paper's '800 KB'."""
    b = kv_bytes_per_token(40, 40, 128, 2)
    assert b == 819_200
    assert abs(b / 1e3 - 800) / 800 < 0.03


def test_gqa_and_dtype_shrink_the_cache():
    # Llama-3-8B: 8 KV heads instead of 32 -> a quarter; fp8 halves it again
    assert kv_bytes_per_token(32, 8, 128, 2) == 524_288 // 4
    assert kv_bytes_per_token(32, 8, 128, 1) == 524_288 // 8


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_kv_bytes_rejects_bad_sizes(bad):
    with pytest.raises(InvalidValueError, match="n_layers must be an int >= 1"):
        kv_bytes_per_token(bad, 32, 128)
    with pytest.raises(InvalidValueError, match="dtype_bytes"):
        kv_bytes_per_token(32, 32, 128, 0)


def test_blocks_for_is_ceil():
    assert [blocks_for(n, 16) for n in (0, 1, 16, 17, 32, 33)] == [0, 1, 1, 2, 2, 3]


def test_allocate_append_free_keeps_tables_and_free_list_consistent():
    bm = BlockManager(num_blocks=8, block_size=16, watermark=0.0)
    assert bm.allocate(0, 20) == [0, 1]
    assert bm.allocate(1, 16) == [2]
    assert bm.num_used == 3 and bm.num_free == 5
    assert bm.append(0, 12) == []  # 32 tokens fill 2 blocks exactly
    assert bm.append(0) == [3]  # the 33rd opens a third block
    assert bm.block_table(0) == [0, 1, 3] and bm.num_tokens(0) == 33
    assert bm.utilisation == pytest.approx((33 + 16) / (4 * 16))
    assert bm.fragmentation == pytest.approx(1 - bm.utilisation)
    assert bm.free(0) == 3
    assert bm.num_free == 7 and 0 not in bm and 1 in bm
    # freed blocks are reused (FIFO free list): the next allocation gets the untouched ones first
    table = bm.allocate(2, 16 * 7)
    assert sorted(table + bm.block_table(1)) == list(range(8))
    assert bm.num_free == 0 and not bm.can_append(1)
    assert bm.blocks_needed(1, 1) == 1


def test_no_block_is_ever_held_twice_under_random_traffic():
    rng = np.random.default_rng(0)
    bm = BlockManager(num_blocks=64, block_size=4, watermark=0.05)
    live = {}
    for step in range(2000):
        op = rng.integers(3)
        if op == 0 and bm.can_allocate(n := int(rng.integers(1, 30))):
            bm.allocate(step, n)
            live[step] = n
        elif op == 1 and live:
            sid = list(live)[rng.integers(len(live))]
            if bm.can_append(sid, 3):
                bm.append(sid, 3)
                live[sid] += 3
        elif op == 2 and live:
            bm.free(live.popitem()[0])
        held = [b for sid in live for b in bm.block_table(sid)]
        assert len(held) == len(set(held)) == bm.num_used
        assert all(len(bm.block_table(s)) == blocks_for(n, 4) for s, n in live.items())
        assert bm.tokens_stored == sum(live.values())


def test_watermark_blocks_new_sequences_but_not_growth():
    bm = BlockManager(num_blocks=100, block_size=16, watermark=0.1)  # 10 blocks stay free
    assert bm.can_allocate(90 * 16) and not bm.can_allocate(90 * 16 + 1)
    bm.allocate("a", 90 * 16)
    assert not bm.can_allocate(1)
    assert bm.can_append("a", 10 * 16)  # a running sequence may eat into the reserve
    bm.append("a", 10 * 16)
    assert bm.num_free == 0 and bm.occupancy == 1.0


def test_errors_say_what_was_expected_and_given():
    with pytest.raises(InvalidValueError, match="num_blocks must be an int >= 1; got 0"):
        BlockManager(0)
    with pytest.raises(InvalidValueError, match="block_size must be an int >= 1; got 0"):
        BlockManager(4, block_size=0)
    with pytest.raises(InvalidValueError, match=r"watermark .* \[0, 1\); got 1.5"):
        BlockManager(4, watermark=1.5)
    bm = BlockManager(2, block_size=4, watermark=0.0)
    with pytest.raises(InvalidValueError, match="cannot allocate 3 block"):
        bm.allocate(0, 9)
    bm.allocate(0, 8)
    with pytest.raises(InvalidValueError, match="already holds blocks"):
        bm.allocate(0, 1)
    with pytest.raises(InvalidValueError, match="needs 1 more block.*only 0 free"):
        bm.append(0)
    with pytest.raises(InvalidValueError, match="holds no blocks"):
        bm.free(7)
