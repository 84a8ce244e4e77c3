"""A run on a thread of its own, for front ends that must hear from it at a steady beat.

A web server's streaming handler (Gradio's) can end only between two of its yields, and
one step of a large image on a CPU takes seconds; :func:`in_thread` yields at least every
``beat`` seconds (None when no event came), and closing it sets the run's stop event, so
that :func:`nst.stylize`'s ``stop=`` ends the computation within a layer.

A run's thread must not be inside torch when the interpreter finalizes. CPython (before 3.14)
ends a daemon thread that wakes up after finalization has begun by ``pthread_exit`` from
inside its wait for the GIL, and that forced unwind goes through the frames of the torch op
it was in (``THPVariable_conv2d`` → ``~gil_scoped_release``); those C++ frames are
``noexcept``, so the unwind calls ``std::terminate``: "terminate called without an active
exception" and SIGABRT (status 134) where a server was stopped by Ctrl-C mid-run. So every
run still on its thread is stopped and joined at exit (:func:`stop_all`, registered with
:mod:`atexit`, which runs before finalization ends daemon threads); a front end that shuts
down calls it first itself.
"""

from __future__ import annotations

import atexit
import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["in_thread", "stop_all"]

T = TypeVar("T")

# The longest :func:`stop_all` waits at exit: a run ends within a layer once stopped.
STOP_TIMEOUT = 30.0
_lock = threading.Lock()
_running: dict[threading.Thread, threading.Event] = {}  # each run's thread, and its stop event


def stop_all(timeout: float = STOP_TIMEOUT) -> bool:
    """Stop every run still on its thread and wait for their threads to end, ``timeout`` s
    at most in all; whether none is left. Registered with :mod:`atexit` (see the module
    docstring)."""
    with _lock:
        runs = list(_running.items())
    for _, stop in runs:
        stop.set()
    deadline = time.monotonic() + timeout
    for thread, _ in runs:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread, _ in runs)


atexit.register(stop_all)


def in_thread(
    start: Callable[[threading.Event], Iterator[T]],
    beat: float = 0.1,
    stop: threading.Event | None = None,
    name: str = "nst-run",
) -> Iterator[T | None]:
    """Iterate ``start(stop)`` on a daemon thread; yield its items, or None after ``beat`` s without one.

    Args:
        start: makes the run's generator, given the stop event (e.g. ``lambda stop:
            nst.stylize(a, b, stop=stop)``); called on the thread, in the caller's context
            (contextvars: a web request, a GPU quota).
        beat: the longest wait between two yields.
        stop: the run's stop event (a fresh one if None); also set when this generator closes.
        name: the thread's name.

    Raises:
        what the run raised, in the consumer's thread.
    """
    stop = stop or threading.Event()
    events: queue.SimpleQueue = queue.SimpleQueue()
    done = object()

    def work() -> None:
        try:
            for item in start(stop):
                events.put(item)
            events.put(done)
        except BaseException as exc:  # handed to the consumer, who decides
            events.put(exc)
        finally:
            with _lock:
                _running.pop(thread, None)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), name=name, daemon=True)
    with _lock:
        _running[thread] = stop
    try:
        thread.start()
    except BaseException:
        with _lock:
            _running.pop(thread, None)
        raise
    try:
        while True:
            try:
                item = events.get(timeout=beat)
            except queue.Empty:
                yield None
                continue
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
