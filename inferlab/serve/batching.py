"""Request-level batching on one server: no batching, static and dynamic (Triton) batches.

A request-level server (a classifier, an embedding model) runs a batch of ``B`` requests in
``s(B)`` seconds and answers them all at the end. Batching trades latency for throughput: the
best sustainable rate is ``B / s(B)`` req/s, and with ``s(B) = a + b·B`` it grows towards ``1/b``
as ``B`` grows, while every request in a batch waits for the slowest and for the batch to form.
One server, first come first served, one batch at a time; the policies decide *when* to start a
batch and *how big* it is, each time the server is free and requests wait:

- ``"none"``: one request at a time (``max_batch`` must be 1) — the M/M/1 or M/D/1 queue of
  :mod:`inferlab.serve.queueing` when service is exponential or fixed;
- ``"static"``: wait until ``max_batch`` requests wait, then run exactly that many; run a partial
  batch only when no other arrival can come before it (the end of an open-loop workload, or every
  closed-loop client waiting);
- ``"dynamic"``: Triton's dynamic batcher (``docs/user_guide/batcher.md``): run ``max_batch`` as
  soon as that many wait; else run the largest ``preferred`` size that can be formed; else wait
  for more until the oldest request has waited ``max_delay`` seconds, then run all that wait.
  With ``max_delay=0`` and no preferred sizes it runs whatever waits, at once (greedy).

Arrivals tied with a decision are seen first. ``max_queue`` (Triton's ``max_queue_size``) rejects
a request that arrives to find that many waiting; it is counted with the reason, never dropped.

Service times (:class:`ServiceTime`, or any callable ``batch_size -> seconds``, or a number):
``linear(a, b)``, ``table(sizes, seconds)`` (``np.interp``), ``exponential(mean)`` (random per
batch, drawn from ``seed``), ``sampled(draw)`` (any distribution, for M/G/1). A callable must be
deterministic (its values are cached per batch size).

Closed loop (``concurrency=C``): ``C`` clients each send a request at t = 0, then the next
request ``think_time`` seconds after their previous answer; the workload's arrival times are
ignored (its lengths kept) and the result's ``arrival`` holds the issue times.

    >>> r = simulate(make_workload(90.0, 10_000), ServiceTime.exponential(0.01))   # M/M/1, ρ=0.9
    >>> r = simulate(w, ServiceTime.linear(0.005, 0.001), "dynamic", max_batch=32, max_delay=0.002)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np

from inferlab.errors import InvalidValueError, describe
from inferlab.serve.metrics import Result
from inferlab.serve.workload import Workload

__all__ = ["POLICIES", "ServiceTime", "max_throughput", "simulate"]

POLICIES = ("none", "static", "dynamic")
_BLOCK = 8192  # random service times are drawn this many at a time


class ServiceTime:
    """Service time (s) of a batch of ``B`` requests. Build with the class methods below;
    ``st(B)`` evaluates a deterministic one; simulators call :meth:`bind` with their Generator."""

    def __init__(self, fn: Callable[[int], float] | None, draw=None, scale=None, name: str = ""):
        self.fn, self.draw, self.scale, self.name = fn, draw, scale, name

    @property
    def random(self) -> bool:
        return self.draw is not None

    def __repr__(self) -> str:
        return f"ServiceTime.{self.name}"

    def __call__(self, batch_size: int) -> float:
        if self.random:
            raise InvalidValueError(f"{self!r} is random: draw it with .bind(rng)(batch_size)")
        return float(self.fn(int(batch_size)))

    @classmethod
    def constant(cls, seconds: float) -> ServiceTime:
        """Every batch takes ``seconds``, whatever its size."""
        s = _nonneg("seconds", seconds)
        return cls(lambda b: s, name=f"constant({s:g})")

    @classmethod
    def linear(cls, a: float, b: float) -> ServiceTime:
        """``a + b·B`` seconds: ``a`` fixed per batch (weights read, launch), ``b`` per item."""
        a, b = _nonneg("a", a), _nonneg("b", b)
        return cls(lambda n: a + b * n, name=f"linear({a:g}, {b:g})")

    @classmethod
    def table(cls, sizes, seconds) -> ServiceTime:
        """Measured times, linearly interpolated (``np.interp``) between the measured sizes.
        sizes: (k,) strictly increasing ints >= 1; seconds: (k,) >= 0. Sizes outside the table
        are refused (no extrapolation)."""
        x, y = np.asarray(sizes, dtype=np.float64), np.asarray(seconds, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or x.size < 1:
            raise InvalidValueError(
                f"ServiceTime.table needs sizes and seconds of equal shape (k,); got "
                f"{describe(sizes)} and {describe(seconds)}"
            )
        if x[0] < 1 or (np.diff(x) <= 0).any() or not np.isfinite(y).all() or (y < 0).any():
            raise InvalidValueError(
                "ServiceTime.table needs strictly increasing sizes >= 1 and finite seconds >= 0; "
                f"got sizes {x.tolist()}, seconds {y.tolist()}"
            )

        def fn(b: int) -> float:
            if not x[0] <= b <= x[-1]:
                raise InvalidValueError(
                    f"the service-time table covers batch sizes {x[0]:g}..{x[-1]:g}; got {b}"
                )
            return float(np.interp(b, x, y))

        return cls(fn, name=f"table({x.size} sizes)")

    @classmethod
    def exponential(cls, mean) -> ServiceTime:
        """Random: ``mean(B) · Exp(1)`` per batch; ``mean`` seconds or a callable of ``B``
        (M/M/1 with batches of one)."""
        if callable(mean):
            scale = mean
        else:
            m = _nonneg("mean", mean, positive=True)

            def scale(b: int) -> float:
                return m

        return cls(None, draw=lambda rng, k: rng.exponential(1.0, k), scale=scale,
                   name="exponential")  # fmt: skip

    @classmethod
    def sampled(cls, draw) -> ServiceTime:
        """Random: ``draw(rng, k)`` returns ``k`` service times (s), the same law for any ``B``
        (e.g. ``lambda rng, k: rng.uniform(0, 0.02, k)`` for an M/G/1 check)."""
        return cls(None, draw=draw, scale=lambda b: 1.0, name="sampled")

    def bind(self, rng) -> Callable[[int], float]:
        """A function ``B -> seconds`` for one run: cached if deterministic, else drawing from
        ``rng`` in blocks; InvalidValueError on a negative or non-finite time."""
        if not self.random:
            return _cached(self.fn)
        buf, pos, scale, draw = [], [0], self.scale, self.draw

        def sample(b: int) -> float:
            nonlocal buf
            if pos[0] >= len(buf):
                new = np.asarray(draw(rng, _BLOCK), dtype=np.float64)
                if new.shape != (_BLOCK,) or not np.isfinite(new).all() or (new < 0).any():
                    raise InvalidValueError(f"{self!r}: draw must give {_BLOCK} times >= 0")
                buf, pos[0] = new.tolist(), 0
            v = buf[pos[0]]
            pos[0] += 1
            return v * scale(b)

        return sample


def _cached(fn) -> Callable[[int], float]:
    cache: dict[int, float] = {}

    def f(b: int) -> float:
        v = cache.get(b)
        if v is None:
            v = float(fn(b))
            if not (math.isfinite(v) and v >= 0):
                raise InvalidValueError(f"service time of a batch of {b} must be >= 0 s; got {v}")
            cache[b] = v
        return v

    return f


def _as_service(service_time, rng) -> Callable[[int], float]:
    if isinstance(service_time, ServiceTime):
        return service_time.bind(rng)
    if isinstance(service_time, Real) and not isinstance(service_time, bool):
        return ServiceTime.constant(service_time).bind(rng)
    if callable(service_time):
        return _cached(service_time)
    raise InvalidValueError(
        f"service_time must be seconds, a callable batch_size -> seconds or a ServiceTime; "
        f"got {describe(service_time)}"
    )


def _nonneg(name, x, positive: bool = False) -> float:
    ok = isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x)
    if not ok or x < 0 or (positive and x == 0):
        raise InvalidValueError(f"{name} must be {'>' if positive else '>='} 0 seconds; got {x!r}")
    return float(x)


def max_throughput(service_time, batch: int) -> float:
    """Best sustainable rate (req/s) of one server running full batches: ``B / s(B)``
    (a deterministic service time; for a random one use its mean)."""
    if isinstance(service_time, ServiceTime) and service_time.random:
        raise InvalidValueError(
            f"max_throughput needs a deterministic service time; got {service_time!r}"
        )
    return batch / _as_service(service_time, None)(batch)


# ----------------------------------------------------------------------------- the server


class Server:
    """One FIFO server with a batching policy: an incremental event loop over a shared clock.

    Requests are handed over in arrival order with :meth:`assign`; :meth:`advance` makes every
    decision before ``horizon`` (s). It writes into the shared ``start`` / ``finish`` / ``rejected``
    arrays (indexed by request). Used by :func:`simulate` and by the cluster simulator.
    """

    def __init__(self, arrival, start, finish, rejected, service, policy, max_batch,
                 preferred, max_delay, max_queue):  # fmt: skip
        self.arrival, self.start, self.finish, self.rejected = arrival, start, finish, rejected
        self.service, self.policy, self.max_batch = service, policy, max_batch
        self.preferred = sorted(preferred, reverse=True)
        self.max_delay, self.max_queue = max_delay, max_queue
        self.ids: list[int] = []  # assigned requests, arrival order
        self.i = 0  # ids[:i] have arrived (joined the queue or were rejected)
        self.queue: list[int] = []
        self.head = 0  # queue[head:] wait
        self.t = 0.0  # the server is free from t on
        self.last_batch = 0
        self.batch_sizes: list[int] = []
        self.busy = 0.0

    def assign(self, k: int) -> None:
        self.ids.append(k)

    def outstanding(self, now: float) -> int:
        """Requests assigned and not answered at ``now`` (after ``advance(now)``)."""
        busy = self.last_batch if self.t > now else 0
        return len(self.ids) - self.i + len(self.queue) - self.head + busy

    def advance(self, horizon: float, flush: bool = False, max_batches: int = -1) -> int:
        """Run decisions at times < ``horizon``; ``flush``: no arrival beyond those assigned will
        come before the next batch (a static batcher then runs a partial batch). Returns the
        number of batches run (at most ``max_batches`` if >= 0)."""
        arr, ids, queue, mb = self.arrival, self.ids, self.queue, self.max_batch
        t, i, head, ran = self.t, self.i, self.head, 0
        n_ids = len(ids)
        while ran != max_batches:
            while i < n_ids and arr[ids[i]] <= t:  # arrivals up to t join the queue
                k = ids[i]
                i += 1
                if len(queue) - head >= self.max_queue:
                    self.rejected[k] = True
                else:
                    queue.append(k)
            nq = len(queue) - head
            nxt = arr[ids[i]] if i < n_ids else math.inf
            if nq == 0:
                if nxt >= horizon or nxt == math.inf:
                    break
                t = nxt
                continue
            if t >= horizon:
                break
            b = 0
            if nq >= mb or self.policy == "none":
                b = mb
            elif self.policy == "static":
                if nxt == math.inf and flush:
                    b = nq
            else:
                for p in self.preferred:
                    if p <= nq:
                        b = p
                        break
                if b == 0:
                    oldest = arr[queue[head]]
                    deadline = oldest + self.max_delay
                    if t >= deadline or t - oldest >= self.max_delay:
                        b = nq
                    else:
                        nxt = min(nxt, deadline)
            if b == 0:  # wait for the next arrival (or the delay deadline)
                if nxt >= horizon or nxt == math.inf:
                    break
                t = nxt
                continue
            batch = queue[head : head + b]
            head += b
            s = self.service(b)
            for k in batch:
                self.start[k] = t
            t += s
            for k in batch:
                self.finish[k] = t
            self.busy += s
            self.batch_sizes.append(b)
            self.last_batch = b
            ran += 1
        if head > 4096 and head * 2 > len(queue):  # keep the queue list short
            del queue[:head]
            head = 0
        self.t, self.i, self.head = t, i, head
        return ran


def check_config(policy, max_batch, preferred, max_delay, max_queue) -> tuple:
    """Validated ``(policy, max_batch, preferred, max_delay, max_queue)``; InvalidValueError."""
    if policy not in POLICIES:
        raise InvalidValueError(f"policy must be one of {POLICIES}; got {policy!r}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, Integral) or max_batch < 1:
        raise InvalidValueError(f"max_batch must be an int >= 1; got {max_batch!r}")
    if policy == "none" and max_batch != 1:
        raise InvalidValueError(
            f"policy 'none' runs one request at a time; got max_batch={max_batch}"
        )
    max_delay = _nonneg("max_delay", max_delay)
    pref = tuple(preferred)
    if any(isinstance(p, bool) or not isinstance(p, Integral) or not 1 <= p <= max_batch
           for p in pref):  # fmt: skip
        raise InvalidValueError(
            f"preferred batch sizes must be ints in [1, max_batch={max_batch}]; got {pref}"
        )
    if policy != "dynamic" and (pref or max_delay):
        raise InvalidValueError(
            f"preferred sizes and max_delay belong to policy='dynamic'; got policy={policy!r} "
            f"with preferred={pref}, max_delay={max_delay}"
        )
    if max_queue is None:
        max_queue = math.inf
    elif (
        isinstance(max_queue, bool) or not isinstance(max_queue, Integral) or max_queue < max_batch
    ):
        raise InvalidValueError(
            f"max_queue must be None or an int >= max_batch ({max_batch}); got {max_queue!r}"
        )
    return policy, int(max_batch), pref, max_delay, max_queue


def simulate(
    workload: Workload,
    service_time,
    policy: str = "none",
    max_batch: int = 1,
    preferred=(),
    max_delay: float = 0.0,
    concurrency: int | None = None,
    seed=0,
    max_queue: int | None = None,
    think_time: float = 0.0,
) -> Result:
    """Simulate one server; a :class:`~inferlab.serve.metrics.Result` (``first_token = finish``,
    ``itl = None``, ``batch_sizes`` of every batch, ``busy_time``; ``extra`` holds the config).

    workload: open loop (its arrival times), or closed loop with ``concurrency=C`` clients and
    ``think_time`` seconds. service_time: see the module docstring; ``seed`` draws random ones.
    """
    if not isinstance(workload, Workload):
        raise InvalidValueError(f"simulate needs a Workload; got {describe(workload)}")
    cfg = check_config(policy, max_batch, preferred, max_delay, max_queue)
    service = _as_service(service_time, np.random.default_rng(seed))
    n = len(workload)
    arrival = workload.arrival.tolist()
    start, finish, rejected = [math.nan] * n, [math.nan] * n, np.zeros(n, bool)
    server = Server(arrival, start, finish, rejected, service, *cfg)
    if concurrency is None:
        server.ids = list(range(n))
        server.advance(math.inf, flush=True)
    else:
        if (
            isinstance(concurrency, bool)
            or not isinstance(concurrency, Integral)
            or concurrency < 1
        ):
            raise InvalidValueError(f"concurrency must be an int >= 1; got {concurrency!r}")
        think = _nonneg("think_time", think_time)
        if max_queue is not None:
            raise InvalidValueError(
                f"max_queue applies to open-loop workloads (a closed loop of {concurrency} "
                f"clients never queues more than that); got max_queue={max_queue}"
            )
        first = min(int(concurrency), n)
        arrival[:first] = [0.0] * first
        server.ids = list(range(first))
        issued = first
        while server.advance(math.inf, flush=True, max_batches=1):
            for _ in range(min(server.last_batch, n - issued)):  # each answer frees a client
                arrival[issued] = server.t + think
                server.assign(issued)
                issued += 1
    reasons = tuple(f"queue full (max_queue={cfg[4]})" if r else None for r in rejected)
    return Result(
        arrival=np.array(arrival),
        start=np.array(start),
        finish=np.array(finish),
        prompt_len=workload.prompt_len,
        output_len=workload.output_len,
        rejected=rejected,
        reject_reason=reasons,
        batch_sizes=np.array(server.batch_sizes, dtype=np.int64),
        busy_time=server.busy,
        extra={
            "policy": cfg[0],
            "max_batch": cfg[1],
            "preferred": cfg[2],
            "max_delay": cfg[3],
            "concurrency": concurrency,
        },  # fmt: skip
    )
