"""Every place where the app changes Gradio's own behaviour, or reads what Gradio keeps to itself.

Gradio has no public hook for these; the app needs them to read files only from uploads,
to keep the queue fair, to poll less, to bound the brush's blobs and to stop cleanly. Each
function here is one such patch, written against Gradio :data:`GRADIO_VERSION` (the
version requirements.txt pins) and checked when it is applied: on another version the app
warns once, naming this file, and the patches that find the names they need still apply
(:func:`poll_every` leaves Gradio's polling as it is when its names are gone). The policy
(what is refused, who a visitor is, what is bounded) stays in the modules that call these:
uploads, queue, door, parts, server.

Gradio here, no torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import gradio as gr

GRADIO_VERSION = "6.31.0"  # what these patches were checked against (requirements.txt pins it)

_warned: list[str] = []


def check_version(version: str | None = None) -> bool:
    """Whether the running Gradio is :data:`GRADIO_VERSION`; if not, warn (once) that the
    patches here were written for that version."""
    version = version or gr.__version__
    if version == GRADIO_VERSION:
        return True
    if version not in _warned:
        _warned.append(version)
        warnings.warn(
            f"nst_web patches Gradio internals checked against Gradio {GRADIO_VERSION}, and this is "
            f"Gradio {version}: uploads, the queue's fairness and the brush's limits may not hold "
            "(see nst_web/gradio_patches.py; requirements.txt pins the version)",
            RuntimeWarning,
            stacklevel=3,
        )
    return False


# --- Components: a value as submitted, and its model checked first -------------------------


def replace_preprocess(component: gr.components.Component, preprocess: Callable[[Any], Any]) -> None:
    """``component`` hands its event function ``preprocess(payload)`` instead of Gradio's own
    preprocessing (per instance, not by subclassing: Gradio writes a .pyi file beside the
    module of every Component subclass)."""
    check_version()
    component.preprocess = preprocess


def wrap_data_model(component: gr.components.Component, wrap: Callable[[Any], Any]) -> None:
    """``component.data_model`` becomes ``wrap(model)``: Gradio validates a file value as
    sent against its component's model (``model_validate``) before any preprocessing."""
    check_version()
    component.data_model = wrap(component.data_model)


