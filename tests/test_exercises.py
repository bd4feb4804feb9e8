"""The exercise pipeline: generating exercises/ from solutions/, never clobbering a student's work,
and grading a notebook end to end (those tests run real kernels and are marked ``slow``)."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from inferlab import authoring
from inferlab.__main__ import main
from inferlab.errors import NotebookError
from inferlab.grading import grade

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def notebook(*cells, **metadata):
    return new_notebook(cells=list(cells), metadata={"kernelspec": KERNELSPEC, **metadata})


def stub(indent: str = "") -> str:
    return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"


# ----------------------------------------------------------------------------- the generator

FUNCTION = '''def f(x):
    """Add one."""
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

### BEGIN SOLUTION
z = f(1)
### END SOLUTION
print("done")'''


def test_a_solution_region_becomes_the_stub_at_its_indent():
    out = authoring.clear_markers(FUNCTION)
    assert out == f'def f(x):\n    """Add one."""\n{stub("    ")}\n\n{stub()}\nprint("done")'
    nested = "for i in range(3):\n    if i:\n        ### BEGIN SOLUTION\n        pass\n"
    nested += "        ### END SOLUTION"
    assert authoring.clear_markers(nested) == "for i in range(3):\n    if i:\n" + stub("        ")


def test_markers_match_after_stripping_whitespace_and_markdown_gets_an_answer_stub():
    source = "x = 1\n  ### BEGIN SOLUTION   \nsecret = 2\n### END SOLUTION\t"
    assert authoring.clear_markers(source) == "x = 1\n" + stub("  ")
    md = "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert authoring.clear_markers(md, "markdown") == "Why?\nYOUR ANSWER HERE"


def test_hidden_tests_are_removed():
    source = "check(f)\n### BEGIN HIDDEN TESTS\nassert f(2) == 3\n### END HIDDEN TESTS\nprint(1)"
    assert authoring.clear_markers(source) == "check(f)\nprint(1)"


def sample_solution():
    code = new_code_cell(FUNCTION, id="code", execution_count=3)
    code.outputs = [new_output("stream", name="stdout", text="done\n")]
    code.metadata = {
        "tags": ["keep-me"],
        "execution": {"iopub.status.idle": "2025"},
        "scrolled": True,
    }
    check = new_code_cell(
        "check(f)\n### BEGIN HIDDEN TESTS\nassert f(2) == 3\n### END HIDDEN TESTS",
        id="check",
        metadata={"tags": ["check"], "inferlab": {"task": "f"}, "editable": False},
    )
    return notebook(
        new_markdown_cell("# Exercises", id="title"),
        new_markdown_cell(
            "The answers are below.", id="note", metadata={"tags": ["solution-only"]}
        ),
        code,
        check,
        widgets={"application/vnd.jupyter.widget-state+json": {"state": {}}},
        inferlab={"exercise": "99_sample"},
    )


def test_make_exercise_drops_solution_only_cells_and_clears_outputs():
    solution = sample_solution()
    before = json.dumps(solution, sort_keys=True)
    ex = authoring.make_exercise(solution, "99_sample.ipynb")
    assert json.dumps(solution, sort_keys=True) == before, "the solution object was modified"
    assert [c.id for c in ex.cells] == ["title", "code", "check"]
    code, check = ex.cells[1], ex.cells[2]
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata == {"tags": ["keep-me"]}  # run metadata dropped, tags kept
    assert "BEGIN SOLUTION" not in code.source and "y = x + 1" not in code.source
    assert check.source == "check(f)"
    assert check.metadata == {"tags": ["check"], "inferlab": {"task": "f"}, "editable": False}
    assert "widgets" not in ex.metadata
    assert ex.metadata["inferlab"] == {"exercise": "99_sample"}
    nbformat.validate(ex)


def test_generation_is_deterministic(tmp_path):
    path = tmp_path / "99_sample.ipynb"
    nbformat.write(sample_solution(), path)
    first, second = authoring.generate(path), authoring.generate(path)
    assert first == second and first.endswith("\n")
    out = tmp_path / "out"
    authoring.make_exercises(tmp_path, out, out=None)
    one = (out / "99_sample.ipynb").read_bytes()
    (out / "99_sample.ipynb").unlink()
    authoring.make_exercises(tmp_path, out, out=None)
    assert (out / "99_sample.ipynb").read_bytes() == one == first.encode()
    assert list(json.loads(one)) == sorted(json.loads(one))  # stable key order


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("### BEGIN SOLUTION\nx = 1", "has no `### END SOLUTION`"),
        ("x = 1\n### END SOLUTION", "has no matching `### BEGIN SOLUTION`"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside the region"),
        ("### BEGIN HIDDEN TESTS\nassert 1", "has no `### END HIDDEN TESTS`"),
        ("### BEGIN SOLUTION\nx\n### END HIDDEN TESTS", "has no matching `### BEGIN HIDDEN"),
        ("## BEGIN SOLUTION\nx = 1\n## END SOLUTION", "looks like a marker but is not one"),
        ("# begin solution\nx = 1", "looks like a marker but is not one"),
    ],
)
def test_unbalanced_or_malformed_markers_name_the_notebook_and_cell(tmp_path, source, complaint):
    path = tmp_path / "42_broken.ipynb"
    nbformat.write(notebook(new_markdown_cell("# T"), new_code_cell(source)), path)
    with pytest.raises(NotebookError) as info:
        authoring.generate(path)
    message = str(info.value)
    assert "42_broken.ipynb, cell 2 of 2" in message and complaint in message, message


def test_an_invalid_notebook_is_a_notebook_error(tmp_path):
    bad = tmp_path / "01_bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(NotebookError, match="01_bad.ipynb is not a valid notebook"):
        authoring.generate(bad)


# ----------------------------------------------------------------------------- the shipped files


def committed_or_working(path: Path) -> bytes:
    """The file as stored in git (a student's edits in the working copy are theirs), or the
    working file when it is not committed."""
    committed = authoring.committed_bytes(path)
    return committed if committed is not None else path.read_bytes()


def pristine_exercise(name: str = "01_ops.ipynb"):
    """The shipped exercise notebook, untouched by a student working in this checkout."""
    return nbformat.reads(committed_or_working(EXERCISES / name).decode(), as_version=4)


@pytest.mark.parametrize(
    "solution", sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name
)
def test_exercises_are_up_to_date_with_solutions(solution, tmp_path):
    authoring.make_exercises(SOLUTIONS, tmp_path, out=None)
    fresh = (tmp_path / solution.name).read_bytes()
    shipped = EXERCISES / solution.name
    assert shipped.exists(), f"{shipped} is missing: run `python -m inferlab make-exercises`"
    assert fresh == committed_or_working(shipped), (
        f"{shipped} is stale: run `python -m inferlab make-exercises`"
    )
    assert authoring.stale_exercises(SOLUTIONS, EXERCISES, out=None) == []


@pytest.mark.parametrize(
    "exercise", sorted(EXERCISES.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name
)
def test_exercises_ship_no_solutions_and_lock_their_checks(exercise):
    assert (SOLUTIONS / exercise.name).exists(), f"{exercise} has no solutions/{exercise.name}"
    text = committed_or_working(exercise).decode()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in text
    nb = nbformat.reads(text, as_version=4)
    checks = [c for c in nb.cells if "check" in c.metadata.get("tags", [])]
    assert checks, f"{exercise} has no check cells"
    for cell in checks:
        assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
        assert {"task", "function", "check"} <= set(cell.metadata["inferlab"])
    stubs = sum("raise NotImplementedError()" in c.source for c in nb.cells)
    assert stubs >= len(checks)


# ----------------------------------------------------------------------------- never clobber


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def write_solution(repo: Path, answer: str = "return x + 1", title: str = "# T") -> Path:
    path = repo / "solutions" / "01_t.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = new_code_cell(
        f"def f(x):\n    ### BEGIN SOLUTION\n    {answer}\n    ### END SOLUTION", id="c"
    )
    nbformat.write(notebook(new_markdown_cell(title, id="m"), cell), path)
    return path


def student_edit(path: Path) -> bytes:
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = "def f(x):\n    return x + 1  # my answer"
    nbformat.write(nb, path)
    return path.read_bytes()


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "course"
    repo.mkdir()
    git(repo, "init", "-q")
    write_solution(repo)
    actions = authoring.make_exercises(repo / "solutions", repo / "exercises", out=None)
    assert [a.status for a in actions] == ["created"]
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "course")
    return repo


def make(repo: Path, **kwargs):
    (action,) = authoring.make_exercises(repo / "solutions", repo / "exercises", out=None, **kwargs)
    return action


def test_unedited_exercises_are_regenerated(repo):
    assert make(repo).status == "unchanged"
    write_solution(repo, "return x + 2", "# T, revised")
    action = make(repo)
    assert action.status == "updated"
    text = action.path.read_text()
    assert "# T, revised" in text and "x + 2" not in text  # the new version, still a stub
    assert action.path.read_text() == authoring.generate(repo / "solutions" / "01_t.ipynb")


def test_a_student_edited_exercise_is_never_overwritten(repo):
    target = repo / "exercises" / "01_t.ipynb"
    edited = student_edit(target)
    write_solution(repo, "return x + 2", "# T, revised")
    action = make(repo)
    assert action.status == "refused"
    assert "NOT overwritten" in action.message and "--force" in action.message
    assert target.read_bytes() == edited
    assert list(target.parent.iterdir()) == [target]  # no backup without --force


def test_force_backs_up_the_student_version_first(repo):
    target = repo / "exercises" / "01_t.ipynb"
    edited = student_edit(target)
    action = make(repo, force=True)
    assert action.status == "replaced"
    assert action.backup is not None and action.backup.read_bytes() == edited
    assert fnmatch.fnmatch(action.backup.name, "*.bak-*.ipynb")  # gitignored
    assert str(action.backup.name) in action.message
    assert target.read_text() == authoring.generate(repo / "solutions" / "01_t.ipynb")
    assert authoring.backup_path(target) != action.backup  # a second backup gets a new name


def test_without_git_an_edited_exercise_is_refused_too(tmp_path):
    write_solution(tmp_path)
    make(tmp_path)
    target = tmp_path / "exercises" / "01_t.ipynb"
    edited = student_edit(target)
    assert make(tmp_path).status == "refused"
    assert target.read_bytes() == edited


def test_check_mode_lists_stale_exercises(repo, capsys):
    sol, ex = repo / "solutions", repo / "exercises"
    assert authoring.stale_exercises(sol, ex, out=None) == []
    student_edit(ex / "01_t.ipynb")  # the student's edits alone do not make it stale
    assert authoring.stale_exercises(sol, ex, out=None) == []
    write_solution(repo, "return x + 2", "# T, revised")  # now the committed version is stale
    (line,) = authoring.stale_exercises(sol, ex, out=None)
    assert "committed version is stale" in line
    assert (
        main(["make-exercises", "--check", "--solutions-dir", str(sol), "--exercises-dir", str(ex)])
        == 1
    )
    assert "stale" in capsys.readouterr().out
    (ex / "01_t.ipynb").unlink()
    assert "missing" in authoring.stale_exercises(sol, ex, out=None)[0]


def test_make_exercises_cli(repo, capsys):
    args = [
        "make-exercises",
        "--solutions-dir",
        str(repo / "solutions"),
        "--exercises-dir",
        str(repo / "exercises"),
    ]
    assert main(args) == 0
    student_edit(repo / "exercises" / "01_t.ipynb")
    write_solution(repo, "return x + 2", "# T, revised")
    assert main(args) == 1
    assert "NOT overwritten" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "was regenerated" in capsys.readouterr().out
    assert main([*args, "--check", "--force"]) == 2  # mutually exclusive


def test_cli_usage_errors_are_one_line_with_exit_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "no such notebook" in err and "Traceback" not in err
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["check"]) == 2
    bad = tmp_path / "01_bad.ipynb"
    bad.write_text("{}")
    assert main(["check", str(bad)]) == 2
    assert "not a valid notebook" in capsys.readouterr().err
    assert main(["make-exercises", "--solutions-dir", str(tmp_path / "none")]) == 2
    assert main(["--help"]) == 0


# ----------------------------------------------------------------------------- grading, end to end

slow = pytest.mark.slow


def fill(nb, function: str, source: str) -> None:
    """Replace the cell defining ``function`` (a student filling in an answer)."""
    (cell,) = [
        c for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"def {function}(")
    ]
    cell.source = source


def check_cell(nb, task: str):
    (cell,) = [c for c in nb.cells if c.metadata.get("inferlab", {}).get("task") == task]
    return cell


NAIVE_SOFTMAX = (
    "def softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)"
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the shipped solutions, the generated exercises and two students' copies, once."""
    folder = tmp_path_factory.mktemp("student")
    pristine = folder / "pristine" / "01_ops.ipynb"
    pristine.parent.mkdir()
    nbformat.write(pristine_exercise(), pristine)
    one_wrong = pristine_exercise()
    fill(one_wrong, "softmax", NAIVE_SOFTMAX)
    nbformat.write(one_wrong, folder / "01_ops.ipynb")

    solution = nbformat.read(SOLUTIONS / "01_ops.ipynb", as_version=4)
    mixed = pristine_exercise()
    conv = next(c for c in solution.cells if c.source.startswith("def conv2d("))
    fill(mixed, "conv2d", conv.source)  # right
    fill(mixed, "softmax", "def softmax(x, axis=-1)\n    return x")  # SyntaxError
    check_cell(mixed, "layer_norm").source = "# ch01.check_layer_norm(layer_norm)"
    mixed.cells.remove(check_cell(mixed, "causal_attention"))
    # a student silencing a check before its cell runs: the grader's re-check catches it
    index = mixed.cells.index(check_cell(mixed, "matmul_tiled"))
    mixed.cells.insert(index, new_code_cell("ch01.check_matmul_tiled = lambda fn: None"))
    nbformat.write(mixed, folder / "mixed.ipynb")

    paths = {
        "solutions": SOLUTIONS / "01_ops.ipynb",
        "exercises": pristine,
        "one_wrong": folder / "01_ops.ipynb",
        "mixed": folder / "mixed.ipynb",
    }
    before = {k: (p.read_bytes(), p.stat().st_mtime_ns) for k, p in paths.items()}
    listing = sorted(os.listdir(folder))
    results = {k: grade(p, out=None) for k, p in paths.items()}
    after = {k: (p.read_bytes(), p.stat().st_mtime_ns) for k, p in paths.items()}
    return results, before, after, listing, folder, paths


@slow
def test_grader_passes_the_solutions(graded):
    results = graded[0]
    assert [t.status for t in results["solutions"].tasks] == ["PASS"] * 5
    assert results["solutions"].all_passed
    assert "5/5 tasks pass" in results["solutions"].report()


@slow
def test_grader_finds_the_exercises_not_attempted(graded):
    result = graded[0]["exercises"]
    assert [t.task for t in result.tasks] == [
        "matmul_tiled",
        "conv2d",
        "softmax",
        "layer_norm",
        "causal_attention",
    ]
    assert [t.status for t in result.tasks] == ["NOT ATTEMPTED"] * 5
    assert "0/5 tasks pass" in result.report()


@slow
def test_grader_reports_a_wrong_answer_with_its_hint(graded):
    result = graded[0]["one_wrong"]
    statuses = {t.task: t.status for t in result.tasks}
    assert statuses == {
        "matmul_tiled": "NOT ATTEMPTED",
        "conv2d": "NOT ATTEMPTED",
        "softmax": "FAIL",
        "layer_norm": "NOT ATTEMPTED",
        "causal_attention": "NOT ATTEMPTED",
    }
    softmax = next(t for t in result.tasks if t.task == "softmax")
    assert "subtract the max along `axis` before np.exp" in softmax.message
    assert "subtract the max" in result.report()


@slow
def test_grader_reports_errors_edits_deletions_and_tampering(graded):
    result = graded[0]["mixed"]
    by_task = {t.task: t for t in result.tasks}
    assert by_task["conv2d"].status == "PASS"
    assert by_task["softmax"].status == "ERROR"
    assert "raised SyntaxError" in by_task["softmax"].message
    assert "`def softmax(x, axis=-1)`" in by_task["softmax"].message  # names the cell
    assert by_task["layer_norm"].status == "CHECK EDITED"
    assert by_task["causal_attention"].status == "CHECK MISSING"
    assert by_task["matmul_tiled"].status == "FAIL"
    assert "fails when re-run" in by_task["matmul_tiled"].message
    assert "not attempted yet" in by_task["matmul_tiled"].message
    assert result.passed == 1 and "1/5 tasks pass" in result.report()


@slow
def test_grading_never_writes_to_the_notebook_or_its_folder(graded):
    _, before, after, listing, folder, _ = graded
    assert before == after  # bytes and mtimes
    assert sorted(os.listdir(folder)) == listing


@slow
def test_check_cli_exit_codes(graded):
    _, _, _, _, _, paths = graded
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    failing = subprocess.run(
        [sys.executable, "-m", "inferlab", "check", str(paths["one_wrong"])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert failing.returncode == 1, failing.stderr
    assert "softmax           FAIL" in failing.stdout and "0/5 tasks pass" in failing.stdout
    assert failing.stderr == ""
    assert main(["check", str(paths["solutions"])]) == 0


@slow
def test_a_hanging_cell_is_interrupted_and_a_dead_kernel_reported(tmp_path):
    nb = pristine_exercise()
    nb.cells.insert(3, new_code_cell("import time\nwhile True:\n    time.sleep(0.1)"))
    index = nb.cells.index(check_cell(nb, "softmax"))
    nb.cells.insert(index, new_code_cell("import os\nos._exit(3)"))
    path = tmp_path / "01_ops.ipynb"
    nbformat.write(nb, path)
    result = grade(path, solutions=SOLUTIONS / "01_ops.ipynb", timeout=2, out=None)
    statuses = [t.status for t in result.tasks]
    assert statuses == ["NOT ATTEMPTED", "NOT ATTEMPTED", "ERROR", "ERROR", "ERROR"]
    assert "kernel died while running cell" in result.problem and "`import os`" in result.problem
    assert "did not run (the kernel died before it)" in result.tasks[2].message


@slow
def test_an_empty_notebook_passes_nothing(tmp_path):
    path = tmp_path / "01_ops.ipynb"
    nbformat.write(notebook(), path)
    result = grade(path, solutions=SOLUTIONS / "01_ops.ipynb", out=None)
    assert [t.status for t in result.tasks] == ["CHECK MISSING"] * 5
    assert not result.all_passed and result.passed == 0
