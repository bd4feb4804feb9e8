"""benchmarks/quant.py in its quick mode: it runs, writes its JSON, and the numbers are sane.

No timing thresholds (those belong in the benchmark's own report): only that every time and
ratio is a positive number, the int8 weights are about 4x smaller than fp32's, MiniLM's int8
embeddings stay close to fp32's, and the int8 CNN classifies the test digits like fp32.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "quant.py"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("quant") / "quant.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "MiniLM encoder" in done.stdout and "digits CNN" in done.stdout
    return json.loads(out.read_text())


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_structure(result):
    assert result["quick"] is True and result["threads"] == [1]
    assert set(result["models"]) == {"minilm", "cnn"}
    for rows in result["models"].values():
        assert [r["method"] for r in rows][0] == "fp32"  # the baseline comes first
        assert any(r["method"] != "fp32" for r in rows)
        for r in rows:
            for key in ("file_bytes", "weight_bytes", "file_ratio", "weight_ratio"):
                assert _positive(r[key]), (r["variant"], key, r[key])
            timing = r["timing"]["1"]
            for key in ("median_ms", "min_ms", "speedup", "speedup_min", "speedup_vs_best_fp32"):
                assert _positive(timing[key]), (r["variant"], key, timing[key])
            low, high = timing["speedup_ci"]
            assert 0 < low <= timing["speedup"] <= high
            assert timing["min_ms"] <= timing["median_ms"]
            assert len(timing["times_ms"]) == result["repeat"]


def test_fp32_rows_are_their_own_baseline(result):
    for rows in result["models"].values():
        fp32 = rows[0]
        assert fp32["file_ratio"] == fp32["weight_ratio"] == 1.0
        assert fp32["timing"]["1"]["speedup_min"] == pytest.approx(1.0)


def test_minilm_int8_is_four_times_smaller_and_close(result):
    fp32, int8 = result["models"]["minilm"][:2]
    assert int8["variant"] == "int8 dynamic per-channel"
    assert fp32["weight_bytes"] > 80e6  # 22.7M parameters in fp32 (embeddings included)
    assert 3.8 <= int8["weight_ratio"] <= 4.05
    assert 3.7 <= int8["file_ratio"] <= 4.05
    assert fp32["cos_min"] == pytest.approx(1.0, abs=1e-6)
    assert 0.98 <= int8["cos_min"] <= int8["cos_mean"] < 1.0
    assert int8["sentences"] == fp32["sentences"] >= 8


def test_cnn_int8_keeps_accuracy(result):
    fp32, int8 = result["models"]["cnn"][:2]
    assert fp32["accuracy"] >= 0.95 and fp32["agreement"] == 1.0
    assert int8["images"] == 359
    assert abs(int8["accuracy"] - fp32["accuracy"]) <= 0.02
    assert int8["agreement"] >= 0.97
    assert 2.5 <= int8["weight_ratio"] <= 4.05  # biases stay 32-bit: a bit under 4 on tiny layers


def test_headline_and_profile(result):
    head = result["headline"]
    assert head["cos_mean"] >= 0.99 and head["weight_ratio"] >= 3.8
    assert isinstance(head["goal_met"], bool)
    prof = result["profile"]
    for name in ("fp32", "int8"):
        p = prof[name]
        assert _positive(p["total_ms"]) and 0 < p["matmul_ms"] < p["total_ms"]
        assert p["other_ms"] == pytest.approx(p["total_ms"] - p["matmul_ms"])
    assert prof["bound"] > 1
