"""Every notebook in notebooks/, solutions/ and exercises/ is stored clean and reproducible:
valid nbformat, outputs stripped, null execution counts, the portable ``python3`` kernel, and
every random source seeded.

"Stored" means as committed in git when the file is tracked (a reader who ran a chapter and saved
it keeps a passing `make test`; CI's clean checkout checks exactly what was committed), and the
working file otherwise (a new notebook is checked before it is committed).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from inferlab.authoring import committed_bytes

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "solutions", "exercises")
NOTEBOOKS = sorted(
    p
    for folder in FOLDERS
    for p in (ROOT / folder).glob("*.ipynb")
    if ".bak-" not in p.name  # a student's backups (gitignored) are theirs
)

# Global NumPy RNG calls (seeded only by np.random.seed), unseeded generators, torch randomness.
NP_GLOBAL = re.compile(
    r"\bnp\.random\.(rand|randn|randint|random|random_sample|normal|uniform|choice|shuffle|"
    r"permutation|standard_normal|binomial|poisson|exponential|integers)\s*\("
)
UNSEEDED_GENERATOR = re.compile(r"\b(default_rng|RandomState|Generator|PCG64)\(\s*\)")
TORCH_RANDOM = re.compile(
    r"\btorch\.(rand|randn|randint|randperm|normal|bernoulli|multinomial)\s*\("
    r"|\b(nn|torch\.nn)\.(Linear|Conv[123]d|Embedding|LayerNorm|MultiheadAttention|LSTM|GRU|"
    r"TransformerEncoderLayer|Dropout)\s*\("
)
PY_RANDOM = re.compile(r"\brandom\.(random|randint|choice|shuffle|sample|uniform|gauss)\s*\(")


def stored(path: Path):
    data = committed_bytes(path)
    return nbformat.reads((data or path.read_bytes()).decode("utf-8"), as_version=4)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def code_of(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_there_are_notebooks_to_check():
    assert any(p.parent.name == "solutions" for p in NOTEBOOKS)
    assert any(p.parent.name == "exercises" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_valid_and_stripped(path):
    nb = stored(path)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{rel(path)} cell {index} has outputs: strip them"
        assert cell.execution_count is None, f"{rel(path)} cell {index} has an execution count"
    assert "widgets" not in nb.metadata, f"{rel(path)} stores widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_portable_kernel(path):
    nb = stored(path)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", rel(path)
    assert nb.metadata["kernelspec"].get("language") == "python", rel(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_randomness_is_seeded(path):
    code = code_of(stored(path))
    unseeded = UNSEEDED_GENERATOR.findall(code)
    assert not unseeded, f"{rel(path)}: an unseeded generator: pass a seed, e.g. default_rng(0)"
    if NP_GLOBAL.search(code):
        assert "np.random.seed(" in code, (
            f"{rel(path)} uses NumPy's global RNG without np.random.seed: prefer "
            "rng = np.random.default_rng(0)"
        )
    if TORCH_RANDOM.search(code):
        assert "torch.manual_seed(" in code, f"{rel(path)} uses torch randomness without a seed"
    if PY_RANDOM.search(code):
        assert "random.seed(" in code, f"{rel(path)} uses Python's random without random.seed"


def test_the_seed_rules_catch_what_they_should():
    assert NP_GLOBAL.search("x = np.random.randn(3)")
    assert not NP_GLOBAL.search("rng = np.random.default_rng(0); rng.standard_normal(3)")
    assert UNSEEDED_GENERATOR.search("rng = np.random.default_rng()")
    assert not UNSEEDED_GENERATOR.search("rng = np.random.default_rng(0)")
    assert TORCH_RANDOM.search("w = torch.randn(4, 4)") and TORCH_RANDOM.search("nn.Linear(4, 4)")
    assert PY_RANDOM.search("random.shuffle(xs)")
