"""A run on a thread of its own, for front ends that must hear from it at a steady beat.

A web server's streaming handler (Gradio's) can end only between two of its yields, and
one step of a large image on a CPU takes seconds; :func:`in_thread` yields at least every
``beat`` seconds (None when no event came), and closing it sets the run's stop event, so
that :func:`nst.stylize`'s ``stop=`` ends the computation within a layer.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["in_thread"]

T = TypeVar("T")


def in_thread(
    start: Callable[[threading.Event], Iterator[T]], beat: float = 0.1, stop: threading.Event | None = None,
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

    threading.Thread(target=contextvars.copy_context().run, args=(work,), name=name, daemon=True).start()
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
