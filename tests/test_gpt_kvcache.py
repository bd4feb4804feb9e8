"""The tiny GPT's KV cache: cached decoding computes what full recomputation computes.

Every cached logit is compared with ``model(ids)`` on the whole prefix (rtol/atol 1e-4: the
matmuls run in other shapes, so the float32 sums round differently), for one sequence, for a
batch of sequences at different positions (continuous batching), for mixed steps (a prefill
chunk beside decodes) and after sequences leave and others take their slots. Greedy generation
with the cache gives exactly the text of the default path; clear errors otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from inferlab import data
from inferlab.errors import InvalidValueError, ShapeError
from inferlab.models import gpt
from inferlab.models.kvcache import KVCache

TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(scope="module")
def model():
    return gpt.load()


@pytest.fixture(scope="module")
def text_ids(model):
    """(4, 128) int64: four windows of the shipped Shakespeare text."""
    ids = model.encode(data.load_text()[10_000 : 10_000 + 4 * 128])
    return ids.reshape(4, 128)


def test_prefill_equals_the_full_forward(model, text_ids):
    logits, cache = model.prefill(text_ids[:, :50])
    np.testing.assert_allclose(logits, model(text_ids[:, :50]), **TOL)
    assert logits.shape == (4, 50, len(model.vocab)) and logits.dtype == np.float32
    assert cache.seq_ids == [0, 1, 2, 3] and [cache.length(s) for s in range(4)] == [50] * 4


def test_one_sequence_decoded_to_the_full_context(model, text_ids):
    ids = text_ids[:1]  # (1, 128)
    full = model(ids)  # causal: full[:, t] is what a decode step at position t must give
    logits, cache = model.prefill(ids[:, :1])
    got = [logits[:, 0]]
    for t in range(1, 128):
        got.append(model.decode_step(ids[:, t], cache))
    np.testing.assert_allclose(np.stack(got, axis=1), full, **TOL)
    assert cache.length(0) == 128
    with pytest.raises(ShapeError, match="context is 128"):
        model.decode_step(ids[:, 0], cache)
    assert cache.length(0) == 128  # the refused step stored nothing


def test_batch_at_different_positions(model, text_ids):
    """Three sequences prefilled to 5, 40 and 1 tokens, decoded together; one leaves, a new one
    takes its slot; the middle one leaves (slots no longer consecutive: the gathered path)."""
    cache = model.new_cache(max_seqs=3)
    prompts = {"a": text_ids[0, :5], "b": text_ids[1, :40], "c": text_ids[2, :1]}
    for name, p in prompts.items():
        model.prefill(p[None], cache, seq_ids=[name])
    rows = {"a": 0, "b": 1, "c": 2, "d": 3}
    for step in range(12):
        if step == 4:
            cache.remove("a")
            model.prefill(text_ids[3:4, :20], cache, seq_ids=["d"])
        if step == 8:
            cache.remove("b")
        seqs = cache.seq_ids
        pos = {s: cache.length(s) for s in seqs}
        nxt = np.array([text_ids[rows[s], pos[s]] for s in seqs])
        logits = model.decode_step(nxt, cache, seq_ids=seqs)
        assert logits.shape == (len(seqs), len(model.vocab))
        for b, s in enumerate(seqs):
            want = model(text_ids[rows[s] : rows[s] + 1, : pos[s] + 1])[0, -1]
            np.testing.assert_allclose(logits[b], want, **TOL)
    assert sorted(cache.seq_ids) == ["c", "d"]
    assert cache.length("c") == 13 and cache.length("d") == 20 + 8


def test_extend_mixes_a_prefill_chunk_with_decodes(model, text_ids):
    """A step of chunked prefill: 30 prompt tokens for one sequence, one token for two others."""
    cache = model.new_cache(max_seqs=4)
    model.prefill(text_ids[:2, :10], cache, seq_ids=[0, 1])
    cache.add(2)  # a new request: its prompt comes in two chunks
    chunks = [text_ids[0, 10:11], text_ids[2, :30], text_ids[1, 10:11]]
    out = model.extend(cache, [0, 2, 1], chunks)
    assert [o.shape[0] for o in out] == [1, 30, 1]
    np.testing.assert_allclose(out[0], model(text_ids[:1, :11])[0, 10:], **TOL)
    np.testing.assert_allclose(out[1], model(text_ids[2:3, :30])[0], **TOL)
    np.testing.assert_allclose(out[2], model(text_ids[1:2, :11])[0, 10:], **TOL)
    second = model.extend(cache, [2, 0], [text_ids[2, 30:70], text_ids[0, 11:12]])
    np.testing.assert_allclose(second[0], model(text_ids[2:3, :70])[0, 30:], **TOL)
    np.testing.assert_allclose(second[1], model(text_ids[:1, :12])[0, 11:], **TOL)
    assert [cache.length(s) for s in (0, 1, 2)] == [12, 11, 70]


def test_left_padding_changes_no_logit(model, text_ids):
    """Static batching pads prompts of 7, 30 and 18 tokens on the left to 30; padded keys are
    stored (they cost memory and compute) but never seen: every logit is the unpadded one."""
    lengths, pad_id = np.array([7, 30, 18]), 0
    padded = np.full((3, 30), pad_id, np.int64)
    for b, n in enumerate(lengths):
        padded[b, 30 - n :] = text_ids[b, :n]
    cache = model.new_cache(max_seqs=3)
    for b in range(3):
        cache.add(b)
    out = model.extend(cache, [0, 1, 2], list(padded), n_pad=30 - lengths)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(out[b][30 - n :], model(text_ids[b : b + 1, :n])[0], **TOL)
    for step in range(5):  # decode together: each token goes at the next real position
        nxt = text_ids[np.arange(3), lengths + step]
        logits = model.decode_step(nxt, cache)
        for b, n in enumerate(lengths):
            want = model(text_ids[b : b + 1, : n + step + 1])[0, -1]
            np.testing.assert_allclose(logits[b], want, **TOL)
    assert [cache.length(b) for b in range(3)] == [35] * 3  # padding counts against memory
    with pytest.raises(InvalidValueError, match="padding goes first"):
        model.extend(cache, [0], [text_ids[0, :3]], n_pad=[1])


@pytest.mark.parametrize(
    "prompt, n_tokens, temperature",
    [("MACBETH.\n", 150, 0), ("To be", 60, 0), ("KING.\n", 40, 0.8)],
)
def test_generate_with_the_cache_gives_the_same_text(model, prompt, n_tokens, temperature):
    # 150 tokens after a 9-character prompt run past the 128-token context: the window slides
    plain = model.generate(prompt, n_tokens, temperature=temperature, seed=3)
    assert model.generate(prompt, n_tokens, temperature, seed=3, use_cache=True) == plain


def test_generate_past_the_context_with_a_long_prompt(model):
    prompt = data.load_text()[5_000:5_200]  # 200 characters: only the last 128 are read
    plain = model.generate(prompt, 5, temperature=0)
    assert model.generate(prompt, 5, temperature=0, use_cache=True) == plain


def test_cache_bookkeeping_and_memory():
    cache = KVCache(n_layer=4, n_head=4, d_head=24, context=128, max_seqs=2)
    assert cache.bytes_per_token == 2 * 4 * 4 * 24 * 4 == 3072
    assert cache.nbytes == 2 * 128 * 3072  # every slot reserves the whole context
    assert cache.add("x") == 0 and cache.add("y") == 1 and len(cache) == 2
    with pytest.raises(InvalidValueError, match="full: 2 sequences"):
        cache.add("z")
    with pytest.raises(InvalidValueError, match="already in the KV cache"):
        cache.add("x")
    cache.remove("x")
    assert "x" not in cache and cache.add("z") == 0  # the freed slot is reused
    with pytest.raises(InvalidValueError, match="'x' is not in the KV cache"):
        cache.remove("x")
    for bad in ({"max_seqs": 0}, {"context": 2.5}, {"n_head": True}):
        with pytest.raises(InvalidValueError, match="an int >= 1"):
            KVCache(**{"n_layer": 1, "n_head": 1, "d_head": 1, "context": 4, **bad})


def test_bad_inputs_raise_clear_errors(model, text_ids):
    logits, cache = model.prefill(text_ids[:2, :4], model.new_cache(max_seqs=4))
    with pytest.raises(InvalidValueError, match="sequence 7 is not in the KV cache"):
        model.decode_step([1], cache, seq_ids=[7])
    with pytest.raises(ShapeError, match="one token for each of the B = 2"):
        model.decode_step([1, 2, 3], cache)
    with pytest.raises(ShapeError, match="one chunk of ids per sequence"):
        model.extend(cache, [0, 1], [[1]])
    with pytest.raises(ShapeError, match="n >= 1"):
        model.extend(cache, [0], [[]])
    with pytest.raises(InvalidValueError, match=r"\[0, 75\)"):
        model.decode_step([75, 1], cache)
    with pytest.raises(ShapeError, match="would hold 129 tokens"):
        model.extend(cache, [0], [text_ids[0, :125]])
    assert cache.length(0) == 4 and cache.length(1) == 4  # refused calls changed nothing
    with pytest.raises(InvalidValueError, match="already in the KV cache"):
        model.prefill(text_ids[:2, :4], cache, seq_ids=[5, 0])
    assert cache.seq_ids == [0, 1]  # the failed prefill took back the sequence it added
    with pytest.raises(ShapeError, match="1 to 128 tokens"):
        model.prefill(np.zeros((1, 129), np.int64))
    with pytest.raises(ShapeError, match="one sequence id per row"):
        model.prefill(text_ids[:2, :4], seq_ids=[0])
