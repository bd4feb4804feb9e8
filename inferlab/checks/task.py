"""What an exercise check is made of, and how it compares results.

:class:`Task` describes one exercise task: its fresh :class:`Case` inputs, the reference that
computes the right answer, the known wrong answers (:class:`Mistake`) and optional hooks. Running
the student's function on one case gives an :class:`Outcome`. The helpers below describe inputs
for messages (:func:`describe_inputs`), compare results within a dtype-aware tolerance
(:func:`close`) and call a function on private copies of a case (:func:`call`).

Running a check is in :mod:`inferlab.checks.core`, turning outcomes into hints in
:mod:`inferlab.checks.diagnose`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Case:
    """One call of the student's function: ``fn(*args, **kwargs)``.

    ``note`` says what the case covers (shown in messages); ``tags`` let a diagnosis group cases
    (e.g. ``"remainder"`` for sizes not divisible by the tile).
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    note: str = ""
    tags: frozenset = frozenset()


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: ``fn`` computes it (same signature as the task's function),
    ``hint`` explains it."""

    fn: Callable[..., Any]
    hint: str


@dataclass(eq=False)
class Outcome:
    """What happened on one case. ``problem`` is None when the answer is right."""

    case: Case
    expected: np.ndarray
    got: np.ndarray | None = None
    error: BaseException | None = None
    # "exception" | "library" | "forbidden" | "none" | "type" | "mutated" | "shape" |
    # "nonfinite" | "values"
    problem: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Task:
    """Everything a check needs to know about one exercise task."""

    name: str  # the function's name in the notebook, e.g. "softmax"
    arg_names: tuple[str, ...]  # names of the positional arguments, for messages
    reference: Callable[..., Any]  # the right answer (calls inferlab.ops)
    cases: Callable[[], Sequence[Case]]  # builds the fresh inputs (seeded)
    covers: str  # for the success line: "including ..."
    mistakes: tuple[Mistake, ...] = ()
    diagnose: Callable[[list[Outcome]], str | None] | None = None
    on_exception: Callable[[Outcome], str | None] | None = None
    shape_hint: str = ""  # added to a wrong-shape message when no mistake matched
    fallback_hint: str = ""  # added to a wrong-values message when nothing else explains it
    # Library functions the task asks students not to call (np.percentile in a percentile task);
    # calling one fails with ``forbidden_hint``.
    forbidden: tuple[Callable[..., Any], ...] = ()
    forbidden_hint: str = ""
    # A result that is not one array (a tuple such as ``(throughput, batch)``) as one array to
    # compare, for the reference, the student and the mistakes alike; raises TypeError or
    # ValueError whose message says what to return.
    encode: Callable[[Any], np.ndarray] | None = None
    # Says what is wrong with a wrong result better than "largest error at index ..." (None: the
    # generic description).
    symptom: Callable[[Outcome], str | None] | None = None
    mutation_hint: str = ""  # replaces the generic advice when an input was changed in place


# ----------------------------------------------------------------------------------- describing


def describe_value(x: Any) -> str:
    """``(4, 7) float64`` for arrays, ``repr`` for small scalars."""
    if isinstance(x, np.ndarray):
        return f"{tuple(x.shape)} {x.dtype}"
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_inputs(task: Task, case: Case) -> str:
    """``x: (4, 7) float64, axis=0`` — what the check passed to the student's function."""
    parts = []
    for i, value in enumerate(case.args):
        name = task.arg_names[i] if i < len(task.arg_names) else f"arg{i}"
        if isinstance(value, np.ndarray):
            parts.append(f"{name}: {describe_value(value)}")
        else:
            parts.append(f"{name}={describe_value(value)}")
    parts += [f"{k}={describe_value(v)}" for k, v in case.kwargs.items()]
    text = ", ".join(parts)
    return f"{text} ({case.note})" if case.note else text


def tolerance(case: Case) -> tuple[float, float]:
    """(rtol, atol) for comparing results: loose enough for float rounding, tight for real bugs."""
    dtypes = [a.dtype for a in _arrays(case) if a.dtype.kind == "f"]
    if any(d.itemsize <= 2 for d in dtypes):
        return 1e-2, 1e-3
    if any(d.itemsize <= 4 for d in dtypes):
        return 1e-4, 1e-5
    return 1e-6, 1e-8


def _arrays(case: Case) -> list[np.ndarray]:
    return [a for a in (*case.args, *case.kwargs.values()) if isinstance(a, np.ndarray)]


def close(a: np.ndarray, b: np.ndarray, case: Case) -> bool:
    """Same shape and equal within the case's tolerance (nan matches nan)."""
    rtol, atol = tolerance(case)
    if a.shape != b.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


# ----------------------------------------------------------------------------------- calling


def call(fn: Callable[..., Any], case: Case) -> Any:
    """``fn(*args, **kwargs)`` on private copies, with NumPy's overflow warnings silenced
    (the check explains nan/inf itself)."""
    __tracebackhide__ = True
    args = copy.deepcopy(case.args)
    kwargs = copy.deepcopy(case.kwargs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def as_array(task: Task, result: Any) -> np.ndarray:
    """A function's result as the array the check compares (``task.encode`` for tuples)."""
    return task.encode(result) if task.encode is not None else np.asarray(result)
