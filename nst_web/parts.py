"""The pieces of the app that are neither the page nor a handler: components that hand nst the values as sent,
controls made from Settings metadata, nst's messages as gr.Errors, the status line and the
loss curve's data, and the result PNGs. Gradio here, no torch.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import tempfile
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import pydantic
from PIL import Image

import nst
from nst import MAX_INPUT_PIXELS, format_seconds

from . import budgets, folder, gradio_patches, uploads

LABELS = {  # UI wording only; anything not here is labelled from its field name
    "style_weight": "β/α",
    "normalization": "Cost normalisation",
    "size": "Output size (px, long side)",
    "init": "Start from",
    "optimizer": "Optimiser",
    "multiscale": "Coarse to fine",
    "tv_weight": "Smoothing (TV weight)",
    "time_limit": "Time limit (s)",
    "preserve_color": "Keep the content's colours",
}


# --- Components whose value reaches the run function as submitted ----------------------
#
# Gradio checks slider ranges and dropdown choices itself, with messages that do not name
# the setting ("Value 0 is less than minimum value 1"), and opens uploads with Pillow,
# failing with a bare "Error" on a file that is not an image. For the run's inputs these
# checks are switched off, per component, so that nst checks the values and its messages
# name what is wrong. (Per instance, not by subclassing: Gradio writes a .pyi file beside
# the module of every Component subclass.)


def as_sent(component: gr.components.Component) -> gr.components.Component:
    """``component``, handing its value to the event function exactly as submitted."""
    gradio_patches.replace_preprocess(component, lambda payload: payload)
    return component


def as_path(component: gr.Image, name: str) -> gr.Image:
    """An Image input whose value is the uploaded file's path, unopened: nst reads it.

    ``name`` is the /stylize parameter, for the message when the value has the wrong shape.
    """
    gradio_patches.wrap_data_model(component, lambda model: _Shaped(model, name, _FILE))
    uploads.uploads_only(component, name, data_urls=True)

    def preprocess(payload: Any) -> str | None:
        if payload is None or (payload.path is None and not payload.url):
            return None
        if payload.url and payload.url.startswith("data:"):  # an API caller's data URL
            return _data_url_file(payload.url, name)
        return payload.path

    gradio_patches.replace_preprocess(component, preprocess)
    return component


def _data_url_file(url: str, name: str) -> str:
    """A ``data:`` URL's bytes as a file in the upload folder, undecoded: nst reads it as
    it reads an upload (Gradio's own preprocessing would decode the pixels here, outside the
    run's queue). Its size was checked against the upload limit before (uploads)."""
    head, _, body = url.partition(",")
    try:
        data = base64.b64decode(body) if head.endswith(";base64") else body.encode("latin-1")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise gr.Error(f"{name} is a data: URL that is not valid base64", print_exception=False) from None
    suffix = mimetypes.guess_extension(head[5:].split(";")[0].strip()) or ".img"
    folder = budgets.data_url_folder()  # removed when the request ends (door), else swept within the hour
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=suffix, dir=folder)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


