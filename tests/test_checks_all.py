"""For every chapter's exercises: the shipped solution passes every check, and every generated
stub is reported as not attempted. New chapters are picked up from solutions/ automatically."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from exercise_support import check_helpers, notebook_functions

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
CASES = [
    (name, task)
    for name in CHAPTERS
    for task in importlib.import_module(f"inferlab.checks.ch{name[:2]}").TASKS
]


def _functions(folder: str, name: str) -> dict:
    tasks = list(importlib.import_module(f"inferlab.checks.ch{name[:2]}").TASKS)
    return notebook_functions(ROOT / folder / name, tasks)


def test_every_chapter_with_solutions_is_covered():
    assert CHAPTERS, "solutions/ holds no exercise notebooks"
    assert len(CASES) >= 4 * len(CHAPTERS), "each chapter needs at least 4 graded tasks"


@pytest.mark.parametrize(("name", "task"), CASES)
def test_the_shipped_solution_passes(name, task, capsys):
    check, _ = check_helpers(importlib.import_module(f"inferlab.checks.ch{name[:2]}"))
    solution = _functions("solutions", name)[task]
    capsys.readouterr()  # what the notebook's setup cells printed
    check(task, solution)
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"✓ {task}: correct on \d+ fresh inputs, including .+", line), line


@pytest.mark.parametrize(("name", "task"), CASES)
def test_the_generated_stub_is_not_attempted(name, task):
    _, fails = check_helpers(importlib.import_module(f"inferlab.checks.ch{name[:2]}"))
    message = fails(task, _functions("exercises", name)[task])
    assert "not attempted yet: replace `raise NotImplementedError()` with your code" in message
