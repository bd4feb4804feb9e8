"""Turning the outcomes of a check into one message with a hint.

:func:`inferlab.checks.core.run` reports the first failure in order of :data:`_PRIORITY` (no
result at all, then a crash, a wrong shape, nan/inf, wrong values): an exception becomes its name,
message and the line of the student's code (:func:`_exception_message`); a wrong answer becomes
expected vs got plus the hint of the known :class:`~inferlab.checks.task.Mistake` that reproduces
it, the task's own diagnosis, or a generic hint (:func:`_wrong_answer_message`).
:func:`fails_only_on` and :func:`first_failure` help chapters write their diagnoses.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np

from inferlab.checks.task import Mistake, Outcome, Task, as_array, call, close, describe_inputs

NOT_ATTEMPTED = "not attempted yet: replace `raise NotImplementedError()` with your code"

_PACKAGE = Path(__file__).resolve().parent.parent
_CORE = Path(__file__).with_name("core.py")  # where the student's function is called


# The failure a message reports: no result at all, then a crash, a wrong shape, nan/inf, values.
_PRIORITY = {
    p: i
    for i, p in enumerate(
        ["library", "forbidden", "none", "type", "mutated", "exception", "shape", "nonfinite"]
    )
}


def _priority(outcome: Outcome) -> int:
    return _PRIORITY.get(outcome.problem or "", len(_PRIORITY))


def first_failure(outcomes: list[Outcome]) -> Outcome | None:
    """The failing outcome a check's message is about (None if all passed)."""
    failures = sorted((o for o in outcomes if not o.ok), key=_priority)
    return failures[0] if failures else None


# ----------------------------------------------------------------------------------- messages


def _exception_message(task: Task, first: Outcome, outcomes: list[Outcome]) -> str:
    error = first.error
    assert error is not None
    where = _student_line(error)
    message = (
        f"{task.name} raised {type(error).__name__}: {error}\n"
        f"  when called with {describe_inputs(task, first.case)}{where}."
    )
    passed = sum(o.ok for o in outcomes)
    if passed:
        message += f"\n  (It worked on {passed} of the {len(outcomes)} inputs.)"
    hint = None
    if task.diagnose is not None:
        hint = task.diagnose(outcomes)
    if hint is None and task.on_exception is not None:
        hint = task.on_exception(first)
    if hint is None:
        hint = generic_exception_hint(error)
    return message + (f"\nHint: {hint}" if hint else "")


def generic_exception_hint(error: BaseException) -> str | None:
    """Hints for the exceptions NumPy beginners meet most."""
    text = str(error)
    if isinstance(error, ValueError) and "could not be broadcast" in text:
        return (
            "two arrays you combine have incompatible shapes. A reduction such as "
            "`x.max(axis=...)` drops that axis: pass `keepdims=True` so it broadcasts back."
        )
    if isinstance(error, ValueError) and "matmul" in text and "mismatch" in text:
        return "the inner dimensions of a matrix product differ: print the shapes you multiply."
    if isinstance(error, TypeError) and ("argument" in text or "positional" in text):
        return "keep the function's signature exactly as given in the task (names and defaults)."
    if isinstance(error, IndexError):
        return "an index ran past the end of an axis: check your loop bounds and slices."
    return None


