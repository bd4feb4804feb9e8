"""inferlab.bench.overhead: the same FLOPs three ways; per-call overhead in nanoseconds.

The numbers themselves depend on the machine: only their structure and arithmetic are checked.
"""

import numpy as np
import pytest

from inferlab import bench
from inferlab.bench import ChainResult, Timing, chain_operands, chain_vs_matmul
from inferlab.errors import InvalidValueError


def test_chain_operands_are_the_same_work():
    a, b, wide, tall = chain_operands(size=4, count=5)
    assert a.shape == b.shape == (5, 4, 4) and a.dtype == np.float32
    assert wide.shape == (4, 20) and tall.shape == (20, 4)
    np.testing.assert_allclose(wide @ tall, np.matmul(a, b).sum(axis=0), rtol=1e-5, atol=1e-5)
    # seeded
    np.testing.assert_array_equal(chain_operands(4, 5)[0], a)


def test_chain_vs_matmul_structure():
    r = chain_vs_matmul(size=8, count=16, repeat=3)
    assert isinstance(r, ChainResult)
    assert r.flops == 2 * 16 * 8**3
    assert r.loop.n == r.batched.n == r.one_matmul.n == 3
    assert r.overhead_per_call >= 0 and 0 <= r.python_share <= 1
    table = r.table()
    assert table.column("calls") == [16, 1, 1]
    assert table.column("× one matmul")[2] == 1.0
    assert "MFLOP each way" in str(r)


def test_overhead_arithmetic_on_known_timings():
    t = lambda s: Timing((s,) * 3)  # noqa: E731
    r = ChainResult(
        size=8, count=100, flops=102400, loop=t(1e-3), batched=t(2e-4), one_matmul=t(1e-4)
    )
    assert r.overhead_per_call == pytest.approx(8e-6)  # (1 ms - 0.2 ms) / 100 calls
    assert r.python_share == pytest.approx(0.8)
    assert r.table().column("GFLOP/s") == pytest.approx([0.1024, 0.512, 1.024])
    faster_loop = ChainResult(8, 100, 102400, t(1e-4), t(2e-4), t(1e-4))
    assert faster_loop.overhead_per_call == 0.0 and faster_loop.python_share == 0.0


def test_call_overhead_reports_nanoseconds():
    ns = bench.call_overhead(repeat=3)
    assert set(ns) == {
        "empty Python function",
        "NumPy add, 1 element",
        "NumPy matmul 1×1",
        "NumPy matmul 1×1, new array",
    }
    assert all(0 < v < 1e7 for v in ns.values())  # between 0 and 10 ms: units are ns


@pytest.mark.parametrize("kwargs", [{"size": 0}, {"count": -1}, {"repeat": 1.5}, {"size": True}])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidValueError):
        chain_vs_matmul(**kwargs)
