"""Every check of exercises 08 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/08_llm_serving.ipynb (extracted from the
notebook's own cells and exec'd) passes; the generated stub in exercises/08_llm_serving.ipynb is
"not attempted"; every slip a check knows fails with its hint, alone and two at once; plausible
wrong answers, written the way students write them, fail with a specific hint; and equivalent
right answers pass. The checks' references agree with independent ones on the checks' own cases
(torch's scaled_dot_product_attention, the published KV sizes, the tiny GPT's own KV cache).
The grader grades the notebooks end to end (marked ``slow``).
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
    slip_tests,
)

from inferlab import hw, ops
from inferlab.checks import ch08
from inferlab.checks.ch08 import attention, blocks, chunked, kvbytes, metrics
from inferlab.serve import kvcache

ROOT = Path(__file__).resolve().parents[1]
TASKS = [
    "kv_cache_bytes",
    "token_metrics",
    "decode_attention",
    "block_tables",
    "chunked_prefill_step",
]
MODULES = {
    "kv_cache_bytes": kvbytes,
    "token_metrics": metrics,
    "decode_attention": attention,
    "block_tables": blocks,
    "chunked_prefill_step": chunked,
}

SOLUTION = notebook_functions(ROOT / "solutions" / "08_llm_serving.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "08_llm_serving.ipynb", TASKS)

check, fails = check_helpers(ch08)


def cases(task: str):
    return ch08.TASKS[task].cases()


# ----------------------------------------------------------------------------- the references


def test_the_kv_reference_gives_the_published_sizes():
    assert kvbytes._reference(1, 32, 4096, 32, 32, 2) == 512 * 1024  # Llama-2-7B, fp16
    assert kvbytes._reference(1, 40, 5120, 40, 40, 2) == 819_200  # vLLM's "800 KB" (13B)
    for m in (hw.LLAMA2_7B, hw.LLAMA3_8B, hw.LLAMA2_70B):
        ours = kvbytes._reference(10, m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, 2)
        assert ours == 10 * m.kv_bytes_per_token("bf16")


def test_the_kv_reference_is_the_formula_on_every_case():
    for case in cases("kv_cache_bytes"):
        n, layers, d_model, heads, kv, nbytes = case.args
        assert kvbytes._reference(*case.args) == n * 2 * layers * kv * (d_model / heads) * nbytes


def test_the_metrics_reference_is_vllms_definition():
    """benchmark_serving: ttft = first chunk - start; tpot = (latency - ttft) / (n - 1);
    itl = the gaps between chunks; its mean equals tpot for one request."""
    for case in cases("token_metrics"):
        arrival, times = case.args
        ttft, tpot, e2e = metrics._reference(arrival, times)
        assert ttft == times[0] - arrival and e2e == times[-1] - arrival
        if len(times) > 1:
            assert math.isclose(tpot, np.diff(times).mean(), rel_tol=1e-9)
        else:
            assert math.isnan(tpot)


def test_the_attention_reference_is_torchs_last_causal_row():
    for case in cases("decode_attention"):
        q, k_cache, v_cache, k_new, v_new = case.args
        out, k, v = attention._reference(*case.args)
        t = torch.from_numpy
        full = F.scaled_dot_product_attention(
            t(q[None].astype(np.float64)), t(k.astype(np.float64)), t(v.astype(np.float64))
        )[0].numpy()
        np.testing.assert_allclose(out, full, rtol=1e-4, atol=1e-5, err_msg=case.note)
        np.testing.assert_array_equal(k[:-1], k_cache)
        np.testing.assert_array_equal(v[-1], v_new)


def test_cached_decoding_equals_the_tiny_gpts_recomputation():
    """The exercise's step, run on the tiny GPT's cached keys, gives what the GPT computes."""
    from inferlab.models import gpt

    model = gpt.load()
    ids = model.encode("ROMEO: But soft, what light")
    logits, cache = model.prefill(np.array([ids]))
    np.testing.assert_allclose(logits[0], model(np.array([ids]))[0], rtol=1e-4, atol=1e-4)
    k = cache.k[0, 0, 0, : len(ids)]  # layer 0, sequence 0, head 0: (T, d_head)
    v = cache.v[0, 0, 0, : len(ids)]
    rng = np.random.default_rng(3)
    q = rng.normal(size=k.shape[1]).astype(np.float32)
    out, _, _ = SOLUTION["decode_attention"](q, k[:-1], v[:-1], k[-1], v[-1])
    full = ops.scaled_dot_product_attention(q[None], k, v)[0]
    np.testing.assert_allclose(out, full, rtol=1e-5, atol=1e-6)


def test_the_block_reference_is_a_plain_replay():
    for case in cases("block_tables"):
        num_blocks, size, run = case.args
        free, tables, tokens = deque(range(num_blocks)), {}, {}
        for op in run:
            if op[0] == "free":
                free.extend(tables.pop(op[1]))
                continue
            _, seq, n = op
            tables.setdefault(seq, [])
            tokens[seq] = tokens.get(seq, 0) + n if op[0] == "append" else n
            tables[seq] += [free.popleft() for _ in range(math.ceil(tokens[seq] / size) -
                                                          len(tables[seq]))]  # fmt: skip
        assert blocks._reference(*case.args) == tables, case.note


def test_the_chunked_reference_never_exceeds_the_budget():
    for case in cases("chunked_prefill_step"):
        budget, n_decode, left = case.args
        chunks = chunked._reference(*case.args)
        assert n_decode + chunks.sum() == min(budget, n_decode + sum(left)), case.note
        assert np.all(chunks <= np.asarray(left, np.int64)), case.note
        partial = np.flatnonzero(chunks < np.asarray(left, np.int64))
        assert np.all(chunks[partial[1:]] == 0)  # only the first unfinished one is partial


@pytest.mark.parametrize(
    ("task", "library"),
    [("kv_cache_bytes", kvcache.kv_bytes_per_token), ("decode_attention", ops.softmax)],
)
def test_a_library_function_itself_is_refused(task, library):
    assert "needs your own" in fails(task, library)


@pytest.mark.parametrize("task", TASKS)
def test_the_generated_stub_is_not_attempted(task):
    assert "not attempted yet" in fails(task, STUB[task])


def test_the_shipped_solutions_pass(capsys):
    for task in TASKS:
        check(task, SOLUTION[task])
    assert capsys.readouterr().out.count("✓") == len(TASKS)


# ----------------------------------------------------------------------------- every known slip


TWO_SLIPS = [
    ("kv_cache_bytes", {"kv": "k_only", "heads": "query"}),
    ("kv_cache_bytes", {"layers": "one", "size": "bits"}),
    ("token_metrics", {"tpot": "e2e / n", "ttft": "clock"}),
    ("decode_attention", {"order": "prepend", "scale": "none"}),
    ("block_tables", {"count": "floor", "reuse": "front"}),
    ("chunked_prefill_step", {"decodes": "ignored", "prompts": "one"}),
]

# every slip alone, the switches left alone, two slips at once: the same for every chapter
globals().update(slip_tests(MODULES, check, fails, TWO_SLIPS))


# ----------------------------------------------------------------------------- wrong answers


def kv_query_heads(n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes=2):
    return n_tokens * 2 * n_layers * d_model * dtype_bytes  # d_model = all query heads


def kv_int_dtype(n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes=2):
    return n_tokens * 2 * n_layers * n_kv_heads * (d_model // n_heads) * int(dtype_bytes)


def kv_library(n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes=2):
    return n_tokens * kvcache.kv_bytes_per_token(n_layers, n_kv_heads, d_model // n_heads,
                                                 dtype_bytes)  # fmt: skip


def tm_mean_of_all_gaps(arrival, times):
    gaps = np.diff(np.concatenate([[arrival], times]))
    return times[0] - arrival, gaps.mean(), times[-1] - arrival


def tm_python_zero_division(arrival, times):
    times = list(times)
    e2e, ttft = times[-1] - arrival, times[0] - arrival
    return ttft, float(e2e - ttft) / (len(times) - 1), e2e


def tm_dict(arrival, times):
    return {"ttft": times[0] - arrival}


def da_no_stable(q, k_cache, v_cache, k_new, v_new):
    k, v = np.vstack([k_cache, k_new]), np.vstack([v_cache, v_new])
    w = np.exp(k @ q / np.sqrt(len(q)))
    return (w / w.sum()) @ v, k, v


def da_concat_flat(q, k_cache, v_cache, k_new, v_new):
    k = np.concatenate([k_cache, k_new])  # (t, d) with (d,): ValueError
    v = np.concatenate([v_cache, v_new])
    return k @ q, k, v


def da_library(q, k_cache, v_cache, k_new, v_new):
    k, v = np.vstack([k_cache, k_new]), np.vstack([v_cache, v_new])
    return ops.scaled_dot_product_attention(q[None], k, v)[0], k, v


def bt_stack(num_blocks, block_size, run):
    free = list(range(num_blocks - 1, -1, -1))  # pop() from the end: a stack
    tables, tokens = {}, {}
    for op in run:
        if op[0] == "free":
            free.extend(reversed(tables.pop(op[1])))
            continue
        _, seq, n = op
        tables.setdefault(seq, [])
        tokens[seq] = tokens.get(seq, 0) + n
        while len(tables[seq]) * block_size < tokens[seq]:
            tables[seq].append(free.pop())
    return tables


def bt_list_of_tables(num_blocks, block_size, run):
    return list(SOLUTION["block_tables"](num_blocks, block_size, run).values())


def bt_floor(num_blocks, block_size, run):
    free, tables, tokens = deque(range(num_blocks)), {}, {}
    for op in run:
        if op[0] == "free":
            free.extend(tables.pop(op[1]))
            continue
        _, seq, n = op
        tables.setdefault(seq, [])
        tokens[seq] = tokens.get(seq, 0) + n
        tables[seq] += [free.popleft() for _ in range(tokens[seq] // block_size -
                                                      len(tables[seq]))]  # fmt: skip
    return tables


def cp_prefill_first(token_budget, n_decode, prefill_left):
    left, out = token_budget, []
    for n in prefill_left:
        out.append(min(n, left))
        left -= out[-1]
    return np.array(out, dtype=np.int64)


def cp_whole(token_budget, n_decode, prefill_left):
    left, out = token_budget - n_decode, []
    for n in prefill_left:
        take = n if n <= left else 0
        out.append(take)
        left -= take
    return np.array(out, dtype=np.int64)


def cp_scalar(token_budget, n_decode, prefill_left):
    return min(sum(prefill_left), token_budget - n_decode)


WRONG = [
    ("kv_cache_bytes", kv_query_heads, "count the KV heads, not the query heads"),
    ("kv_cache_bytes", kv_int_dtype, "int4"),
    ("kv_cache_bytes", kv_library, "calls `inferlab.serve.kvcache.kv_bytes_per_token`"),
    ("token_metrics", tm_mean_of_all_gaps, "TPOT leaves the FIRST token out"),
    ("token_metrics", tm_python_zero_division, "return float('nan')"),
    ("token_metrics", tm_dict, "a tuple `(ttft, tpot, e2e)`"),
    ("decode_attention", da_no_stable, "subtract the largest score"),
    ("decode_attention", da_concat_flat, "np.vstack([k_cache, k_new])"),
    ("decode_attention", da_library, "calls `inferlab.ops"),
    ("block_tables", bt_stack, "freed blocks go to the END of the free list"),
    ("block_tables", bt_list_of_tables, "return the block tables as a dict"),
    ("block_tables", bt_floor, "a partly filled block is still a block"),
    ("chunked_prefill_step", cp_prefill_first, "the running decodes come FIRST"),
    ("chunked_prefill_step", cp_whole, "split the prompt that does not fit"),
    ("chunked_prefill_step", cp_scalar, "return one 1-D"),
]


@pytest.mark.parametrize(
    ("task", "fn", "hint"), WRONG, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(WRONG)]
)
def test_a_wrong_answer_fails_with_its_hint(task, fn, hint):
    message = fails(task, fn)
    assert "Hint: " in message, message
    assert hint in message, message


def test_every_task_has_wrong_answers():
    assert {t for t, _, _ in WRONG} == set(TASKS)


def test_equivalent_right_answers_pass(capsys):
    def kv_float(n_tokens, n_layers, d_model, n_heads, n_kv_heads, dtype_bytes=2):
        return float(n_tokens) * 2.0 * n_layers * n_kv_heads * d_model / n_heads * dtype_bytes

    def tm_diff(arrival, times):
        gaps = np.diff(times)
        return times[0] - arrival, gaps.mean() if gaps.size else np.nan, times[-1] - arrival

    def da_float32(q, k_cache, v_cache, k_new, v_new):
        k = np.concatenate([k_cache, k_new[None, :]])
        v = np.concatenate([v_cache, v_new[None, :]])
        s = (k @ q) / math.sqrt(q.size)
        e = np.exp(s - np.max(s))
        return (e @ v) / e.sum(), k, v

    def bt_arrays(num_blocks, block_size, run):
        return {s: np.array(b) for s, b in SOLUTION["block_tables"](num_blocks, block_size,
                                                                   run).items()}  # fmt: skip

    def cp_list(token_budget, n_decode, prefill_left):
        left, out = token_budget - n_decode, []
        for n in prefill_left:
            out.append(max(0, min(n, left)))
            left -= out[-1]
        return out

    right = [
        ("kv_cache_bytes", kv_float),
        ("token_metrics", tm_diff),
        ("decode_attention", da_float32),
        ("block_tables", bt_arrays),
        ("chunked_prefill_step", cp_list),
    ]
    for task, fn in right:
        check(task, fn)
    assert capsys.readouterr().out.count("✓") == len(right)


def test_inputs_are_fresh_and_deterministic():
    for task in ch08.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 6
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs


def test_the_cases_cover_what_the_hints_talk_about():
    kv = [c.args for c in cases("kv_cache_bytes")]
    assert any(a[3] != a[4] for a in kv) and any(a[4] == 1 for a in kv)  # GQA and MQA
    assert {a[5] for a in kv} >= {0.5, 1, 2, 4}
    tm = [c.args for c in cases("token_metrics")]
    assert all(a[0] > 0 for a in tm) and any(len(a[1]) == 1 for a in tm)
    loud = [c for c in cases("decode_attention") if "loud" in c.tags]
    q, k, _, kn, _ = loud[0].args
    assert (np.vstack([k, kn]) @ q / np.sqrt(len(q))).max() > 710  # exp overflows in float64
    runs = [c.args[2] for c in cases("block_tables")]
    assert any(op[0] == "free" for r in runs for op in r)
    assert any(op[0] == "append" and op[2] > 1 for r in runs for op in r)
    ch = [c.args for c in cases("chunked_prefill_step")]
    assert any(b == d for b, d, _ in ch) and any(not p for _, _, p in ch)
    assert any(p and p[0] > b for b, _, p in ch)


def test_the_checks_never_show_the_notebooks_examples():
    for case in cases("token_metrics"):
        assert case.args[0] != 10.0
    for case in cases("block_tables"):
        assert case.args[2] != [("allocate", 0, 6), ("allocate", 1, 3), ("append", 0, 1)]
    for case in cases("chunked_prefill_step"):
        assert case.args != (512, 10, [300, 1200])


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def token_metrics(arrival, times):\n"
        "    ttft = times[0] - arrival\n"
        "    e2e = times[-1] - arrival\n"
        "    return ttft, e2e / len(times), e2e"
    )
    folder = tmp_path_factory.mktemp("student08")
    return grade_three(folder, ROOT, "08_llm_serving", "token_metrics", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_wrong_token_metrics_with_its_hint(graded):
    assert_one_failure(graded["student"], "token_metrics", "TPOT leaves the FIRST token out")
