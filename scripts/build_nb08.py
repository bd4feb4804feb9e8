"""Build chapter 08's notebooks from the Python source below (run from the repository root):

    python scripts/build_nb08.py         # notebooks/ and solutions/08_llm_serving.ipynb
    python -m inferlab make-exercises    # then exercises/08_llm_serving.ipynb

The notebooks are written with outputs stripped and fixed cell ids, so a rebuild of unchanged
source is byte-identical. Edit this file (the chapter's cells are in scripts/nb08_chapter.py),
not the .ipynb files, and rebuild.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/: nbbuild, nb08_chapter

from nbbuild import chapter_notebook, code, md, solutions_notebook, write  # noqa: E402
from nbbuild import check as _check  # noqa: E402

STEM = "08_llm_serving"
check = functools.partial(_check, "ch08")


# ============================================================================== the exercises

SOLUTIONS = [
    md(
        "intro",
        r"""
# Exercises 08: serving LLMs

Chapter 08 (`notebooks/08_llm_serving.ipynb`) served a language model to many users at once: it
kept each conversation's keys and values in a **KV cache**, measured how much memory that cache
takes, cut it into **paged blocks** so that no memory is reserved for tokens not yet generated,
batched requests **continuously** (a new request joins at the next iteration, not the next
batch), split long prompts into **chunks** so that they do not stall everyone's decoding, and
measured the result the way vLLM's benchmark does. Here you write the core of it yourself, **in
NumPy and plain Python** (no `inferlab.serve` or `inferlab.ops` inside your functions):

| task | function | the idea | the classic pitfall |
|---|---|---|---|
| 1 | `kv_cache_bytes` | how much memory a conversation holds | query heads under GQA |
| 2 | `token_metrics` | TTFT, TPOT and end-to-end latency, vLLM's way | the first token in TPOT |
| 3 | `decode_attention` | a decode step of attention with a KV cache | attend, then append |
| 4 | `block_tables` | vLLM's paged KV cache: free list, block tables | partial blocks |
| 5 | `chunked_prefill_step` | Sarathi's token budget: decodes, then chunks | the decodes' share |

**Conventions.** Times are in **seconds** on one clock; memory in **bytes**; token counts are
integers. fp16/bf16 take 2 bytes per number, fp8 1, int4 0.5, float32 4.

**How it works.** Each task has a description, a cell with your function (replace
`raise NotImplementedError()` with your code) and a locked **check cell**. The check runs *your*
function on fresh inputs it never shows you (real model configurations, late arrivals, long
caches, freed blocks, budgets used up by decodes), compares it with the reference and either
prints one `✓` line or raises `CheckFailed` with a hint about what is wrong (it recognises the
usual slips, also two or three at once). Run a task's cells with Shift-Enter; *Run All* stops at
the first check that fails, which is expected while you work.

**Grade the whole notebook** from a terminal in the course folder (it runs a copy and never
changes your file):

    python -m inferlab check exercises/08_llm_serving.ipynb

Your edits are safe: `make exercises` never overwrites a notebook you changed. The worked answers
are in `solutions/08_llm_serving.ipynb`; try first.
""",
    ),
    md(
        "solutions-note",
        """
> **This is the solutions notebook**, the single source of the exercises. Students work in
> `exercises/08_llm_serving.ipynb`, generated from this file by `python -m inferlab
> make-exercises` (solution regions become stubs, this cell is dropped). Edit
> `scripts/build_nb08.py`, which writes this file, never the generated one.
""",
        tags=["solution-only"],
    ),
    code(
        "setup",
        """
from collections import deque

import numpy as np

from inferlab.checks import ch08

np.set_printoptions(precision=4, suppress=True)
""",
    ),
    md(
        "t1-task",
        r"""
## Task 1: how big is a KV cache?

Generating token `t + 1` needs the keys and values of tokens `0 .. t` in every layer. A server
keeps them (the **KV cache**) instead of recomputing them, and they, not the weights, decide how
many conversations fit on a GPU. Write `kv_cache_bytes(n_tokens, n_layers, d_model, n_heads,
n_kv_heads, dtype_bytes=2)` returning the bytes the cache of `n_tokens` tokens takes:

