"""Every check of exercises 07 can fail, and fails with the right hint.

For each task: the solution shipped in solutions/07_batching.ipynb (extracted from the notebook's
own cells and exec'd) passes; the generated stub in exercises/07_batching.ipynb is "not
attempted"; every slip a check knows fails with its hint, alone and two at once; plausible wrong
answers, written the way students write them, fail with a specific hint; and equivalent right
answers pass. The checks' references agree with independent computations on the checks' own
cases (a closed-form FIFO, an event-by-event batcher) and with ``inferlab.serve`` (the
simulator, the queueing formulas, vLLM's goodput). The grader grades the notebooks end to end
(marked ``slow``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from exercise_support import (
    assert_not_attempted,
    assert_one_failure,
    assert_solutions_pass,
    check_helpers,
    grade_three,
    notebook_functions,
    slip_tests,
)

from inferlab.checks import ch07
from inferlab.checks.ch07 import fifo, goodput, pk, static, triton
from inferlab.errors import InvalidValueError
from inferlab.serve import batching, metrics, queueing, workload

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["fifo_times", "static_batch_finish", "mg1_wait", "dynamic_batch_size", "goodput"]
MODULES = {
    "fifo_times": fifo,
    "static_batch_finish": static,
    "mg1_wait": pk,
    "dynamic_batch_size": triton,
    "goodput": goodput,
}

SOLUTION = notebook_functions(ROOT / "solutions" / "07_batching.ipynb", TASKS)
STUB = notebook_functions(ROOT / "exercises" / "07_batching.ipynb", TASKS)

check, fails = check_helpers(ch07)


def cases(task: str):
    return ch07.TASKS[task].cases()


# ----------------------------------------------------------------------------- the references


def test_the_fifo_reference_is_the_closed_form():
    """finish_i = max over j <= i of (arrival_j + service_j + ... + service_i): the latest of
    'the queue since request j started empty'."""
    for case in cases("fifo_times"):
        a, s = (np.asarray(v, np.float64) for v in case.args)
        start, finish = fifo._reference(a, s)
        want = np.array(
            [max(a[j] + s[j : i + 1].sum() for j in range(i + 1)) for i in range(len(a))]
        )
        np.testing.assert_allclose(finish, want, rtol=1e-12, err_msg=case.note)
        np.testing.assert_allclose(start, want - s, rtol=1e-12, atol=1e-15, err_msg=case.note)
        assert np.all(start >= a) and np.all(start[1:] >= finish[:-1] - 1e-12), case.note


def test_the_static_reference_is_the_simulators_static_batching():
    for case in cases("static_batch_finish"):
        arrival, max_batch, service = case.args
        w = workload.Workload(arrival=np.asarray(arrival, float), prompt_len=1, output_len=1)
        policy = "static" if max_batch > 1 else "none"
        r = batching.simulate(w, service, policy, max_batch=max_batch)
        np.testing.assert_allclose(
            static._reference(*case.args), r.finish, rtol=1e-12, err_msg=case.note
        )
        if max_batch == 1:  # batches of one are task 1's FIFO queue
            s = np.full(len(arrival), service(1))
            np.testing.assert_allclose(
                static._reference(*case.args), fifo._reference(arrival, s)[1]
            )


def test_the_pk_reference_is_mm1_and_md1():
    for lam, mean in ((50.0, 0.01), (90.0, 0.01), (3.0, 0.25)):
        rho = lam * mean
        assert pk._reference(lam, mean, mean**2) == pytest.approx(rho / (1 - rho) * mean)
        assert pk._reference(lam, mean, 0.0) == pytest.approx(rho / (1 - rho) * mean / 2)
    assert pk._reference(40.0, 0.025, 0.0) == math.inf  # rho exactly 1
    assert pk._reference(2.0, 1.0, 0.0) == math.inf


def test_the_pk_reference_agrees_with_a_simulation():
    """200 000 Poisson arrivals through the FIFO reference: the mean wait is the formula's to
    3 % for a gamma-distributed service time (Var = E[S]^2 / 2) at utilisation 0.6."""
    rng = np.random.default_rng(5)
    lam, mean, shape = 60.0, 0.01, 2.0
    arrival = np.cumsum(rng.exponential(1 / lam, 200_000))
    service = rng.gamma(shape, mean / shape, arrival.size)
    c = np.cumsum(service)  # the closed form of the recursion, vectorised
    finish = c + np.maximum.accumulate(arrival - (c - service))
    wait = np.mean(finish - service - arrival)
    assert wait == pytest.approx(pk._reference(lam, mean, mean**2 / shape), rel=0.03)


def test_the_triton_reference_never_sends_more_than_is_queued_or_max_batch():
    for case in cases("dynamic_batch_size"):
        queued, now, max_batch, preferred, delay = case.args
        k = triton._reference(*case.args)
        assert 0 <= k <= min(len(queued), max_batch), case.note
        if len(queued) and now - queued[0] >= delay:
            assert k > 0, case.note  # an expired delay always sends


def test_the_goodput_reference_counts_by_hand():
    for case in cases("goodput"):
        a, f, slo = case.args
        good = sum(1 for x, y in zip(a, f, strict=True) if not math.isnan(y) and y - x <= slo)
        end = max(y for y in f if not math.isnan(y))
        assert goodput._reference(*case.args) == pytest.approx(good / (end - min(a))), case.note


# ----------------------------------------------------------------------- against inferlab.serve


def test_the_references_agree_with_inferlab_serve():
    for lam, mean, var in ((50.0, 0.016, 0.016**2), (9.0, 0.1, 0.03), (95.0, 0.01, 0.0)):
        assert pk._reference(lam, mean, var) == pytest.approx(queueing.mg1_wait(lam, mean, var))
    rng = np.random.default_rng(3)
    n = 400
    w = workload.Workload(
        arrival=np.cumsum(rng.exponential(1 / 40.0, n)),
        prompt_len=np.ones(n, np.int64),
        output_len=np.ones(n, np.int64),
    )
    r = batching.simulate(w, lambda b: 0.02, policy="none")
    start, finish = fifo._reference(w.arrival, np.full(n, 0.02))
    np.testing.assert_allclose(r.start, start, rtol=1e-12)
    np.testing.assert_allclose(r.finish, finish, rtol=1e-12)
    slo = metrics.SLO(e2e=0.05)
    assert goodput._reference(w.arrival, r.finish, 0.05) == pytest.approx(metrics.goodput(r, slo))
    with pytest.raises(InvalidValueError, match="unstable"):
        queueing.mg1_wait(40.0, 0.025, 0.0)  # the library refuses rho = 1; the task returns inf
    assert pk._reference(40.0, 0.025, 0.0) == math.inf


def test_the_triton_reference_is_what_the_simulator_batches():
    """Every batch inferlab.serve.batching.simulate runs with policy="dynamic" is what the
    reference sends for the requests waiting at its start."""
    w = workload.make_workload(900.0, 3000, seed=4)
    for preferred, delay in (((), 0.0), ((4, 8), 0.003), ((2,), 0.01)):
        r = batching.simulate(w, batching.ServiceTime.linear(0.004, 0.0005), "dynamic",
                              max_batch=16, preferred=preferred, max_delay=delay)  # fmt: skip
        starts, first = np.unique(r.start, return_index=True)
        sizes = np.diff(np.append(first, r.start.size))
        np.testing.assert_array_equal(sizes, r.batch_sizes)
        for t, i, k in zip(starts, first, sizes, strict=True):
            queued = r.arrival[i:][r.arrival[i:] <= t]
            assert triton._reference(queued, t, 16, preferred, delay) == k


# ----------------------------------------------------------------------------- stub, solution


@pytest.mark.parametrize("task", TASKS)
def test_the_generated_stub_is_not_attempted(task):
    assert "not attempted yet" in fails(task, STUB[task])


def test_the_shipped_solutions_pass(capsys):
    for task in TASKS:
        check(task, SOLUTION[task])
    assert capsys.readouterr().out.count("✓") == len(TASKS)


# ----------------------------------------------------------------------------- every known slip


TWO_SLIPS = [
    ("fifo_times", {"start": "arrival", "output": "waits"}),
    ("fifo_times", {"start": "previous finish", "finish": "arrival"}),
    ("mg1_wait", {"moment": "var", "what": "sojourn"}),
    ("mg1_wait", {"half": "no", "what": "sojourn"}),
    ("dynamic_batch_size", {"cap": "all", "oldest": "last"}),
    ("dynamic_batch_size", {"pick": "smallest", "compare": ">"}),
    ("static_batch_finish", {"start": "first", "cost": "per request"}),
    ("static_batch_finish", {"partial": "max_batch", "output": "latency"}),
    ("goodput", {"compare": "<", "start": "zero"}),
    ("goodput", {"per": "n", "latency": "finish"}),
]

# every slip alone, the switches left alone, two slips at once: the same for every chapter
globals().update(slip_tests(MODULES, check, fails, TWO_SLIPS))


def test_three_slips_at_once_are_named_all():
    switches = {"moment": "mean²", "half": "no", "what": "sojourn"}
    message = fails("mg1_wait", functools.partial(pk._student, **switches))
    assert "your answer has 3 slips at once" in message, message


# ----------------------------------------------------------------------------- wrong answers


def ff(arrival, service, *, start="max", finish="start"):
    a, s = np.asarray(arrival, float), np.asarray(service, float)
    begin, end = np.zeros_like(a), np.zeros_like(a)
    free = 0.0
    for i in range(len(a)):
        begin[i] = {"max": max(a[i], free), "arrival": a[i], "free": free if i else a[0]}[start]
        end[i] = free = (begin[i] if finish == "start" else a[i]) + s[i]
    return begin, end


def ff_vectorised(arrival, service):  # right: the closed form of Lindley's recursion
    a, s = np.asarray(arrival, float), np.asarray(service, float)
    c = np.cumsum(s)
    finish = c + np.maximum.accumulate(a - (c - s))
    return finish - s, finish


def ff_cumsum(arrival, service):  # the server never idles
    a, s = np.asarray(arrival, float), np.asarray(service, float)
    finish = a[0] + np.cumsum(s)
    return finish - s, finish


def ff_previous_only(arrival, service):  # waits only for the previous request's own service
    a, s = np.asarray(arrival, float), np.asarray(service, float)
    start = np.maximum(a, np.concatenate([[a[0]], a[:-1] + s[:-1]]))
    return start, start + s


def ff_lists(arrival, service):
    start, finish = ff(arrival, service)
    return [(float(x), float(y)) for x, y in zip(start, finish, strict=True)]


def ff_finish_only(arrival, service):
    return ff(arrival, service)[1]


def ff_dict(arrival, service):
    return dict(zip(("start", "finish"), ff(arrival, service), strict=True))


def mg(lam, mean_s, var_s, *, formula="pk", guard=True):
    rho = lam * mean_s
    if guard and rho >= 1:
        return math.inf
    if formula == "mm1":
        return rho / (1 - rho) * mean_s
    if formula == "md1":
        return rho / (1 - rho) * mean_s / 2
    if formula == "var":
        return lam * var_s / (2 * (1 - rho))
    if formula == "sojourn":
        return lam * (var_s + mean_s**2) / (2 * (1 - rho)) + mean_s
    return lam * (var_s + mean_s**2) / (2 * (1 - rho))


def mg_cv(lam, mean_s, var_s):  # right: the Kingman form (1 + C²)/2 · ρ/(1 − ρ) · E[S]
    rho = lam * mean_s
    if rho >= 1:
        return float("inf")
    return (1 + var_s / mean_s**2) / 2 * rho / (1 - rho) * mean_s


def mg_mu(lam, mean_s, var_s):  # right: through the service rate mu
    mu = 1 / mean_s
    rho = lam / mu
    return math.inf if rho >= 1 else lam * (var_s + 1 / mu**2) / (2 * (1 - rho))


def mg_none(lam, mean_s, var_s):
    rho = lam * mean_s
    return None if rho >= 1 else mg(lam, mean_s, var_s)


def mg_raise(lam, mean_s, var_s):
    rho = lam * mean_s
    if rho >= 1:
        raise ValueError("unstable")
    return mg(lam, mean_s, var_s)


def db(queued, now, max_batch, preferred, max_delay, *, cap=True, newest=False, strict=False):
    n = len(queued)
    if n == 0:
        return 0
    if n >= max_batch:
        return max_batch if cap else n
    fits = [p for p in preferred if p <= n]
    if fits:
        return max(fits)
    waited = now - (queued[-1] if newest else queued[0])
    return n if (waited > max_delay if strict else waited >= max_delay) else 0


def db_no_empty(queued, now, max_batch, preferred, max_delay):
    if now - queued[0] >= max_delay:
        return min(len(queued), max_batch)
    return db(queued, now, max_batch, preferred, max_delay)


def db_sorted(queued, now, max_batch, preferred, max_delay):  # right: a different order of tests
    n = len(queued)
    for p in [max_batch, *sorted(preferred, reverse=True)]:
        if n >= p:
            return p
    return n if n and now - queued[0] >= max_delay else 0


def db_smallest(queued, now, max_batch, preferred, max_delay):
    n = len(queued)
    fits = sorted(p for p in preferred if p <= n)
    if n and n < max_batch and fits:
        return fits[0]
    return db(queued, now, max_batch, preferred, max_delay)


def db_ignore_preferred(queued, now, max_batch, preferred, max_delay):
    return db(queued, now, max_batch, (), max_delay)


def db_float(queued, now, max_batch, preferred, max_delay):
    return db(queued, now, max_batch, preferred, max_delay) + 0.5


def db_bool(queued, now, max_batch, preferred, max_delay):
    return db(queued, now, max_batch, preferred, max_delay) > 0


def sb(arrival, max_batch, service, *, first=False, serial=True, each=False, full=False):
    a = np.asarray(arrival, float)
    finish, free = np.zeros_like(a), 0.0
    for lo in range(0, len(a), max_batch):
        batch = a[lo : lo + max_batch]
        size = max_batch if full else len(batch)
        t = batch[0] if first else batch[-1]
        t = max(t, free) if serial else t
        free = finish[lo : lo + max_batch] = t + (size * service(1) if each else service(size))
    return finish


def sb_split(arrival, max_batch, service):  # right: np.array_split into the batches
    a = np.asarray(arrival, float)
    out, free = [], -np.inf
    for batch in np.array_split(a, range(max_batch, len(a), max_batch)):
        free = max(batch[-1], free) + service(len(batch))
        out.append(np.full(len(batch), free))
    return np.concatenate(out)


def sb_full_only(arrival, max_batch, service):  # drops the last, partial batch
    a = np.asarray(arrival, float)
    n = len(a) // max_batch * max_batch
    return sb(a[:n], max_batch, service) if n else np.zeros(0)


def sb_per_batch(arrival, max_batch, service):  # one finish per batch
    return sb(arrival, max_batch, service)[::max_batch]


def gp(arrival, finish, slo, *, count=np.less_equal, per="duration", end=np.nanmax, start=None):
    a, f = np.asarray(arrival, float), np.asarray(finish, float)
    with np.errstate(invalid="ignore"):
        good = np.sum(count(f - a, slo))
    if per == "n":
        return good / len(a)
    begin = a.min() if start is None else start
    return good / (end(f) - begin)


def gp_loop(arrival, finish, slo):  # right: a plain loop
    good, last = 0, -math.inf
    for a, f in zip(arrival, finish, strict=True):
        if math.isnan(f):
            continue
        good += f - a <= slo
        last = max(last, f)
    return good / (last - arrival[0])


def gp_attainment(arrival, finish, slo):
    a, f = np.asarray(arrival, float), np.asarray(finish, float)
    return np.mean(f - a <= slo)


WRONG = [
    # (task, the student's function, a piece of the hint it must get)
    ("fifo_times", functools.partial(ff, start="arrival"), "as if there were a server per"),
    ("fifo_times", functools.partial(ff, start="free"), "the server can be IDLE"),
    ("fifo_times", ff_cumsum, "the server can be IDLE"),
    ("fifo_times", functools.partial(ff, finish="arrival"), "after it STARTS"),
    ("fifo_times", ff_previous_only, "keeping the time the server becomes free"),
    ("fifo_times", ff_lists, "return a tuple `(start, finish)` of two arrays"),
    ("fifo_times", ff_finish_only, "return a tuple `(start, finish)` of two arrays"),
    ("fifo_times", ff_dict, "return a tuple `(start, finish)` of two arrays"),
    ("mg1_wait", functools.partial(mg, formula="var"), "not the variance alone"),
    ("mg1_wait", functools.partial(mg, formula="md1"), "E[S]² alone is the M/D/1 answer"),
    ("mg1_wait", functools.partial(mg, formula="sojourn"), "you added the service time"),
    ("mg1_wait", functools.partial(mg, guard=False), "return math.inf"),
    ("mg1_wait", mg_raise, "return math.inf"),
    ("mg1_wait", mg_none, "returned None"),
    ("mg1_wait", functools.partial(mg, formula="mm1"), "2 slips at once"),
    ("dynamic_batch_size", functools.partial(db, cap=False), "never send more than max_batch"),
    ("dynamic_batch_size", functools.partial(db, newest=True), "from the OLDEST queued request"),
    ("dynamic_batch_size", functools.partial(db, strict=True), "max_delay OR LONGER (>=)"),
    ("dynamic_batch_size", db_no_empty, "an empty queue sends nothing"),
    ("dynamic_batch_size", db_smallest, "send the LARGEST preferred size"),
    ("dynamic_batch_size", db_ignore_preferred, "use the preferred sizes"),
    ("dynamic_batch_size", db_float, "return one whole number"),
    ("dynamic_batch_size", db_bool, "return one whole number"),
    ("static_batch_finish", functools.partial(sb, first=True), "when it is FULL"),
    ("static_batch_finish", functools.partial(sb, serial=False), "one batch at a time"),
    ("static_batch_finish", functools.partial(sb, each=True), "in ONE run"),
    ("static_batch_finish", functools.partial(sb, full=True), "service(its own size)"),
    ("static_batch_finish", sb_full_only, "one finish time per REQUEST"),
    ("static_batch_finish", sb_per_batch, "one finish time per REQUEST"),
    ("goodput", functools.partial(gp, count=np.less), "EQUALS the SLO meets it"),
    ("goodput", gp_attainment, "not by the number of requests"),
    ("goodput", functools.partial(gp, end=np.max), "np.nanmax(finish)"),
    ("goodput", functools.partial(gp, end=lambda f: f[-1]), "np.nanmax(finish)"),
    ("goodput", functools.partial(gp, start=0.0), "not at t = 0"),
]


@pytest.mark.parametrize(
    ("task", "fn", "hint"), WRONG, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(WRONG)]
)
def test_a_wrong_answer_fails_with_its_hint(task, fn, hint):
    message = fails(task, fn)
    assert "Hint: " in message or "returned None" in message, message
    assert hint in message, message


def test_every_task_has_wrong_answers():
    assert {t for t, _, _ in WRONG} == set(TASKS)


def test_equivalent_right_answers_pass(capsys):
    right = [
        ("fifo_times", ff),
        ("fifo_times", ff_vectorised),
        ("fifo_times", lambda a, s: tuple(x.tolist() for x in ff(a, s))),  # lists are arrays
        ("mg1_wait", mg),
        ("mg1_wait", mg_cv),
        ("mg1_wait", mg_mu),
        ("dynamic_batch_size", db),
        ("dynamic_batch_size", db_sorted),
        ("dynamic_batch_size", lambda *args: np.int64(db(*args))),
        ("static_batch_finish", sb),
        ("static_batch_finish", sb_split),
        ("goodput", gp),
        ("goodput", gp_loop),
    ]
    for task, fn in right:
        check(task, fn)
    assert capsys.readouterr().out.count("✓") == len(right)


# ----------------------------------------------------------------------------- the inputs


def test_inputs_are_fresh_and_deterministic():
    for task in ch07.TASKS.values():
        first, second = task.cases(), task.cases()
        assert len(first) >= 7
        for a, b in zip(first, second, strict=True):
            assert repr(a.args) == repr(b.args) and a.kwargs == b.kwargs


def test_the_cases_cover_what_the_hints_talk_about():
    idle = queued = 0
    for case in cases("fifo_times"):
        a, s = (np.asarray(v, float) for v in case.args)
        start, finish = fifo._reference(a, s)
        idle += int(np.sum(start[1:] > finish[:-1]))  # the server waited for a request
        queued += int(np.sum(start > a))  # a request waited for the server
        assert np.all(np.diff(a) >= 0), case.note
    assert idle >= 5 and queued >= 20
    rhos = [lam * mean for lam, mean, _ in (c.args for c in cases("mg1_wait"))]
    assert any(r >= 1 for r in rhos) and any(r == 1 for r in rhos) and max(rhos) > 1
    variances = [(var, mean**2) for _, mean, var in (c.args for c in cases("mg1_wait"))]
    assert any(v == 0 for v, _ in variances) and any(v > m for v, m in variances)
    assert any(v == m for v, m in variances)
    tb = [c.args for c in cases("dynamic_batch_size")]
    assert any(len(q) == 0 for q, *_ in tb) and any(len(q) > mb for q, _, mb, _, _ in tb)
    assert any(len(q) and now - q[0] == d for q, now, _, _, d in tb)  # expires exactly now
    assert any(len(q) in p and len(q) < mb for q, _, mb, p, _ in tb)  # exactly a preferred size
    assert any(list(p) != sorted(p) for *_, p, _ in tb) and any(d == 0 for *_, d in tb)
    sbc = [c.args for c in cases("static_batch_finish")]
    assert any(len(a) % mb for a, mb, _ in sbc) and any(mb > len(a) for a, mb, _ in sbc)
    assert any(mb == 1 for _, mb, _ in sbc)
    busy = idle = 0
    for a, mb, service in sbc:
        a, finish = np.asarray(a, float), static._reference(a, mb, service)
        for lo in range(0, len(a), mb):
            hi = min(lo + mb, len(a))
            start = finish[lo] - service(hi - lo)
            busy += start > a[hi - 1] + 1e-12  # the batch waited for the server
            idle += np.isclose(start, a[hi - 1])  # ... or for its last member
    assert busy >= 5 and idle >= 5
    for case in cases("goodput"):
        a, f, slo = (np.asarray(v, float) for v in case.args)
        assert np.all(np.diff(a) >= 0), case.note
    gp_cases = [tuple(np.asarray(v, float) for v in c.args) for c in cases("goodput")]
    assert any(np.any(f - a == slo) for a, f, slo in gp_cases)
    assert any(np.isnan(f[-1]) for _, f, _ in gp_cases)
    assert any(np.nanargmax(f) != len(f) - 1 for _, f, _ in gp_cases)
    assert any(a[0] > 0 for a, _, _ in gp_cases)


def test_the_checks_never_show_the_notebooks_examples():
    for case in cases("fifo_times"):
        assert (
            list(np.asarray(case.args[0], float)) != [0.0, 0.1, 0.15, 0.9]
            or list(case.args[1]) != [0.2] * 4
        )
    for case in cases("static_batch_finish"):
        assert list(np.asarray(case.args[0], float)) != [0.0, 0.1, 0.15, 0.9, 1.0]
    for case in cases("goodput"):
        assert len(case.args[0]) != 4 or list(case.args[0]) != [0, 0.25, 0.5, 1]


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and a student's copy, once."""
    wrong = (
        "def goodput(arrival, finish, slo):\n"
        "    arrival, finish = np.asarray(arrival), np.asarray(finish)\n"
        "    return float(np.mean(finish - arrival <= slo))"
    )
    folder = tmp_path_factory.mktemp("student07")
    return grade_three(folder, ROOT, "07_batching", "goodput", wrong)


@slow
def test_grader_passes_the_solutions(graded):
    assert_solutions_pass(graded["solutions"], TASKS)


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    assert_not_attempted(graded["exercises"], len(TASKS))


@slow
def test_grader_reports_a_wrong_goodput_with_its_hint(graded):
    assert_one_failure(graded["student"], "goodput", "not by the number of requests")
