"""Serve app.py in-process on a free port, for tests/test_app.py and tests/test_browser.py.

Importing this module points Gradio's upload, output and example caches at a fresh
temporary folder and turns off Gradio's analytics (there is no network), so it must be
imported before ``app``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

_TMP = tempfile.mkdtemp(prefix="nst-app-test-")
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["GRADIO_TEMP_DIR"] = os.path.join(_TMP, "gradio")
os.environ["GRADIO_EXAMPLES_CACHE"] = os.path.join(_TMP, "examples")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served() -> Iterator[str]:
    """The app's URL while it serves, launched with the app's own launch kwargs."""
    import app

    port = free_port()
    app.demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
        **app.launch_kwargs(),
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.demo.close()