1. each head has `d_head = d_model / n_heads` numbers per token;
2. every layer stores one **key** and one **value** vector per **KV head**: with
   *grouped-query attention* (GQA) several query heads share one KV head, so `n_kv_heads` can be
   smaller than `n_heads` (Llama-3-8B: 32 query heads, 8 KV heads; Falcon-7B: one);
3. every number takes `dtype_bytes` bytes.

$$\text{bytes} = n_\text{tokens} \cdot 2 \cdot n_\text{layers} \cdot n_\text{kv heads}
\cdot \frac{d_\text{model}}{n_\text{heads}} \cdot \text{dtype\_bytes}$$

For Llama-2-7B (32 layers, `d_model` 4096, 32 heads, all of them KV heads) in fp16 one token
takes `2 · 32 · 32 · 128 · 2 = 524,288` bytes, **512 KiB**: a 4096-token conversation holds
2 GiB. Llama-3-8B's GQA makes that 128 KiB per token.

- **Pitfalls:** keys only (forgetting the factor 2); the query heads instead of the KV heads;
  one layer; counting numbers instead of bytes, or bits.
""",
    ),
    code(
        "t1-code",
        '''
def kv_cache_bytes(n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes=2):
    """Bytes of K and V for n_tokens tokens: 2 * layers * KV heads * d_head * bytes each."""
    ### BEGIN SOLUTION
    d_head = d_model // n_heads
    per_token = 2 * n_layers * n_kv_heads * d_head * dtype_bytes  # K and V, every layer
    return n_tokens * per_token
    ### END SOLUTION
''',
    ),
    check("t1-check", "kv_cache_bytes"),
    md(
        "t2-task",
        r"""
## Task 2: TTFT, TPOT and end-to-end latency

A chat user sees two things: how long until the first word appears, and how fast the rest
streams. vLLM's `benchmark_serving` (and MLPerf's LLM server scenario, whose limits are on
exactly these two) measure them per request. A request arrived at `arrival` and its `n` output
tokens were streamed at `times` (an array of `n` non-decreasing timestamps, same clock). Write
`token_metrics(arrival, times)` returning the tuple `(ttft, tpot, e2e)`:

1. **TTFT**, time to first token: `times[0] - arrival` (queueing and the prompt's prefill);
2. **E2E**, end-to-end latency: `times[-1] - arrival`;
3. **TPOT**, time per output token, **excluding the first**: `(e2e - ttft) / (n - 1)`; with a
   single token there is no gap to average and TPOT is undefined: return `float("nan")`.

$$\text{TTFT} = t_0 - a, \qquad \text{E2E} = t_{n-1} - a, \qquad
\text{TPOT} = \frac{\text{E2E} - \text{TTFT}}{n - 1}$$

For `arrival = 10.0` and `times = [10.5, 10.6, 10.8]`: TTFT 0.5 s, E2E 0.8 s, TPOT
0.3 / 2 = 0.15 s. (TPOT is the mean of the request's inter-token latencies `np.diff(times)`; vLLM
reports those too, as ITL.)

- **Pitfalls:** `e2e / n` for TPOT (the prefill and the queueing smeared over every token, so a
  long prompt looks like slow decoding); dividing by `n` instead of `n - 1`; measuring from 0
  instead of the arrival; E2E from the first token.
""",
    ),
    code(
        "t2-code",
        '''
def token_metrics(arrival, times):
    """(ttft, tpot, e2e) in seconds of one request; tpot excludes the first token (nan if n=1)."""
    ### BEGIN SOLUTION
    times = np.asarray(times, dtype=np.float64)
    ttft = times[0] - arrival
    e2e = times[-1] - arrival
    tpot = (e2e - ttft) / (len(times) - 1) if len(times) > 1 else float("nan")
    return ttft, tpot, e2e
    ### END SOLUTION
''',
    ),
    check("t2-check", "token_metrics"),
    md(
        "t3-task",
        r"""
## Task 3: attention with a KV cache

One decode step of one attention head. The cache holds the keys and values of the `t` tokens so
far, `k_cache` and `v_cache` of shape `(t, d)`; the new token brings its query `q`, key `k_new`
and value `v_new`, each `(d,)`. Write `decode_attention(q, k_cache, v_cache, k_new, v_new)`
returning `(out, k_cache, v_cache)`:

1. **append** the new key and value as the last rows of the cache: `(t + 1, d)` each (the new
   token is position `t`);
2. attend: the query meets **every** cached key, the new token's own included (causal attention
   includes the diagonal), scaled by `1 / sqrt(d)`, with a numerically stable softmax;
