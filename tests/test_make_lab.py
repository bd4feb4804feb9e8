"""`make lab` — the first command a newcomer types — really serves JupyterLab on localhost.

Starts `make lab` on a free port (as the README says, nothing else), waits until the server
answers, checks it printed the URL with its token, that the lab's settings overrides switch off
the news pop-up, and that chapter 00 is served; then stops the whole process group.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_make_lab_serves_jupyterlab_on_localhost(tmp_path):
    port = _free_port()
    log = tmp_path / "make-lab.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "JUPYTER_CONFIG_DIR")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")  # keep the server's files out of ~
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "lab", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the jupyter child dies with the group below
        )
    try:
        deadline = time.monotonic() + 120
        token = None
        while time.monotonic() < deadline and proc.poll() is None:
            m = re.search(rf"http://127\.0\.0\.1:{port}/lab\S*\?token=(\w+)", log.read_text())
            if m:
                token = m.group(1)
                if _get(f"http://127.0.0.1:{port}/api/status?token={token}")[0] == 200:
                    break
            time.sleep(0.5)
        text = log.read_text()
        assert proc.poll() is None, f"`make lab` exited early:\n{text[-3000:]}"
        assert token, f"`make lab` printed no http://127.0.0.1:{port}/lab?token=… URL:\n{text}"

        status, body = _get(f"http://127.0.0.1:{port}/api/status?token={token}")
        assert status == 200, f"JupyterLab did not answer /api/status (HTTP {status})"

        # chapter 00, the page make lab opens, is served from the repository root
        status, body = _get(
            f"http://127.0.0.1:{port}/api/contents/notebooks/00_welcome.ipynb"
            f"?content=0&token={token}"
        )
        assert status == 200 and json.loads(body)["type"] == "notebook"

        # no news pop-up: the overrides installed by the Makefile are in force
        status, body = _get(
            f"http://127.0.0.1:{port}/lab/api/settings/"
            f"@jupyterlab/apputils-extension:notification?token={token}"
        )
        assert status == 200
        # overrides change the schema's defaults (what a user who never touched settings gets)
        defaults = {
            k: v.get("default") for k, v in json.loads(body)["schema"]["properties"].items()
        }
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
