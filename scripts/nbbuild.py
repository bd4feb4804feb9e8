"""Build a chapter's notebooks from Python source (used by scripts/build_nbNN.py).

A chapter's cells are written as ``md(id, text)`` / ``code(id, text)`` calls in a script, so the
prose and code can be reviewed, diffed and grepped like any source; :func:`write` then saves the
notebooks with outputs stripped, fixed cell ids and ruff-formatted code cells, so rebuilding
unchanged source is byte-identical.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
PYTHON_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def notebook(cells, **metadata) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = {"kernelspec": KERNEL, **metadata}
    return nb


def md(cell_id: str, text: str, **metadata):
    return new_markdown_cell(text.strip("\n"), id=cell_id, metadata=metadata)


def code(cell_id: str, text: str, **metadata):
    return new_code_cell(text.strip("\n"), id=cell_id, metadata=metadata)


def check(chapter: str, cell_id: str, task: str):
    """The locked check cell of ``task``: ``chNN.check_<task>(<task>)``, tagged for the grader."""
    return code(
        cell_id,
        f"{chapter}.check_{task}({task})",
        deletable=False,
        editable=False,
        inferlab={
            "check": f"inferlab.checks.{chapter}.check_{task}",
            "function": task,
            "task": task,
        },
        tags=["check"],
    )


def solutions_notebook(cells, stem: str) -> nbformat.NotebookNode:
    """The solutions notebook (the source ``make-exercises`` generates the exercises from)."""
    return notebook(cells, inferlab={"exercise": stem}, language_info=PYTHON_INFO)


def chapter_notebook(cells) -> nbformat.NotebookNode:
    return notebook(cells, language_info={"name": "python"})


def write(stem: str, solutions: nbformat.NotebookNode, chapter: nbformat.NotebookNode) -> int:
    """Validate and write solutions/<stem>.ipynb and notebooks/<stem>.ipynb, ruff-format their
    code cells (as the repository's lint test expects) and say what was written."""
    written = []
    for folder, nb in (("solutions", solutions), ("notebooks", chapter)):
        path = ROOT / folder / f"{stem}.ipynb"
        nbformat.validate(nb)
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(path.relative_to(ROOT).as_posix())
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        print("ruff not found: the notebooks are written unformatted", file=sys.stderr)
    else:
        subprocess.run([ruff, "format", "--quiet", *written], cwd=ROOT, check=True)
    print("wrote", ", ".join(written))
    return 0
