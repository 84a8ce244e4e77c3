"""The one door of the app: every Gradio event is either guarded or known to be cheap.

A guarded event runs in the queue, in one of :data:`GROUPS` (each with its own concurrency
limit), and counts toward its visitor's share of that group (``queue.make_fair``): a
visitor holds at most ``PER_VISITOR[group]`` events of it, queued or running, so no one
fills the queue, and no one runs more than one thing at a time per group. Whatever
decodes an image or computes is guarded.

Files written for one request (``data:`` URLs sent instead of uploads) go when its handler
returns or its generator ends, whatever the handler (:func:`seal` wraps each).

A cheap event runs outside the queue and does constant work: it reads a file's header or
a recipe's bounded text chunk, or sets a flag; it never decodes pixels. Each one is marked
with :func:`cheap`, which says why, where it is defined.

:func:`seal` checks every event the page registers when the page is built, and refuses to
build a page with an event that is neither: the next feature cannot go around the door.
Gradio here, no torch.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import gradio as gr

from . import budgets, gradio_patches, queue, uploads

# The queue's concurrency groups: how many events of each run at once, and how many one
# visitor may hold (waiting or running).
GROUPS = {
    "gpu": 1,  # runs and upscales (and an example's first run): one per device
    "brush": 1,  # the brush's strokes made into masks at Run
    "light": 1,  # short image work: the faces line, the compare slider
}
PER_VISITOR = {"gpu": queue.PER_VISITOR, "brush": 2, "light": 2}

# Gradio's own handlers that the page registers (gr.Examples' first event: it hands the
# example's file paths to the inputs, nothing more).
GRADIO_CHEAP = {"load_example_input"}

F = TypeVar("F", bound=Callable[..., Any])


def cheap(why: str) -> Callable[[F], F]:
    """Mark a handler as cheap enough to run outside the queue; ``why`` says what bounds its work."""

    def mark(fn: F) -> F:
        fn.__nst_cheap__ = why  # type: ignore[attr-defined]
        return fn

    return mark


def guarded(**kw: Any) -> dict[str, Any]:
    """An event's keyword arguments that put it behind the door in ``kw["group"]``."""
    group = kw.pop("group")
    if group not in GROUPS:
        raise ValueError(f"no concurrency group {group!r}; known: {', '.join(GROUPS)}")
    return {"queue": True, "concurrency_id": group, "concurrency_limit": GROUPS[group], **kw}


def problem(fn: Any) -> str | None:
    """Why the page's event ``fn`` (a Gradio BlockFunction) is neither guarded nor cheap, or None."""
    handler = fn.fn
    if handler is None:  # JavaScript in the browser alone
        return None
    name = getattr(handler, "__name__", repr(handler))
    if getattr(handler, "__nst_cheap__", None) or name in GRADIO_CHEAP:
        return None
    if not fn.queue:
        return f"{name} runs outside the queue and is not marked cheap"
    if fn.concurrency_id not in GROUPS:
        return f"{name} is queued outside the app's groups ({fn.concurrency_id!r}; known: {', '.join(GROUPS)})"
    if fn.concurrency_limit != GROUPS[fn.concurrency_id]:
        return f"{name} runs {fn.concurrency_limit} at once in {fn.concurrency_id!r}, not {GROUPS[fn.concurrency_id]}"
    return None


def seal(demo: gr.Blocks) -> None:
    """Check every event of ``demo`` and put its queue's door in place: fair shares per
    group, and file values only from uploads.

    Raises:
        RuntimeError: an event is neither guarded nor cheap (naming each one).
    """
    problems = [p for fn in demo.fns.values() if (p := problem(fn))]
    if problems:
        raise RuntimeError("events around the app's door: " + "; ".join(problems))
    gradio_patches.wrap_handlers(demo, _removing_request_files)
    for group, limit in PER_VISITOR.items():
        queue.make_fair(demo, group, limit)
    uploads.guard(demo)


def _removing_request_files(handler: F) -> F:
    """``handler``, after which the ``data:`` URL files among its arguments are removed: when
    it returns, or when its generator ends or is closed (Stop, a closed tab). The app's
    handlers, and Gradio's that it registers, are synchronous; an async one is left as it
    is (its files still go within the hour: budgets.sweeper)."""
    if inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler):
        return handler
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from handler(*args, **kwargs)
            finally:
                budgets.remove_request_files(_strings([args, kwargs]))

        return generator  # type: ignore[return-value]

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            budgets.remove_request_files(_strings([args, kwargs]))

    return call  # type: ignore[return-value]


def _strings(value: Any) -> Iterable[str]:
    """The strings in ``value`` and the lists, tuples and dicts inside it (paths among them)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