def check_inputs_first(demo: gr.Blocks, check: Callable[[Any, Any], None]) -> None:
    """Call ``check(block, value)`` for each input of every event of ``demo``, on the values
    as sent, before Gradio's own preprocessing of them (``Blocks.preprocess_data``)."""
    check_version()
    stock = demo.preprocess_data

    async def preprocess_data(block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        for block, value in zip(block_fn.inputs, inputs):
            check(block, value)
        return await stock(block_fn, inputs, state, explicit_call)

    demo.preprocess_data = preprocess_data


def is_stateful(block: Any) -> bool:
    """Whether ``block`` is a ``gr.State`` (its values never come from a request)."""
    return bool(getattr(block, "stateful", False))


def before_accept_blobs(editor: gr.ImageEditor, before: Callable[[Any, dict], None]) -> None:
    """``before(data, store)`` runs before the image editor keeps a canvas blob sent to
    ``/component_server`` (``accept_blobs``); ``store`` is the editor's ``blob_storage``,
    which Gradio bounds in neither size nor count."""
    check_version()
    stock = editor.accept_blobs

    def accept_blobs(data: Any) -> Any:
        before(data, editor.blob_storage)
        return stock(data)

    accept_blobs._is_server_fn = True  # what /component_server calls (gradio.components.base.server)
    editor.accept_blobs = accept_blobs


# --- Events ------------------------------------------------------------------------------


def wrap_handlers(demo: gr.Blocks, wrap: Callable[[Callable], Callable]) -> None:
    """Every Python handler of ``demo``'s events becomes ``wrap(handler)`` (``BlockFunction.fn``)."""
    check_version()
    for fn in demo.fns.values():
        if fn.fn is not None:
            fn.fn = wrap(fn.fn)


def put_in_group(demo: gr.Blocks, event_id: int, concurrency_id: str, limit: int) -> None:
    """The event ``event_id`` of ``demo`` (one Gradio registers itself, e.g. an example's
    caching) runs in the queue's ``concurrency_id`` group, ``limit`` at once."""
    check_version()
    fn = demo.fns[event_id]
    fn.concurrency_id, fn.concurrency_limit = concurrency_id, limit


# --- The queue -----------------------------------------------------------------------------


def poll_every(demo: gr.Blocks, seconds: float) -> None:
    """``demo``'s queue looks for new events and progress at most every ``seconds``."""
    check_version()
    queue = demo._queue
    for name in ("sleep_when_free", "progress_update_sleep_when_free"):  # Gradio 6.31's names
        if hasattr(queue, name):  # another Gradio: its own polling, rather than a failed start
            setattr(queue, name, max(getattr(queue, name), seconds))


def before_push(demo: gr.Blocks, refuse: Callable[[Pushed], str | None], after: Callable[[Any], None]) -> None:
    """Wrap ``demo``'s queue's ``push`` (the one door of /queue/join and /call/*).

    ``refuse(event)`` sees a :class:`Pushed` view of each new event: a string refuses it with
    Gradio's own "queue full" answer (HTTP 503) and that text. ``after(fn)`` runs, under the
    lock Gradio holds while it takes events off, once the event of ``fn`` (its
    BlockFunction) is queued.
    """
    check_version()
    queue = demo._queue
    push: Callable[..., Awaitable[tuple]] = queue.push

    async def fair_push(body: Any, request: Any, username: str | None) -> tuple:
        fn = demo.fns.get(body.fn_index) if body.fn_index is not None else None
        message = refuse(Pushed(fn, body.session_hash, request)) if fn is not None else None
        if message is not None:
            return False, message, "queue_full"
        answer = await push(body, request, username)
        if answer[0] and fn is not None:
            async with queue.delete_lock:
                after(fn)
        return answer

    queue.push = fair_push


class Pushed:
    """What the app reads of an event (one being pushed, or one in the queue)."""

    def __init__(self, fn: Any, session_hash: str | None, request: Any) -> None:
        self.concurrency_id = getattr(fn, "concurrency_id", None)
        self.session_hash, self.request = session_hash, request


def events(demo: gr.Blocks, concurrency_id: str) -> list[Any]:
    """The events of ``concurrency_id`` waiting in ``demo``'s queue, then those running; each
    has ``session_hash`` and ``request``."""
    queue = demo._queue
    waiting = list(getattr(queue.event_queue_per_concurrency_id.get(concurrency_id), "queue", []))
    running = [e for job in queue.active_jobs if job for e in job if e.concurrency_id == concurrency_id]
    return waiting + running


def running(demo: gr.Blocks) -> Iterator[Any]:
    """The events running in ``demo``'s queue, of every group."""
    for job in demo._queue.active_jobs:
        yield from job or []


def reorder_waiting(demo: gr.Blocks, concurrency_id: str, order: Callable[[list[Any]], list[Any]]) -> None:
    """The waiting events of ``concurrency_id`` in ``demo``'s queue put in ``order(events)``
    (call under the queue's lock: :func:`before_push`'s ``after`` is)."""
    waiting = demo._queue.event_queue_per_concurrency_id[concurrency_id].queue
    waiting[:] = order(list(waiting))


# --- Files and the server --------------------------------------------------------------------


def upload_folder() -> str:
    """Gradio's upload (and cache) folder, read when asked (``GRADIO_TEMP_DIR`` decides it)."""
    from gradio import utils

    return utils.get_upload_folder()


def close_tunnels() -> None:
    """End the share links' tunnels (``demo.close`` leaves them running)."""
    from gradio.tunneling import CURRENT_TUNNELS

    for tunnel in list(CURRENT_TUNNELS):
        tunnel.kill()
