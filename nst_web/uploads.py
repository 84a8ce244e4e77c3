"""What a request may hand the app as a file: only what was uploaded to this server.

Gradio checks that a file value lies in its upload folder only when the value carries
``"meta": {"_type": "gradio.FileData"}``; a bare ``{"path": "/any/file"}`` reaches the
event function as it was sent (and ``gr.ImageEditor`` opens it), and a ``data:`` URL is
decoded whatever its size. So every file parameter of the app's components is checked here,
on the value as sent, before Gradio's preprocessing:

- a path is read only when, with its links resolved, it lies in the upload folder (where
  Gradio also caches, and copies the ``examples/`` files the page shows); anything else
  gets one message, the same whether or not the path exists;
- a ``data:`` URL is refused over the upload size limit, before it is decoded.

Gradio here, no torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gradio as gr

from . import gradio_patches

# The examples shipped with the app (gr.Examples copies them into the upload folder).
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
MAX_FILE_BYTES = 20 * 1024 * 1024  # launch's max_file_size, in bytes: one limit for every way in
MAX_FILE_SIZE = "20mb"


def folders() -> list[str]:
    """The folders a file value may come from, links resolved: Gradio's upload (and cache)
    folder, read when asked since GRADIO_TEMP_DIR may change before launch."""
    return [os.path.realpath(gradio_patches.upload_folder())]


def not_uploaded(name: str) -> gr.Error:
    """The one refusal for a path that was not uploaded here (it names no path: the same
    text whether or not the path exists, so it tells nothing about the server's files)."""
    return gr.Error(
        f"{name} must be a file uploaded to this app (in gradio_client: handle_file(path)); "
        "paths on the server are not read",
        print_exception=False,
    )


def too_large(name: str) -> gr.Error:
    return gr.Error(f"{name} is over the {MAX_FILE_SIZE} upload limit", print_exception=False)


def is_uploaded(path: str) -> bool:
    """Whether ``path`` (links and ``..`` resolved, relative to the server's folder) lies
    inside one of `folders`. ``file://`` and other URLs are not paths and are refused."""
    if not isinstance(path, str) or not path or "\0" in path:
        return False
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root + os.sep) for root in folders())


def data_url_bytes(url: str) -> int:
    """The size a ``data:`` URL decodes to, from its length (base64: 3 bytes per 4 characters)."""
    head, _, body = url.partition(",")
    return len(body) * 3 // 4 if head.endswith(";base64") else len(body)


def check(value: Any, name: str, data_urls: bool = False) -> None:
    """Raise a gr.Error unless every file in ``value`` (a file dict, or lists/dicts holding
    them, as sent) was uploaded here, and every ``data:`` URL in it is within the limit.

    Args:
        data_urls: whether the component reads a ``data:`` URL sent instead of a path.
    """
    for f in _files(value):
        url = f.get("url")
        if isinstance(url, str) and url.startswith("data:") and data_url_bytes(url) > MAX_FILE_BYTES:
            raise too_large(name)
        path = f.get("path")
        if data_urls and not path and isinstance(url, str) and url.startswith("data:"):
            continue  # bytes sent with the request (size checked above)
        if not is_uploaded(path):
            raise not_uploaded(name)


def _files(value: Any) -> Iterable[dict[str, Any]]:
    """The file dicts in a value as sent: any dict with a ``path`` or ``url`` key."""
    if isinstance(value, dict):
        if "path" in value or "url" in value:
            yield value
        else:
            for v in value.values():
                yield from _files(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _files(v)


class Guarded:
    """A component's data model that first applies `check` to the value as sent (Gradio
    validates file values against their model before preprocessing); then ``validate``,
    the model's own validation or a wrapper's. Everything else is the model's own."""

    def __init__(self, model: Any, name: str, data_urls: bool = False) -> None:
        self._model, self._name, self._data_urls = model, name, data_urls

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("_model", "_name", "_data_urls"):  # copy/pickle probe these
            raise AttributeError(attr)
        return getattr(self._model, attr)

    def check(self, obj: Any) -> None:
        check(obj, self._name, self._data_urls)

    def model_validate(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        self.check(obj)
        return self._model.model_validate(obj, *args, **kwargs)


def uploads_only(component: gr.components.Component, name: str, data_urls: bool = False) -> gr.components.Component:
    """``component``, reading files only from uploads (see the module docstring).

    Args:
        name: the parameter, as messages name it.
        data_urls: the component reads ``data:`` URLs (see `check`).
    """
    gradio_patches.wrap_data_model(component, lambda model: Guarded(model, name, data_urls))
    return component


def guard(demo: gr.Blocks) -> None:
    """Check every guarded component's value in ``demo``'s requests as sent, before Gradio's
    own handling of files: a value with ``"meta"`` then gets the same refusal as one
    without (Gradio's would name the path), and a link inside the upload folder is resolved
    (Gradio's check does not resolve links, and would copy the file it points to)."""

    def check_value(block: Any, value: Any) -> None:
        model = getattr(block, "data_model", None)
        if isinstance(model, Guarded) and not gradio_patches.is_stateful(block):
            model.check(value)

    gradio_patches.check_inputs_first(demo, check_value)


# Every request body (JSON with base64 in it, the brush's blobs, a form) is capped at the
# upload limit as base64 (4/3) with room for the other parameters; Gradio caps /upload's
# files itself at MAX_FILE_BYTES.
MAX_BODY_BYTES = MAX_FILE_BYTES * 4 // 3 + 1024 * 1024


class BodyLimit:
    """ASGI middleware: a request whose body is over ``limit`` bytes gets 413, from its
    Content-Length before anything is read, or (chunked) as soon as it passes the limit."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        try:
            declared = int(length)
        except ValueError:
            declared = self.limit + 1
        if declared > self.limit:
            return await _refuse(send)
        seen = 0
        started = False

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def sending(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except _TooLarge:
            if not started:
                await _refuse(send)


class _TooLarge(Exception):
    pass


async def _refuse(send: Callable) -> None:
    body = f"Request over the {MAX_FILE_SIZE} upload limit".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# The image editor receives its canvas as blobs (/component_server accept_blobs) kept in
# memory until the event that reads them: an index picks the layer's slot, and every new id
# is a new entry. Both are bounded here (Gradio bounds neither).
MAX_LAYERS = 4  # layer slots per canvas (the app's editor has one layer)
MAX_CANVASES = 32  # canvases held at once, the oldest dropped first (one per Run in flight)


def bounded_blobs(editor: gr.ImageEditor) -> gr.ImageEditor:
    """``editor``, whose ``accept_blobs`` refuses a layer index over MAX_LAYERS and holds at
    most MAX_CANVASES canvases."""

    def bounded(data: Any, store: dict) -> None:
        fields = getattr(data, "data", None)
        if not isinstance(fields, dict):
            raise gr.Error("the brush canvas was sent in a form this app does not read", print_exception=False)
        index = fields.get("index")
        if index not in (None, "", "null"):
            try:
                slot = int(index)
            except (TypeError, ValueError):
                slot = -1
            if not 0 <= slot < MAX_LAYERS:
                raise gr.Error(f"the brush canvas has at most {MAX_LAYERS} layers", print_exception=False)
        while len(store) >= MAX_CANVASES and fields.get("id") not in store:
            store.pop(next(iter(store)))

    gradio_patches.before_accept_blobs(editor, bounded)
    return editor
