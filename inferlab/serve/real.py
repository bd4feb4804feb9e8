"""Real mode: the tiny GPT served by the simulator's own schedulers, timed by the wall clock.

The simulator (:func:`inferlab.serve.llm.simulate`) asks a scheduler for a step and advances the
clock by a *modelled* step time. Here the same scheduler objects drive a real model: each
:class:`~inferlab.serve.llm_sched.Step` is executed on :class:`inferlab.models.gpt.GPT` with its
KV cache, and the clock advances by the *measured* wall time of that step:

    while True:
        step = s.schedule(now)
        if step is None: now = next arrival (or stop); continue    # idle: jump, no sleeping
        t0 = perf_counter(); engine.execute(step); now += perf_counter() - t0
        s.complete(step, now)

Executing a step: request r's tokens are its prompt (real Shakespeare text, encoded by the
model's character vocabulary) followed by what it generated so far, greedy (argmax). A step gives
each member ``context`` c (tokens in its cache) and ``new_tokens`` n: it feeds tokens c .. c+n-1
and, when that reaches the end of what r has, the last logits give r's next token. So one rule
serves a whole prompt, a Sarathi prefill chunk, a decode, and a vLLM recompute after preemption
(prompt + generated tokens prefilled again). :class:`~inferlab.serve.llm_sched.StaticBatching`
pads: a short prompt is left-padded to the batch's longest (the padding is computed but masked,
``GPT.extend(n_pad=...)``), and a member that has finished keeps decoding padding until the
batch's longest is done. The cache holds exactly the requests the scheduler keeps alive
(preempted or finished ones are removed), so its ``max_batch`` slots suffice.

Lengths: the GPT reads at most ``context`` = 128 tokens, so prompts are capped at
``max_prompt`` (default 64) and outputs at ``context - max_prompt`` tokens (a workload's longer
requests are shortened, not dropped; ``result.extra["capped"]`` counts them). Every request
finishes or is rejected by the scheduler with a reason, as in the simulator.

    >>> w = make_workload(rate=200.0, n=48, prompt={"kind": "uniform", "low": 8, "high": 32},
    ...                   output={"kind": "uniform", "low": 4, "high": 64})
    >>> static, paged = run(model, w, "static"), run(model, w, "paged")
    >>> paged.output_throughput() / static.output_throughput()     # continuous batching wins
"""

from __future__ import annotations

import math
import time

import numpy as np

from inferlab import data
from inferlab.errors import InferlabError, InvalidValueError
from inferlab.serve import llm
from inferlab.serve.metrics import Result
from inferlab.serve.workload import Workload

__all__ = ["Engine", "capped", "prompts", "run", "tokens_per_second"]


def capped(workload: Workload, context: int = 128, max_prompt: int = 64) -> Workload:
    """The workload with prompt_len <= max_prompt and output_len <= context - max_prompt, so
    that any two requests padded together (static batching) still fit the context."""
    if not isinstance(workload, Workload):
        raise InvalidValueError(f"real mode needs a serve.Workload; got {workload!r:.80}")
    if not (isinstance(max_prompt, int) and 1 <= max_prompt < context):
        raise InvalidValueError(
            f"max_prompt must be an int in [1, {context - 1}] (the context is {context} "
            f"tokens); got {max_prompt!r}"
        )
    return Workload(
        workload.arrival,
        np.minimum(workload.prompt_len, max_prompt),
        np.minimum(workload.output_len, context - max_prompt),
    )


def prompts(model, lengths, seed=0, text: str | None = None) -> list[np.ndarray]:
    """One prompt per length: (len,) int64 ids of a random passage of ``text`` (default the
    shipped Shakespeare), encoded with the model's vocabulary."""
    text = data.load_text() if text is None else text
    lengths = np.asarray(lengths, np.int64)
    if len(text) <= lengths.max(initial=0):
        raise InvalidValueError(
            f"the text is {len(text)} characters; prompts need more than {lengths.max()}"
        )
    ids = model.encode(text)
    starts = np.random.default_rng(seed).integers(0, len(ids) - lengths.max(), len(lengths))
    return [ids[s : s + n] for s, n in zip(starts, lengths, strict=True)]


