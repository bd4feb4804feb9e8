"""Serving (chapters 07-08): workloads, batching and LLM scheduling simulators, KV cache, metrics.

    >>> from inferlab import serve
    >>> w = serve.make_workload(rate=500, n=10_000, arrivals="poisson")    # requests, in time
    >>> r = serve.batching.simulate(w, serve.ServiceTime.linear(4e-3, 5e-4),
    ...                             policy="dynamic", max_batch=16, max_delay=2e-3)
    >>> r.summary()["p99_e2el_s"], serve.goodput(r, serve.SLO(e2e=0.02))
    >>> serve.md1_wait(lam=80, mu=100)                                    # the closed form
    >>> chat = serve.make_workload(rate=4, n=2000, prompt="trace", output="trace")
    >>> step = serve.RooflineStep(hw.LLAMA2_7B, hw.device("H100 SXM"))
    >>> r = serve.llm.simulate(chat, "paged", step, kv_capacity_tokens=60_000)
    >>> r.summary()["p99_ttft_s"], r.summary()["mean_tpot_s"]

Modules, one idea each:

- ``workload``: arrivals (Poisson, gamma with vLLM's burstiness formula, on/off bursts) and
  prompt/output lengths (fixed, uniform, lognormal, a chat-shaped table) -> ``Workload``;
- ``metrics``: one ``Result`` for every simulator, with vLLM's definitions (TTFT, TPOT, ITL,
  E2EL), percentiles, goodput under an ``SLO`` (MLPerf presets), Little's law, $ per 1M tokens;
- ``queueing``: the closed forms the simulators are checked against (M/M/1, M/D/1, M/G/1);
- ``batching``: one server, requests one at a time or in static or dynamic (Triton) batches;
  ``cluster``: N of them behind a load balancer;
- ``kvcache``: KV bytes per token and a paged block manager (vLLM); ``steptime``: how long one
  LLM iteration takes (roofline or a measured table); ``llm``: the LLM schedulers (static,
  Orca, paged, chunked prefill) and their simulator; ``real``: the same schedulers running the
  tiny GPT on this CPU.

``batching.simulate`` and ``llm.simulate`` are exported as ``simulate_requests`` and
``simulate_llm``.
"""

from inferlab.serve import (
    batching,
    cluster,
    kvcache,
    llm,
    metrics,
    queueing,
    real,
    steptime,
    workload,
)
from inferlab.serve.batching import ServiceTime, max_throughput
from inferlab.serve.batching import simulate as simulate_requests
from inferlab.serve.cluster import BALANCERS, simulate_cluster
from inferlab.serve.kvcache import BlockManager, blocks_for, kv_bytes_per_token
from inferlab.serve.llm import (
    POLICIES,
    ChunkedPrefillScheduler,
    OrcaScheduler,
    PagedScheduler,
    Scheduler,
    StaticBatching,
    Step,
    make_scheduler,
)
from inferlab.serve.llm import simulate as simulate_llm
from inferlab.serve.metrics import (
    SLO,
    SLO_PRESETS,
    Result,
    cost_per_million_tokens,
    goodput,
    littles_law,
    percentile,
    slo_attainment,
)
from inferlab.serve.queueing import (
    little,
    md1_sojourn,
    md1_wait,
    mg1_sojourn,
    mg1_wait,
    mm1_number,
    mm1_sojourn,
    mm1_wait,
    utilisation,
)
from inferlab.serve.steptime import OPT_13B, RooflineStep, StepTime, TableStep, constant_step
from inferlab.serve.workload import (
    Workload,
    burst_arrivals,
    chat_lengths,
    gamma_arrivals,
    lengths,
    make_workload,
    poisson_arrivals,
)

__all__ = [
    "BALANCERS",
    "OPT_13B",
    "POLICIES",
    "SLO",
    "SLO_PRESETS",
    "BlockManager",
    "ChunkedPrefillScheduler",
    "OrcaScheduler",
    "PagedScheduler",
    "Result",
    "RooflineStep",
    "Scheduler",
    "ServiceTime",
    "StaticBatching",
    "Step",
    "StepTime",
    "TableStep",
    "Workload",
    "batching",
    "blocks_for",
    "burst_arrivals",
    "chat_lengths",
    "cluster",
    "constant_step",
    "cost_per_million_tokens",
    "gamma_arrivals",
    "goodput",
    "kv_bytes_per_token",
    "kvcache",
    "lengths",
    "little",
    "littles_law",
    "llm",
    "make_scheduler",
    "make_workload",
    "max_throughput",
    "md1_sojourn",
    "md1_wait",
    "metrics",
    "mg1_sojourn",
    "mg1_wait",
    "mm1_number",
    "mm1_sojourn",
    "mm1_wait",
    "percentile",
    "poisson_arrivals",
    "queueing",
    "real",
    "simulate_cluster",
    "simulate_llm",
    "simulate_requests",
    "slo_attainment",
    "steptime",
    "utilisation",
    "workload",
]
