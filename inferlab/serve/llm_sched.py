"""LLM schedulers: who runs in the next step, and with how many tokens each.

An LLM server runs *steps* (iterations). In one step every scheduled request either processes
part or all of its prompt (prefill: many tokens, writes their KV) or decodes one token (reads its
whole KV cache). A scheduler is the policy that picks each step's requests; it is independent of
how long a step takes (that is :mod:`inferlab.serve.steptime`, or a real GPU in real mode):

    s = PagedScheduler(workload, kv_capacity_tokens=20_000)   # from llm_policies
    step = s.schedule(now)           # a Step, or None when idle -> jump to s.next_arrival()
    ...run the model on step...      # step.ids, step.new_tokens, step.context, step.prefill
    s.complete(step, now_after)      # records token times, frees finished requests' KV
    result = s.result()              # an inferlab.serve.metrics.Result

The policies are in :mod:`inferlab.serve.llm_policies` (static, Orca, paged, chunked prefill).
This module holds what they share: the :class:`Step` a scheduler hands to the model, and the
:class:`Scheduler` base class that admits arrivals, rejects requests that can never fit, records
every token's time, frees finished requests' KV and builds the
:class:`~inferlab.serve.metrics.Result`.

Token accounting (all policies): a prefill of ``T`` tokens (the prompt, or prompt + generated for
a recomputed request) writes ``T`` tokens of KV and produces the next output token at the end of
the step; each decode step feeds the last token (its KV is written) and produces one more. A
request finishes at the step that produces its ``output_len``-th token, holding ``prompt +
output - 1`` tokens of KV. Requests whose ``prompt + output`` can never fit (above the KV the
policy can give one request, or above ``max_len``) are rejected at arrival with a reason.

Event skipping: between events (an arrival, a finish, a block running out) a continuous batcher
repeats the same decode step, every context one token longer. :meth:`Scheduler.horizon` says how
many such steps are coming and :meth:`Scheduler.complete_many` records them in one go (a few
NumPy operations however many steps); :func:`inferlab.serve.llm.simulate` uses them with a step
time's vectorised ``decode_times``. Real mode simply calls schedule/complete step by step.

Closed loop (``concurrency=C``, LLMPerf style): the first C requests are sent at time 0 and each
finish or rejection sends the next one (after ``think_time``); ``Result.arrival`` holds the
times they were sent.

Course simplifications: one replica, no tensor/pipeline parallelism, no swapping to CPU, no
prefix caching, no beam search, no CPU overheads (add them to the step time), a step is never
interrupted by arrivals; the paged policies count blocks in NumPy arrays (like Vidur) instead of
keeping block tables (see :class:`inferlab.serve.kvcache.BlockManager` for the tables).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from inferlab.errors import InferlabError, InvalidValueError
from inferlab.serve.metrics import Result
from inferlab.serve.workload import Workload

__all__ = ["Scheduler", "Step"]

_EMPTY_I = np.zeros(0, dtype=np.int64)


@dataclass(slots=True)
class Step:
    """One iteration of the model over a batch of ``k`` requests.

    ids: (k,) int64 request indices (workload order); new_tokens: (k,) int64 tokens each
    processes this step (a prefill chunk, or 1 for a decode); context: (k,) int64 tokens already
    in each one's KV cache before this step (the position of its first new token); prefill: (k,)
    bool, True for a prefill chunk. :class:`StaticBatching` pads: its prefill gives every member
    the longest prompt's length, and members that have finished keep decoding (padding) until
    the batch ends. The rest are summaries for a step-time model: n_prefill_tokens (sum of the
    prefill chunks), n_decode, kv_tokens (sum of the decoders' contexts: KV read),
    prefill_pairs (sum of chunk * (context + chunk): attention's query-key pairs).

    To execute a step (real mode): for each ``i``, feed the tokens ``context[i] : context[i] +
    new_tokens[i]`` of request ``ids[i]``'s sequence (its prompt, then its generated tokens: a
    prefill from context 0 longer than the prompt recomputes a preempted request; static
    batching pads prompts up to ``new_tokens``); every request whose prefill completes with this
    step, and every decoder, gets its next token. The arrays belong to the scheduler: read them,
    do not modify them (decode steps share read-only buffers).
    """

    ids: np.ndarray
    new_tokens: np.ndarray
    context: np.ndarray
    prefill: np.ndarray
    n_prefill_tokens: int = 0
    n_decode: int = 0
    kv_tokens: int = 0
    prefill_pairs: float = 0.0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_tokens(self) -> int:
        """Tokens processed by the step: prefill tokens + decodes."""
        return self.n_prefill_tokens + self.n_decode

    @classmethod
    def make(cls, ids, new_tokens, context, prefill) -> Step:
        """A Step with its summaries computed from the arrays."""
        ids, new = np.asarray(ids, np.int64), np.asarray(new_tokens, np.int64)
        ctx, pre = np.asarray(context, np.int64), np.asarray(prefill, bool)
        chunk, c = new[pre], ctx[pre]
        return cls(ids, new, ctx, pre, int(chunk.sum()), int((~pre).sum()),
                   int(ctx[~pre].sum()), float((chunk * (c + chunk)).sum()))  # fmt: skip


_ONES, _FALSE = np.ones(0, np.int64), np.zeros(0, bool)


def _decode_step(ids: np.ndarray, ctx: np.ndarray) -> Step:
    """A pure decode step; its new_tokens / prefill are read-only views of shared buffers."""
    global _ONES, _FALSE
    k = len(ids)
    if k > _ONES.size:
        _ONES, _FALSE = np.ones(2 * k, np.int64), np.zeros(2 * k, bool)
        _ONES.flags.writeable = _FALSE.flags.writeable = False
    return Step(ids, _ONES[:k], ctx, _FALSE[:k], 0, k, int(ctx.sum()), 0.0)


def _int(name: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, Integral) or v < minimum:
        raise InvalidValueError(f"{name} must be an int >= {minimum}; got {v!r}")
    return int(v)


class Scheduler:
    """Base: request bookkeeping shared by every policy (see the module docstring).

    workload: a :class:`~inferlab.serve.workload.Workload`; kv_capacity_tokens: tokens of KV
    the device holds (``(memory - weights) / kv_bytes_per_token``), int >= block_size;
    max_batch: most requests in a step (vLLM ``max_num_seqs``, default 256); max_len: longest
    prompt + output the model accepts (default: the KV capacity); block_size: tokens per KV
    block (paged policies; also the unit ``kv_capacity_tokens`` is rounded down to);
    watermark: share of the blocks a new request must leave free (paged policies);
    concurrency: None (open loop: the workload's arrival times) or C (closed loop: C requests
    in flight, the next one sent when one finishes or is rejected, after ``think_time`` s).
    """

    name = "base"

    def __init__(self, workload, kv_capacity_tokens: int, max_batch: int = 256,
                 max_len: int | None = None, block_size: int = 16, watermark: float = 0.01,
                 concurrency: int | None = None, think_time: float = 0.0):  # fmt: skip
        if not isinstance(workload, Workload):
            raise InvalidValueError(f"workload must be a serve.Workload; got {workload!r:.80}")
        self.block_size = _int("block_size", block_size, 1)
        cap = _int("kv_capacity_tokens", kv_capacity_tokens, 1)
        if cap < self.block_size:
            raise InvalidValueError(
                f"kv_capacity_tokens must hold at least one block of {self.block_size} tokens; "
                f"got {cap}"
            )
        self.num_blocks = cap // self.block_size
        self.capacity = self.num_blocks * self.block_size
        self.max_batch = _int("max_batch", max_batch, 1)
        self.max_len = self.capacity if max_len is None else _int("max_len", max_len, 2)
        if not (isinstance(watermark, float | int) and 0 <= watermark < 1):
            raise InvalidValueError(
                f"watermark is a share of the blocks in [0, 1); got {watermark!r}"
            )
        self.watermark_blocks = int(watermark * self.num_blocks)
        self.concurrency = None if concurrency is None else _int("concurrency", concurrency, 1)
        if not (isinstance(think_time, float | int) and think_time >= 0):
            raise InvalidValueError(f"think_time must be >= 0 seconds; got {think_time!r}")
        self.think_time = float(think_time)
        n = self.n = len(workload)
        self.prompt = np.asarray(workload.prompt_len, np.int64)
        self.output = np.asarray(workload.output_len, np.int64)
        self.arrival = np.array(workload.arrival, np.float64)
        if self.concurrency is not None:  # closed loop: the first C are sent at time 0
            self.arrival[:] = np.inf
            self.arrival[: self.concurrency] = 0.0
        self._released = n if self.concurrency is None else min(self.concurrency, n)
        nan = np.full(n, np.nan)
        self.start, self.first, self.finish, self.last = nan.copy(), nan.copy(), nan, nan.copy()
        self.gen = np.zeros(n, np.int64)  # output tokens produced
        self.ctx = np.zeros(n, np.int64)  # tokens in the KV cache
        self.target = np.zeros(n, np.int64)  # ctx at which the current prefill is complete
        self.held = np.zeros(n, np.int64)  # blocks (paged) or reserved tokens (Orca, static)
        self.restarts = np.zeros(n, np.int64)
        self.alive = np.zeros(n, bool)  # admitted and not finished
        self.rejected = np.zeros(n, bool)
        self.reasons: list = [None] * n
        self.run = _EMPTY_I  # running requests, admission order
        self.waiting: deque[int] = deque()
        self.free = self.num_blocks  # blocks (paged) or tokens (reserving policies) free
        self._next = 0
        self._kv_tokens = 0
        self._itl: list[np.ndarray] = []
        # one record per schedule() call: (step size, running, KV tokens, KV allocated); a
        # skipped run of decode steps repeats its record _rec_n times, KV growing _rec_grow
        self._rec: list[tuple[int, int, int, int]] = []
        self._rec_n: list[int] = []
        self._rec_grow: list[int] = []
        self._busy = 0.0
        self._t_step = math.nan
        self._preempted = False
        self.preemptions = 0
        self._footprint_limit()

    # ------------------------------------------------------------------ admission
    def _footprint_limit(self) -> None:
        """Mark which requests can ever run: prompt + output <= max_len and <= what fits."""
        total = self.prompt + self.output
        self._reject_len = total > self.max_len
        limit = self._limit()
        self._reject_kv = ~self._reject_len & (self._need() > limit)
        self._why_len = f"prompt + output > max_len ({self.max_len} tokens)"
        self._why_kv = f"prompt + output > KV capacity ({limit} tokens for one request)"

    def _limit(self) -> int:
        return self.capacity

    def _need(self) -> np.ndarray:
        return self.prompt + self.output

    def _arrive(self, now: float) -> None:
        arr, nxt = self.arrival, self._next
        while nxt < self._released and arr[nxt] <= now:
            if self._reject_len[nxt] or self._reject_kv[nxt]:
                self.rejected[nxt] = True
                self.reasons[nxt] = self._why_len if self._reject_len[nxt] else self._why_kv
                self._release(1, arr[nxt])
            else:
                self.waiting.append(nxt)
            nxt += 1
        self._next = nxt

    def _release(self, k: int, now: float) -> None:
        """Closed loop: send the next ``k`` requests at ``now + think_time``."""
        if self.concurrency is None or k == 0:
            return
        hi = min(self._released + k, self.n)
        self.arrival[self._released : hi] = now + self.think_time
        self._released = hi

    def next_arrival(self) -> float | None:
        """Time of the next request not yet arrived, None when all have."""
        return float(self.arrival[self._next]) if self._next < self._released else None

    # ------------------------------------------------------------------ the step interface
    def schedule(self, now: float) -> Step | None:
        """Admit the requests arrived by ``now`` and return the next Step (None: nothing to run)."""
        self._arrive(now)
        self._preempted = False
        step = self._compose(now)
        if step is None:
            if self.run.size:
                raise InferlabError(f"{self.name}: {self.run.size} running but nothing scheduled")
            return None
        self._t_step = now
        self._rec.append((len(step.ids), len(self.run), self._kv_tokens, self._allocated()))
        self._rec_n.append(1)
        self._rec_grow.append(0)
        return step

    def _allocated(self) -> int:
        return (self.num_blocks - self.free) * self.block_size

    def _compose(self, now: float) -> Step | None:
        raise NotImplementedError

    def _admit(self, i: int, now: float) -> None:
        if math.isnan(self.start[i]):
            self.start[i] = now
        self.ctx[i] = 0
        self.target[i] = self.prompt[i] + self.gen[i]  # a recomputed request re-reads its output
        self.alive[i] = True

    def complete(self, step: Step, now: float) -> None:
        """Record the step that ended at ``now``: token times, finished requests, freed KV."""
        self._busy += now - self._t_step
        ids = step.ids
        self._kv_tokens += step.n_prefill_tokens + step.n_decode
        if step.n_prefill_tokens == 0:  # pure decode: every member emits a token
            self.ctx[ids] += 1
            e = ids
            self._itl.append(now - self.last[e])
        else:
            c = self.ctx[ids] + step.new_tokens
            self.ctx[ids] = c
            e = ids[c >= self.target[ids]]
            firsts = self.gen[e] == 0
            self.first[e[firsts]] = now
            self._itl.append(now - self.last[e[~firsts]])
        self.last[e] = now
        g = self.gen[e] + 1
        self.gen[e] = g
        done = g >= self.output[e]
        if done.any():
            self._retire(e[done], now)

    # ------------------------------------------------------------------ fast-forward
    def _horizon(self, step: Step) -> int:
        return 1

    def _grow(self, ids: np.ndarray, c: np.ndarray, m: int) -> None:
        pass

    def horizon(self, step: Step) -> int:
        """How many pure-decode steps exactly like ``step`` (itself included; each context one
        longer) can run before anything but arrivals changes: a request finishing (at the last
        of them), a block running out. 1 when ``step`` is not a pure decode of the running set.
        Simulators use it to skip the scheduler's work between events (event skipping)."""
        if step.n_prefill_tokens or len(step.ids) != len(self.run) or self._preempted:
            return 1  # (after a preemption the victim may be readmitted at the next step)
        return self._horizon(step)

    def complete_many(self, step: Step, ends: np.ndarray) -> None:
        """Complete ``step`` and ``len(ends) - 1`` more decode steps of the same requests, each
        context one longer, ending at the times ``ends`` (s, increasing); len(ends) must be <=
        :meth:`horizon`. The same records as as many schedule()/complete() calls (except
        ``kv_allocated``: the blocks of the last of them, for all)."""
        m = len(ends)
        if m == 1:
            return self.complete(step, float(ends[0]))
        ids, c, b = step.ids, step.context, len(step.ids)
        self._grow(ids, c, m)
        self._busy += float(ends[-1]) - self._t_step
        size, running, kv, _ = self._rec[-1]
        self._rec[-1] = (size, running, kv, self._allocated())  # blocks for all m steps
        self._rec_n[-1] = m
        self._rec_grow[-1] = b
        self._kv_tokens += b * m
        self.ctx[ids] += m
        self._itl.append(ends[0] - self.last[ids])
        self._itl.append(np.repeat(ends[1:] - ends[:-1], b))
        self.last[ids] = ends[-1]
        g = self.gen[ids] + m
        self.gen[ids] = g
        done = g >= self.output[ids]
        if done.any():
            self._retire(ids[done], float(ends[-1]))

    def _retire(self, d: np.ndarray, now: float) -> None:
        self.finish[d] = now
        self.free += int(self.held[d].sum())
        self.held[d] = 0
        self._kv_tokens -= int(self.ctx[d].sum())
        self.alive[d] = False
        self.run = self.run[self.alive[self.run]]
        self._release(len(d), now)

    def _preempt(self, victims: np.ndarray) -> None:
        """Recompute preemption: free the victims' KV, put them back at the queue's front."""
        self.free += int(self.held[victims].sum())
        self._kv_tokens -= int(self.ctx[victims].sum())
        self.held[victims] = 0
        self.ctx[victims] = 0
        self.alive[victims] = False
        self.restarts[victims] += 1
        self.preemptions += len(victims)
        self._preempted = True
        self.waiting.extendleft(victims[::-1].tolist())

    def __repr__(self) -> str:
        done = int((~np.isnan(self.finish)).sum())
        return (
            f"{type(self).__name__}({self.name!r}: {self.n} requests, {done} finished, "
            f"{int(self.rejected.sum())} rejected, {len(self.run)} running, {len(self.waiting)} "
            f"waiting; KV {self.capacity} tokens, {self._allocated()} allocated)"
        )

    def result(self) -> Result:
        """The run so far as a :class:`~inferlab.serve.metrics.Result` (call after the end).

        extra: ``policy``, ``preemptions`` (total), ``restarts`` (n,), per step ``running``
        (requests holding KV), ``kv_used`` (share of KV holding tokens), ``kv_allocated``
        (share reserved or in blocks).
        """
        pending = ~self.rejected & np.isnan(self.finish)
        if pending.any():
            raise InferlabError(
                f"{self.name}: {int(pending.sum())} request(s) neither finished nor rejected; "
                "run the scheduler until schedule() returns None and next_arrival() is None"
            )
        itl = np.concatenate(self._itl) if self._itl else np.zeros(0)
        rec = np.array(self._rec, np.int64).reshape(-1, 4)
        n = np.array(self._rec_n, np.int64)
        sizes, running, kv, alloc = (np.repeat(rec[:, j], n) for j in range(4))
        first = np.repeat(np.cumsum(n) - n, n)  # index of each step's record's first step
        kv = kv + np.repeat(np.array(self._rec_grow, np.int64), n) * (np.arange(n.sum()) - first)
        return Result(
            arrival=self.arrival, finish=self.finish, start=self.start, first_token=self.first,
            prompt_len=self.prompt, output_len=self.output, rejected=self.rejected,
            reject_reason=tuple(self.reasons), batch_sizes=sizes,
            busy_time=self._busy, itl=itl,
            extra={"policy": self.name, "preemptions": self.preemptions,
                   "restarts": self.restarts.copy(), "running": running,
                   "kv_used": kv / self.capacity, "kv_allocated": alloc / self.capacity,
                   "kv_capacity_tokens": self.capacity},
        )  # fmt: skip