3. `out` (`(d,)`) is the softmax-weighted sum of the cached values.

$$K = \begin{bmatrix} K_\text{cache} \\ k_\text{new} \end{bmatrix}, \quad
s = \frac{K q}{\sqrt d}, \quad w = \frac{e^{s - \max s}}{\sum e^{s - \max s}}, \quad
\text{out} = w^\top V$$

Run step after step, this gives exactly the last row of causal attention recomputed over all
`t + 1` tokens, at the cost of one row instead of `t + 1` (the "putting it together" cells
below check that). With `q = [1, 0]`, one cached key `[0, 0]`, value `[1, 1]`, and the new key
`[2, 0]`, value `[3, 5]`: scores `[0, 2] / sqrt 2`, weights `[0.196, 0.804]`,
`out = [2.61, 4.22]`.

- **Pitfalls:** attending to the old cache only (append first); putting the new token first
  (row `i` is position `i`); no `1 / sqrt(d)`, or `1 / d`; `np.exp` without subtracting the
  max (large scores overflow to `inf`, the softmax to `nan`).
""",
    ),
    code(
        "t3-code",
        '''
def decode_attention(q, k_cache, v_cache, k_new, v_new):
    """(out (d,), k_cache (t+1, d), v_cache (t+1, d)): append the new token, then attend."""
    ### BEGIN SOLUTION
    k = np.vstack([k_cache, k_new])  # (t + 1, d): the new token is the last position
    v = np.vstack([v_cache, v_new])
    scores = k @ q / np.sqrt(q.shape[-1])  # (t + 1,)
    w = np.exp(scores - scores.max())  # stable softmax
    out = (w / w.sum()) @ v  # (d,)
    return out, k, v
    ### END SOLUTION
''',
    ),
    check("t3-check", "decode_attention"),
    md(
        "t4-task",
        r"""
## Task 4: a paged KV cache

Reserving a slab of the maximum length for every request wastes most of it (vLLM measured that
existing systems used only **20.4–38.2 %** of their KV memory for actual tokens). vLLM's
*PagedAttention* instead cuts the cache into **blocks** of `block_size` tokens, like pages of
virtual memory: each sequence owns a **block table**, the list of its physical blocks in token
order, and takes a new block only when its last one is full. Write
`block_tables(num_blocks, block_size, ops)` that replays a list of operations and returns the
block tables `{seq: [block ids]}` of the sequences that still hold blocks:

1. the free list starts as `[0, 1, ..., num_blocks - 1]`; blocks are always **taken from its
   front** (a `collections.deque`, `popleft()`);
2. `("allocate", seq, n)`: a new sequence of `n` tokens (its prompt) gets `ceil(n / block_size)`
   blocks;
3. `("append", seq, n)`: the sequence grows by `n` tokens; it takes new blocks only when its
   last block is full: afterwards it holds `ceil(tokens / block_size)` blocks;
4. `("free", seq)`: the sequence is done; its blocks go **back to the end** of the free list,
   in table order, and it has no table any more.

$$\text{blocks}(T) = \left\lceil T / \text{block\_size} \right\rceil$$

With 8 blocks of 4 tokens, `[("allocate", 0, 6), ("allocate", 1, 3), ("append", 0, 1)]` gives
`{0: [0, 1], 1: [2]}`: 6 tokens take 2 blocks, and the 7th fits in the second. The operations
never run out of blocks.

