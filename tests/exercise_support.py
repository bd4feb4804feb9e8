"""Helpers shared by the exercise-check tests (tests/test_checks_chNN.py)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import nbformat
import pytest

from inferlab.authoring import committed_bytes
from inferlab.checks.slips import known_slips
from inferlab.errors import CheckFailed


def shipped_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook as committed in git when it is (a student's answers in the working copy are
    not what the course ships), else the working file."""
    stored = committed_bytes(path)
    return nbformat.reads((stored or path.read_bytes()).decode(), as_version=4)


def notebook_functions(path: Path, tasks: list[str]) -> dict:
    """Exec the setup cell and the cells defining the graded functions; return the namespace.

    The notebook as stored in git when it is committed (a student's answers in the working copy
    are not the shipped stubs), else the working file.
    """
    nb = shipped_notebook(path)
    names = [
        c.metadata["inferlab"]["function"]
        for c in nb.cells
        if "check" in c.metadata.get("tags", [])
    ]
    assert names == tasks, f"{path}: check cells for {names}, expected {tasks}"
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "check" in cell.metadata.get("tags", []):
            continue
        defines = any(re.search(rf"^def {name}\(", cell.source, re.M) for name in names)
        if cell.metadata.get("tags") is None and (defines or "import numpy" in cell.source):
            exec(compile(cell.source, f"{path.name}:{cell.id}", "exec"), namespace)
    missing = [n for n in names if n not in namespace]
    assert not missing, f"{path} defines no {missing}"
    return namespace


def check_helpers(checks_module):
    """``check(task, fn)`` and ``fails(task, fn) -> hint`` for one chapter's checks module."""

    def check(task: str, fn) -> None:
        getattr(checks_module, f"check_{task}")(fn)

    def fails(task: str, fn) -> str:
        with pytest.raises(CheckFailed) as info:
            check(task, fn)
        return str(info.value)

    return check, fails


def grade_three(folder: Path, root: Path, stem: str, function: str, wrong_source: str) -> dict:
    """Grade a chapter's shipped solutions, its generated exercises and a student's copy of the
    exercises whose ``function`` cell was replaced by ``wrong_source``: {"solutions": Result,
    "exercises": Result, "student": Result}. The shipped files are never written."""
    from inferlab.grading import grade

    exercise = shipped_notebook(root / "exercises" / f"{stem}.ipynb")
    pristine = folder / "pristine" / f"{stem}.ipynb"
    pristine.parent.mkdir()
    nbformat.write(exercise, pristine)
    student = folder / f"{stem}.ipynb"
    (cell,) = [c for c in exercise.cells if c.source.startswith(f"def {function}(")]
    cell.source = wrong_source
    nbformat.write(exercise, student)
    paths = {"solutions": root / "solutions" / f"{stem}.ipynb", "exercises": pristine}
    paths["student"] = student
    return {k: grade(p, out=None) for k, p in paths.items()}


def assert_solutions_pass(result, tasks: list[str]) -> None:
    assert [t.task for t in result.tasks] == tasks
    assert [t.status for t in result.tasks] == ["PASS"] * len(tasks), result.report()
    assert f"{len(tasks)}/{len(tasks)} tasks pass" in result.report()


def assert_not_attempted(result, n_tasks: int) -> None:
    assert [t.status for t in result.tasks] == ["NOT ATTEMPTED"] * n_tasks, result.report()
    assert f"0/{n_tasks} tasks pass" in result.report()


def assert_one_failure(result, function: str, hint: str) -> None:
    statuses = {t.task: t.status for t in result.tasks}
    assert statuses[function] == "FAIL", result.report()
    assert {s for t, s in statuses.items() if t != function} == {"NOT ATTEMPTED"}
    assert hint in result.report()


def slip_tests(modules: dict, check, fails, two_slips=()) -> dict:
    """The slip tests every chapter's checks must pass (chapters 04 on), as test functions for
    the calling module to bind: ``globals().update(slip_tests(MODULES, check, fails, TWO))``.

    - every wrong option of every ``_SLIPS`` switch of a task's ``_student`` fails the check,
      and the message carries that slip's hint;
    - with every switch left at its right value, ``_student`` passes (the switches are honest);
    - each ``(task, {switch: value, ...})`` of ``two_slips`` fails naming both slips.
    """
    slips = known_slips(modules)

    @pytest.mark.parametrize(
        ("task", "switch", "value", "hint"), slips, ids=[f"{t}-{s}={v}" for t, s, v, _ in slips]
    )
    def test_every_known_slip_fails_with_its_hint(task, switch, value, hint):
        message = fails(task, functools.partial(modules[task]._student, **{switch: value}))
        assert f"Hint: {hint}" in message, message

    def test_the_slip_switches_are_right_when_left_alone(capsys):
        for task, module in modules.items():
            check(task, functools.partial(module._student))
        assert capsys.readouterr().out.count("✓") == len(modules)

    tests = {
        "test_every_known_slip_fails_with_its_hint": test_every_known_slip_fails_with_its_hint,
        "test_the_slip_switches_are_right_when_left_alone": (
            test_the_slip_switches_are_right_when_left_alone
        ),
    }
    if two_slips:

        @pytest.mark.parametrize(
            ("task", "switches"), two_slips, ids=[f"{t}-{i}" for i, (t, _) in enumerate(two_slips)]
        )
        def test_two_slips_at_once_are_named_both(task, switches):
            module = modules[task]
            message = fails(task, functools.partial(module._student, **switches))
            assert "your answer has 2 slips at once" in message, message
            for switch, value in switches.items():
                (hint,) = [h for v, h in module._SLIPS[switch] if v == value]
                assert hint in message, (switch, message)

        tests["test_two_slips_at_once_are_named_both"] = test_two_slips_at_once_are_named_both
    return tests
