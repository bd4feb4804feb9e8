"""benchmarks/prune.py in its quick mode: it runs, writes its JSON, and the numbers are sane.

No timing thresholds (the speed goal belongs in the benchmark's own report): only that every
time and ratio is a positive number, the models have the parameter counts the channel
arithmetic gives, the masked model classifies exactly like the pruned one before fine-tuning,
the CSR points have the nonzero counts magnitude pruning gives, and the sizes table matches the
byte formulas (CSR: 8 bytes per nonzero + 4 per row + 4; 2:4: half the values + 2 bits each;
int8: 1 byte per value + a float32 scale per row).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "prune.py"

# the digits CNN: (out, in) of each weight viewed 2-D, and the bias count
CNN = {"conv1": (16, 9), "conv2": (32, 144), "fc1": (64, 128), "fc2": (10, 64)}
BIASES = 16 + 32 + 64 + 10


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("prune") / "prune.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for heading in ("1. digits CNN", "2. W @ x", "3. bytes", "goal:", "crossover:"):
        assert heading in done.stdout, heading
    return json.loads(out.read_text())


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_structure(result):
    assert result["quick"] is True and result["threads"] == 1
    assert set(result) >= {"engine", "csr", "sizes", "seconds", "repeat"}
    engine = result["engine"]
    assert engine["batches"] == [1, 64]
    assert [r["name"] for r in engine["rows"]] == ["dense", "masked 50%", "pruned 50% + ft"]
    for r in engine["rows"]:
        for b in ("1", "64"):
            m = r["timing"][b]
            for key in ("median_ms", "min_ms", "speedup", "speedup_min", "mflop"):
                assert _positive(m[key]), (r["name"], b, key, m[key])
            low, high = m["speedup_ci"]
            assert 0 < low <= m["speedup"] <= high
            assert m["min_ms"] <= m["median_ms"]
            assert len(m["times_ms"]) == result["repeat"] and m["calls_per_sample"] >= 1


def test_dense_is_its_own_baseline(result):
    dense = result["engine"]["rows"][0]
    assert dense["drop"] == 0 and dense["top1"] == pytest.approx(98.6, abs=0.1)
    for m in dense["timing"].values():
        assert m["speedup"] == pytest.approx(1.0) and m["speedup_min"] == pytest.approx(1.0)


def test_models(result):
    dense, masked, pruned = result["engine"]["rows"]
    # 50 % of 16 / 32 / 64 channels removed: conv1 8, conv2 16 (x 4 pixels = 64 fc1 inputs), fc1 32
    half = 8 * 9 + 8 + 16 * 8 * 9 + 16 + 32 * 64 + 32 + 10 * 32 + 10
    assert dense["params"] == masked["params"] == 13706 and pruned["params"] == half == 3658
    # the masked model computes what the pruned one computes before fine-tuning
    assert masked["top1"] == pruned["top1_before_finetune"]
    assert pruned["top1"] > pruned["top1_before_finetune"]  # fine-tuning recovers accuracy
    assert pruned["top1"] >= 95.0
    for b in ("1", "64"):  # same shapes, same engine FLOPs; the pruned model does ~1/3
        assert masked["timing"][b]["mflop"] == dense["timing"][b]["mflop"]
        assert pruned["timing"][b]["mflop"] < 0.5 * dense["timing"][b]["mflop"]
        assert dense["timing"][b]["mflop"] == pytest.approx(
            int(b) * dense["timing"]["1"]["mflop"], rel=1e-9
        )


def test_goal_and_fit(result):
    engine = result["engine"]
    goal = engine["goal"]
    assert isinstance(goal["accuracy_met"], bool)
    assert goal["drop"] == pytest.approx(engine["dense_top1"] - engine["rows"][2]["top1"])
    assert set(goal["batches"]) == {"1", "64"}
    for g in goal["batches"].values():
        assert isinstance(g["met"], bool) and g["met"] == (
            g["fast_enough"] and goal["accuracy_met"]
        )
    for fit in engine["fit"].values():
        assert math.isfinite(fit["fixed_ms"]) and _positive(fit["dense_ms"])


def test_csr(result):
    from inferlab.prune.sparse import crossover_sparsity

    (shape,) = result["csr"]
    m, k, n = shape["shape"]
    assert (m, k, n) == (1024, 1024, 8)
    points = shape["points"]
    assert [p["sparsity"] for p in points] == [0.5, 0.9, 0.99]
    for p in points:
        assert p["nnz"] == m * k - round(p["sparsity"] * m * k)  # torch's round(amount * n)
        assert _positive(p["dense_ms"]) and _positive(p["csr_ms"])
        assert p["speedup"] == pytest.approx(p["dense_ms"] / p["csr_ms"])
    # CSR work shrinks with the nonzeros
    assert points[0]["csr_ms"] > points[-1]["csr_ms"]
    want = crossover_sparsity(
        [p["sparsity"] for p in points],
        [p["dense_ms"] for p in points],
        [p["csr_ms"] for p in points],
    )
    assert shape["crossover"] == want
    assert want is None or 0.5 <= want <= 0.99


def _csr(rows, cols, s):
    nnz = rows * cols - round(s * rows * cols)
    return 8 * nnz + 4 * (rows + 1), nnz


def test_sizes_match_the_formulas(result):
    sizes = result["sizes"]
    cnn = {r["format"]: r for r in sizes["cnn"]}
    weights = sum(o * i for o, i in CNN.values())
    rows = sum(o for o, _ in CNN.values())
    dense = cnn["fp32 dense"]
    assert dense["fp32_bytes"] == 4 * (weights + BIASES) == 54824
    assert dense["int8_bytes"] == weights + 4 * rows + 4 * BIASES
    assert cnn["structured 50% channels"]["fp32_bytes"] == 4 * 3658
    csr = cnn["CSR 90% sparse"]
    parts = [_csr(o, i, 0.9) for o, i in CNN.values()]
    assert csr["fp32_bytes"] == sum(b for b, _ in parts) + 4 * BIASES
    nnz = sum(z for _, z in parts)
    assert csr["int8_bytes"] == csr["fp32_bytes"] - 3 * nnz + 4 * rows  # 1-byte values + scales
    two4 = cnn["2:4 compressed"]
    fp32 = 4 * 16 * 9  # conv1: 9 inputs per filter, no multiple of 4: stays dense
    int8 = 16 * 9 + 4 * 16
    for o, i in list(CNN.values())[1:]:
        kept = o * i // 2
        fp32 += 4 * kept + math.ceil(2 * kept / 8)
        int8 += kept + math.ceil(2 * kept / 8) + 4 * o
    assert two4["fp32_bytes"] == fp32 + 4 * BIASES
    assert two4["int8_bytes"] == int8 + 4 * BIASES
    linear = {r["format"]: r for r in sizes["linear_1024"]}
    assert linear["fp32 dense"]["fp32_bytes"] == 4 * 2**20
    assert linear["CSR 90% sparse"]["fp32_bytes"] == _csr(1024, 1024, 0.9)[0] == 842964
    assert linear["2:4 compressed"]["fp32_bytes"] == 4 * 2**19 + 2**19 // 4
    assert linear["structured 50% channels"]["int8_bytes"] == 2**19 + 4 * 512
    for table in sizes.values():
        for r in table:
            assert r["fp32_ratio"] == pytest.approx(table[0]["fp32_bytes"] / r["fp32_bytes"])
            assert r["int8_bytes"] < r["fp32_bytes"]
        assert np.isclose(table[0]["fp32_ratio"], 1.0)