- **Pitfalls:** `n // block_size` (a partly filled block is still a block) or
  `n // block_size + 1` (one too many when it divides); taking `ceil(n / block_size)` *new*
  blocks on every append; putting freed blocks at the front of the free list, or in reverse
  order.
""",
    ),
    code(
        "t4-code",
        '''
def block_tables(num_blocks, block_size, ops):
    """{seq: [block ids]} after replaying allocate / append / free operations."""
    ### BEGIN SOLUTION
    free = deque(range(num_blocks))
    tables, tokens = {}, {}
    for op in ops:
        if op[0] == "free":
            free.extend(tables.pop(op[1]))  # back to the END of the free list, in order
            del tokens[op[1]]
            continue
        kind, seq, n = op
        if kind == "allocate":
            tables[seq], tokens[seq] = [], 0
        tokens[seq] += n
        need = -(-tokens[seq] // block_size) - len(tables[seq])  # ceil: partial blocks count
        tables[seq] += [free.popleft() for _ in range(need)]
    return tables
    ### END SOLUTION
''',
    ),
    check("t4-check", "block_tables"),
    md(
        "t5-task",
        r"""
## Task 5: chunked prefill

A 4000-token prompt processed in one iteration makes every other user's next token wait for it:
a stall of hundreds of milliseconds in everyone's stream. Sarathi-Serve (Agrawal et al., OSDI
2024; vLLM's scheduler works the same way) gives each iteration a **token budget**: the requests
that are decoding go first, one token each; what is left goes to the waiting prompts in arrival
order, and the last one that does not fit gets a **chunk**, continued next iteration. Write
`chunked_prefill_step(token_budget, n_decode, prefill_left)`:

1. `n_decode` running requests take one token each (`n_decode <= token_budget`);
2. `prefill_left` lists the prompt tokens still to process of each waiting request, in arrival
   order (a list, possibly empty); each one gets `min(its tokens left, budget left)`;
3. return the chunk of every waiting request as a 1-D integer array of `len(prefill_left)`
   (0 for those that get nothing this iteration).

$$\text{left}_0 = \text{budget} - n_\text{decode}, \qquad
c_i = \min(p_i,\ \text{left}_i), \qquad \text{left}_{i+1} = \text{left}_i - c_i$$

With a budget of 512, 10 decodes and prompts `[300, 1200]`: chunks `[300, 202]`, and the second
prompt continues next iteration with 998 tokens left.

- **Pitfalls:** ignoring the decodes (the step then exceeds its budget); scheduling whole prompts
  only; giving only the first prompt a chunk; not subtracting each chunk from the budget.
""",
    ),
    code(
        "t5-code",
        '''
def chunked_prefill_step(token_budget, n_decode, prefill_left):
    """Tokens of each waiting prompt scheduled this iteration: decodes first, then chunks."""
    ### BEGIN SOLUTION
    left = token_budget - n_decode  # the decodes take one token each, first
    chunks = np.zeros(len(prefill_left), dtype=np.int64)
    for i, n in enumerate(prefill_left):
        chunks[i] = min(n, left)  # the last one that fits gets a partial chunk
        left -= chunks[i]
    return chunks
    ### END SOLUTION
''',
    ),
    check("t5-check", "chunked_prefill_step"),
    md(
        "together",
        """
## Putting it together (not graded)

Once all five checks pass, these cells run **your** functions against the course's library and
against each other: your KV sizes against `inferlab.hw`'s Llama configurations and the vLLM
paper's 800 KB per token, your attention step, token after token, against causal attention
recomputed from scratch, and your block tables against `inferlab.serve.BlockManager` on a long
random run. Until then they stop at your first unfinished function.
""",
    ),
    code(
        "together-kv",
        """
from inferlab import hw, ops
from inferlab.serve import kvcache

