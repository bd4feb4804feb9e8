"""The cells of chapter 08 (notebooks/08_llm_serving.ipynb), built by scripts/build_nb08.py."""

from __future__ import annotations

from nbbuild import code, md

CHAPTER = [
    md(
        "title",
        r"""
# 08 · Serving LLMs

**The problem.** MLPerf's LLM benchmark does not ask how fast a server is; it asks how much
traffic it carries **within limits a user would accept**. For Llama-3.1-8B in the *Server*
scenario the limits are a **time to first token (TTFT) of 2 s** and a **time per output token
(TPOT) of 100 ms** at the 99th percentile; the *interactive* variant tightens them to 500 ms and
30 ms (`loadgen/mlperf.conf`). Meanwhile every token a server has seen stays in GPU memory as
keys and values: **512 KiB per token** for Llama-2-7B in fp16, so one 4096-token conversation
holds 2 GiB. When vLLM's authors looked at the serving systems of 2022 (Kwon et al., SOSP 2023),
those systems used only **20.4–38.2 %** of the memory they reserved for that cache; managing it
like an operating system manages pages gave vLLM **2–4×** their throughput at the same latency.

This chapter builds an LLM server piece by piece — the KV cache on the course's tiny GPT, prefill
vs decode on the roofline, the cache's memory, paged blocks, continuous batching, chunked
prefill, the metrics users feel (TTFT, TPOT, goodput) — and ends with the question a provider
asks: **what does a million tokens cost on an H100, an L4, an Inferentia2 or a TPU, while meeting
the SLO?** The simulator is `inferlab.serve` (one step at a time, like vLLM's scheduler loop); the
step times come from chapter 04's roofline.
""",
    ),
    code(
        "setup",
        """
%matplotlib inline
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

from inferlab import bench, hw, ops
from inferlab.models import gpt
from inferlab.serve import kvcache, real
from inferlab.serve.llm import RooflineStep, simulate
from inferlab.serve.metrics import SLO, SLO_PRESETS, goodput
from inferlab.serve.steptime import OPT_13B
from inferlab.serve.workload import chat_lengths, make_workload
from inferlab.widgets.llm_serving import (
    kv_capacity_tokens,
    llm_serving_explorer,
    llm_serving_scenario,
    llm_serving_text,
    max_rate_under_slo,
    plot_llm_serving_scenario,
)

np.set_printoptions(precision=4, suppress=True)
h100, l4 = hw.device("H100 SXM"), hw.device("L4")
server = SLO_PRESETS["mlperf-llama3.1-8b-server"]
interactive = SLO_PRESETS["mlperf-llama3.1-8b-interactive"]
print(f"MLPerf Llama-3.1-8B limits: server {server}, interactive {interactive}")
assert (server.ttft, server.tpot) == (2.0, 0.1)
assert (interactive.ttft, interactive.tpot) == (0.5, 0.03)
""",
    ),
    md(
        "s1",
        r"""
## 1 · The KV cache

A decoder generates one token at a time, and token `t + 1` attends to the keys and values of
every token before it. Those keys and values never change once computed, so recomputing them at
every step (what the tiny GPT's `generate` did in chapter 02) wastes almost all the work: step
`t` reprocesses `t` tokens to produce one. A **KV cache** keeps them; a step then processes only
the new token and *reads* the cache. Inline, for one attention head: append the new key and value,
attend with the new query — and check it against causal attention recomputed over the whole
sequence (exercise 3 asks you to write exactly this):
""",
    ),
    code(
        "s1-inline",
        """
def cached_attention_step(q, k_new, v_new, cache):
    cache["k"] = np.vstack([cache["k"], k_new])  # (t + 1, d): the new token is position t
    cache["v"] = np.vstack([cache["v"], v_new])
    s = cache["k"] @ q / np.sqrt(len(q))
    w = np.exp(s - s.max())
    return (w / w.sum()) @ cache["v"]


rng = np.random.default_rng(0)
T, d = 64, 24
q, k, v = (rng.normal(size=(T, d)) for _ in range(3))
cache = {"k": np.zeros((0, d)), "v": np.zeros((0, d))}
step_by_step = np.stack([cached_attention_step(q[t], k[t], v[t], cache) for t in range(T)])
recomputed = ops.scaled_dot_product_attention(q, k, v, causal=True)
np.testing.assert_allclose(step_by_step, recomputed, rtol=1e-10, atol=1e-12)
print(f"{T} cached steps == causal attention recomputed; query rows computed: {T} vs "
      f"{T * (T + 1) // 2} without a cache")
""",
    ),
    md(
        "s1-gpt",
        r"""
The course's tiny GPT (chapter 02: 4 layers, `d_model` 96, 4 heads, 128 characters of context)
has the same cache built in (`inferlab.models.kvcache.KVCache`, one slot per sequence):
`prefill` runs a prompt once and keeps every layer's keys and values; `decode_step` feeds one
new token per sequence, each at its own position. The logits must be those of the full forward
pass, token after token; and generating text with the cache must give the same characters,
faster:
""",
    ),
    code(
        "s1-gpt-code",
        """
model = gpt.load()
ids = model.encode("ROMEO:\\nBut soft, what light through yonder window breaks?")
logits, kv = model.prefill(np.array([ids[:20]]))  # the first 20 characters at once
np.testing.assert_allclose(logits[0], model(np.array([ids[:20]]))[0], rtol=1e-4, atol=1e-4)
for t in range(20, len(ids)):  # then one character per step, reading the cache
    step = model.decode_step(np.array([ids[t]]), kv)
    full = model(np.array([ids[: t + 1]]))[0, -1]  # recompute everything
    np.testing.assert_allclose(step[0], full, rtol=1e-4, atol=1e-4)
print(f"{len(ids) - 20} decode steps == full recomputation; the cache holds {kv.length(0)} "
      f"tokens, {kv.bytes_per_token} bytes each (float32)")

n_new = 100
plain = bench.measure(lambda: model.generate("ROMEO:", n_new, temperature=0), repeat=5, warmup=1)
cached = bench.measure(
    lambda: model.generate("ROMEO:", n_new, temperature=0, use_cache=True), repeat=5, warmup=1
)
same = model.generate("ROMEO:", n_new, temperature=0, use_cache=True)
assert same == model.generate("ROMEO:", n_new, temperature=0)
speedup = plain.median / cached.median
print(f"{n_new} characters: {plain.median * 1e3:.0f} ms recomputing, {cached.median * 1e3:.0f} ms "
      f"with the KV cache: {speedup:.1f}x faster on this CPU")
assert speedup > 1.3
""",
    ),
    md(
        "s1-after",
        r"""
The speed-up grows with the length: without a cache the `t`-th step costs `t` tokens of work,
`n²/2` in all; with it, one token per step plus a read of the cache. On a GPU the saving is
bigger still, because a decode step then becomes one read of the weights — which is the next
section's subject.

## 2 · Prefill vs decode on the roofline

Serving a request has two phases with opposite characters. **Prefill** runs the whole prompt at
once: `S` tokens through every weight matrix, `2·P·S` FLOPs for one read of the weights —
compute-bound for any real prompt. **Decode** produces one token per sequence per step: at batch
`B` it does `2·P·B` FLOPs for the same read of the weights plus every sequence's KV cache —
memory-bound until `B` reaches the device's ridge point (chapter 04). So decoding is nearly free
to batch: the step time barely moves while the tokens per step multiply. The simulator's step
model (`RooflineStep`) must agree with chapter 04's `hw.decode_step` and `hw.prefill`:
""",
    ),
    code(
        "s2-code",
        """
llama = hw.LLAMA3_8B
step = RooflineStep(llama, h100)  # ideal efficiency, as hw's defaults
pre = hw.prefill(llama, 1, 2048, h100)
print(f"prefill of 2048 tokens: {pre.seconds * 1e3:.1f} ms, {pre.bound}-bound")
assert pre.bound == "compute" and np.isclose(step.prefill(1, 2048), pre.seconds)

batches = [2**i for i in range(11)]  # 1 .. 1024 sequences
per_step, per_token = [], []
for b in batches:
    est = hw.decode_step(llama, b, 1024, h100)
    assert np.isclose(step.decode(b, 1024), est.seconds)  # simulator == chapter 04's model
    per_step.append(est.seconds)
    per_token.append(est.seconds / b)
empty = [hw.decode_step(llama, b, 0, h100) for b in batches]  # an empty KV cache
print(f"decode, 1024 tokens of context: batch 1 {per_step[0] * 1e3:.2f} ms/step, batch 64 "
      f"{per_step[6] * 1e3:.2f} ms/step ({per_token[0] / per_token[6]:.0f}x cheaper per token)")
assert hw.decode_step(llama, 1, 1024, h100).bound == "memory"
ridge = h100.ridge_point("bf16")
assert empty[8].bound == "memory" and empty[9].bound == "compute"  # B* ~ ridge point (295)
assert 256 < ridge < 512

fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
a1.loglog(batches, np.array(per_step) * 1e3, "o-", label="context 1024")
a1.loglog(batches, [e.seconds * 1e3 for e in empty], "s--", label="context 0")
a1.axvline(ridge, color="grey", ls=":", label=f"ridge {ridge:.0f}")
a1.set(xlabel="batch (sequences decoding)", ylabel="ms per decode step",
       title="Llama-3-8B on an H100: a step costs ~one weight read")
a1.legend()
a2.loglog(batches, np.array(per_token) * 1e3, "o-")
a2.set(xlabel="batch", ylabel="ms per output token", title="batching makes tokens cheaper")
plt.tight_layout()
plt.show()
""",
    ),
    md(
        "s2-after",
        r"""
With 1024 tokens of context per sequence the KV reads grow with the batch and bend the curve
before the ridge; with an empty cache, the step time stays flat up to `B* ≈ 295` and only then
becomes compute-bound. The whole art of LLM serving is to keep that batch large: as many
sequences decoding together as the **KV memory** allows, without making anyone wait.

## 3 · How big is the KV cache?

Every token keeps one key and one value vector per KV head in every layer:
`2 · n_layers · n_kv_heads · d_head · bytes` (`serve.kv_bytes_per_token`, exercise 1).
Llama-2-7B in fp16: 512 KiB. A 13B model (OPT-13B, the vLLM paper's): **800 KB**, the paper's
figure. Grouped-query attention (Llama-3-8B: 8 KV heads for 32 query heads) divides it by four:
""",
    ),
    code(
        "s3-code",
        """
per_token = {
    "Llama-2-7B": kvcache.kv_bytes_per_token(32, 32, 128, 2),
    "OPT-13B": kvcache.kv_bytes_per_token(40, 40, 128, 2),
    "Llama-3-8B (GQA)": kvcache.kv_bytes_per_token(32, 8, 128, 2),
    "Llama-2-70B (GQA)": kvcache.kv_bytes_per_token(80, 8, 128, 2),
}
assert per_token["Llama-2-7B"] == 512 * 1024 == hw.LLAMA2_7B.kv_bytes_per_token()
assert per_token["OPT-13B"] == 819_200 == OPT_13B.kv_bytes_per_token()  # "800 KB per token"
assert per_token["Llama-3-8B (GQA)"] * 4 == per_token["Llama-2-7B"]
rows = []
for (name, kv_b), m in zip(per_token.items(), [hw.LLAMA2_7B, OPT_13B, hw.LLAMA3_8B,
                                                hw.LLAMA2_70B], strict=True):
    fits = {d.name: (d.mem_capacity * 0.9 - m.weight_bytes()) / (4096 * kv_b) for d in (h100, l4)}
    rows.append({"model": name, "KV per token (KiB)": kv_b / 1024,
                 "GiB per 4096-token conversation": 4096 * kv_b / 2**30,
                 "conversations on an H100": max(0, int(fits["H100 SXM"])),
                 "conversations on an L4": max(0, int(fits["L4"]))})
h100_fits = {row["model"]: row["conversations on an H100"] for row in rows}
assert h100_fits["Llama-2-7B"] == 27 and h100_fits["Llama-3-8B (GQA)"] > 3.8 * 27
bench.to_table(rows, title="KV cache per token, and 4096-token conversations beside the weights "
               "(90 % of memory, bf16)")
""",
    ),
    md(
        "s3-after",
        r"""
On an 80 GB H100, Llama-2-7B's weights take 13.5 GB and leave room for about **27**
conversations of 4096 tokens; the same GPU holds **four times** as many with Llama-3-8B's GQA,
and a 24 GB L4 barely any with Llama-2-7B. Memory for the cache, not FLOP/s, caps the batch —
which makes *how* that memory is handed out the next question.

## 4 · Paged KV memory

A server does not know how long an answer will be. Orca and FasterTransformer reserved, for each
request, one contiguous slab of the **maximum** length (2048 tokens); the vLLM paper also models
reserving the next power of two of the real length (*pow2*) and, impossibly, exactly the real
length (*oracle*) — all three hold memory for tokens not yet generated. **PagedAttention** cuts the
cache into blocks of 16 tokens; a request's *block table* lists its blocks, and it takes a new one
only when its last is full. `serve.BlockManager` (exercise 4):
""",
    ),
    code(
        "s4-blocks",
        """
bm = kvcache.BlockManager(num_blocks=64, block_size=16, watermark=0.0)
bm.allocate("a", 40)  # a 40-token prompt: 3 blocks
bm.allocate("b", 7)
for _ in range(9):
    bm.append("a")  # 49 tokens: a 4th block
print(bm.block_table("a"), bm.block_table("b"), f"utilisation {bm.utilisation:.1%}")
assert bm.block_table("a") == [0, 1, 2, 4] and bm.num_used == 5
assert np.isclose(bm.utilisation, (49 + 7) / (5 * 16))
""",
    ),
    md(
        "s4-sim",
        r"""
Now a whole run: chat-shaped requests (prompt and output lengths drawn from the course's table of
chat lengths, `datasets/chat_lengths.csv`, ShareGPT-like) served by OPT-13B on a 40 GB A100 —
the vLLM paper's Figure 13 setup. Like the paper's own Orca, the reservations are placed by a
*buddy* allocator (rounded up to a power of two of blocks), and the load, 3 requests/s, is high
enough that memory, not the arrival rate, limits every policy's batch (at the paper's 2 req/s,
with our shorter chat table, paged batching has spare room and the gap narrows). For each policy
the simulator records, every step, the KV memory *reserved* and the part of it that *holds
tokens*:
""",
    ),
    code(
        "s4-sim-code",
        """
prompt_len, output_len = chat_lengths()
print(f"chat lengths: {len(prompt_len)} requests, mean prompt {prompt_len.mean():.0f}, mean "
      f"output {output_len.mean():.0f} tokens")
a100_40 = dataclasses.replace(hw.device("A100 80GB SXM"), name="A100 40GB", mem_capacity=40e9)
opt_step = RooflineStep(OPT_13B, a100_40, efficiency="llm_serving")
opt_cap = kv_capacity_tokens(OPT_13B, a100_40)
fig13 = make_workload(3.0, 1000, prompt="trace", output="trace", seed=0)
policies = ["orca-max", "orca-pow2", "orca-oracle", "paged"]
published = {"orca-max": 7.00, "orca-pow2": 9.81, "orca-oracle": 13.62, "paged": 30.42}
buddy = {"orca-pow2": {"buddy": True}, "orca-oracle": {"buddy": True}}
runs = {
    p: simulate(fig13, p, opt_step, opt_cap, max_len=2048, **buddy.get(p, {}))
    for p in tqdm(policies)
}
rows = []
for p, r in runs.items():
    used, held = r.extra["kv_used"], r.extra["kv_allocated"]
    rows.append({"policy": p, "KV reserved that holds tokens": float(used.sum() / held.sum()),
                 "mean batch": float(r.batch_sizes.mean()), "vLLM Fig. 13": published[p]})
    assert r.n_completed + r.n_rejected == 1000
display(bench.to_table(rows, title=f"OPT-13B, A100 40 GB ({opt_cap:,} KV tokens), 3 req/s"))
use = {row["policy"]: row["KV reserved that holds tokens"] for row in rows}
batch = [row["mean batch"] for row in rows]
assert use["orca-max"] < 0.382 and use["paged"] > 0.9  # vLLM: 20.4-38.2 % vs ~96 %
assert batch == sorted(batch) and len(set(batch)) == 4  # max < pow2 < oracle < paged
assert batch[3] > 1.5 * batch[2]  # paged vs oracle: the paper's 30.42 / 13.62 = 2.2x
""",
    ),
    md(
        "s4-after",
        r"""
Reserving the maximum wastes most of the cache — the simulator lands inside the paper's
20.4–38.2 % band — and the waste shows directly in the batch size: fewer requests fit, so fewer
decode together. The ordering of the paper's Figure 13 (Orca max < pow2 < oracle < vLLM) comes
out, and paged batching holds about twice as many requests as Orca(oracle), as in the paper
(2.2×); the absolute sizes differ (our chat lengths are a small stand-in for ShareGPT, and the
paper's systems differ in more than memory). Paged blocks
waste at most one partly filled block per request; the price is a **preemption** when the blocks
run out mid-answer (vLLM then evicts the newest request and recomputes it later).

## 5 · Continuous batching vs static batching

*Static* (request-level) batching, FasterTransformer's, forms a batch, pads it to its longest
prompt and runs it until its **longest answer** is done: short answers idle in the batch, and a
request that arrives meanwhile waits for the whole batch. *Continuous* (iteration-level)
batching, Orca's idea, re-forms the batch **every step**: a finished request leaves at once, a new
one joins at the next step. First for real: the tiny GPT served by the same scheduler code, every
step executed by the NumPy model and timed by the wall clock (`serve.real.run`):
""",
    ),
    code(
        "s5-real",
        """
# answers heavy-tailed as chat answers are: most short, a few long (capped at 64 by real.run)
small = make_workload(200.0, 48, prompt={"kind": "uniform", "low": 8, "high": 32},
                      output={"kind": "lognormal", "median": 16, "sigma": 0.8}, seed=0)
measured = {p: real.run(model, small, p, max_batch=16) for p in ("static", "paged")}
tps = {p: real.tokens_per_second(r) for p, r in measured.items()}
for p, r in measured.items():
    assert r.n_completed == 48
    print(f"{p:7s}: {tps[p]:6.0f} output tokens/s, {len(r.batch_sizes)} steps, mean batch "
          f"{r.batch_sizes.mean():.1f}, p99 TTFT {np.percentile(r.ttft(), 99) * 1e3:.0f} ms")
print("a generated answer:", repr(measured["paged"].extra["texts"][0][:60]))
assert tps["paged"] > tps["static"]
""",
    ),
    md(
        "s5-scale",
        r"""
At scale, in the simulator: Llama-3-8B on one H100 (`RooflineStep` with the `llm_serving`
efficiency of chapter 04), 1000 chat requests arriving at random (Poisson) at a rising rate.
Latency stays flat while the server keeps up, then explodes when it cannot; the point where it
explodes is the server's **capacity**:
""",
    ),
    code(
        "s5-scale-code",
        """
st = RooflineStep(llama, h100, efficiency="llm_serving")
cap = kv_capacity_tokens(llama, h100)
rates = [0.5, 1, 2, 4, 8, 16, 24, 32]
curves = {p: [] for p in ("static", "paged")}
for rate in tqdm(rates):
    w = make_workload(float(rate), 1000, prompt="trace", output="trace", seed=0)
    for p in curves:
        r = simulate(w, p, st, cap, max_len=4096)
        assert r.n_completed + r.n_rejected == 1000
        curves[p].append(np.percentile(r.latency(), 99))
e2e_slo = SLO(e2e=30.0, name="p99 end-to-end 30 s")
capacity = {p: max_rate_under_slo(p, "H100 SXM", slo=e2e_slo, n=1000, low=0.25, high=64,
                                  rel_tol=0.1)[0] for p in curves}
print({p: f"{c:.1f} req/s" for p, c in capacity.items()},
      f"-> continuous batching carries {capacity['paged'] / capacity['static']:.1f}x the rate")
assert capacity["paged"] > 3 * capacity["static"] > 0
assert max_rate_under_slo("static", "H100 SXM", slo=server, n=400)[0] == 0  # never meets TTFT 2 s

fig, ax = plt.subplots(figsize=(7, 3.6))
for p, ys in curves.items():
    ax.semilogy(rates, ys, "o-", label=f"{p} (capacity {capacity[p]:.1f} req/s)")
ax.axhline(30, color="grey", ls="--", label="30 s")
ax.set(xlabel="request rate (req/s)", ylabel="p99 end-to-end latency (s)",
       title="Llama-3-8B on an H100: static vs continuous batching")
ax.legend()
plt.show()
""",
    ),
    md(
        "s5-after",
        r"""
At the same p99 latency, continuous batching with paged KV carries several times the request
rate of static batching, the qualitative result of Orca (36.9× on GPT-3 175B at its operating
point), of vLLM (up to 22× over FasterTransformer) and of Anyscale's benchmark (8× for continuous
batching alone). Static batching also fails MLPerf's 2 s TTFT at *any* rate: a new request always
waits for the running batch's longest answer.

## 6 · Chunked prefill

Continuous batching has its own stall: when a long prompt joins, its prefill shares the step with
everyone's decode, and that step takes as long as the prompt — every user streaming a reply sees a
gap. Sarathi-Serve (OSDI 2024) gives each step a **token budget** (512 here): decodes first, one
token each, then prompt *chunks* fill what is left (exercise 5). vLLM calls the gaps between tokens
*inter-token latency* (ITL); their 99th percentile is what a reader notices:
""",
    ),
    code(
        "s6-code",
        """
itl = {}
for rate in (4.0, 12.0):
    for p in ("paged", "chunked"):
        s = llm_serving_scenario(p, rate, "H100 SXM", n=600)
        itl[p, rate] = s["p99_itl_s"]
        print(f"{rate:4.0f} req/s, {p:7s}: p99 ITL {s['p99_itl_s'] * 1e3:5.1f} ms, p99 TTFT "
              f"{s['p99_ttft_s'] * 1e3:4.0f} ms")
    assert itl["chunked", rate] < itl["paged", rate]
""",
    ),
    md(
        "s6-after",
        r"""
The chunks cut the p99 time between tokens (Sarathi reports up to 2× more capacity under a
time-between-tokens SLO on real GPUs), and cost prompts a little TTFT, since a long prompt now
takes several steps. vLLM's current scheduler has no separate prefill phase at all: every request
gets "its tokens left, capped by the budget".

## 7 · TTFT, TPOT and goodput

vLLM's `benchmark_serving` defines the metrics the rest of this chapter uses (exercise 2): **TTFT**
= first token − arrival; **TPOT** = (end − first token) / (output tokens − 1), the first token
*excluded*; **ITL** = each gap between streamed tokens; **E2E** = end − arrival. A single request
from the simulator, checked by hand against `Result`:
""",
    ),
    code(
        "s7-code",
        """
w = make_workload(8.0, 600, prompt="trace", output="trace", seed=0)
r = simulate(w, "paged", st, cap, max_len=4096)
i = int(np.flatnonzero(r.completed & (r.output_len > 50))[3])
ttft = r.first_token[i] - r.arrival[i]
tpot = (r.finish[i] - r.first_token[i]) / (r.output_len[i] - 1)
assert np.isclose(r.ttft()[list(np.flatnonzero(r.completed)).index(i)], ttft)
with_gaps = np.flatnonzero(r.completed & (r.output_len > 1))  # TPOT needs 2 tokens or more
assert np.isclose(r.tpot()[list(with_gaps).index(i)], tpot)
print(f"request {i}: {r.prompt_len[i]} prompt + {r.output_len[i]} output tokens; TTFT "
      f"{ttft * 1e3:.0f} ms, TPOT {tpot * 1e3:.2f} ms, E2E {r.latency()[i]:.2f} s")
assert len(with_gaps) == len(r.tpot())
""",
    ),
    md(
        "s7-goodput",
        r"""
**Goodput** (DistServe; vLLM's `--goodput`) counts only the requests that met *every* limit of
the SLO, per second. Throughput keeps rising to the server's limit and stays there under
overload; goodput peaks and then **falls**, because once queues build up every request arrives
late — the throughput is still there, but nobody is served well:
""",
    ),
    code(
        "s7-goodput-code",
        """
load = [2, 4, 8, 16, 24, 32, 48, 64]
good, thru = [], []
for rate in tqdm(load):
    s = llm_serving_scenario("paged", float(rate), "H100 SXM", n=600)
    good.append(s["goodput"])
    thru.append(s["request_throughput"])
peak = int(np.argmax(good))
print(f"goodput peaks at {good[peak]:.1f} req/s (offered {load[peak]}), falls to {good[-1]:.1f} "
      f"at {load[-1]} req/s while throughput is {thru[-1]:.1f}")
assert 0 < peak < len(load) - 1 and good[-1] < 0.7 * good[peak]
assert all(g <= t + 1e-9 for g, t in zip(good, thru, strict=True))

fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(load, thru, "o-", label="throughput (completed req/s)")
ax.plot(load, good, "s-", label=f"goodput ({server.name})")
ax.set(xlabel="offered rate (req/s)", ylabel="req/s", title="Llama-3-8B, paged, one H100")
ax.legend()
plt.show()
""",
    ),
    md(
        "s8",
        r"""
## 8 · What a million tokens costs, within the SLO

The provider's question. For each device of the catalog with a price, serve Llama-3-8B (bf16,
paged KV, the same chat traffic) and **search for the highest request rate that still meets
MLPerf's Server limits** (p99 TTFT ≤ 2 s, p99 TPOT ≤ 100 ms, nothing rejected) — the capacity
search of Vidur and guidellm, by bisection on the rate (`max_rate_under_slo`). At that rate,

  cost per 1M output tokens = price per hour / 3600 × 10⁶ / output tokens per second

(chapter 04's `hw.cost_per_million`). A TPU v5e has 16 GB, too little for the 16 GB of weights
and a cache: it serves on **two** chips, at twice the price.
""",
    ),
    code(
        "s8-code",
        """
rows, best = [], {}
for name in tqdm(["H100 SXM", "A100 80GB SXM", "L4", "Inferentia2", "TPU v5e"]):
    rate, s = max_rate_under_slo("paged", name, slo=server, n=400, rel_tol=0.1)
    dev = hw.device(name)
    usd = hw.cost_per_million(s["chips"] * dev.price_per_hour, s["output_throughput"])
    assert s["meets_slo"] and np.isclose(s["usd_per_million"], usd)
    best[name] = s
    rows.append({"device": f"{s['chips']}x {name}", "$/h": s["price_per_hour"],
                 "KV tokens": s["kv_capacity_tokens"], "max req/s": rate,
                 "output tok/s": s["output_throughput"], "mean batch": s["mean_batch_size"],
                 "p99 TPOT ms": s["p99_tpot_s"] * 1e3, "$ per 1M output tokens": usd})
display(bench.to_table(rows, title=f"Llama-3-8B at the highest rate meeting {server.name}"))
cost = {n: s["usd_per_million"] for n, s in best.items()}
assert max(best, key=lambda n: best[n]["rate"]) == "H100 SXM"
assert cost["H100 SXM"] < cost["L4"]  # the big GPU is cheaper per token when it is kept busy
weights_read = llama.weight_bytes() / l4.mem_bw  # one decode step reads every weight
assert weights_read > 0.5 * server.tpot and best["H100 SXM"]["rate"] > 20 * best["L4"]["rate"]

fig, ax = plt.subplots(figsize=(7.5, 3.4))
ax.barh(list(cost), list(cost.values()), color="C2")
ax.invert_yaxis()
ax.set(xlabel="USD per 1M output tokens (roofline, llm_serving efficiency)",
       title="Llama-3-8B within MLPerf's server SLO")
plt.show()
""",
    ),
    md(
        "s8-after",
        r"""
Read this as a model, not a price list. The fastest chip is not the most expensive per token: an
H100 costs 8.5× an L4 per hour but carries over 20 times its traffic: on the L4, one read of the
16 GB of weights at 300 GB/s — every decode step needs one — already takes over half of the
100 ms TPOT budget, so little is left for the batch's KV reads and the prompts, while the H100's
3.35 TB/s leaves room for a large batch. The cheap accelerators (Inferentia2, TPU v5e) come
out cheapest *on the roofline*, which assumes they reach the same share of their peak as the
GPUs; chapter 04 measured Inferentia2 at about 40 % of its bandwidth at batch 1, and software
maturity is part of the real price. Published on-demand prices move every few months
(`datasets/devices.csv` gives each one's date and source). Chapter 09 follows the money further:
utilisation, replicas, reserved prices.

## 9 · Explore: policy × device × load

Pick a scheduling policy, a device, a model, an SLO and the request rate: the widget serves 600
chat requests and shows the KV memory over the run (reserved vs holding tokens, and the running
batch) and the TTFT and TPOT distributions against the SLO, with the cost per million tokens.
The pure functions are `llm_serving_scenario`, `llm_serving_text` and
`plot_llm_serving_scenario` in `inferlab/widgets/llm_serving.py`. Try: `static` vs `paged` at
8 req/s; `orca-max` and watch the reserved memory; the L4 at 1 and 2 req/s; the interactive SLO.
""",
    ),
    code(
        "s9-widget",
        """
llm_serving_explorer()
""",
        tags=["nbval-ignore-output"],
    ),
    md(
        "s9-plain",
        r"""
The same with the widget's defaults (paged, 8 req/s, Llama-3-8B on one H100), checked against
the simulator run directly; then static batching at the same load:
""",
    ),
    code(
        "s9-plain-code",
        """
default = llm_serving_scenario()
print(llm_serving_text())
direct = simulate(make_workload(8.0, 600, prompt="trace", output="trace", seed=0), "paged", st,
                  cap, max_len=4096)
assert np.isclose(default["p99_ttft_s"], np.percentile(direct.ttft(), 99))
assert np.isclose(default["goodput"], goodput(direct, server)) and default["meets_slo"]
display(plot_llm_serving_scenario())
print(llm_serving_text("static", 8.0))
assert not llm_serving_scenario("static", 8.0)["meets_slo"]
""",
    ),
    md(
        "takeaways",
        r"""
## Key takeaways

- **The KV cache turns decoding into a memory problem.** It saves recomputing every earlier token
  (measured here several times faster on the tiny GPT), but every token costs
  `2 · layers · KV heads · d_head · bytes`: 512 KiB for Llama-2-7B, 800 KB for a 13B model, four
  times less with grouped-query attention. KV memory, not FLOP/s, caps the batch.
- **Prefill is compute-bound, decode memory-bound.** A decode step costs about one read of the
  weights whatever the batch (up to the ridge point), so serving is the art of keeping many
  sequences decoding together.
- **Page the cache.** Reserving the maximum length wastes most of it (vLLM: 20.4–38.2 % used);
  16-token blocks waste at most one partial block per request, and the larger batch shows up in
  throughput (Orca max < pow2 < oracle < paged).
- **Batch per iteration, not per request.** Continuous batching carries several times the traffic
  of static batching at the same p99 latency; chunked prefill keeps long prompts from stalling
  everyone's stream (lower p99 ITL).
- **Measure what users feel.** TTFT, TPOT (first token excluded), ITL, and goodput under an SLO —
  which peaks and falls under overload, where throughput does not.
- **Cost per token is price over throughput at the SLO.** Find the highest rate that meets the
  limits, then divide: a fast, expensive chip kept busy can be the cheap one.

## Exercises

`exercises/08_llm_serving.ipynb`: KV-cache bytes with GQA, TTFT/TPOT/E2E by vLLM's definitions,
one decode step of attention with a cache, a paged block allocator, and Sarathi's token budget.
Check your work with `python -m inferlab check exercises/08_llm_serving.ipynb`.
""",
    ),
]