class _Shaped:
    """A component's data model that refuses a value of the wrong shape with a message naming
    the parameter, instead of pydantic's (Gradio validates file inputs against their model
    before any preprocessing). Everything else is the model's own."""

    def __init__(self, model: Any, name: str, expected: str) -> None:
        self._model, self._name, self._expected = model, name, expected

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._model, attr)

    def model_validate(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._model.model_validate(obj, *args, **kwargs)
        except pydantic.ValidationError:
            raise gr.Error(f"{self._name} must be {self._expected}, not {_shape(obj)}", print_exception=False) from None


def _shape(value: Any) -> str:
    """What was sent, in a few words: 'text (...)', 'a number (5)', 'a list holding ...'."""
    if isinstance(value, str):
        return f"text ({Path(value).name[:60]!r})" if "/" in value or "\\" in value else f"text ({value[:60]!r})"
    if isinstance(value, (bool, int, float)):
        return str(value).lower() if isinstance(value, bool) else f"a number ({value!r})"
    if isinstance(value, dict):
        return "an object without a file path" if "path" not in value else "an object whose path is not text"
    if isinstance(value, list):
        return (
            "a list holding " + ", ".join(sorted({_shape(v).split(" (")[0] for v in value}))
            if value
            else "an empty list"
        )
    return type(value).__name__


_FILE = "an image file (in gradio_client: handle_file(path))"


def as_paths(component: gr.File, name: str) -> gr.File:
    """A multiple-file input whose wrong-shaped values get a message naming ``name``."""
    shape = "a list of image files (in gradio_client: [handle_file(path), ...])"
    gradio_patches.wrap_data_model(component, lambda model: _Shaped(model, name, shape))
    return uploads.uploads_only(component, name)


def control(name: str, **kw: Any) -> gr.components.Component:
    """A component for the Settings field ``name``, from its metadata (default, choices, help);
    ``kw`` overrides its keyword arguments (``cls``: the component class)."""
    info = nst.field_info(name)
    default, choices = info.default, info.ui_choices or info.choices
    kw = {"label": LABELS.get(name, name.replace("_", " ").capitalize()), "info": info.help, **kw}
    if "cls" in kw:
        cls = kw.pop("cls")
    elif info.many and choices:
        cls, kw = gr.CheckboxGroup, {"choices": list(choices), **kw}
    elif choices:
        cls, kw = gr.Dropdown, {"choices": list(choices), **kw}
    elif info.kind is bool:
        cls = gr.Checkbox
    elif default is None:  # gr.Number would show (and send) 0 for "not set"
        cls, kw = gr.Textbox, {"placeholder": "none", **kw}
    else:
        cls = gr.Number
        if info.kind is int:
            kw.setdefault("precision", 0)
    value = list(default) if isinstance(default, tuple) else default
    return as_sent(cls(value=value, elem_id=f"nst-{name.replace('_', '-')}", **kw))


def nst_error(exc: Exception, *uploads: str) -> gr.Error:
    """A gr.Error with nst's message as plain text, for API clients as for the page (which
    shows a gr.Error's message through Gradio's HTML sanitiser: markup in a file name is
    shown harmlessly, never run).

    ``uploads`` are the uploaded files the message may name; they are named as their
    owner named them (see `shown_name`).
    """
    text = str(exc)
    for path in uploads:
        stored, named = Path(path).name, shown_name(path)
        if stored != named:
            text = text.replace(stored, named)
    return gr.Error(text, print_exception=False)


def shown_name(path: str) -> str:
    """An upload's file name as its owner wrote it: browsers and httpx send ``"`` in a file
    name as ``%22`` (the HTML form encoding), and Gradio keeps that in the stored name."""
    return Path(path).name.replace("%22", '"')


def status_line(ev: nst.Progress, stopped: bool = False) -> str:
    """'step i/N · content … · style … · total … · elapsed … · ETA …' (nst's ETA)."""
    terms = " · ".join(f"{k} {v:.3g}" for k, v in ev.terms.items())
    if ev.done and not ev.stopped:
        return f"**Done** · {ev.step} steps in {format_seconds(ev.elapsed)} · {terms} · {ev.size[0]}×{ev.size[1]} px"
    where = f"step {ev.step}/{ev.total}"
    if ev.scale[1] > 1:
        where += f" (scale {ev.scale[0]}/{ev.scale[1]}, {ev.size[0]}×{ev.size[1]} px)"
    if stopped or ev.stopped:
        return (
            f"**Stopped** at {where} · {terms} · after {format_seconds(ev.elapsed)}; the image as it was is the result"
        )
    eta = format_seconds(ev.eta) if ev.eta is not None and ev.step > 1 else "…"  # step 1 also paid the set-up
    done = f" ({100 * ev.work_done / ev.work_total:.0f}%)" if ev.work_total else ""
    return f"{where}{done} · {terms} · elapsed {format_seconds(ev.elapsed)} · ETA {eta}"


def loss_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The loss-curve data; typed even when empty, so the plot's axes are numeric from the start."""
    frame = pd.DataFrame(rows, columns=["step", "loss", "term"])
    return frame.astype({"step": "int64", "loss": "float64", "term": "string"})


@cache
def results_dir() -> Path:
    """The results' folder, in this process's own (:mod:`.folder`)."""
    results = folder.claim() / "results"
    results.mkdir(parents=True, exist_ok=True)
    return results


@contextmanager
def previews() -> Iterator[Callable[[Image.Image], str]]:
    """A run's live previews: a function that writes one as a JPEG file and returns its path.

    One file per run, rewritten in place (Gradio copies it into its cache before the run's
    generator resumes), and removed when the run ends, is cancelled or fails. JPEG at
    quality 90 takes about 1 ms at 512 px; the PNG Gradio would write for a PIL image takes
    20 ms on an idle CPU and 100 ms beside a run, whose threads then wait for the core it takes.
    """
    folder = results_dir().parent / "previews"
    folder.mkdir(exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.jpg"
    tmp = path.with_suffix(".tmp")

    def write(img: Image.Image) -> str:
        img.convert("RGB").save(tmp, "JPEG", quality=90)
        os.replace(tmp, path)
        return str(path)

    try:
        yield write
    finally:
        path.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def save_result(img: Image.Image) -> str:
    """Write ``img`` as a PNG with its recipe, under a fresh name; remove those over an hour old."""
    folder = _results_kept_an_hour()
    fd, path = tempfile.mkstemp(prefix="stylized-", suffix=".png", dir=folder)
    with os.fdopen(fd, "wb") as f:
        nst.save_png(img, f)
    return path


def save_photo(img: Image.Image) -> str:
    """Write the photo shown on the before/after slider as a JPEG (quality 90), kept as results are.

    Given as a PIL image, Gradio would encode it as WebP in the server's loop: 157 ms at
    1024 px beside a run, against 5 ms for this JPEG (about 2.5 s and 80 ms at 4096 px)."""
    fd, path = tempfile.mkstemp(prefix="before-", suffix=".jpg", dir=_results_kept_an_hour())
    with os.fdopen(fd, "wb") as f:
        img.convert("RGB").save(f, "JPEG", quality=90)
    return path


def _results_kept_an_hour() -> Path:
    """The results folder, without what is over an hour old in it."""
    folder = results_dir()
    budgets.sweep(folder, ("*.png", "before-*.jpg", "painted-*"))  # results, slider photos, brush masks
    return folder


def failure(exc: Exception) -> gr.Error:
    """The message for a failure nst did not foresee; the details (paths) go to the server's log."""
    traceback.print_exception(exc)
    return gr.Error(
        f"The run stopped on an unexpected error ({type(exc).__name__}). Try again; if it happens "
        "again, try a smaller size or other settings.",
        print_exception=False,
    )


def shown(name: str, v: Any) -> Any:
    """A setting's value as its control shows it (see `control`)."""
    if isinstance(v, tuple):  # a text box (e.g. style_blend) or a checkbox group
        return list(v) if nst.field_info(name).ui_choices else " ".join(f"{x:g}" for x in v)
    return "" if v is None else v


def stand_in(path: str, size: int) -> Image.Image:
    """A blank image of the shape of the image at ``path``, at most ``size`` px on its long
    side, from the file's header alone (its pixels are not decoded).

    Raises:
        nst.ImageError: the file is not an image Pillow can identify, or declares more
            pixels than nst accepts.
    """
    name = shown_name(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        w = h = 0
        over = True
    except (OSError, ValueError, SyntaxError):
        raise nst.ImageError(f"the content image {clip(name)!r} is not an image file nst can read") from None
    else:
        over = w * h > MAX_INPUT_PIXELS
    if over:
        raise nst.ImageError(
            f"the content image {clip(name)!r} is larger than the {MAX_INPUT_PIXELS // 1_000_000} Mpx nst accepts"
        )
    scale = min(1.0, size / max(w, h, 1))
    return Image.new("RGB", (max(1, round(w * scale)), max(1, round(h * scale))))


@contextmanager
def saying(what: str) -> Iterator[None]:
    """Start-up says what it does and how long it took: ``nst: loading the weights… 1.2 s``."""
    print(f"nst: {what}…", end="", flush=True)
    t = time.perf_counter()
    try:
        yield
    except BaseException:
        print(f" failed after {time.perf_counter() - t:.1f} s", flush=True)
        raise
    print(f" {time.perf_counter() - t:.1f} s", flush=True)


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), for messages that echo input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
