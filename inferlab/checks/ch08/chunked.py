"""Exercise 08, task 5: ``chunked_prefill_step`` — its fresh cases, known mistakes and diagnosis.

Sarathi-Serve's stall-free schedule (Agrawal et al., OSDI'24; vLLM's V1 scheduler works the
same way): every iteration has a TOKEN BUDGET. The running requests that are decoding come
first, one token each, so that no decode ever waits behind a long prompt; what is left of the
budget goes to the waiting prompts in arrival order, each getting as much of its remaining
prompt as fits, the last one a partial CHUNK that continues next iteration:

    left = token_budget - n_decode
    for each waiting prefill i, in order:   chunk[i] = min(prefill_left[i], left); left -= chunk[i]

The answer is the chunk of each waiting prefill (0 for those that get nothing). The cases: a
prompt longer than the budget, several short prompts in one step, a budget used up by decodes,
no waiting prompts at all, and budgets of 512 and 2048 (Sarathi's and vLLM's usual ones). The
reference is written here.
"""

from __future__ import annotations

import numpy as np

from inferlab.checks.ch08._common import _rng, kind, mistakes, several_slips
from inferlab.checks.core import Case, Outcome, Task, first_failure, run


def _chunk_cases() -> list[Case]:
    rng = _rng(5)
    cases = [
        Case((512, 10, [1200]), note="a 1200-token prompt: a 502-token chunk"),
        Case((512, 3, [100, 200, 150, 400]), note="three whole prompts and a chunk of the 4th"),
        Case((256, 256, [64, 30]), note="the decodes use the whole budget"),
        Case((2048, 40, []), note="no prompt waiting"),
        Case((512, 0, [700, 20]), note="no decodes: the first prompt takes everything"),
        Case((128, 100, [5, 50, 5]), note="28 tokens left: 5, then 23 of 50, then nothing"),
        Case((2048, 200, [300, 1000, 900, 10]), note="vLLM's budget of 2048"),
    ]
    for _ in range(3):
        budget = int(rng.choice([256, 512, 1024]))
        n_decode = int(rng.integers(0, budget // 2))
        prompts = rng.integers(1, budget, int(rng.integers(2, 7))).tolist()
        cases.append(Case((budget, n_decode, prompts), note="a random step"))
    return cases


def _reference(token_budget, n_decode, prefill_left):
    left = token_budget - n_decode
    chunks = np.zeros(len(prefill_left), np.int64)
    for i, n in enumerate(prefill_left):
        chunks[i] = min(int(n), left)
        left -= chunks[i]
    return chunks


def _student(token_budget, n_decode, prefill_left, *, decodes="first", split="chunk",
             prompts="all", budget="shared"):  # fmt: skip
    """A student's chunked-prefill step with switches for their mistakes."""
    left = token_budget - (n_decode if decodes == "first" else 0)
    chunks = np.zeros(len(prefill_left), np.int64)
    for i, n in enumerate(prefill_left):
        if prompts == "one" and i > 0:
            break
        take = min(int(n), left)
        if split != "chunk" and take < n:
            if split == "whole, stop":
                break
            continue  # "whole": skip it, try the next one
        chunks[i] = take
        if budget == "shared":
            left -= take
    return chunks


_SLIPS = {
    "decodes": [
        ("first", None),
        (
            "ignored",
            "the running decodes come FIRST and take one token each from the same budget: "
            "the prompts share what is left, token_budget - n_decode.",
        ),
    ],
    "split": [
        ("chunk", None),
        (
            "whole",
            "split the prompt that does not fit: it gets a CHUNK of the budget that is left "
            "and continues next iteration (that is what chunked prefill means; scheduling "
            "whole prompts only leaves the budget unused).",
        ),
        (
            "whole, stop",
            "give the prompt that does not fit a CHUNK of what is left (min(its tokens, "
            "left)) instead of stopping there: a prompt longer than the budget would "
            "otherwise never start.",
        ),
    ],
    "prompts": [
        ("all", None),
        (
            "one",
            "after the first prompt, the NEXT ones get what is still left of the budget, in "
            "arrival order: several short prompts can share one step.",
        ),
    ],
    "budget": [
        ("shared", None),
        (
            "each",
            "the budget is for the whole STEP: subtract each chunk from what is left, so the "
            "chunks and the decodes together never exceed token_budget.",
        ),
    ],
}


def _encode(result) -> np.ndarray:
    if result is None or isinstance(result, str | bytes | dict | tuple):
        raise TypeError(
            f"return one 1-D integer array: the chunk of each waiting prefill; got {kind(result)}."
        )
    arr = np.asarray(result)
    if arr.dtype == bool or arr.dtype.kind not in "fiu" or arr.ndim != 1:
        raise TypeError(
            "return one 1-D array of token counts, one per waiting prefill (0 for those that "
            f"get nothing); got {arr.dtype} values of shape {arr.shape}."
        )
    return arr.astype(np.float64)


def _chunk_symptom(o: Outcome) -> str | None:
    if o.got is None or o.got.shape != o.expected.shape:
        return None
    budget, n_decode, _ = o.case.args
    return (
        f"expected chunks {o.expected.astype(int).tolist()}, got {o.got.astype(int).tolist()} "
        f"({budget - n_decode} tokens left after {n_decode} decodes; yours use "
        f"{int(o.got.sum())})"
    )


def _chunk_diagnose(outcomes: list[Outcome]) -> str | None:
    o = first_failure(outcomes)
    if o is None or o.got is None:
        return None
    return several_slips(CHUNKED, _student, _SLIPS, outcomes)


CHUNKED = Task(
    name="chunked_prefill_step",
    arg_names=("token_budget", "n_decode", "prefill_left"),
    reference=_reference,
    cases=_chunk_cases,
    covers="prompts longer than the budget, several prompts in one step, a budget used up by "
    "decodes, and no prompt waiting",
    mistakes=mistakes(_student, _SLIPS),
    diagnose=_chunk_diagnose,
    encode=_encode,
    symptom=_chunk_symptom,
    shape_hint="return one chunk per waiting prefill: len(prefill_left) numbers, 0 for a "
    "prompt that gets nothing this step.",
    fallback_hint="left = token_budget - n_decode; for each prompt in order: chunk = min(n, "
    "left); left -= chunk.",
)


def check_chunked_prefill_step(fn) -> None:
    """Check your ``chunked_prefill_step(token_budget, n_decode, prefill_left)`` against
    Sarathi-Serve's decode-first token budget."""
    __tracebackhide__ = True
    run(CHUNKED, fn)
