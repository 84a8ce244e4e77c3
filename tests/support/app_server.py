"""Serve the app in-process on a free port, for the tests that talk to it over HTTP.

Import it, and ``nst_web``, in any order: :func:`nst_web.start` sets the process up when
first called (its own temporary folder, where Gradio's uploads go too); conftest.py keeps
Gradio's analytics off and its example cache in a folder of the test session's.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served() -> Iterator[str]:
    """The app's URL while it serves, launched with the app's own launch kwargs."""
    import nst_web

    demo = nst_web.start()
    port = free_port()
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
        **nst_web.launch_kwargs(),
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
