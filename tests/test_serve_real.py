"""Real mode: the tiny GPT run by the simulator's schedulers, on a clock of measured step times.

The strongest check is the text: whatever the policy (static padded batching, vLLM paging with
recompute preemption, Sarathi chunked prefill, Orca), every request's generated characters are
exactly what greedy ``GPT.generate`` gives for its prompt alone, so padding, batching at mixed
positions, chunks and restarts change no token. Every request finishes or is rejected with a
reason. Speed: continuous batching produces more output tokens per second than static batching
on a workload with varied output lengths (timed: marked serial).
"""

from __future__ import annotations

import numpy as np
import pytest

from inferlab.errors import InvalidValueError
from inferlab.models import gpt
from inferlab.serve import real
from inferlab.serve.workload import Workload, make_workload


@pytest.fixture(scope="module")
def model():
    return gpt.load()


@pytest.fixture(scope="module")
def workload():
    """24 requests in 0.1 s: prompts 5-40 characters, outputs 2-60 (varied: static batching
    waits for each batch's longest)."""
    return make_workload(
        rate=240.0,
        n=24,
        prompt={"kind": "uniform", "low": 5, "high": 40},
        output={"kind": "uniform", "low": 2, "high": 60},
        seed=3,
    )


@pytest.fixture(scope="module")
def greedy(model, workload):
    """What each request must produce: greedy generation of its prompt, alone."""
    w = real.capped(workload)
    texts = []
    for p, n in zip(real.prompts(model, w.prompt_len), w.output_len, strict=True):
        prompt = model.decode(p)
        texts.append(model.generate(prompt, int(n), temperature=0, use_cache=True)[len(p) :])
    return texts


@pytest.mark.parametrize(
    "policy, kw",
    [
        ("static", {}),
        ("paged", {}),
        ("paged", {"kv_capacity_tokens": 256}),  # 16 blocks for 6 requests: preemptions
        ("chunked", {"kv_capacity_tokens": 256, "budget": 16}),
        ("orca-oracle", {}),
    ],
)
def test_every_policy_generates_the_greedy_text(model, workload, greedy, policy, kw):
    r = real.run(model, workload, policy, max_batch=6, **kw)
    assert r.n_completed == len(workload) and r.n_rejected == 0
    assert r.extra["texts"] == greedy
    assert r.extra["policy"] == policy and r.extra["device"] == "numpy"
    assert r.busy_time == pytest.approx(r.extra["step_s"].sum())  # the clock is the wall time
    assert len(r.extra["step_s"]) == len(r.batch_sizes) and r.batch_sizes.max() <= 6
    assert (r.first_token >= r.arrival).all() and (r.finish >= r.first_token).all()
    assert len(r.itl) == int((r.output_len - 1).sum())  # one gap per token after the first
    if "kv_capacity_tokens" in kw:
        assert r.extra["preemptions"] > 0  # the recompute path really ran


def test_requests_that_cannot_fit_are_rejected_and_counted(model):
    # KV for 48 tokens: a request with prompt + output > 48 can never run
    w = Workload(np.array([0.0, 0.0, 0.01]), np.array([10, 40, 5]), np.array([8, 20, 4]))
    r = real.run(model, w, "paged", max_batch=2, kv_capacity_tokens=48, block_size=16)
    assert r.n_completed + r.n_rejected == 3
    assert list(r.rejected) == [False, True, False]
    assert "KV capacity" in r.reject_reason[1] and r.extra["texts"][1] is None
    assert [len(t) for i, t in enumerate(r.extra["texts"]) if i != 1] == [8, 4]


def test_lengths_are_capped_to_the_context(model):
    w = Workload(np.zeros(2), np.array([100, 10]), np.array([100, 5]))
    c = real.capped(w, context=128, max_prompt=64)
    assert list(c.prompt_len) == [64, 10] and list(c.output_len) == [64, 5]
    r = real.run(model, w, "static", max_batch=2)
    assert r.extra["capped"] == 1 and list(r.output_len) == [64, 5]
    assert [len(t) for t in r.extra["texts"]] == [64, 5]


def test_prompts_are_real_text(model):
    ps = real.prompts(model, [5, 30], seed=1)
    assert [len(p) for p in ps] == [5, 30]
    from inferlab import data

    assert model.decode(ps[1]) in data.load_text()


def test_bad_inputs_raise_clear_errors(model, workload):
    with pytest.raises(InvalidValueError, match="policy must be one of"):
        real.run(model, workload, "fifo")
    with pytest.raises(InvalidValueError, match="needs a serve.Workload"):
        real.run(model, [1, 2, 3], "paged")
    with pytest.raises(InvalidValueError, match=r"max_prompt must be an int in \[1, 127\]"):
        real.run(model, workload, "paged", max_prompt=128)
    with pytest.raises(InvalidValueError, match="max_batch must be an int >= 1"):
        real.run(model, workload, "paged", max_batch=0)
    with pytest.raises(InvalidValueError, match="prompts need more than"):
        real.prompts(model, [10], text="short")


@pytest.mark.serial
def test_continuous_batching_beats_static_in_tokens_per_second(model):
    """48 requests at once, outputs heavy-tailed like chat answers (lognormal, median 16
    tokens, capped at 64), batches of 8. Static batching runs each batch until its longest
    member is done (padding the rest); paged continuous batching refills a slot as soon as a
    request finishes: half the steps. Best of two interleaved runs each, 20 % margin."""
    w = make_workload(
        rate=1000.0,
        n=48,
        prompt={"kind": "uniform", "low": 8, "high": 40},
        output={"kind": "lognormal", "median": 16, "sigma": 0.8},
        seed=1,
    )
    best = {"static": 0.0, "paged": 0.0}
    steps = {}
    for _ in range(2):
        for policy in best:
            r = real.run(model, w, policy, max_batch=8)
            assert r.n_completed == 48
            best[policy] = max(best[policy], real.tokens_per_second(r))
            steps[policy] = len(r.batch_sizes)
    assert steps["paged"] < 0.6 * steps["static"]  # the work itself: fewer, fuller steps
    assert best["paged"] > 1.2 * best["static"], best


def test_engine_refuses_a_step_that_disagrees_with_its_cache(model):
    from inferlab.errors import InferlabError
    from inferlab.serve.llm import Step

    engine = real.Engine(model, real.prompts(model, [6, 9]), [3, 3], max_seqs=2)
    engine.execute(Step.make([0, 1], [6, 9], [0, 0], [True, True]))  # both prompts
    assert [len(engine.generated(r)) for r in (0, 1)] == [1, 1]
    with pytest.raises(InferlabError, match="request 0 holds 5 tokens of KV; its cache holds 6"):
        engine.execute(Step.make([0], [1], [5], [False]))
    with pytest.raises(InferlabError, match="request 2 to go on at 4; it has no KV"):
        real.Engine(model, real.prompts(model, [6, 9, 4]), [3, 3, 3], 3).execute(
            Step.make([2], [1], [4], [False])
        )
    engine.sync(np.array([False, True]))  # request 0 finished or was preempted: slot freed
    assert engine.cache.seq_ids == [1]
