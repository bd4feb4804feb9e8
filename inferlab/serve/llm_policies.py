"""LLM scheduling policies: static (FasterTransformer), Orca, paged (vLLM), chunked (Sarathi).

Each is a :class:`~inferlab.serve.llm_sched.Scheduler`: ``schedule(now) -> Step``, then
``complete(step, now)``; what differs is which requests a step takes and how KV is reserved.

The policies (the replica schedulers of Vidur, microsoft/vidur ``scheduler/replica_scheduler``):

- :class:`StaticBatching` -- request-level batching as in FasterTransformer (NVIDIA): take up to
  ``max_batch`` waiting requests, pad prompts to the longest, run the batch until its LONGEST
  member has finished, answer them all then; only then form the next batch. KV is reserved for
  ``batch * (longest prompt + longest output)``.
- :class:`OrcaScheduler` -- iteration-level ("continuous") batching (Orca, Yu et al., OSDI'22):
  a request joins at any step (its whole prompt runs alongside the others' decode tokens:
  selective batching) and leaves as soon as it is done. KV is still one contiguous slab reserved
  up front; vLLM's paper (Kwon et al., SOSP'23, section 6) compares three reservations:
  ``"max"`` the model's ``max_len``, ``"pow2"`` the prompt plus the output rounded up to a power
  of two, ``"oracle"`` exactly prompt + output (impossible in practice: outputs are unknown).
  ``buddy=True`` rounds reservations up to powers of two like the paper's Orca allocator.
- :class:`PagedScheduler` -- vLLM (SOSP'23; nano-vllm ``engine/scheduler.py``): KV in blocks of
  ``block_size`` tokens, allocated as sequences grow, so memory holds only real tokens. A step
  is all-prefill (admit waiting requests FCFS while their prompt blocks fit above the watermark
  and ``max_tokens`` allows) or, when nobody can be admitted, all-decode. When a decoding
  sequence needs a block and none is free, the NEWEST running request is preempted: its blocks
  are freed and it goes back to the front of the queue, to be recomputed (prefill of prompt +
  tokens generated so far) when memory allows (vLLM's default "recompute" preemption).
- :class:`ChunkedPrefillScheduler` -- Sarathi-Serve (Agrawal et al., OSDI'24), vLLM V1: every step
  has a token budget (``budget``, Sarathi's chunk size 512). Running decodes are scheduled first
  (one token each), then the rest of the budget goes to prefill chunks (first requests already
  prefilling, then new ones). No step is ever much bigger than the budget, so decodes never stall
  behind a long prompt: lower, steadier time between tokens.

The paged policies count blocks per request in NumPy arrays (vLLM's block tables reduced to their
lengths); :class:`~inferlab.serve.kvcache.BlockManager` shows the tables themselves, and a test
replays every step on one to check the counts.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import InvalidValueError
from inferlab.serve.llm_sched import _EMPTY_I, Scheduler, Step, _decode_step, _int

__all__ = ["ChunkedPrefillScheduler", "OrcaScheduler", "PagedScheduler", "StaticBatching"]


class StaticBatching(Scheduler):
    """FasterTransformer-style request-level batching, padded (see the module docstring)."""

    name = "static"

    def __init__(self, workload, kv_capacity_tokens, **kw):
        super().__init__(workload, kv_capacity_tokens, **kw)
        self.free = self.capacity  # tokens
        self._batch = _EMPTY_I
        self._p = self._o = self._i = 0

    def _allocated(self) -> int:
        return self.capacity - self.free

    def _compose(self, now):
        if self._i == 0 and self.waiting:  # form a new batch
            ids, p, o = [], 0, 0
            while self.waiting and len(ids) < self.max_batch:
                i = self.waiting[0]
                p2, o2 = max(p, self.prompt[i]), max(o, self.output[i])
                if (len(ids) + 1) * (p2 + o2) > self.capacity:
                    break
                ids.append(self.waiting.popleft())
                p, o = p2, o2
            b = self._batch = np.array(ids, np.int64)
            for i in ids:
                self._admit(i, now)
            self.run, self._p, self._o = b, int(p), int(o)
            self.held[b] = p + o
            self.free -= len(b) * (p + o)
            k = len(b)
            return Step(b, np.full(k, p, np.int64), np.zeros(k, np.int64), np.ones(k, bool),
                        k * p, 0, 0, float(k * p * p))  # fmt: skip
        if self._i == 0:
            return None
        return _decode_step(self._batch, np.full(len(self._batch), self._p + self._i - 1))

    def complete(self, step, now):
        self._busy += now - self._t_step
        b = self._batch
        self._i += 1
        e = b[self.gen[b] < self.output[b]]  # members still generating (others are padding)
        if self._i == 1:
            self.first[e] = now
            self._kv_tokens += int(self.prompt[b].sum())  # real tokens, padding not counted
        else:
            self._kv_tokens += len(e)
            self._itl.append(now - self.last[e])
        self.last[e] = now
        self.gen[e] += 1
        if self._i == self._o:  # the longest member is done: answer the whole batch
            self._retire(b, now)
            self._kv_tokens = 0
            self._batch, self._i = _EMPTY_I, 0


class OrcaScheduler(Scheduler):
    """Iteration-level batching with KV reserved up front: ``reserve`` = "max" | "pow2" | "oracle".

    buddy: round every reservation up to a power of two tokens, as the buddy allocator of the
    vLLM paper's own Orca implementation does (section 6.1): the internal fragmentation that
    brings Orca(Oracle) down to about half of vLLM's batch in its Fig. 13. Pass ``max_len``
    (the model's context, 2048 for OPT): by default it is the whole KV capacity, and Orca(max)
    would run one request at a time.
    """

    RESERVES = ("max", "pow2", "oracle")

    def __init__(self, workload, kv_capacity_tokens, reserve: str = "max", buddy: bool = False,
                 **kw):  # fmt: skip
        if reserve not in self.RESERVES:
            raise InvalidValueError(f"reserve must be one of {self.RESERVES}; got {reserve!r}")
        self.reserve, self.buddy = reserve, bool(buddy)
        self.name = f"orca-{reserve}" + ("-buddy" if buddy else "")
        super().__init__(workload, kv_capacity_tokens, **kw)
        if reserve == "max" and self.max_len > self.capacity:
            raise InvalidValueError(
                f"Orca(max) reserves max_len tokens per request; max_len must be <= the KV "
                f"capacity {self.capacity}; got {self.max_len}"
            )
        self.free = self.capacity  # tokens

    def _need(self):
        p, o = self.prompt, self.output
        if self.reserve == "max":
            r = np.full(len(p), self.max_len, np.int64)
        elif self.reserve == "pow2":  # the output rounded up to a power of two
            r = p + _pow2(o)
        else:
            r = p + o
        r = np.minimum(r, np.maximum(self.max_len, p + o))
        if self.buddy:  # (a reservation the pool cannot round up keeps its size)
            r = np.where(_pow2(r) <= self.capacity, _pow2(r), r)
        self.reservation = r
        return r

    def _allocated(self):
        return self.capacity - self.free

    def _horizon(self, step):
        return max(1, int((self.output[step.ids] - self.gen[step.ids]).min()))

    def _compose(self, now):
        adm = []
        while self.waiting and len(self.run) + len(adm) < self.max_batch:
            i = self.waiting[0]
            if self.reservation[i] > self.free:
                break
            self.waiting.popleft()
            self._admit(i, now)
            self.held[i] = self.reservation[i]
            self.free -= int(self.reservation[i])
            adm.append(i)
        if not adm:
            return _decode_step(self.run, self.ctx[self.run]) if self.run.size else None
        a = np.array(adm, np.int64)
        old = self.run
        self.run = np.concatenate([old, a])
        p = self.target[a]
        k, m = len(old), len(a)
        c_old = self.ctx[old]
        return Step(self.run, np.concatenate([np.ones(k, np.int64), p]),
                    np.concatenate([c_old, np.zeros(m, np.int64)]),
                    np.concatenate([np.zeros(k, bool), np.ones(m, bool)]),
                    int(p.sum()), k, int(c_old.sum()), float((p * p).sum()))  # fmt: skip


def _pow2(x: np.ndarray) -> np.ndarray:
    """The smallest power of two >= each x (x >= 1)."""
    return np.left_shift(1, np.ceil(np.log2(x)).astype(np.int64))


def _keep(need: np.ndarray, held: np.ndarray, free: int) -> int:
    """How many running requests (a prefix, oldest first) can get their ``need`` blocks when the
    rest are preempted and their ``held`` blocks freed."""
    if need.sum() <= free:
        return len(need)
    return int((np.cumsum(need + held) <= free + held.sum()).sum())


class PagedScheduler(Scheduler):
    """vLLM: paged KV blocks, prefill-first steps, recompute preemption of the newest request.

    max_tokens: most prompt tokens in one prefill step (vLLM ``max_num_batched_tokens``,
    default ``max(2048, max_len)``); a single longer (recomputed) request still runs alone.
    """

    name = "paged"

    def __init__(self, workload, kv_capacity_tokens, max_tokens: int | None = None, **kw):
        super().__init__(workload, kv_capacity_tokens, **kw)
        self.max_tokens = (max(2048, self.max_len) if max_tokens is None
                           else _int("max_tokens", max_tokens, 1))  # fmt: skip

    def _limit(self):  # one request alone must be admissible above the watermark
        return (self.num_blocks - self.watermark_blocks) * self.block_size

    def _admit_blocks(self, now, budget, chunked=False):
        """Admit FCFS while blocks (above the watermark), ``budget`` tokens and max_batch allow."""
        bs, adm, chunks = self.block_size, [], []
        while self.waiting and budget > 0 and len(self.run) + len(adm) < self.max_batch:
            i = self.waiting[0]
            t = int(self.prompt[i] + self.gen[i])
            chunk = min(t, budget) if chunked else t
            if chunk > budget and adm:
                break
            nb = -(-chunk // bs)
            if self.free - nb < self.watermark_blocks:
                break
            self.waiting.popleft()
            self._admit(i, now)
            self.held[i] = nb
            self.free -= nb
            adm.append(i)
            chunks.append(chunk)
            budget -= chunk
        return np.array(adm, np.int64), np.array(chunks, np.int64)

    def _compose(self, now):
        if self.waiting:
            a, p = self._admit_blocks(now, self.max_tokens)
            if len(a):
                self.run = np.concatenate([self.run, a])
                z = np.zeros(len(a), np.int64)
                return Step(a, p, z, np.ones(len(a), bool), int(p.sum()), 0, 0,
                            float((p * p).sum()))  # fmt: skip
        return self._decode_all(self.ctx[self.run]) if self.run.size else None

    def _decode_all(self, c: np.ndarray) -> Step:
        """A decode step of the whole running set (contexts ``c``), preempting if short."""
        run = self.run
        held = self.held[run]
        need = c // self.block_size + 1 - held
        k = _keep(need, held, self.free)
        if k < len(run):
            self._preempt(run[k:])
            run, c, need = run[:k], c[:k], need[:k]
            self.run = run
        self.free -= int(need.sum())
        self.held[run] += need
        return _decode_step(run, c)

    def _horizon(self, step: Step) -> int:
        """Pure-decode steps like ``step`` (itself included) before a request finishes or a
        block runs out: ``m`` with every context growing by ``m`` still fitting the free list."""
        ids, c = step.ids, step.context
        m = int((self.output[ids] - self.gen[ids]).min())
        if m <= 1:
            return 1
        held, bs, free = self.held[ids], self.block_size, self.free

        def fits(j: int) -> bool:
            return int((-(-(c + j) // bs) - held).sum()) <= free

        if fits(m):
            return m
        lo, hi = 1, m  # fits(lo), not fits(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo

    def _grow(self, ids: np.ndarray, c: np.ndarray, m: int) -> None:
        need = -(-(c + m) // self.block_size) - self.held[ids]
        self.held[ids] += need
        self.free -= int(need.sum())


class ChunkedPrefillScheduler(PagedScheduler):
    """Sarathi-Serve: paged KV, a token ``budget`` per step, decodes first, then prefill chunks."""

    name = "chunked"

    def __init__(self, workload, kv_capacity_tokens, budget: int = 512, **kw):
        super().__init__(workload, kv_capacity_tokens, **kw)
        self.budget = _int("budget", budget, 1)

    def _compose(self, now):
        run, bs = self.run, self.block_size
        c, t = self.ctx[run], self.target[run]
        dec = c >= t
        if len(run) <= self.budget and dec.all():  # the common case: everyone is decoding
            if not self.waiting:
                return self._decode_all(c) if len(run) else None
            step = self._decode_all(c)
            if len(self.run) < len(run):  # preempted: memory is short, admit nobody
                return step
            a, p = self._admit_blocks(now, self.budget - len(run), chunked=True)
            if not len(a):
                return step if len(run) else None
            self.run = np.concatenate([self.run, a])
            k, z = len(run), np.zeros(len(a), np.int64)
            return Step(np.concatenate([run, a]), np.concatenate([step.new_tokens, p]),
                        np.concatenate([c, z]), np.concatenate([step.prefill, z == 0]),
                        int(p.sum()), k, step.kv_tokens, float((p * p).sum()))  # fmt: skip
        held = self.held[run]
        new = np.zeros(len(run), np.int64)
        left = self.budget
        d_pos = np.flatnonzero(dec)[:left]  # decodes first, one token each
        new[d_pos] = 1
        left -= len(d_pos)
        for j in np.flatnonzero(~dec):  # then requests part-way through their prefill
            if left <= 0:
                break
            new[j] = min(int(t[j] - c[j]), left)
            left -= new[j]
        need = -(-(c + new) // bs) - held
        k = _keep(need, held, self.free)
        if k < len(run):
            self._preempt(run[k:])
            run, c, new, need, dec = run[:k], c[:k], new[:k], need[:k], dec[:k]
            self.run = run
            left = 0  # memory is short: admit nobody this step
        self.free -= int(need.sum())
        self.held[run] += need
        a, p = self._admit_blocks(now, left, chunked=True) if self.waiting else (_EMPTY_I, _EMPTY_I)
        if len(a):
            self.run = np.concatenate([self.run, a])
        sched = new > 0
        ids = np.concatenate([run[sched], a])
        if not ids.size:
            return None
        pre = ~dec[sched]
        chunk, cc = new[sched][pre], c[sched][pre]
        n_pre = int(chunk.sum() + p.sum())
        pairs = float((chunk * (cc + chunk)).sum() + (p * p).sum())
        return Step(ids, np.concatenate([new[sched], p]),
                    np.concatenate([c[sched], np.zeros(len(a), np.int64)]),
                    np.concatenate([pre, np.ones(len(a), bool)]),
                    n_pre, int(dec[sched].sum()), int(c[sched][~pre].sum()), pairs)  # fmt: skip
