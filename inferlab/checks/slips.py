"""Slips: a student's function with a switch per known mistake, turned into the checks'
:class:`~inferlab.checks.core.Mistake` list, and the search for two or three slips at once.

A task module writes ``_student(args..., *, rounding="right", zero_point="after", ...)`` and a
``_SLIPS`` table ``{switch: [(right value, None), (wrong value, hint), ...]}``:
:func:`mistakes` gives one Mistake per wrong value, :func:`several_slips` names the fewest wrong
switches that reproduce every wrong answer at once. :func:`kind` and :func:`is_number` describe
what a student returned, for messages.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from numbers import Real

import numpy as np

from inferlab.checks.core import Mistake, Outcome, Task, as_array, call, close


def kind(value) -> str:
    """``float 0.5``, ``str 'memory'``, ``tuple``: what a student returned, for a message."""
    text = repr(value)
    return type(value).__name__ + (f" {text}" if len(text) <= 24 else "")


def is_number(value) -> bool:
    return (
        not isinstance(value, bool | np.bool_)
        and isinstance(value, Real | np.number)
        and np.ndim(value) == 0
    )


def mistakes(student: Callable, slips: dict[str, list[tuple]]) -> tuple[Mistake, ...]:
    """One :class:`Mistake` per wrong option of each switch of ``student``.

    slips: ``{switch: [(right value, None), (wrong value, hint), ...]}``, the right one first.
    """
    return tuple(
        Mistake(functools.partial(student, **{name: value}), hint)
        for name, options in slips.items()
        for value, hint in options[1:]
    )


def known_slips(modules: dict) -> list[tuple]:
    """Every wrong option of every task's ``_SLIPS`` switches, as ``(task, switch, value,
    hint)`` rows: what the tests parametrize over to prove each check fails with its hint.

    modules: ``{task name: check module}``, each module with ``_student`` and ``_SLIPS``.
    """
    return [
        (task, switch, value, hint)
        for task, module in modules.items()
        for switch, options in module._SLIPS.items()
        for value, hint in options[1:]
    ]


def _reproduces(task: Task, fn: Callable, o: Outcome) -> bool:
    try:
        wrong = as_array(task, call(fn, o.case))
    except Exception:
        return False
    assert o.got is not None
    return close(o.got, wrong, o.case)


def several_slips(
    task: Task, student: Callable, slips: dict[str, list[tuple]], outcomes: list[Outcome]
) -> str | None:
    """The hints of the fewest slips (two or three at once) that reproduce every wrong answer,
    or None. Single slips are the task's :class:`Mistake` list, tried before this."""
    failing = [o for o in outcomes if not o.ok]
    if not failing or any(o.got is None for o in failing):
        return None
    names = list(slips)
    combos = [
        choice
        for choice in itertools.product(*(range(len(slips[n])) for n in names))
        if 2 <= sum(c > 0 for c in choice) <= 3
    ]
    combos.sort(key=lambda choice: sum(c > 0 for c in choice))
    for choice in combos:
        kwargs = {n: slips[n][c][0] for n, c in zip(names, choice, strict=True)}
        fn = functools.partial(student, **kwargs)
        if all(_reproduces(task, fn, o) for o in failing):
            hints = [slips[n][c][1] for n, c in zip(names, choice, strict=True) if c]
            listed = " ".join(f"({i}) {h}" for i, h in enumerate(hints, start=1))
            return f"your answer has {len(hints)} slips at once: {listed}"
    return None
