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
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.errors import CheckFailed

NOT_ATTEMPTED = "not attempted yet: replace `raise NotImplementedError()` with your code"

_HERE = Path(__file__).resolve().parent
_PACKAGE = _HERE.parent


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


# ----------------------------------------------------------------------------------- running


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
        if "site-packages" in path.parts or _PACKAGE in path.parents or path == Path(__file__):
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