for m in (hw.LLAMA2_7B, hw.LLAMA3_8B, hw.LLAMA2_70B):
    mine = kv_cache_bytes(1, m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, 2)
    assert mine == m.kv_bytes_per_token("bf16")
    print(f"{m.name:12s} {mine / 1024:6.0f} KiB per token, {4096 * mine / 2**30:5.2f} GiB at 4096")
assert kv_cache_bytes(1, 32, 4096, 32, 32) == 512 * 1024  # Llama-2-7B: 512 KiB
assert kv_cache_bytes(1, 40, 5120, 40, 40) == 819_200  # a 13B model: vLLM's "800 KB"
""",
    ),
    code(
        "together-attention",
        """
# one head, 40 tokens: your cached decode step by step == causal attention over all of them
rng = np.random.default_rng(0)
T, d = 40, 16
q, k, v = (rng.normal(size=(T, d)) for _ in range(3))
full = ops.scaled_dot_product_attention(q, k, v, causal=True)  # recompute everything
k_cache, v_cache = np.zeros((0, d)), np.zeros((0, d))
for t in range(T):
    out, k_cache, v_cache = decode_attention(q[t], k_cache, v_cache, k[t], v[t])
    np.testing.assert_allclose(out, full[t], rtol=1e-10, atol=1e-12)
np.testing.assert_array_equal(k_cache, k)
print(f"{T} cached decode steps == causal attention recomputed: {T} query rows instead of "
      f"{T * (T + 1) // 2}")
""",
    ),
    code(
        "together-blocks",
        """
# a long random run: your block tables == BlockManager's, and what paging saves
rng = np.random.default_rng(1)
bm = kvcache.BlockManager(num_blocks=200, block_size=16, watermark=0.0)
ops_run, live, next_id = [], [], 0
for _ in range(300):
    if live and rng.random() < 0.3:
        seq = live.pop(int(rng.integers(len(live))))
        bm.free(seq)
        ops_run.append(("free", seq))
    elif live and rng.random() < 0.6:
        seq = live[int(rng.integers(len(live)))]
        if bm.can_append(seq, 1):
            bm.append(seq, 1)
            ops_run.append(("append", seq, 1))
    else:
        n = int(rng.integers(1, 200))
        if bm.can_allocate(n):
            bm.allocate(next_id, n)
            ops_run.append(("allocate", next_id, n))
            live.append(next_id)
            next_id += 1
mine = block_tables(200, 16, ops_run)
assert mine == {s: bm.block_table(s) for s in live}
print(f"{len(ops_run)} operations, {len(mine)} sequences alive: {bm.num_used} blocks used, "
      f"{bm.utilisation:.1%} of their slots hold a token (at most one partial block each)")
assert bm.utilisation > 1 - len(live) * 15 / (16 * bm.num_used) - 1e-12
""",
    ),
    code(
        "together-chunked",
        """
# a 3000-token prompt arrives while 30 requests decode: chunks of at most 512 - 30 tokens
left, steps = [3000], 0
while left[0] > 0:
    (chunk,) = chunked_prefill_step(512, 30, left)
    assert 30 + chunk <= 512
    left[0] -= chunk
    steps += 1
print(f"the prompt is prefilled in {steps} iterations; every iteration still decodes 30 tokens")
assert steps == -(-3000 // 482)
""",
    ),
    md(
        "next",
        """
## Next

Grade the whole notebook from a terminal in the course folder:

    python -m inferlab check exercises/08_llm_serving.ipynb

It prints a table (PASS / FAIL with the hint / NOT ATTEMPTED / ERROR) and the total, and exits
with status 0 only when every task passes. Then compare with `solutions/08_llm_serving.ipynb`,
and try chapter 08's widget: with your `kv_cache_bytes`, how many Llama-3-8B conversations of
4096 tokens fit beside the weights on one L4 (24 GB)? On an H100 (80 GB)?
""",
    ),
]


def main() -> int:
    from nb08_chapter import CHAPTER  # scripts/nb08_chapter.py: the chapter's cells

    return write(STEM, solutions_notebook(SOLUTIONS, STEM), chapter_notebook(CHAPTER))


if __name__ == "__main__":
    raise SystemExit(main())
