"""Test set-up shared by unit tests, notebooks (nbval) and the browser test.

- matplotlib is headless here (not via MPLBACKEND: notebook kernels would inherit it);
- timing-sensitive items are marked ``serial``: `make test` runs them alone, after the parallel
  phase, so that a notebook measuring GFLOP/s does not share the two cores with another test;
- browser tests are skipped loudly when chromium is missing, unless CI demands them.
"""

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

# Notebooks that measure speed: 01 asserts BLAS reaches half of peak; 02-05 show timings that
# would be meaningless (and slow) while another test shares the two cores.
SERIAL_NOTEBOOKS = {
    "notebooks/01_ops.ipynb",
    "notebooks/02_engine.ipynb",
    "notebooks/03_speed.ipynb",
    "notebooks/04_hardware.ipynb",
    "notebooks/05_quantization.ipynb",  # times onnxruntime int8 vs fp32
    "notebooks/06_pruning.ipynb",  # times dense vs pruned vs CSR
    "notebooks/07_batching.ipynb",  # times the CNN at batch 1..64
    "notebooks/08_llm_serving.ipynb",  # times generation with and without the KV cache
}
ROOT = Path(__file__).parent


def _relpath(item) -> str:
    try:
        return Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(item.fspath)


def pytest_collection_modifyitems(config, items):
    have_chromium = shutil.which("chromium") is not None
    skip_browser = pytest.mark.skip(
        reason="browser test SKIPPED: Debian's chromium is not installed "
        "(apt-get install -y chromium); CI installs it and runs this test"
    )
    for item in items:
        if _relpath(item) in SERIAL_NOTEBOOKS:
            item.add_marker(pytest.mark.serial)
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.serial)
            if not have_chromium and not os.environ.get("INFERLAB_REQUIRE_BROWSER"):
                item.add_marker(skip_browser)
