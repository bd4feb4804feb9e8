"""inferlab.bench.sweep and table/plot: saturation on closed forms and on a sleep with known cost.

The synthetic "device" sleeps ``UNIT * ceil(b / LANES)`` seconds for a batch of ``b``: it runs up
to LANES items at once, so throughput doubles with b up to LANES, then stays flat. Sleeps only
ever run long (on a loaded machine by milliseconds), so the test asks for a 50 % tolerance:
below the saturation each doubling of the batch doubles the throughput (+100 %), above it adds
nothing (+0 %, or +(2δ₈ - δ₁₆) / (2·UNIT + δ₁₆) when the sleeps overshoot by δ).
"""

import math
import time
from contextlib import contextmanager
from functools import partial

import pytest
from matplotlib.figure import Figure

from inferlab import bench
from inferlab.bench import BatchRecord, Timing, saturation_point, sweep_batch, sweep_threads
from inferlab.errors import InvalidValueError

UNIT, LANES = 0.02, 8


def device(b: int):
    return partial(time.sleep, UNIT * math.ceil(b / LANES))


@pytest.fixture(scope="module")
def records():
    return sweep_batch(device, [16, 1, 4, 8, 2], warmup=1, repeat=6, progress=False)


def test_sweep_finds_the_saturation_of_a_known_device(records):
    assert [r.batch for r in records] == [1, 2, 4, 8, 16]  # sorted
    assert all(r.timing.n == 6 for r in records)
    assert saturation_point(records, 0.5) == LANES
    for r in records:
        expected = UNIT * math.ceil(r.batch / LANES)
        assert expected <= r.latency < expected + 0.1  # sleep never returns early
        assert r.throughput == pytest.approx(r.batch / r.latency)
        low, high = r.throughput_ci
        assert low <= r.throughput <= high
        assert r.latency_ci.low <= r.latency <= r.latency_ci.high
        assert r.p99 >= r.latency


def test_saturation_point_closed_forms():
    assert saturation_point({1: 100, 2: 200, 4: 400, 8: 420, 16: 430}, 0.1) == 4
    assert saturation_point({1: 100, 2: 200, 4: 400, 8: 420, 16: 430}, 0.03) == 8
    # a dip then a rise: 4 is not the point, since 16 beats it by > 10 %
    assert saturation_point({1: 100, 4: 400, 8: 380, 16: 500, 32: 505}, 0.1) == 16
    # still growing at the end: not saturated within the sweep
    assert saturation_point({1: 100, 2: 200, 4: 400}, 0.1) is None
    assert saturation_point({1: 100}, 0.1) is None
    assert saturation_point({8: 100, 1: 100, 2: 100}, 0.0) == 1  # flat: saturated at once
    assert saturation_point({8: 30, 1: 10, 2: 20, 4: 30}, 0.0) == 4  # input order is free


def test_saturation_point_accepts_records():
    recs = [BatchRecord(b, Timing((b / x,) * 6)) for b, x in [(1, 10.0), (2, 19.0), (4, 20.0)]]
    assert saturation_point(recs, 0.1) == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: saturation_point({}, 0.1),
        lambda: saturation_point({0: 1.0}, 0.1),
        lambda: saturation_point({1: -1.0}, 0.1),
        lambda: saturation_point({1: 1.0, 2: 2.0}, -0.1),
        lambda: saturation_point([object()], 0.1),
        lambda: sweep_batch(device, [], progress=False),
        lambda: sweep_batch(device, [1, 1], progress=False),
        lambda: sweep_batch(device, [0, 2], progress=False),
        lambda: sweep_batch(device, [1.5], progress=False),
        lambda: sweep_batch(device, 8, progress=False),
        lambda: sweep_batch("model", [1], progress=False),
        lambda: sweep_batch(device, [1], repeat=0, progress=False),
        lambda: sweep_batch(device, [1], number="lots", progress=False),
        lambda: sweep_threads(lambda n: time.sleep, [1], min_time=-1, progress=False),
        lambda: sweep_batch(device, [1], level=95, progress=False),
        lambda: sweep_threads(lambda n: None, [1], progress=False),
        lambda: sweep_threads(lambda n: time.sleep, [0], progress=False),
    ],
)
def test_bad_arguments(call):
    with pytest.raises(InvalidValueError):
        call()


def test_options_are_checked_before_anything_runs():
    built = []
    with pytest.raises(InvalidValueError, match="repeat"):
        sweep_batch(lambda b: built.append(b) or (lambda: None), [1, 2], repeat=0, progress=False)
    with pytest.raises(InvalidValueError, match="warmup"):
        sweep_threads(lambda n: built.append(n) or (lambda: None), [1], warmup=-1, progress=False)
    assert built == []


