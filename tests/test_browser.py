"""Chapter 01 in a real browser: JupyterLab + headless Debian chromium, driven by Playwright.

Runs the whole notebook with Run > Run All Cells, checks that no cell raised, then moves the
widgets' sliders with the keyboard and checks that their text output changes (that round trip
goes through the kernel). A second notebook holding chapter 05's quantization explorer is run
the same way: fewer bits must show a lower accuracy. Screenshots land in
test-artifacts/browser/ (gitignored).

The notebook is COPIED into a temporary root dir: serving the repo's notebooks/ would let
JupyterLab's autosave write outputs into git-tracked files. Jupyter's config, runtime, data,
settings and workspace dirs are temporary too, so nothing global is touched; the venv's kernel is
still found (it lives under sys.prefix, on Jupyter's data path).

    .venv/bin/python -m pytest -m browser tests/test_browser.py -v

conftest.py skips this when chromium is missing, unless INFERLAB_REQUIRE_BROWSER is set (CI).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_ops.ipynb"
QUANT_NOTEBOOK = "05_quant_explorer.ipynb"  # the chapter-05 widget alone, as its notebook calls it
QUANT_CELL = "from inferlab.widgets import quant_explorer\n\nquant_explorer()"
PRUNE_NOTEBOOK = "06_prune_explorer.ipynb"  # the chapter-06 widget alone
PRUNE_CELL = "from inferlab.widgets import prune_explorer\n\nprune_explorer()"
BATCHING_NOTEBOOK = "07_batching_explorer.ipynb"  # the chapter-07 widget alone
BATCHING_CELL = "from inferlab.widgets import batching_explorer\n\nbatching_explorer()"
LLM_NOTEBOOK = "08_llm_serving_explorer.ipynb"  # the chapter-08 widget alone
LLM_CELL = "from inferlab.widgets import llm_serving_explorer\n\nllm_serving_explorer()"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 90  # s until the server answers /api/status
KERNEL_IDLE_TIMEOUT = 120_000  # ms
RUN_ALL_TIMEOUT = 300_000  # ms: the notebook itself takes ~40 s
WIDGET_TIMEOUT = 60_000  # ms

pytestmark = pytest.mark.browser


def _require(what: str, how: str):
    msg = f"browser test needs {what} ({how})"
    if os.environ.get("INFERLAB_REQUIRE_BROWSER"):
        pytest.fail(msg + "; INFERLAB_REQUIRE_BROWSER is set, so this is a failure, not a skip")
    pytest.skip(msg)


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        _require("Debian's chromium on PATH", "apt-get install -y chromium")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server (it shuts its kernels down), then SIGKILL its process group if needed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    try:  # leftovers we started (kernels) share the server's own new session/process group
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free port serving a temp copy of chapter 01: (url, token, log path)."""
    _chromium()  # fail (or skip) before starting a server we cannot use
    assert NOTEBOOK.exists(), f"{NOTEBOOK} is missing"
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    for name, cell in (
        (QUANT_NOTEBOOK, QUANT_CELL),
        (PRUNE_NOTEBOOK, PRUNE_CELL),
        (BATCHING_NOTEBOOK, BATCHING_CELL),
        (LLM_NOTEBOOK, LLM_CELL),
    ):
        nbformat.write(
            nbformat.v4.new_notebook(
                cells=[nbformat.v4.new_code_cell(cell)],
                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                         "language": "python"}},
            ),
            root / name,
        )  # fmt: skip

    settings = base / "lab-settings"
    # No news / update pop-ups; keep every cell in the DOM (no virtual scrolling).
    _write_json(
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
        {"checkForUpdates": False, "fetchNews": "false"},
    )
    _write_json(
        settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
        {"windowingMode": "none"},
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_DATA_DIR=str(base / "data"),  # user data dir; the venv's kernels stay on the path
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        IPYTHONDIR=str(base / "ipython"),
        JUPYTER_PLATFORM_DIRS="0",
    )
    port, token = _free_port(), secrets.token_hex(16)
    log_path = base / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = log_path.open("w")
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyterlab exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                log_text = log_path.read_text()
                pytest.fail(f"jupyterlab did not answer in {SERVER_START_TIMEOUT} s:\n{log_text}")
            time.sleep(0.5)
        yield url, token, log_path
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def page(lab):
    chromium = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright Python package", "pip install -e '.[dev]'")
    url, token, _ = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(WIDGET_TIMEOUT)
            pg.goto(f"{url}/lab/tree/01_ops.ipynb?token={token}", timeout=120_000)
            yield pg
        finally:
            browser.close()


