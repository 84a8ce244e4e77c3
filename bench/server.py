"""The app served as it is deployed, ``python app.py`` in a process of its own, for the
benches that measure it from outside (estimate, load, regions --app)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from .images import ROOT

APP = ROOT / "app.py"  # what a Space runs
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, for Playwright (its own browser download is not used)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    tmp: Path, own_temp: bool = False, app: Path = APP, env_extra: dict[str, str] | None = None
) -> Iterator[tuple[str, psutil.Popen]]:
    """``python app.py`` on a free port of 127.0.0.1, once it answers: its URL and process
    (a :class:`psutil.Popen`: a subprocess and a psutil process in one). Its output goes
    to ``tmp/server.log``.

    Args:
        own_temp: leave the app's temporary folders to the app, with ``tmp`` as its system
            temporary folder (TMPDIR), as on a Space; else Gradio's caches go to ``tmp``.
        app: the app file to serve (another checkout's, to compare).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_EXAMPLES_CACHE": str(tmp / "examples"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env_extra or {}),
    }
    if own_temp:
        env.pop("GRADIO_TEMP_DIR", None)
        env["TMPDIR"] = str(tmp)
    else:
        env["GRADIO_TEMP_DIR"] = str(tmp / "gradio")
    log = open(tmp / "server.log", "a")
    proc = psutil.Popen([sys.executable, str(app)], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + "config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {tmp / 'server.log'}")
            time.sleep(0.5)
        yield url, proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)  # if a bench paused it
                proc.terminate()
            try:
                proc.wait(15)
            except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
                proc.kill()
                proc.wait(15)
        log.close()
