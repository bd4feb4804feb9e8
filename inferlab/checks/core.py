"""The machinery every exercise check shares.

A check calls the student's function on fresh inputs (cases the notebook never showed), compares
each result with the reference (``inferlab.ops``), and on the first problem raises
:class:`~inferlab.errors.CheckFailed` whose message is a hint diagnosed from the symptoms:

1. ``NotImplementedError`` (the generated stub)          -> "not attempted yet ..."
2. another exception from the student's code            -> its name, message, line and the inputs
3. the student's output equals a known wrong answer     -> that mistake's hint (:class:`Mistake`)
4. a task-specific diagnosis of all outcomes             -> e.g. "fails only when sizes are not
                                                            divisible by the tile"
5. otherwise                                             -> expected vs got (shape, nan/inf, values)

A chapter's checks package (``ch01/``, one module per task) only lists its cases, mistakes and
diagnoses. Optional hooks of :class:`Task` cover what chapter 01 did not need: results that are a
tuple (``encode``, ``symptom``), library functions a task rules out (``forbidden``, e.g.
``np.percentile`` in a task that asks for a percentile) and a task-specific ``mutation_hint``.

This module runs the checks (:func:`run`, with the watch for library and forbidden calls); the
data a check is made of is in :mod:`inferlab.checks.task` and the messages and hints in
:mod:`inferlab.checks.diagnose`. Every public name of both is importable from here as well.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.checks.diagnose import (
    NOT_ATTEMPTED,
    _exception_message,
    _priority,
    _wrong_answer_message,
    fails_only_on,
    first_failure,
    generic_exception_hint,
    matching_mistake,
)
from inferlab.checks.task import (
    Case,
    Mistake,
    Outcome,
    Task,
    as_array,
    call,
    close,
    describe_inputs,
    describe_value,
    tolerance,
)
from inferlab.errors import CheckFailed

__all__ = [
    "NOT_ATTEMPTED",
    "Case",
    "Mistake",
    "Outcome",
    "Task",
    "as_array",
    "call",
    "close",
    "describe_inputs",
    "describe_value",
    "fails_only_on",
    "first_failure",
    "generic_exception_hint",
    "matching_mistake",
    "run",
    "tolerance",
]

_HERE = Path(__file__).resolve().parent
_PACKAGE = _HERE.parent


# ----------------------------------------------------------------------------------- running


def _run_case(task: Task, fn: Callable[..., Any], case: Case) -> Outcome:
    __tracebackhide__ = True
    expected = as_array(task, call(task.reference, case))
    originals = copy.deepcopy((case.args, case.kwargs))
    args, kwargs = copy.deepcopy(originals)
    watch = _library_watch(task.forbidden)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), watch as used:
            warnings.simplefilter("ignore", RuntimeWarning)
            result = fn(*args, **kwargs)
    except NotImplementedError as e:
        return Outcome(case, expected, error=e, problem="not attempted")
    except Exception as e:  # the student's code raised: report it, never crash the check
        return Outcome(case, expected, error=e, problem="exception")
    if used:
        kind, name = used[0]
        return Outcome(case, expected, problem=kind, detail=name)

    for i, (before, after) in enumerate(zip(originals[0], args, strict=True)):
        if isinstance(before, np.ndarray) and not _same(before, after):
            name = task.arg_names[i] if i < len(task.arg_names) else f"arg{i}"
            return Outcome(case, expected, problem="mutated", detail=name)

    if result is None:
        return Outcome(case, expected, problem="none")
    if task.encode is not None:
        try:
            got = task.encode(result)
        except (TypeError, ValueError) as e:  # not the structure the task asks for
            return Outcome(case, expected, error=e, problem="type", detail=type(result).__name__)
    else:
        try:
            got = np.asarray(result)
        except Exception:
            got = None
        if got is None or got.dtype.kind not in "fiub":
            return Outcome(case, expected, problem="type", detail=type(result).__name__)

    outcome = Outcome(case, expected, got=got)
    if got.shape != expected.shape:
        outcome.problem = "shape"
    elif np.any(np.isfinite(expected) & ~np.isfinite(got)):
        outcome.problem = "nonfinite"
    elif not close(got, expected, case):
        outcome.problem = "values"
    return outcome


def _public_name(fn: Any) -> str:
    """``numpy.percentile`` for np.percentile: how a student wrote the call."""
    return f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__name__', '?')}"


def _forbidden_codes(forbidden: Sequence[Callable[..., Any]]) -> tuple[dict, dict]:
    """({code object: name}, {id of a C function: name}) to recognise calls of ``forbidden``."""
    codes, builtins = {}, {}
    for fn in forbidden:
        impl = inspect.unwrap(getattr(fn, "_implementation", None) or fn)  # NumPy dispatchers
        code = getattr(impl, "__code__", None)
        if code is not None:
            codes[code] = _public_name(fn)
        else:
            builtins[id(fn)] = _public_name(fn)
    return codes, builtins


@contextlib.contextmanager
def _library_watch(forbidden: Sequence[Callable[..., Any]] = ()):
    """Notice when the student's function calls the reference (inferlab.ops, inferlab.bench) or
    torch, where the check would then test the library instead of the student, or a function the
    task rules out. Yields the list of such calls as ``("library" | "forbidden", name)``."""
    used: list[tuple[str, str]] = []
    roots = [_PACKAGE / "ops", _PACKAGE / "bench"]
    torch = sys.modules.get("torch")
    if getattr(torch, "__file__", None):
        roots.append(Path(torch.__file__).parent)
    prefixes = tuple(str(r) + os.sep for r in roots)
    codes, builtins = _forbidden_codes(forbidden)
    if sys.getprofile() is not None:  # a profiler is running: don't get in its way
        yield used
        return

    def profile(frame, event, arg):
        if used:
            return
        if event == "call" and frame.f_code in codes:
            used.append(("forbidden", codes[frame.f_code]))
        elif event == "call" and frame.f_code.co_filename.startswith(prefixes):
            name = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"
            used.append(("library", name))
        elif event == "c_call" and id(arg) in builtins:
            used.append(("forbidden", builtins[id(arg)]))
        elif event == "c_call" and (getattr(arg, "__module__", None) or "").startswith("torch"):
            used.append(("library", f"torch.{getattr(arg, '__name__', '?')}"))

    sys.setprofile(profile)
    try:
        yield used
    finally:
        sys.setprofile(None)


def _same(a: np.ndarray, b: Any) -> bool:
    return (
        isinstance(b, np.ndarray)
        and a.shape == b.shape
        and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    )


def run(task: Task, fn: Any, *, verbose: bool = True) -> int:
    """Check ``fn`` against ``task``: print one line and return the number of cases on success,
    raise :class:`CheckFailed` with a hint otherwise."""
    __tracebackhide__ = True
    _check_callable(task, fn)
    cases = list(task.cases())
    outcomes = [_run_case(task, fn, case) for case in cases]

    stubbed = [o for o in outcomes if o.problem == "not attempted"]
    if len(stubbed) == len(outcomes):  # the generated stub (or a stub of the student's)
        raise CheckFailed(f"{task.name}: {NOT_ATTEMPTED}.")
    for o in stubbed:  # NotImplementedError for some inputs only: a crash like any other
        o.problem = "exception"
    failures = [o for o in outcomes if not o.ok]
    if not failures:
        if verbose:
            print(f"✓ {task.name}: correct on {len(cases)} fresh inputs, including {task.covers}")
        return len(cases)

    failures.sort(key=_priority)
    first = failures[0]
    if first.problem == "exception":
        raise CheckFailed(_exception_message(task, first, outcomes)) from first.error
    raise CheckFailed(_wrong_answer_message(task, first, failures, outcomes))


def _check_callable(task: Task, fn: Any) -> None:
    if fn is None or not callable(fn):
        raise CheckFailed(
            f"check_{task.name} needs your function, e.g. `check_{task.name}({task.name})`; "
            f"got {describe_value(fn)}."
        )
    module = getattr(fn, "__module__", None) or ""
    if module.split(".")[0] in {"inferlab", "torch"}:
        raise CheckFailed(
            f"check_{task.name} was given `{module}.{getattr(fn, '__name__', '?')}`, a library "
            f"function: the check needs your own `{task.name}` (define it in the cell above)."
        )
