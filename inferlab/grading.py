"""Grade a student's exercise notebook from the shell: ``python -m inferlab check NOTEBOOK``.

The grader reads the notebook, runs a COPY of it in memory (a fresh ``python3`` kernel started in
the notebook's folder; nothing is ever written to the notebook or its folder) and reports, task by
task:

- ``PASS``           the task's check cell ran without error (and a re-check at the end agreed);
- ``FAIL``           the check raised ``CheckFailed``: its message is the hint;
- ``NOT ATTEMPTED``  the function is still the generated stub;
- ``ERROR``          the check could not run (an earlier cell raised, a name is missing, ...);
- ``CHECK EDITED`` / ``CHECK MISSING``  the check cell was changed or deleted: it cannot pass.

Check cells are found by their metadata (tag ``check`` and ``metadata.inferlab.task``, set in
``solutions/`` and kept by the generator), or failing that by their exact source; their expected
source comes from the solutions notebook. After the last cell the grader re-runs every check from
freshly reloaded check modules, so a check cell cannot be fooled by redefining the check.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from inferlab.authoring import make_exercise, read_notebook
from inferlab.checks.core import NOT_ATTEMPTED
from inferlab.errors import NotebookError

CHECK_TAG = "check"
PASS, FAIL, NOT_RUN, ERROR = "PASS", "FAIL", "NOT ATTEMPTED", "ERROR"
EDITED, MISSING = "CHECK EDITED", "CHECK MISSING"


@dataclass(frozen=True)
class CheckSpec:
    """One graded task, as the solutions notebook defines it."""

    task: str  # "softmax"
    function: str  # the student's function name in the notebook
    check: str  # dotted path of the check, "inferlab.checks.ch01.check_softmax"
    source: str  # the check cell's source, "ch01.check_softmax(softmax)"


@dataclass
class TaskResult:
    task: str
    status: str
    message: str = ""
    cell: int | None = None  # 1-based index of the check cell in the student's notebook

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass
class GradeResult:
    notebook: Path
    tasks: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""  # a notebook-wide problem (kernel died, ...)

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tasks)

    @property
    def total(self) -> int:
        return len(self.tasks)

    @property
    def all_passed(self) -> bool:
        return bool(self.tasks) and self.passed == self.total

    def status(self, task: str) -> str:
        return next(t.status for t in self.tasks if t.task == task)

    def report(self) -> str:
        """The per-task table, the messages, and the total."""
        width = max([len(t.task) for t in self.tasks] + [4])
        lines = [f"{self.notebook} (ran in {self.seconds:.1f} s)", ""]
        lines.append(f"  #  {'task':<{width}}  result")
        for i, t in enumerate(self.tasks, start=1):
            lines.append(f"  {i:<2} {t.task:<{width}}  {t.status}")
        details = [t for t in self.tasks if t.message and t.status not in (PASS, NOT_RUN)]
        todo = [t.task for t in self.tasks if t.status == NOT_RUN]
        if todo:
            lines += [
                "",
                f"{NOT_RUN}: replace `raise NotImplementedError()` with your code in "
                + ", ".join(todo)
                + ".",
            ]
        if self.problem:
            lines += ["", self.problem]
        for t in details:
            where = f" (cell {t.cell})" if t.cell else ""
            lines += ["", f"{t.task}{where}, {t.status}:"]
            lines += ["    " + line for line in t.message.split("\n")]
        lines += ["", f"{self.passed}/{self.total} tasks pass"]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------- check cells


def check_specs(solutions: Path) -> list[CheckSpec]:
    """The graded tasks of a solutions notebook, from its check cells (as the student sees them)."""
    nb = make_exercise(read_notebook(solutions), Path(solutions).name)
    specs = []
    for cell in nb.cells:
        meta = cell.metadata.get("inferlab", {})
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []) and meta:
            try:
                specs.append(CheckSpec(meta["task"], meta["function"], meta["check"], cell.source))
            except KeyError as e:
                raise NotebookError(
                    f"{solutions}: check cell `{cell.source.strip()}` lacks metadata.inferlab.{e}"
                ) from None
    if not specs:
        raise NotebookError(f"{solutions} has no check cells (tag `{CHECK_TAG}`)")
    return specs


def find_solutions(notebook: Path, nb: nbformat.NotebookNode) -> Path:
    """The solutions notebook a student notebook was generated from."""
    name = nb.metadata.get("inferlab", {}).get("exercise")
    names = [f"{name}.ipynb"] if name else []
    names.append(notebook.name)
    roots = [notebook.resolve().parent.parent, Path.cwd(), Path(__file__).resolve().parents[1]]
    for root in roots:
        for candidate_name in names:
            candidate = root / "solutions" / candidate_name
            if candidate.is_file():
                return candidate
    raise NotebookError(
        f"can't find the solutions notebook for {notebook} (looked for solutions/"
        f"{names[0]}); pass it with --solutions"
    )


def _normalise(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines() if line.strip())


def _first_line(cell) -> str:
    text = cell.source.strip().split("\n", 1)[0]
    return text if len(text) <= 60 else text[:57] + "..."


def _locate(nb: nbformat.NotebookNode, spec: CheckSpec) -> tuple[int | None, bool]:
    """(index of the task's check cell or None, whether its source is unchanged)."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, cell in code:
        if cell.metadata.get("inferlab", {}).get("task") == spec.task:
            return i, _normalise(cell.source) == _normalise(spec.source)
    for i, cell in code:
        if _normalise(cell.source) == _normalise(spec.source):
            return i, True
    return None, False


# ----------------------------------------------------------------------------------- running

_VERIFY = """\
def __inferlab_verify(specs):
    import contextlib, importlib, io, sys
    results = {}
    modules = {}
    for name in ("task", "diagnose", "core"):  # the shared check modules, dependencies first
        importlib.reload(importlib.import_module("inferlab.checks." + name))
    for task, function, check in specs:
        module_name, check_name = check.rsplit(".", 1)
        try:
            if module_name not in modules:
                modules[module_name] = importlib.reload(importlib.import_module(module_name))
            fn = globals().get(function)
            with contextlib.redirect_stdout(io.StringIO()):
                getattr(modules[module_name], check_name)(fn)
            results[task] = ["pass", ""]
        except Exception as e:
            results[task] = [type(e).__name__, str(e)]
    return results
print(__MARKER__ + __import__("json").dumps(__inferlab_verify(__SPECS__)))
"""


_QUIET = logging.getLogger("inferlab.grading.kernel")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _execute(nb: nbformat.NotebookNode, folder: Path, timeout: int, kernel_name: str):
    """Run ``nb`` (a copy) and return (replies by cell index, started cell index, problem)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    replies: dict[int, dict] = {}
    started: list[int] = []
    client = NotebookClient(
        nb,
        timeout=timeout,
        startup_timeout=120,
        kernel_name=kernel_name,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "TimeoutError",
            "evalue": f"the cell ran longer than {timeout} s and was interrupted",
            "traceback": [],
        },
        record_timing=False,
        log=_QUIET,  # timeouts and deaths are reported in the result, not as log noise
        resources={"metadata": {"path": str(folder)}},
        on_cell_execute=lambda cell, cell_index: started.append(cell_index),
        on_cell_executed=lambda cell, cell_index, execute_reply: replies.__setitem__(
            cell_index, execute_reply.get("content", {}) if execute_reply else {}
        ),
    )
    problem = ""
    # The kernel process's own stderr (start-up chatter, a crash report) goes to a temporary
    # file, shown only if the kernel dies; what the notebook prints comes back as outputs.
    with tempfile.TemporaryFile() as log:
        try:
            client.execute(stdout=log, stderr=log)
        except DeadKernelError:
            index = started[-1] if started else None
            where = ""
            if index is not None and index < len(nb.cells):
                where = f" while running cell {index + 1} (`{_first_line(nb.cells[index])}`)"
            log.seek(0)
            text = log.read().decode("utf-8", "replace")
            tail = [t for t in text.splitlines() if t.strip() and "without encryption" not in t]
            tail = tail[-5:]
            problem = f"The notebook's kernel died{where}; the cells after it did not run."
            if tail:
                problem += "\nThe kernel's last words:\n" + "\n".join("  " + t for t in tail)
        except Exception as e:  # the kernel could not start, ...
            first = str(e).strip().split("\n", 1)[0]
            raise NotebookError(
                f"could not run the notebook: {type(e).__name__}: {first}"
            ) from None
    return replies, problem


def grade(
    notebook: Path | str,
    *,
    solutions: Path | str | None = None,
    timeout: int = 120,
    kernel_name: str = "python3",
    out=print,
) -> GradeResult:
    """Grade ``notebook`` (never writing to it) and return a :class:`GradeResult`; ``out`` gets
    the printed report (None: print nothing)."""
    notebook = Path(notebook)
    if notebook.suffix != ".ipynb":
        raise NotebookError(f"{notebook} is not a notebook (.ipynb)")
    if not notebook.is_file():
        raise NotebookError(f"no such notebook: {notebook}")
    nb = read_notebook(notebook, validate=False)  # be lenient with what a student's tools wrote
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{notebook} is not a valid notebook: it has no cells")
    solutions = Path(solutions) if solutions else find_solutions(notebook, nb)
    specs = check_specs(solutions)

    run_nb = copy.deepcopy(nb)
    marker = f"<<inferlab-grade-{secrets.token_hex(8)}>>"
    triples = [(s.task, s.function, s.check) for s in specs]
    run_nb.cells.append(
        nbformat.v4.new_code_cell(
            _VERIFY.replace("__MARKER__", repr(marker)).replace("__SPECS__", repr(triples)),
            id="inferlab-grader",
        )
    )
    start = time.perf_counter()
    replies, problem = _execute(run_nb, notebook.resolve().parent, timeout, kernel_name)
    seconds = time.perf_counter() - start
    verified = _verification(run_nb.cells[-1], marker)

    result = GradeResult(notebook, seconds=seconds, problem=problem)
    for spec in specs:
        result.tasks.append(_task_result(spec, nb, replies, verified, problem))
    if out is not None:
        out(result.report())
    return result


def _verification(cell, marker: str) -> dict | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            for line in output.get("text", "").splitlines():
                if line.startswith(marker):
                    return json.loads(line[len(marker) :])
    return None


def _task_result(spec, nb, replies, verified, problem) -> TaskResult:
    index, unchanged = _locate(nb, spec)
    if index is None:
        return TaskResult(
            spec.task,
            MISSING,
            f"the check cell `{spec.source.strip()}` is missing (deleted?). Put it back, "
            "unchanged, after your function: the task cannot pass without it.",
        )
    cell_no = index + 1
    if not unchanged:
        return TaskResult(
            spec.task,
            EDITED,
            f"the check cell was changed; restore it to exactly `{spec.source.strip()}`. "
            "An edited check cannot pass.",
            cell_no,
        )
    reply = replies.get(index)
    if reply is None:
        why = " (the kernel died before it)" if problem else ""
        return TaskResult(spec.task, ERROR, f"the check cell did not run{why}.", cell_no)
    if reply.get("status") == "error":
        ename, evalue = reply.get("ename", "Error"), reply.get("evalue", "")
        if ename == "CheckFailed":
            if NOT_ATTEMPTED in evalue:
                return TaskResult(spec.task, NOT_RUN, evalue, cell_no)
            return TaskResult(spec.task, FAIL, evalue, cell_no)
        return TaskResult(spec.task, ERROR, _error_message(spec, nb, replies, index), cell_no)
    # The check passed in its cell: the re-check with reloaded check modules must agree.
    if verified is None:
        return TaskResult(
            spec.task,
            ERROR,
            "the check passed in its cell, but the grader's re-check at the end of the notebook "
            "did not run (the kernel died or a later cell hung).",
            cell_no,
        )
    kind, message = verified.get(spec.task, ["missing", "no re-check result"])
    if kind == "pass":
        return TaskResult(spec.task, PASS, "", cell_no)
    return TaskResult(
        spec.task,
        FAIL,
        "the check passed in its cell but fails when re-run at the end of the notebook (was "
        f"`{spec.function}` or the check redefined later?):\n{message}",
        cell_no,
    )


def _error_message(spec, nb, replies, index) -> str:
    reply = replies[index]
    ename, evalue = reply.get("ename", "Error"), reply.get("evalue", "")
    own = f"the check cell raised {ename}: {evalue}"
    check_cells = {i for i, c in enumerate(nb.cells) if CHECK_TAG in c.metadata.get("tags", [])}
    for i in range(index - 1, -1, -1):
        r = replies.get(i)
        if i not in check_cells and r is not None and r.get("status") == "error":
            return (
                f"cell {i + 1} (`{_first_line(nb.cells[i])}`) raised {r.get('ename')}: "
                f"{r.get('evalue')}\nso {own}. Fix that cell first."
            )
    if ename == "NameError":
        return (
            f"{own}. Is `{spec.function}` defined above the check (did its cell get deleted or "
            "renamed)?"
        )
    return own