def _shot(page_or_locator, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    page_or_locator.screenshot(path=str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert len(data) > 10_000, f"{path} is only {len(data)} bytes: a blank screenshot?"
    return path


# All code cells carry an execution count ("[12]:"), or an error stopped Run All.
_ALL_DONE_OR_ERROR = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  if (cells.length === 0) return false;
  const err = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
  if ([...document.querySelectorAll(err)].some(e => /Traceback|Error/.test(e.textContent)))
    return true;
  return cells.every(c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputPrompt')?.textContent || ''));
}"""


_STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _stderr_texts(page) -> list[str]:
    return page.locator(_STDERR).all_inner_texts()


def _move_slider(
    page, handle_sel: str, label_sel: str, expect: str, presses: int = 3, key: str = "ArrowRight"
):
    """Focus a slider handle, press ``key`` ``presses`` times; wait for the label to say
    ``expect`` (each key press is a round trip through the kernel). Returns (before, after)."""
    label = page.locator(label_sel)
    label.wait_for(state="visible")
    page.wait_for_function(
        "sel => (document.querySelector(sel)?.textContent || '').trim().length > 0", arg=label_sel
    )
    before = label.inner_text()
    handle = page.locator(handle_sel)
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    try:
        page.wait_for_function(
            "([sel, want]) => (document.querySelector(sel)?.textContent || '').includes(want)",
            arg=[label_sel, expect],
            timeout=WIDGET_TIMEOUT,
        )
    except Exception as exc:  # say what the label showed instead
        raise AssertionError(
            f"after {presses} x {key} the label {label_sel} should contain {expect!r}; "
            f"before: {before!r}, now: {label.inner_text()!r}"
        ) from exc
    return before, label.inner_text()


def test_chapter01_runs_and_widgets_respond(page, lab):
    t0 = time.monotonic()
    (ARTIFACTS / "01_ops_error.png").unlink(missing_ok=True)  # from an earlier failed run
    idle = page.locator("#jp-main-statusbar").get_by_text(
        re.compile(r"Python 3 \(ipykernel\) \| Idle")
    )
    idle.wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)

    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(_ALL_DONE_OR_ERROR, timeout=RUN_ALL_TIMEOUT, polling=500)
    errors = [t for t in _stderr_texts(page) if "Traceback" in t or "Error" in t]
    if errors:  # show the failing cell in the screenshot
        page.locator(_STDERR).first.scroll_into_view_if_needed()
        _shot(page, "01_ops_error.png")
    assert not errors, "a cell raised while running the notebook:\n" + "\n---\n".join(errors)
    idle.wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)
    run_s = time.monotonic() - t0
    n_cells = page.locator(".jp-Notebook .jp-CodeCell").count()
    assert n_cells > 10, f"only {n_cells} code cells rendered"

    # The tiling widget: move the tile slider (the UI's second slider) 3 steps right.
    ui = page.locator(".inferlab-tiling-ui")
    ui.locator(".widget-output img").first.wait_for(state="visible")
    before, after = _move_slider(
        page,
        ".inferlab-tiling-ui .widget-slider >> nth=1 >> .noUi-handle",
        ".inferlab-tiling-text",
        expect="tile 88",  # 64 + 3 steps of 8
    )
    assert "tile 64" in before, before
    assert after != before
    ui.locator(".widget-output img").first.wait_for(state="visible")
    idle.wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)
    _shot(ui, "01_ops_tiling_widget.png")

    # The softmax temperature widget: higher temperature -> higher entropy.
    sm = page.locator(".inferlab-softmax-ui")
    before, after = _move_slider(
        page,
        ".inferlab-softmax-ui .noUi-handle",
        ".inferlab-softmax-text",
        expect="T = 1.41",  # 10 ** (0 + 3 steps of 0.05)
    )
    assert "T = 1.00" in before, before
    h0, h1 = (float(re.search(r"entropy = ([\d.]+)", t).group(1)) for t in (before, after))
    assert h1 > h0, f"entropy should rise with temperature: {before!r} -> {after!r}"
    sm.locator(".widget-output img").first.wait_for(state="visible")
    idle.wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)
    _shot(sm, "01_ops_softmax_widget.png")

    _shot(page, "01_ops_page.png")
    assert not [t for t in _stderr_texts(page) if "Traceback" in t]
    print(f"Run All + checks: {run_s:.1f} s; {n_cells} code cells")


def _run_all(page, name: str) -> None:
    """Run > Run All Cells in the open notebook; fail with a screenshot if a cell raised."""
    idle = page.locator("#jp-main-statusbar").get_by_text(
        re.compile(r"Python 3 \(ipykernel\) \| Idle")
    )
    idle.wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(_ALL_DONE_OR_ERROR, timeout=RUN_ALL_TIMEOUT, polling=500)
    errors = [t for t in _stderr_texts(page) if "Traceback" in t or "Error" in t]
    if errors:
        _shot(page, f"{name}_error.png")
    assert not errors, "a cell raised while running the notebook:\n" + "\n---\n".join(errors)
    idle.wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)


def _open_explorer(page, lab, notebook: str, ui_class: str):
    """Open a widget's notebook in a fresh JupyterLab workspace (chapter 01's notebook, still open
    from the test before, would otherwise stay in the DOM), run it, and return the widget's box
    once its first figure is drawn."""
    url, token, _ = lab
    workspace = "ch" + notebook[:2]
    page.goto(
        f"{url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}", timeout=120_000
    )
    _run_all(page, notebook.removesuffix(".ipynb"))
    ui = page.locator(f".{ui_class}")
    ui.locator(".widget-output img").first.wait_for(state="visible")
    return ui


def _figure_drawn(page, ui, shot: str) -> None:
    """Wait until the kernel is idle again (the figure for the new value is drawn too), then
    screenshot the widget."""
    page.locator("#jp-main-statusbar").get_by_text(
        re.compile(r"Python 3 \(ipykernel\) \| Idle")
    ).wait_for(state="visible", timeout=KERNEL_IDLE_TIMEOUT)
    ui.locator(".widget-output img").first.wait_for(state="visible")
    _shot(ui, shot)


def test_chapter05_quant_explorer_responds(page, lab):
    ui = _open_explorer(page, lab, QUANT_NOTEBOOK, "inferlab-quant-ui")
    # bits slider (the first control) from 8 down 3 steps to 5: the digits CNN loses accuracy
    before, after = _move_slider(
        page,
        ".inferlab-quant-ui .widget-slider >> nth=0 >> .noUi-handle",
        ".inferlab-quant-text",
        expect="weights 5.29 bits each",  # int5 codes + a float32 scale per output channel
        presses=3,
        key="ArrowLeft",
    )
    acc = [float(re.search(r"accuracy ([\d.]+) %", t).group(1)) for t in (before, after)]
    assert "+0.0 points" in before, before
    assert acc[1] < acc[0], f"5-bit accuracy should be below 8-bit: {before!r} -> {after!r}"
    _figure_drawn(page, ui, "05_quant_explorer.png")


def test_chapter06_prune_explorer_responds(page, lab):
    ui = _open_explorer(page, lab, PRUNE_NOTEBOOK, "inferlab-prune-ui")
    # sparsity slider from 0.50 up 4 steps of 0.05 to 0.70: magnitude pruning without
    # fine-tuning loses accuracy fast past half, and CSR gets smaller than dense
    before, after = _move_slider(
        page,
        ".inferlab-prune-ui .widget-slider .noUi-handle",
        ".inferlab-prune-text",
        expect="(70% sparse)",
        presses=4,
        key="ArrowRight",
    )
    acc = [float(re.search(r"accuracy ([\d.]+) %", t).group(1)) for t in (before, after)]
    csr = [float(re.search(r"CSR ([\d.]+) kB", t).group(1)) for t in (before, after)]
    assert "(50% sparse)" in before, before
    assert acc[1] < acc[0], f"70 % sparsity should cost accuracy over 50 %: {before!r} -> {after!r}"
    assert csr[1] < csr[0], f"fewer nonzeros should mean a smaller CSR: {before!r} -> {after!r}"
    _figure_drawn(page, ui, "06_prune_explorer.png")


def test_chapter07_batching_explorer_responds(page, lab):
    ui = _open_explorer(page, lab, BATCHING_NOTEBOOK, "inferlab-batching-ui")
    # max batch (the second slider) from 16 down to 1 at 600 req/s: a batch-1 server serves
    # only ~222 req/s, so the queue must grow without bound and the label must say so
    before, after = _move_slider(
        page,
        ".inferlab-batching-ui .widget-slider >> nth=1 >> .noUi-handle",
        ".inferlab-batching-text",
        expect="OVERLOADED",
        presses=15,
        key="ArrowLeft",
    )
    assert "OVERLOADED" not in before, before
    assert "mean batch 1.00" in after, after
    p99 = [float(re.search(r"p99 ([\d.]+) ms", t).group(1)) for t in (before, after)]
    assert p99[1] > 100 * p99[0], f"batch 1 at 600 req/s should queue: {before!r} -> {after!r}"
    _figure_drawn(page, ui, "07_batching_explorer.png")


def test_chapter08_llm_serving_explorer_responds(page, lab):
    ui = _open_explorer(page, lab, LLM_NOTEBOOK, "inferlab-llm-ui")
    # the request rate (the only slider) from 8 up three stops to 24 req/s: paged batching
    # packs bigger batches, so throughput rises and each token waits longer (TPOT)
    before, after = _move_slider(
        page,
        ".inferlab-llm-ui .widget-slider .noUi-handle",
        ".inferlab-llm-text",
        expect="24 req/s",
        presses=3,
        key="ArrowRight",
    )

    def number(pattern, text):
        return float(re.search(pattern, text).group(1))

    batch = [number(r"batch ([\d.]+)", t) for t in (before, after)]
    tpot = [number(r"TPOT p50 [\d.]+ / p99 ([\d.]+) ms", t) for t in (before, after)]
    tps = [number(r"([\d.]+) tok/s", t) for t in (before, after)]
    assert "8 req/s" in before, before
    assert batch[1] > 2 * batch[0], f"3x the rate should batch more: {before!r} -> {after!r}"
    assert tpot[1] > tpot[0] and tps[1] > tps[0], f"{before!r} -> {after!r}"
    _figure_drawn(page, ui, "08_llm_serving_explorer.png")