class Engine:
    """Executes scheduler Steps on a GPT with a :class:`~inferlab.models.kvcache.KVCache`.

    tokens[r]: list of request r's token ids, prompt then generated; n_prompt[r], n_output[r]
    its lengths. ``sync(alive)`` drops cache entries of requests no longer alive; ``execute``
    runs one step.
    """

    def __init__(self, model, prompt_ids: list[np.ndarray], output_len, max_seqs: int):
        self.model = model
        self.cache = model.new_cache(max_seqs)
        self.tokens = [list(map(int, p)) for p in prompt_ids]
        self.n_prompt = np.array([len(p) for p in prompt_ids], np.int64)
        self.n_output = np.asarray(output_len, np.int64)
        self.pad_id = int(model.encode(" ")[0])  # what padding positions hold (never attended)

    def sync(self, alive: np.ndarray) -> None:
        """Forget the cached requests whose ``alive[r]`` is False (finished or preempted)."""
        for r in self.cache.seq_ids:
            if not alive[r]:
                self.cache.remove(r)

    def generated(self, r: int) -> list[int]:
        return self.tokens[r][self.n_prompt[r] :]

    def execute(self, step) -> None:
        """Run one Step: feed each member its tokens context .. context + new - 1 (padding where
        it has none), append the next greedy token where that reaches the end of its tokens."""
        cache, chunks, n_pad, emits = self.cache, [], [], []
        ids = [int(r) for r in step.ids]
        for r, c, n in zip(ids, step.context.tolist(), step.new_tokens.tolist(), strict=True):
            h = self.tokens[r]
            if c == 0 and r in cache:  # restarted (recompute): begin afresh
                cache.remove(r)
            if r not in cache:
                if c != 0:
                    raise InferlabError(f"step asks request {r} to go on at {c}; it has no KV")
                cache.add(r)
            elif cache.length(r) != c:
                raise InferlabError(
                    f"step says request {r} holds {c} tokens of KV; its cache holds "
                    f"{cache.length(r)}"
                )
            pad = max(n - len(h), 0) if c == 0 else int(cache.start[cache.slots([r])[0]])
            lc = c - pad  # logical position of the first fed token (negative: left padding)
            left = max(-lc, 0)  # left padding (static prefill); right: a finished member
            middle = h[max(lc, 0) : max(lc + n, 0)]
            chunks.append([self.pad_id] * left + middle + [self.pad_id] * (n - left - len(middle)))
            n_pad.append(pad if c == 0 else 0)
            emits.append(lc + n == len(h) and len(h) - self.n_prompt[r] < self.n_output[r])
        logits = self.model.extend(cache, ids, chunks, n_pad=np.array(n_pad, np.int64))
        for r, out, e in zip(ids, logits, emits, strict=True):
            if e:
                self.tokens[r].append(int(out[-1].argmax()))


def run(model, workload: Workload, policy: str = "paged", *, max_batch: int = 16,
        kv_capacity_tokens: int | None = None, max_prompt: int = 64, seed: int = 0,
        text: str | None = None, **scheduler_kw) -> Result:  # fmt: skip
    """Serve ``workload`` with the GPT under ``policy``; returns a
    :class:`~inferlab.serve.metrics.Result` on a clock of measured step times (s).

    policy: a name of :data:`inferlab.serve.llm.POLICIES` (``"static"``, ``"paged"``,
    ``"chunked"``, ``"orca-max"``, ...); max_batch: most requests in a step (= the KV cache's
    slots); kv_capacity_tokens: what the scheduler may use (default ``max_batch * context``,
    what the slots hold); max_prompt: prompt cap (outputs get ``context - max_prompt``); seed:
    which passages become prompts. Other keywords go to the scheduler (``budget``, ...).

    ``result.extra`` adds ``texts`` (each request's generated characters, None if rejected),
    ``step_s`` (measured seconds of every step), ``capped`` (requests shortened to fit) and
    ``device`` ("numpy").
    """
    if not hasattr(model, "extend"):
        raise InvalidValueError(f"real mode needs a GPT (inferlab.models.gpt); got {model!r:.80}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise InvalidValueError(f"max_batch must be an int >= 1; got {max_batch!r}")
    context = model.context
    w = capped(workload, context, max_prompt)
    kv = max_batch * context if kv_capacity_tokens is None else kv_capacity_tokens
    sched = llm.make_scheduler(w, policy, kv, max_batch=max_batch, max_len=context, **scheduler_kw)
    engine = Engine(model, prompts(model, w.prompt_len, seed, text), w.output_len, max_batch)
    now, step_s = 0.0, []
    while True:
        step = sched.schedule(now)
        if step is None:
            t = sched.next_arrival()
            if t is None:
                break
            now = max(now, t)
            continue
        engine.sync(sched.alive)
        t0 = time.perf_counter()
        engine.execute(step)
        dt = time.perf_counter() - t0
        step_s.append(dt)
        now += dt
        sched.complete(step, now)
    result = sched.result()
    texts = [
        None if result.rejected[r] else model.decode(engine.generated(r)) for r in range(len(w))
    ]
    changed = (w.prompt_len != workload.prompt_len) | (w.output_len != workload.output_len)
    result.extra.update(
        texts=texts, step_s=np.array(step_s), capped=int(changed.sum()), device="numpy"
    )
    return result


def tokens_per_second(result: Result) -> float:
    """Output tokens of completed requests per second of busy (stepping) time."""
    busy = result.busy_time
    return float(result.output_len[result.completed].sum()) / busy if busy > 0 else math.nan