def _student_line(error: BaseException) -> str:
    """``, at line 7 of matmul_tiled: `c[i, j] += ...``` — the last frame in the student's code."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        path = Path(frame.filename)
        if "site-packages" in path.parts or _PACKAGE in path.parents or path == _CORE:
            continue
        line = (frame.line or "").strip()
        return f", at line {frame.lineno} of {frame.name}" + (f": `{line}`" if line else "")
    return ""


def _wrong_answer_message(
    task: Task, first: Outcome, failures: list[Outcome], outcomes: list[Outcome]
) -> str:
    case = first.case
    inputs = describe_inputs(task, case)
    if first.problem == "mutated":
        hint = task.mutation_hint or (
            f"the caller's array must stay unchanged: write `{first.detail} = "
            f"{first.detail} - m` rather than `{first.detail} -= m`, or work on a copy."
        )
        return (
            f"{task.name} changed its input `{first.detail}` in place (called with {inputs}).\n"
            f"Hint: {hint}"
        )
    if first.problem == "library":
        bench = first.detail.startswith("inferlab.bench")
        return (
            f"{task.name} calls `{first.detail}` (called with {inputs}).\n"
            f"Hint: write it yourself{'' if bench else ' in NumPy'}: the check compares with "
            f"{'inferlab.bench' if bench else 'inferlab.ops'}, so calling the library would test "
            "the library, not your code."
        )
    if first.problem == "forbidden":
        hint = task.forbidden_hint or "this task asks you to write that computation yourself."
        return f"{task.name} calls `{first.detail}` (called with {inputs}).\nHint: {hint}"
    if first.problem == "none":
        return (
            f"{task.name} returned None (called with {inputs}).\n"
            "Hint: did you forget the `return` statement?"
        )
    if first.problem == "type" and first.error is not None:  # task.encode refused the result
        return (
            f"{task.name} returned {_article(first.detail)} {first.detail} that is not what the "
            f"task asks for (called with {inputs}).\nHint: {first.error}"
        )
    if first.problem == "type":
        return (
            f"{task.name} returned a {first.detail}, not a numeric array (called with {inputs}).\n"
            "Hint: return a NumPy array of numbers."
        )

    assert first.got is not None
    symptom = (task.symptom(first) if task.symptom is not None else None) or _symptom(first)
    message = f"{task.name} is wrong for {inputs}:\n  {symptom}."
    passed = sum(o.ok for o in outcomes)
    if passed:
        message += f"\n  (It is right on {passed} of the {len(outcomes)} inputs.)"

    hint = matching_mistake(task, failures)
    if hint is None and task.diagnose is not None:
        hint = task.diagnose(outcomes)
    if hint is None and first.problem == "shape":
        hint = task.shape_hint
    if hint is None:
        hint = _precision_hint(first) or _zeros_hint(first) or task.fallback_hint
    return message + (f"\nHint: {hint}" if hint else "")


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def _symptom(first: Outcome) -> str:
    """What is wrong with a result: its shape, nan/inf where the answer is finite, or values."""
    assert first.got is not None
    if first.problem == "shape":
        return f"expected output shape {first.expected.shape}, got {first.got.shape}"
    if first.problem == "nonfinite":
        bad = np.isfinite(first.expected) & ~np.isfinite(first.got)
        return f"got nan/inf at {int(bad.sum())} of {bad.size} positions where the answer is finite"
    return _value_symptom(first.got, first.expected)


def _value_symptom(got: np.ndarray, expected: np.ndarray) -> str:
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    err = np.where(np.isnan(err), np.inf, err)
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    index = tuple(int(i) for i in idx)
    e, g, worst = float(expected[idx]), float(got[idx]), float(err[idx])
    # enough digits for the two numbers to differ on screen
    digits = 6
    if np.isfinite(worst) and worst > 0 and e != 0:
        digits = int(min(17, max(6, np.ceil(np.log10(abs(e) / worst)) + 2)))
    return (
        f"largest error {worst:.3g} at index {index}: expected {e:.{digits}g}, got {g:.{digits}g}"
    )


def matching_mistake(task: Task, failures: list[Outcome]) -> str | None:
    """The hint of the first known mistake that reproduces the student's output on every failing
    case where the student returned an array."""
    with_output = [o for o in failures if o.got is not None]
    if not with_output:
        return None
    for mistake in task.mistakes:
        if all(_reproduces(task, mistake, o) for o in with_output):
            return mistake.hint
    return None


def _reproduces(task: Task, mistake: Mistake, outcome: Outcome) -> bool:
    try:
        wrong = as_array(task, call(mistake.fn, outcome.case))
    except Exception:
        return False
    assert outcome.got is not None
    return close(outcome.got, wrong, outcome.case)


def _precision_hint(first: Outcome) -> str | None:
    """A float64 input answered in float32: right to float32 precision, wrong beyond it."""
    got, expected = first.got, first.expected
    if got is None or first.problem != "values":
        return None
    if got.dtype.kind == "f" and expected.dtype.kind == "f":
        if got.dtype.itemsize < expected.dtype.itemsize and np.allclose(
            got, expected, rtol=1e-4, atol=1e-5
        ):
            return (
                f"your result is {got.dtype} but the inputs are {expected.dtype}: keep the "
                "input's precision (e.g. allocate with `dtype=x.dtype`, or np.result_type(a, b))."
            )
    return None


def _zeros_hint(first: Outcome) -> str | None:
    got = first.got
    if got is not None and got.size and not np.any(got) and np.any(first.expected):
        return (
            "your result is all zeros: is the output array allocated but never filled "
            "(a loop that never runs, or a result computed and not stored)?"
        )
    return None


# ----------------------------------------------------------------------------------- diagnoses


def fails_only_on(outcomes: list[Outcome], tag: str) -> bool:
    """True when every failing case carries ``tag`` and at least one case without it passed."""
    failing = [o for o in outcomes if not o.ok]
    others = [o for o in outcomes if tag not in o.case.tags]
    return bool(failing) and all(tag in o.case.tags for o in failing) and any(o.ok for o in others)
