"""Generate the student notebooks ``exercises/NN_*.ipynb`` from ``solutions/NN_*.ipynb``.

The solutions are the single source of truth, written with nbgrader's markers:

- a ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes ``# YOUR CODE HERE`` +
  ``raise NotImplementedError()`` at the indent of the BEGIN line (``YOUR ANSWER HERE`` in
  markdown); a marker matches when the stripped line equals it exactly;
- a ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region is dropped;
- cells tagged ``solution-only`` are dropped;
- outputs, execution counts, ``metadata.widgets`` and per-cell execution metadata are cleared.

The output is deterministic: the same solutions notebook always gives byte-identical JSON.

Writing never destroys a student's work: an existing exercise that differs from both the freshly
generated notebook and the version committed in git (``git show HEAD:exercises/X.ipynb``) is left
alone unless ``force=True``, which first copies it to ``exercises/X.bak-<time>.ipynb``.

    python -m inferlab make-exercises            # regenerate (refuses to overwrite your edits)
    python -m inferlab make-exercises --check    # list stale exercises, exit 1 if any
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from inferlab.errors import NotebookError

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
SOLUTION_ONLY = "solution-only"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
# Per-cell metadata a run adds; dropped so the generated file depends on the source only.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")

# Something that looks like a marker but is not exactly one (a typo would leak a solution).
_NEAR_MARKER = re.compile(r"^#+\s*(begin|end)\s+(solution|hidden\s+tests)\b", re.IGNORECASE)


# ----------------------------------------------------------------------------------- generating


def clear_markers(source: str, cell_type: str = "code", where: str = "cell") -> str:
    """Replace solution regions with the stub and drop hidden-test regions of one cell's source."""
    out: list[str] = []
    region: str | None = None  # None, "solution" or "hidden"
    begin_line = 0
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if region is not None:
                raise NotebookError(
                    f"{where}: `{stripped}` on line {number} inside the region opened on line "
                    f"{begin_line}; close that one first"
                )
            region = "solution" if stripped == BEGIN_SOLUTION else "hidden"
            begin_line = number
            if region == "solution":
                indent = line[: len(line) - len(line.lstrip())]
                stub = CODE_STUB if cell_type == "code" else (MARKDOWN_STUB,)
                out.extend(indent + s for s in stub)
        elif stripped in (END_SOLUTION, END_HIDDEN):
            expected = "solution" if stripped == END_SOLUTION else "hidden"
            if region != expected:
                raise NotebookError(
                    f"{where}: `{stripped}` on line {number} has no matching "
                    f"`{BEGIN_SOLUTION if expected == 'solution' else BEGIN_HIDDEN}` before it"
                )
            region = None
        elif _NEAR_MARKER.match(stripped):
            raise NotebookError(
                f"{where}: line {number} `{stripped}` looks like a marker but is not one; write "
                f"exactly `{BEGIN_SOLUTION}` / `{END_SOLUTION}` / `{BEGIN_HIDDEN}` / "
                f"`{END_HIDDEN}`"
            )
        elif region is None:
            out.append(line)
    if region is not None:
        closing = END_SOLUTION if region == "solution" else END_HIDDEN
        raise NotebookError(f"{where}: the region opened on line {begin_line} has no `{closing}`")
    return "\n".join(out)