def test_factory_returning_a_result_is_explained():
    with pytest.raises(InvalidValueError, match="zero-argument callable"):
        sweep_batch(lambda b: [0.0] * b, [1, 2], progress=False)


def test_sweep_threads_uses_the_limit_for_each_count():
    entered, built = [], []

    @contextmanager
    def fake_limit(n):
        entered.append(n)
        yield

    def fn_for(n):
        built.append(n)
        return partial(time.sleep, 0.004 / n)  # a perfectly parallel job

    recs = sweep_threads(fn_for, [4, 1, 2], limit=fake_limit, repeat=5, progress=False)
    assert entered == built == [1, 2, 4]
    assert [r.threads for r in recs] == [1, 2, 4]
    assert recs[0].speedup == 1.0 and recs[0].efficiency == 1.0
    assert all(r.speedup > 0 for r in recs)
    assert recs[2].efficiency == pytest.approx(recs[2].speedup / 4)


def test_sweep_threads_default_counts_and_no_limit():
    recs = sweep_threads(lambda n: lambda: None, limit=None, repeat=2, progress=False)
    counts = [r.threads for r in recs]
    assert counts[0] == 1 and counts[-1] == bench.cpu_count() and counts == sorted(set(counts))


def test_sweep_threads_with_blas_threads():
    recs = sweep_threads(lambda n: lambda: None, [1], repeat=2, progress=False)
    assert len(recs) == 1


def test_sweep_with_progress_bar():
    assert len(sweep_batch(lambda b: lambda: None, [1, 2], repeat=1, progress=True)) == 2


def test_table_of_records(records):
    table = bench.to_table(records, title="sleep device")
    text = str(table)
    assert text.splitlines()[0] == "sleep device"
    assert text.splitlines()[1].split() == [
        "batch",
        "latency",
        "CI",
        "p99",
        "items/s",
        "items/s",
        "CI",
    ]
    assert len(text.splitlines()) == 3 + len(records)
    assert table.column("batch") == [1, 2, 4, 8, 16]
    assert table.to_dicts()[0]["batch"] == 1
    assert "<table>" in table._repr_html_() and "sleep device" in table._repr_html_()


def test_table_of_few_samples_says_what_is_missing():
    text = str(bench.to_table([BatchRecord(1, Timing((1e-3,) * 5))]))
    assert "needs >= 6 samples" in text


def test_table_from_dicts_and_errors():
    t = bench.to_table([{"a": 1, "b": 2.34567}, {"a": 10, "b": "x"}])
    assert str(t).splitlines() == [" a  b", "--  ----", " 1  2.35", "10  x"]  # numbers right
    with pytest.raises(InvalidValueError):
        bench.to_table([])
    with pytest.raises(InvalidValueError):
        bench.to_table([1, 2])
    with pytest.raises(InvalidValueError):
        bench.Table(("a", "b"), ((1,),))
    with pytest.raises(InvalidValueError):
        t.column("c")


def test_plot_sweep_one_and_several(records):
    fig = bench.plot_sweep(records, tolerance=0.5)
    assert isinstance(fig, Figure)
    lat, thr = fig.axes
    assert lat.get_xscale() == "log" and lat.get_yscale() == "log"
    assert thr.get_xscale() == "log" and thr.get_yscale() == "log"
    assert any("saturates at 8" in t.get_text() for t in thr.get_legend().get_texts())
    fig2 = bench.plot_sweep({"a": records, "b": records[:3]}, tolerance=None, title="two")
    assert len(fig2.axes[1].get_lines()) == 2
    with pytest.raises(InvalidValueError):
        bench.plot_sweep([1, 2])


def test_plot_threads_and_timing():
    recs = sweep_threads(lambda n: lambda: None, [1, 2], limit=None, repeat=2, progress=False)
    assert isinstance(bench.plot_threads(recs), Figure)
    t = Timing(tuple(1e-3 * (1 + i % 7) for i in range(400)), warmup_times=(5e-3,))
    fig = bench.plot_timing(t)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(InvalidValueError):
        bench.plot_threads([])
    with pytest.raises(InvalidValueError):
        bench.plot_timing([1.0])


def test_plot_timing_uses_log_bins_for_a_long_tail():
    narrow = Timing(tuple(1e-3 * (1 + 0.01 * (i % 7)) for i in range(100)))
    assert bench.plot_timing(narrow).axes[1].get_xscale() == "linear"
    tail = Timing(tuple(1e-3 * (1 + 99 * (i == 0)) for i in range(100)))  # one call 100x slower
    ax = bench.plot_timing(tail, bins=20).axes[1]
    assert ax.get_xscale() == "log"
    edges = [p.get_x() for p in ax.patches][:20]  # the 20 bars first, then the CI spans
    steps = [math.log(b / a) for a, b in zip(edges, edges[1:], strict=False)]
    assert steps == pytest.approx([math.log(100) / 20] * 19, rel=1e-9)
