"""benchmarks/serve.py in its quick mode: it runs, writes its JSON, and the numbers are sane.

No timing thresholds (the speed goals belong in the benchmark's own report): only that every
time and rate is a positive number, every simulated and served request is accounted for, the
cached and plain generations agree, and the step counts show what batching does (static padded
batching runs more steps than continuous batching for the same requests: a deterministic fact
of the schedulers, not a timing).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "serve.py"
REQUESTS = 4000  # simulated (quick mode's 10 000 would take longer than this test needs)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "serve.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--requests", str(REQUESTS), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for heading in ("1. simulator", "2. KV cache", "3. real mode", "goal:"):
        assert heading in done.stdout, heading
    return json.loads(out.read_text())


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_structure(result):
    assert result["quick"] is True and result["threads"] == 1 and result["repeat"] == 2
    assert set(result) >= {"simulator", "cache", "real", "seconds"}


def test_simulator(result):
    sim = result["simulator"]
    assert sim["requests"] == REQUESTS and sim["model"] == "Llama-2-7B"
    # (80 GB - 13.5 GB of bf16 weights) * 0.9 / 512 KiB per token
    assert sim["kv_capacity_tokens"] == pytest.approx(0.9 * (80e9 - 2 * 6.738e9) / 2**19, abs=1)
    assert [r["rate"] for r in sim["rows"]] == [2.0, 8.0, 16.0]
    for r in sim["rows"]:
        assert r["completed"] + r["rejected"] == REQUESTS
        for key in ("seconds", "requests_per_s", "steps_per_s", "mean_batch", "output_tok_s"):
            assert _positive(r[key]), (r["rate"], key)
        assert r["requests_per_s"] == pytest.approx(REQUESTS / r["seconds"])
        assert isinstance(r["steps"], int) and r["steps"] >= REQUESTS / r["mean_batch"]
    batches = [r["mean_batch"] for r in sim["rows"]]
    assert batches == sorted(batches)  # more load, fuller batches, fewer steps per request
    assert set(sim["goal_met"]) == {"2.0", "8.0", "16.0"}


def test_cache(result):
    cache = result["cache"]
    assert cache["same_text"] is True and cache["tokens"] == 118
    for key in ("plain_ms", "cached_ms", "speedup"):
        assert _positive(cache[key]), key
    low, high = cache["speedup_ci"]
    assert 0 < low <= cache["speedup"] <= high


def test_real_mode(result):
    real = result["real"]
    policies = real["policies"]
    assert list(policies) == ["static", "paged", "chunked", "orca-oracle"]
    for p, m in policies.items():
        assert m["completed"] == real["requests"] == 48, p
        assert _positive(m["tokens_per_s"]) and _positive(m["busy_s"]), p
        assert 1 <= m["mean_batch"] <= 8, p
    assert policies["static"]["vs_static"] == pytest.approx(1.0)
    # static batching waits for each batch's longest output: more steps for the same tokens
    assert policies["static"]["steps"] > policies["paged"]["steps"]
    assert real["goal_met"] == (policies["paged"]["vs_static"] > 1)