def make_exercise(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a solutions notebook (a new object; ``nb`` is not changed)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    cells = []
    total = len(nb.cells)
    for index, cell in enumerate(nb.cells, start=1):
        if SOLUTION_ONLY in cell.get("metadata", {}).get("tags", []):
            continue
        first = cell.source.strip().split("\n", 1)[0][:60]
        where = f"{name}, cell {index} of {total} ({cell.cell_type}, starting `{first}`)"
        cell.source = clear_markers(cell.source, cell.cell_type, where)
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    nb.cells = cells
    return nb


def read_notebook(path: Path, *, validate: bool = True) -> nbformat.NotebookNode:
    """Read (and validate) a notebook; NotebookError (naming the file) when it can't be."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
        if validate:
            nbformat.validate(nb)
    except FileNotFoundError:
        raise NotebookError(f"no such notebook: {path}") from None
    except (OSError, ValueError, nbformat.ValidationError) as e:  # JSON errors are ValueErrors
        first = str(e).strip().split("\n", 1)[0]
        raise NotebookError(f"{path} is not a valid notebook: {first}") from None
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as JSON text, the way it is written to disk (stable key order)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def generate(solution: Path) -> str:
    """The text of the exercise notebook generated from ``solution``."""
    solution = Path(solution)
    return render(make_exercise(read_notebook(solution), solution.name))


# ----------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Action:
    """What ``make_exercises`` did with one exercise file."""

    path: Path
    status: str  # "created" | "updated" | "unchanged" | "refused" | "replaced"
    message: str
    backup: Path | None = None


def default_dirs() -> tuple[Path, Path]:
    """``solutions/`` and ``exercises/`` of the current folder if it has them, else of the repo
    this package lives in."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / "solutions").is_dir():
            return root / "solutions", root / "exercises"
    raise NotebookError(
        "can't find a solutions/ folder here or next to the inferlab package; run this from the "
        "course's root folder"
    )


def committed_bytes(path: Path) -> bytes | None:
    """The file as committed in git HEAD, or None (no git, not a repo, no commit, untracked)."""
    path = Path(path).resolve()
    if not path.parent.is_dir():
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(path.parent), "show", f"HEAD:./{path.name}"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def same_notebook(a: bytes | str | None, b: bytes | str | None) -> bool:
    """Equal as notebooks: ignores JSON formatting, line endings and list-vs-string sources."""
    if a is None or b is None:
        return a is b
    return _canonical(a) == _canonical(b)


def _canonical(data: bytes | str) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw.replace(b"\r\n", b"\n")

    def join(value):
        return "".join(value) if isinstance(value, list) else value

    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if isinstance(cell, dict) and "source" in cell:
            cell["source"] = join(cell["source"])
    return json.dumps(nb, sort_keys=True).encode("utf-8")


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(text.encode("utf-8"))
    os.replace(tmp, path)


def backup_path(path: Path) -> Path:
    """``exercises/X.bak-20250101-120000.ipynb`` (gitignored by ``*.bak-*.ipynb``), never an
    existing file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.stem}.bak-{stamp}{path.suffix}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.bak-{stamp}-{n}{path.suffix}")
        n += 1
    return candidate


def _solutions(solutions_dir: Path) -> list[Path]:
    if not solutions_dir.is_dir():
        raise NotebookError(f"no solutions folder at {solutions_dir}")
    found = sorted(solutions_dir.glob(NOTEBOOK_PATTERN))
    return [p for p in found if ".bak-" not in p.name]


def make_exercises(
    solutions_dir: Path | None = None,
    exercises_dir: Path | None = None,
    *,
    force: bool = False,
    out: Callable[[str], None] | None = print,
) -> list[Action]:
    """Write ``exercises/NN_*.ipynb`` for every ``solutions/NN_*.ipynb``; never clobber a
    student's edits (see the module docstring). Returns what was done, file by file."""
    if solutions_dir is None or exercises_dir is None:
        default_solutions, default_exercises = default_dirs()
        solutions_dir = solutions_dir or default_solutions
        exercises_dir = exercises_dir or default_exercises
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    actions = []
    for solution in _solutions(solutions_dir):
        target = exercises_dir / solution.name
        actions.append(_make_one(solution, target, force=force))
        if out is not None:
            out(actions[-1].message)
    return actions


def _make_one(solution: Path, target: Path, *, force: bool) -> Action:
    text = generate(solution)
    shown = _show(target)
    if not target.exists():
        _write(target, text)
        return Action(target, "created", f"{shown}: created from {_show(solution)}")
    current = target.read_bytes()
    if current == text.encode("utf-8"):
        return Action(target, "unchanged", f"{shown}: up to date")
    if same_notebook(current, committed_bytes(target)) or same_notebook(current, text):
        _write(target, text)  # no edits of the student's: just bring it up to date
        return Action(target, "updated", f"{shown}: regenerated from {_show(solution)}")
    if not force:
        return Action(
            target,
            "refused",
            f"{shown}: NOT overwritten: it has changes that are not in the generated or the "
            "committed version (your work?). It is left as it is. To regenerate it anyway, run "
            "`python -m inferlab make-exercises --force`, which first saves your file as "
            f"{_show(target.with_name(target.stem + '.bak-<time>' + target.suffix))}.",
        )
    backup = backup_path(target)
    shutil.copy2(target, backup)
    _write(target, text)
    return Action(
        target,
        "replaced",
        f"{shown}: your version was saved as {_show(backup)}, then {shown} was regenerated "
        f"from {_show(solution)}",
        backup,
    )


def stale_exercises(
    solutions_dir: Path | None = None,
    exercises_dir: Path | None = None,
    *,
    out: Callable[[str], None] | None = print,
) -> list[str]:
    """Which exercise files are out of date with their solutions (``--check`` mode).

    Where the working file has edits of the student's, the committed version is what must be up
    to date; otherwise the working file. Returns one line per stale file (empty: all fresh).
    """
    if solutions_dir is None or exercises_dir is None:
        default_solutions, default_exercises = default_dirs()
        solutions_dir = solutions_dir or default_solutions
        exercises_dir = exercises_dir or default_exercises
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    stale = []
    solutions = _solutions(solutions_dir)
    for solution in solutions:
        target = exercises_dir / solution.name
        text = generate(solution)
        fix = "run `python -m inferlab make-exercises`"
        if not target.exists():
            stale.append(f"{_show(target)}: missing ({fix})")
            continue
        current = target.read_bytes()
        if same_notebook(current, text):
            continue
        committed = committed_bytes(target)
        if committed is not None and not same_notebook(current, committed):
            # The working file has the student's edits: judge the committed version instead.
            if not same_notebook(committed, text):
                stale.append(
                    f"{_show(target)}: the committed version is stale with respect to "
                    f"{_show(solution)} (your working copy has edits; they were not checked)"
                )
            continue
        stale.append(f"{_show(target)}: stale with respect to {_show(solution)} ({fix})")
    if out is not None:
        for line in stale:
            out(line)
        if not stale:
            out(
                f"{_show(exercises_dir)}/ is up to date with {_show(solutions_dir)}/ "
                f"({len(solutions)} notebook{'s' if len(solutions) != 1 else ''})"
            )
    return stale
