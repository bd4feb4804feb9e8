"""N replicas behind a load balancer, each a request-level server of :mod:`inferlab.serve.batching`.

Each request is dispatched when it arrives, to one replica, and never moves again. The balancers:

- ``"round_robin"``: request ``k`` goes to replica ``k mod N``. Blind to load: a slow replica or a
  run of long services gets the same share as the others (Vidur's ``round_robin`` global
  scheduler; the default of many HTTP proxies);
- ``"least_outstanding"``: to the replica with the fewest outstanding requests (sent and not yet
  answered: waiting or in service), the lowest index among ties (join-the-shortest-queue; Vidur's
  ``lor``, Envoy's LEAST_REQUEST);
- ``"power_of_two"``: two distinct replicas drawn at random (``seed``), the one with fewer
  outstanding wins (the first drawn on a tie). Mitzenmacher (2001), "The power of two choices in
  randomized load balancing": two random probes give almost all of join-the-shortest-queue's
  benefit while looking at only two queues (Envoy's LEAST_REQUEST samples two by default).

With ``N`` identical replicas at per-replica utilisation ρ, round robin already beats random
assignment (its arrivals are more regular), and the load-aware balancers cut the tail further;
with heterogeneous replicas (``service_time`` a list, one per replica) round robin overloads the
slow ones while the others idle. Replicas share one clock and one set of result arrays; each runs
the batching policy given (``policy``, ``max_batch``, ``preferred``, ``max_delay``, ``max_queue``
as in :func:`inferlab.serve.batching.simulate`). Closed loop is not offered here.

    >>> r = simulate_cluster(w, 4, "power_of_two", service_time=ServiceTime.exponential(0.01))
    >>> r.extra["replica"]      # (n,) which replica served each request
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from inferlab.errors import InvalidValueError, describe
from inferlab.serve.batching import Server, _as_service, check_config
from inferlab.serve.metrics import Result
from inferlab.serve.workload import Workload

__all__ = ["BALANCERS", "simulate_cluster"]

BALANCERS = ("round_robin", "least_outstanding", "power_of_two")


def simulate_cluster(
    workload: Workload,
    replicas: int,
    balancer: str = "round_robin",
    service_time=0.01,
    policy: str = "none",
    max_batch: int = 1,
    preferred=(),
    max_delay: float = 0.0,
    max_queue: int | None = None,
    seed=0,
) -> Result:
    """Simulate ``replicas`` servers behind ``balancer``; one :class:`Result` for all requests.

    service_time: one model for every replica, or a list of ``replicas`` models (heterogeneous
    replicas); each replica draws random service times from its own stream of ``seed``, and the
    power-of-two balancer from another. ``extra``: ``replica`` (n,) int64, the replica of each
    request; ``busy_per_replica`` (N,) s; ``batches_per_replica`` (N,); ``balancer``.
    """
    if not isinstance(workload, Workload):
        raise InvalidValueError(f"simulate_cluster needs a Workload; got {describe(workload)}")
    if isinstance(replicas, bool) or not isinstance(replicas, Integral) or replicas < 1:
        raise InvalidValueError(f"replicas must be an int >= 1; got {replicas!r}")
    if balancer not in BALANCERS:
        raise InvalidValueError(f"balancer must be one of {BALANCERS}; got {balancer!r}")
    cfg = check_config(policy, max_batch, preferred, max_delay, max_queue)
    nrep = int(replicas)
    models = (
        list(service_time) if isinstance(service_time, (list, tuple)) else [service_time] * nrep
    )
    if len(models) != nrep:
        raise InvalidValueError(
            f"service_time as a list needs one model per replica ({nrep}); got {len(models)}"
        )
    *streams, lb_stream = np.random.SeedSequence(seed).spawn(nrep + 1)
    n = len(workload)
    arrival = workload.arrival.tolist()
    start, finish, rejected = [math.nan] * n, [math.nan] * n, np.zeros(n, bool)
    servers = [
        Server(arrival, start, finish, rejected, _as_service(m, np.random.default_rng(s)), *cfg)
        for m, s in zip(models, streams, strict=True)
    ]
    replica = np.zeros(n, dtype=np.int64)
    if balancer == "round_robin":
        replica[:] = np.arange(n) % nrep
        for k, j in enumerate(replica.tolist()):
            servers[j].assign(k)
    elif balancer == "least_outstanding":
        for k, a in enumerate(arrival):
            best, j = math.inf, 0
            for idx, srv in enumerate(servers):
                srv.advance(a)
                load = srv.outstanding(a)
                if load < best:
                    best, j = load, idx
            servers[j].assign(k)
            replica[k] = j
    else:
        rng = np.random.default_rng(lb_stream)
        first = rng.integers(0, nrep, n)
        second = (first + 1 + rng.integers(0, max(nrep - 1, 1), n)) % nrep
        for k, (a, p, q) in enumerate(zip(arrival, first.tolist(), second.tolist(), strict=True)):
            sp, sq = servers[p], servers[q]
            sp.advance(a)
            sq.advance(a)
            j = q if sq.outstanding(a) < sp.outstanding(a) else p
            servers[j].assign(k)
            replica[k] = j
    for srv in servers:
        srv.advance(math.inf, flush=True)
    reasons = tuple(f"queue full (max_queue={cfg[4]})" if r else None for r in rejected)
    return Result(
        arrival=workload.arrival,
        start=np.array(start),
        finish=np.array(finish),
        prompt_len=workload.prompt_len,
        output_len=workload.output_len,
        rejected=rejected,
        reject_reason=reasons,
        batch_sizes=np.array([b for s in servers for b in s.batch_sizes], dtype=np.int64),
        busy_time=sum(s.busy for s in servers),
        extra={
            "balancer": balancer,
            "replica": replica,
            "busy_per_replica": np.array([s.busy for s in servers]),
            "batches_per_replica": np.array([len(s.batch_sizes) for s in servers]),
            "policy": cfg[0],
            "max_batch": cfg[1],
        },
    )
