"""Serve the app in-process on a free port, for the tests that talk to it over HTTP (and wait
on it: :func:`wait_for`).

Import it, and ``nst_web``, in any order: :func:`nst_web.start` sets the process up when
first called (its own temporary folder, where Gradio's uploads go too); conftest.py keeps
Gradio's analytics off and its example cache in a folder of the test session's.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
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
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        server_port=port,
        quiet=True,
        **nst_web.launch_kwargs(),
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.01) -> float:
    """Poll ``predicate`` until it holds (failing the test with ``what`` after ``timeout``
    seconds): the monotonic time at which it held."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, f"{what} within {timeout} s"
        time.sleep(poll)
    return time.monotonic()
