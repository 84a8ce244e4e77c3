"""The nst web app: Gatys-style neural style transfer in the browser, with live previews.

Run it with ``python app.py`` (http://127.0.0.1:7860; ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT``
move it, ``--share`` or ``NST_SHARE=1`` asks for a public link); on Spaces it is the ``app_file``.

This file is the page, a view over :func:`nst.stylize`: defaults, ranges, choices and help
come from ``nst.field_info``; refusals are nst's errors, shown as ``gr.Error``; the estimate,
the ETA, stopping and out-of-memory detection are nst's. The run is ``nst.prepare(...).events()``
inside ``spaces.GPU`` (a no-op off ZeroGPU), which yields Progress with PIL images.
"""

from __future__ import annotations

import argparse
import html
import inspect
import json
import math
import os
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from nst import workdir

# This process's own temporary folder (results, and Gradio's uploads): removed when the
# server stops, and by the next start after a kill. Made before Gradio is imported, which
# reads GRADIO_TEMP_DIR then.
WORKDIR = workdir.claim("nst-app-", uploads_env="GRADIO_TEMP_DIR")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
import pydantic  # noqa: E402
import spaces  # noqa: E402
from PIL import Image  # noqa: E402

import nst  # noqa: E402
from nst.background import in_thread  # noqa: E402
from nst.images import MAX_INPUT_PIXELS  # noqa: E402
from nst.schedule import format_seconds  # noqa: E402
from nst.settings import STRENGTHS  # noqa: E402

# Uploads that declare more pixels than nst accepts are refused from their header, undecoded.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
MAX_FILE_SIZE = "20mb"  # per upload; pixels are capped separately (above)
QUEUE_SIZE = 16  # waiting runs; more get "queue full" rather than a long wait
CONCURRENCY = 1  # one run per device: a run keeps every core (or the GPU) busy already
# Previews by time, at display size (the same small share of a run at any size); the
# full-resolution image comes once, with the result.
PREVIEW_SECONDS, PREVIEW_SIZE = 0.5, 512
STATUS_EVERY = 1.0  # seconds between status/plot updates when there is no new preview
YIELD_EVERY = 0.1  # Gradio can end a generator only between yields: yield at least this often
OOM_RETRIES = 2  # after running out of memory, retry at 1/√2 of the size this many times
PLOT_POINTS = 200  # at most this many steps per loss term in the live curve
MAX_GPU_SECONDS = 300  # the longest ZeroGPU reservation one run asks for
GPU_MARGIN = 10  # seconds of a reservation kept for set-up and the last image
ON_ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
EXAMPLE_PAIRS = (("chelsea.jpg", "swirls.jpg"), ("coffee.jpg", "mosaic.jpg"), ("astronaut.jpg", "waves.jpg"))
EXAMPLE_RUN = {"steps": 100, "size": 256}  # cheap enough to cache lazily on a CPU

DEVICE = nst.resolve_device("auto")
DEVICE_LABEL = {"cuda": "GPU", "mps": "Apple GPU"}.get(DEVICE.type, "CPU")
MAX_SIZE = nst.max_size(DEVICE)
_PLACEHOLDER = Image.new("RGB", (640, 480))  # the image the estimate assumes before an upload
SKIP = (gr.skip(),) * 5  # an update that changes none of the run's five outputs

# The weights, loaded once (on ZeroGPU onto "cuda" here, as documented), shared by every run.
nst.load_model(nst.DEFAULT.weights, nst.DEFAULT.pooling, str(DEVICE))

# The controls of the page and of the /stylize API, in order; each is a Settings field.
# Adding a setting to the Advanced section is adding its name here and a parameter of the
# same name to `stylize` (its component comes from the field's metadata: see `_control`).
MAIN_SETTINGS = ("steps", "style_weight", "content_layer", "style_layers")
ADVANCED_SETTINGS = (
    "size", "preserve_color", "style_loss", "style_scale", "tv_weight", "style_blend",
    "init", "optimizer", "seed", "multiscale", "time_limit", "normalization",
)

LABELS = {  # UI wording only; anything not here is labelled from its field name
    "style_weight": "β/α", "normalization": "Cost normalisation", "size": "Output size (px, long side)", "init": "Start from",
    "optimizer": "Optimiser", "multiscale": "Coarse to fine", "tv_weight": "Smoothing (TV weight)",
    "time_limit": "Time limit (s)", "preserve_color": "Keep the content's colours",
}

# The page's text: the introduction, and the help of the controls (Markdown).
_PAGE = (Path(__file__).parent / "app.md").read_text().split("-->", 1)[1]
INTRO, HELP = (part.strip() for part in _PAGE.split("\n---\n", 1))

# The loss curve's terms (nst.Progress.terms): colour, the colour's name, and what the term is.
TERMS = {"content": ("#2563eb", "blue", "content"), "style": ("#ea580c", "orange", "style × β"),
         "total": ("#16a34a", "green", "total J")}

CSS = """
#nst-status { min-height: 1.5em; }
#nst-estimate p { margin: 0; opacity: 0.8; }
/* Previews of the coarse scales are small: show every preview at the full width. */
#nst-result .image-container > button, #nst-result .image-frame { width: 100%; }
#nst-result .image-frame img { width: 100%; height: auto; max-height: 480px; object-fit: contain; }
"""


def launch_kwargs(share: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``, shared by ``python app.py`` and the tests (server
    name and port are left to ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``)."""
    return {
        "theme": gr.themes.Soft(primary_hue="indigo"),
        "css": CSS,
        "max_file_size": MAX_FILE_SIZE,
        "share": share,
        # Gradio's own refusals (a path not uploaded, a string where a file belongs) say why
        # instead of a bare "Error"; the run's failures are gr.Errors with nst's messages.
        "show_error": True,
        "run_history": False,  # uploaded photos and results are not kept in the browser
        "footer_links": ["api", "gradio", "settings"],
    }


# --- Components whose value reaches the run function as submitted ----------------------
#
# Gradio checks slider ranges and dropdown choices itself, with messages that do not name
# the setting ("Value 0 is less than minimum value 1"), and opens uploads with Pillow,
# failing with a bare "Error" on a file that is not an image. For the run's inputs these
# checks are switched off, per component, so that nst checks the values and its messages
# name what is wrong. (Per instance, not by subclassing: Gradio writes a .pyi file beside
# the module of every Component subclass.)


def _as_sent(component: gr.components.Component) -> gr.components.Component:
    """``component``, handing its value to the event function exactly as submitted."""
    component.preprocess = lambda payload: payload
    return component


class _Shaped:
    """A component's data model that refuses a value of the wrong shape with a message
    naming the parameter, instead of pydantic's (Gradio validates file inputs against
    their model before any preprocessing). Everything else is the model's own."""

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
    """What was sent, in a few words: 'text ('abc')', 'a number (5)', 'a list', ..."""
    if isinstance(value, str):
        if "/" in value or "\\" in value:  # a path, as text: its file name only
            return f"text (a path ending in {Path(value).name[:60]!r})"
        return f"text ({value[:60]!r})"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, dict):
        return "an object without a file path" if "path" not in value else "an object whose path is not text"
    if isinstance(value, list):
        return "a list holding " + ", ".join(sorted({_shape(v).split(" (")[0] for v in value})) if value else "an empty list"
    return type(value).__name__


_FILE = "an image file (in gradio_client: handle_file(path))"


def _as_path(component: gr.Image, name: str) -> gr.Image:
    """An Image input whose value is the uploaded file's path, unopened: nst reads it.

    ``name`` is the /stylize parameter, for the message when the value has the wrong shape.
    """
    component.data_model = _Shaped(component.data_model, name, _FILE)
    stock = component.preprocess

    def preprocess(payload: Any) -> str | None:
        if payload is None or (payload.path is None and not payload.url):
            return None
        if payload.url and payload.url.startswith("data:"):  # an API caller's data URL
            try:
                return stock(payload)
            except Exception:
                raise gr.Error(f"The {component.label or 'image'} could not be read as an image.") from None
        return payload.path

    component.preprocess = preprocess
    return component


def _as_paths(component: gr.File, name: str) -> gr.File:
    """A multiple-file input whose wrong-shaped values get a message naming ``name``."""
    component.data_model = _Shaped(
        component.data_model, name, "a list of image files (in gradio_client: [handle_file(path), ...])"
    )
    return component


# --- Settings, estimates, formatting -----------------------------------------------------


def _control(name: str, **kw: Any) -> gr.components.Component:
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
    return _as_sent(cls(value=value, elem_id=f"nst-{name.replace('_', '-')}", **kw))


def _settings(values: dict[str, Any]) -> nst.Settings:
    """nst.DEFAULT with the submitted values, checked by nst; a gr.Error if one is bad."""
    try:
        return nst.DEFAULT.replace(**values)
    except nst.SettingsError as exc:
        raise _error(exc) from None


def _error(exc: Exception, *uploads: str) -> gr.Error:
    """A gr.Error with nst's message as plain text, for API clients as for the page (which
    shows a gr.Error's message through Gradio's HTML sanitiser: markup in a file name is
    shown harmlessly, never run).

    ``uploads`` are the uploaded files the message may name; they are named as their
    owner named them (see `_shown_name`).
    """
    text = str(exc)
    for path in uploads:
        stored, shown = Path(path).name, _shown_name(path)
        if stored != shown:
            text = text.replace(stored, shown)
    return gr.Error(text, print_exception=False)


def _shown_name(path: str) -> str:
    """An upload's file name as its owner wrote it: browsers and httpx send ``"`` in a file
    name as ``%22`` (the HTML form encoding), and Gradio keeps that in the stored name."""
    return Path(path).name.replace("%22", '"')


def estimate_text(content: str | None, steps: Any, size: Any) -> str:
    """The 'estimated time' line shown under the Run button: nst's estimate for this image."""
    try:
        s = nst.DEFAULT.replace(steps=steps, size=size)
        image = content or _PLACEHOLDER  # before an upload: a 4:3 photo
        secs = nst.prepare(image, image, s).estimate(calibrated=False)
    except nst.Error as exc:
        return html.escape(f"⚠️ {exc}", quote=False)
    return f"Estimated time: about {format_seconds(secs)} ({s.steps} steps at {s.size} px on the {DEVICE_LABEL})."


def _status(ev: nst.Progress, stopped: bool = False) -> str:
    """'step i/N · content … · style … · total … · elapsed … · ETA …' (nst's ETA)."""
    terms = " · ".join(f"{k} {v:.3g}" for k, v in ev.terms.items())
    if ev.done and not ev.stopped:
        return f"**Done** · {ev.step} steps in {format_seconds(ev.elapsed)} · {terms} · {ev.size[0]}×{ev.size[1]} px"
    where = f"step {ev.step}/{ev.total}"
    if ev.scale[1] > 1:
        where += f" (scale {ev.scale[0]}/{ev.scale[1]}, {ev.size[0]}×{ev.size[1]} px)"
    if stopped or ev.stopped:
        return f"**Stopped** at {where} · {terms} · after {format_seconds(ev.elapsed)}; the image as it was is the result"
    eta = format_seconds(ev.eta) if ev.eta is not None and ev.step > 1 else "…"  # step 1 also paid the set-up
    done = f" ({100 * ev.work_done / ev.work_total:.0f}%)" if ev.work_total else ""
    return f"{where}{done} · {terms} · elapsed {format_seconds(ev.elapsed)} · ETA {eta}"


def _plot(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The loss-curve data; typed even when empty, so the plot's axes are numeric from the start."""
    frame = pd.DataFrame(rows, columns=["step", "loss", "term"])
    return frame.astype({"step": "int64", "loss": "float64", "term": "string"})


def _results_dir() -> Path:
    folder = WORKDIR / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save_png(img: Image.Image) -> str:
    """Write ``img`` as a PNG with its recipe, under a fresh name; remove those over an hour old."""
    folder = _results_dir()
    for old in folder.glob("*.png"):
        try:
            if time.time() - old.stat().st_mtime > 3600:
                old.unlink()
        except OSError:
            pass
    fd, path = tempfile.mkstemp(prefix="stylized-", suffix=".png", dir=folder)
    with os.fdopen(fd, "wb") as f:
        nst.save_png(img, f)
    return path


# --- The run ---------------------------------------------------------------------------


def _gpu_seconds(run: nst.PreparedRun, stop: Any = None) -> int:
    """ZeroGPU reservation for one run (nst's GPU estimate with a margin, capped)."""
    return run.reservation_seconds(cap=MAX_GPU_SECONDS)


@spaces.GPU(duration=_gpu_seconds)
def _optimise(run: nst.PreparedRun, stop: threading.Event | None = None) -> Iterator[nst.Progress]:
    """The run, on the GPU when there is one; yields Progress (floats and PIL images)."""
    yield from run.events(stop=stop, preview_seconds=PREVIEW_SECONDS, preview_size=PREVIEW_SIZE)


def stylize(
    content: str | None, style: str | None, steps: int | None = None, style_weight: float | None = None,
    content_layer: str | None = None, style_layers: list[str] | None = None, size: int | None = None,
    init: str | None = None, optimizer: str | None = None, seed: int | None = None,
    multiscale: bool | None = None, style_scale: float | None = None, tv_weight: float | None = None,
    time_limit: float | None = None, preserve_color: str | None = None, style_loss: str | None = None,
    style_blend: str | list[float] | None = None, normalization: str | None = None,
    more_styles: list[str] | None = None,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Transfer the style of `style` onto `content`, streaming previews.

    `content` and `style` are image files; the other parameters are the nst.Settings fields
    of the same names (None takes nst's default); `more_styles` are further style images,
    blended by `style_blend`. Yields (image, status, loss curve, before/after pair, PNG):
    previews twice a second, then the result with its full-resolution PNG (also on Stop).
    """
    values = dict(locals())
    session = getattr(request, "session_hash", None)
    settings = {
        k: v for k, v in values.items()
        if k in nst.field_names() and v is not None
        and not (nst.field_info(k).default is None and isinstance(v, str) and not v.strip())  # a blank box
    }
    s = _settings(settings)
    for path, what in ((content, "content"), (style, "style")):
        if path is None:
            raise gr.Error(f"Upload a {what} image first.", print_exception=False)
    styles = [style, *(p for p in (more_styles or []) if p)]
    run = _prepare(content, styles, s)  # nst opens the images and checks everything now
    if ON_ZERO_GPU:  # end inside the GPU reservation, with the best image so far
        budget = _gpu_seconds(run) - GPU_MARGIN
        run = _prepare(run.content, run.styles, s.replace(time_limit=min(s.time_limit or budget, budget)))
    yield None, f"Preparing… ({s.steps} steps at {s.size} px on the {DEVICE_LABEL})", None, None, None
    note = ""  # after an out-of-memory retry, said before every status line
    for attempt in range(OOM_RETRIES + 1):
        try:
            yield from _run(run, session, note)
            return
        except nst.OutOfMemoryError as exc:  # nst has freed what the attempt held
            error, smaller = _error(exc), exc.smaller
            if attempt == OOM_RETRIES or smaller is None:
                break
        except nst.Error as exc:
            error = _error(exc)
            break
        except gr.Error:
            raise
        except Exception as exc:  # never a dead worker, a traceback or a bare "Error"
            error = _failure(exc)
            break
        # Out of memory: try again at half the pixels.
        note = f"Out of memory at {run.settings.size} px: made at {smaller} px instead · "
        yield gr.skip(), f"⚠️ Out of memory at {run.settings.size} px: retrying at {smaller} px…", *[gr.skip()] * 3
        run = _prepare(run.content, run.styles, run.settings.replace(size=smaller))
    yield gr.skip(), f"⚠️ {error.message}", gr.skip(), gr.skip(), gr.skip()
    raise error


def _prepare(content: Any, styles: list[Any], s: nst.Settings) -> nst.PreparedRun:
    try:
        return nst.prepare(content, styles if len(styles) > 1 else styles[0], s)
    except nst.Error as exc:
        raise _error(exc, *(p for p in (content, *styles) if isinstance(p, str))) from None


def _run(run: nst.PreparedRun, session: str | None, note: str) -> Iterator[tuple]:
    """One attempt of `stylize`'s run: its updates, then the result (also when stopped)."""
    rows: list[dict[str, Any]] = []
    every = max(1, math.ceil(run.total_steps / PLOT_POINTS))
    ev: nst.Progress | None = None
    shown: Image.Image | None = None  # the last preview: the result if stopped on ZeroGPU
    stop = threading.Event()
    last_update = last_yield = 0.0
    # On a thread of its own, heard from every YIELD_EVERY; closing it (cancel, a closed tab)
    # sets `stop`. (On ZeroGPU the run is in another process, out of stop='s reach.)
    start = (lambda stop: _optimise(run, None if ON_ZERO_GPU else stop))
    with closing(in_thread(start, YIELD_EVERY, stop)) as events:
        for item in events:
            if session in _stopping:
                stop.set()  # nst ends the run within a layer, with the image as it was
            if stop.is_set() and (item is None or not item.done):
                continue
            if item is None:  # no step has ended since: a chance to be stopped all the same
                last_yield = time.monotonic()
                yield SKIP
                continue
            ev = item
            shown = ev.image if ev.image is not None else shown
            terms = ev.terms
            # The curve starts once every term is positive (Gradio fixes a plot's series at its
            # first data, and the content term is 0 at step 1 when starting from the content).
            if terms and (rows or min(terms.values()) > 0) and (ev.step % every == 0 or ev.done):
                rows += [{"step": ev.step, "loss": math.log10(v) if v > 0 else math.nan, "term": k}
                         for k, v in terms.items()]
            if ev.done:
                break
            now = time.monotonic()
            if ev.image is not None or now - last_update >= STATUS_EVERY:
                last_update = last_yield = now
                image = ev.image if ev.image is not None else gr.skip()
                yield image, note + _status(ev), _plot(rows) if rows else gr.skip(), gr.skip(), gr.skip()
            elif now - last_yield >= YIELD_EVERY:  # nothing new, but a chance to be stopped
                last_yield = now
                yield SKIP
    plot = _plot(rows) if rows else gr.skip()
    if ev is None or (not ev.done and shown is None):
        yield gr.skip(), "**Stopped** before the first preview.", plot, None, None
        return
    result = ev.image if ev.done else shown
    before = run.content.resize(result.size, Image.Resampling.LANCZOS)
    yield result, note + _status(ev, stopped=not ev.done), plot, (before, result), _save_png(result)


def _failure(exc: Exception) -> gr.Error:
    """The message for a failure nst did not foresee; the details (paths) go to the server's log."""
    traceback.print_exception(exc)
    return gr.Error(
        f"The run stopped on an unexpected error ({type(exc).__name__}). Try again; if it happens "
        "again, try a smaller size or other settings.", print_exception=False,
    )


# Stop: the sessions that pressed Stop since they pressed Run. Their run sets nst's stop
# event and ends with the image as it was. (Gradio's own cancellation, which job.cancel()
# uses, also stops it, but in Gradio 6.31 a cancelled stream sometimes leaves "Error" on its
# outputs, and yields nothing more.)
_stopping: set[str] = set()


def _pressed(stop: bool):
    def record(request: gr.Request) -> None:
        if request.session_hash:
            (_stopping.add if stop else _stopping.discard)(request.session_hash)

    return record


def load_recipe(path: str | None) -> list[Any]:
    """The controls' values from the recipe in an nst PNG (then the log-weight slider's); a
    file without a recipe leaves the controls as they are, with a notice."""
    names = [*MAIN_SETTINGS, *ADVANCED_SETTINGS]
    try:
        recipe = nst.read_recipe(path) if path else None
    except nst.RecipeError as exc:
        gr.Warning(html.escape(str(exc), quote=False))
        recipe = None
    if recipe is None:
        return [gr.skip()] * (len(names) + 1)
    s = nst.DEFAULT.replace(**recipe["settings"])
    gr.Info(f"Settings loaded from the recipe (made by nst {html.escape(str(recipe.get('nst', '?')))}).")
    return [*(_shown(name, getattr(s, name)) for name in names),
            round(math.log10(s.style_weight), 1) if s.style_weight > 0 else gr.skip()]


def _strength_text(style_weight: float) -> str:
    """What the slider's position looks like, in nst's words (the JS twin is in build_demo)."""
    return f"**{nst.settings.strength(style_weight)}**"


def _shown(name: str, v: Any) -> Any:
    """A setting's value as its control shows it (see `_control`)."""
    if isinstance(v, tuple):  # a text box (e.g. style_blend) or a checkbox group
        return list(v) if nst.field_info(name).ui_choices else " ".join(f"{x:g}" for x in v)
    return "" if v is None else v


def run_example(content: str, style: str, steps: int, size: int) -> tuple:
    """The final outputs of a run of an example pair (cached after its first use). The curve
    is not cached: Gradio 6.31's example cache does not restore a plot (nor what follows it)."""
    *_, (result, status, _, pair, png) = stylize(content, style, steps=steps, size=size)
    return result, status, None, pair, png


def _api_description() -> str:
    lines = [f"- {name}: {nst.field_info(name).help}" for name in MAIN_SETTINGS + ADVANCED_SETTINGS]
    return "\n".join([stylize.__doc__.split("\n\n")[0], "", "Settings (all optional):", *lines,
                      "- more_styles: further style image files, blended with `style` by style_blend"])


# --- The page --------------------------------------------------------------------------


def build_demo() -> gr.Blocks:
    """The app's Blocks, with its queue set; launch it with ``launch_kwargs()``."""
    private = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    with gr.Blocks(title="Neural style transfer", delete_cache=(3600, 7200)) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                with gr.Row():
                    content = _as_path(gr.Image(
                        label="Content image", type="filepath", image_mode=None, min_width=200,
                        sources=["upload", "clipboard"], height=240, elem_id="nst-content",
                    ), "content")
                    style = _as_path(gr.Image(
                        label="Style image", type="filepath", image_mode=None, min_width=200,
                        sources=["upload", "clipboard"], height=240, elem_id="nst-style",
                    ), "style")
                controls: dict[str, gr.components.Component] = {}
                controls["steps"] = _control("steps", cls=gr.Slider, minimum=1, maximum=nst.LIMITS.max_steps, step=1)
                # A strength slider over log₁₀ β/α, marked with nst's words; the ratio itself
                # is in the box beside it, and is what is sent.
                marks = [(word, math.log10(w)) for word, w in STRENGTHS]
                log_weight, lo, hi = math.log10(nst.DEFAULT.style_weight), math.floor(marks[0][1]) - 1, marks[-1][1]
                with gr.Row(equal_height=True):
                    weight_slider = gr.Slider(
                        lo, hi, value=log_weight, step=0.1, scale=3, min_width=250, label="Style strength",
                        info=" · ".join(f"{word} {w:g}" for word, w in STRENGTHS) + " (β/α, log scale)",
                        elem_id="nst-style-weight-log",
                    )
                    controls["style_weight"] = _control("style_weight", info=None, scale=1, min_width=110)
                strength_word = gr.Markdown(_strength_text(nst.DEFAULT.style_weight), elem_id="nst-strength")
                controls["content_layer"] = _control("content_layer")
                controls["style_layers"] = _control("style_layers")
                # Run sits above Advanced, so that it stays in reach when Advanced is open.
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="nst-run")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="nst-stop")
                estimate = gr.Markdown(estimate_text(None, nst.DEFAULT.steps, nst.DEFAULT.size), elem_id="nst-estimate")
                with gr.Accordion("Advanced", open=False, elem_id="nst-advanced"):
                    controls["size"] = _control("size", cls=gr.Slider, minimum=nst.LIMITS.min_size, maximum=MAX_SIZE,
                                                step=16)
                    with gr.Row():  # two columns on a laptop, one on a phone
                        for name in ADVANCED_SETTINGS[1:]:
                            controls[name] = _control(name, min_width=200)
                    more_styles = _as_paths(gr.File(
                        label="More style images (blended with the first by the blend weights)", height=140,
                        file_count="multiple", file_types=["image"], type="filepath", elem_id="nst-more-styles",
                    ), "more_styles")
                    recipe_file = gr.File(label="Load settings from an nst PNG (its recipe)", file_types=[".png"],
                                          type="filepath", height=140, elem_id="nst-recipe")
                examples_here = gr.Column()
                with gr.Accordion("What the controls do", open=False):
                    gr.Markdown(HELP)
            with gr.Column(scale=1, min_width=320):
                result = gr.Image(label="Result (live preview)", type="filepath", format="png", interactive=False,
                                  buttons=["download", "fullscreen"], elem_id="nst-result")
                status = gr.Markdown("", label="Status", elem_id="nst-status")
                # Starts as None: Gradio 6.31 draws no lines into a plot mounted with an empty
                # frame, and shows no legend for data that came later, so the label has it.
                curve = gr.LinePlot(
                    None, x="step", y="loss", color="term", color_map={t: c for t, (c, _, _) in TERMS.items()},
                    label="Loss curve (log₁₀) · " + " · ".join(f"{name}: {what}" for _, name, what in TERMS.values()),
                    x_title="step", y_title="log₁₀ loss", color_title=" ", height=220, elem_id="nst-curve",
                )
                # Shown once there is a result (see download.change below).
                with gr.Column(visible=False, elem_id="nst-finished") as finished:
                    compare = gr.ImageSlider(label="Before / after (drag the handle)", type="pil", interactive=False,
                                             max_height=480, elem_id="nst-compare")
                    download = gr.File(label="Full-resolution PNG", interactive=False, height=90, elem_id="nst-download")
        outputs = [result, status, curve, compare, download]
        examples = _examples()
        if examples:
            with examples_here:
                gr.Examples(
                    examples=examples, inputs=[content, style, controls["steps"], controls["size"]], outputs=outputs,
                    fn=run_example, cache_examples=True, cache_mode="lazy", visible_columns=[0, 1],
                    example_labels=[f"{Path(c).stem} × {Path(s).stem}" for c, s, *_ in examples],
                    label=f"Examples ({EXAMPLE_RUN['size']} px, {EXAMPLE_RUN['steps']} steps; computed once, on first use)",
                )

        # The ratio is shown and sent as itself; the slider moves it by powers of ten.
        weight_slider.input(None, [weight_slider], [controls["style_weight"]],
                            js="(x) => Number(Math.pow(10, x).toPrecision(3))", api_visibility="private")
        controls["style_weight"].input(
            None, [controls["style_weight"], weight_slider], [weight_slider], api_visibility="private",
            js=f"(r, cur) => (r > 0 ? Math.min({hi}, Math.max({lo}, Math.round(Math.log10(r) * 10) / 10)) : cur)",
        )
        # The word under the slider: the nearest mark on the log scale (nst.settings.strength).
        gr.on([controls["style_weight"].change, controls["normalization"].change], None,
              [controls["style_weight"], controls["normalization"]], [strength_word], api_visibility="private",
              js=f"""(r, norm) => {{ if (norm !== "pair") return "(in " + norm + " units a ratio has no fixed look)";
                   if (!(r > 0)) return "**photo only**"; const m = {json.dumps(marks)};
                   const x = Math.log10(r); let best = m[0];
                   for (const k of m) if (Math.abs(k[1] - x) < Math.abs(best[1] - x)) best = k;
                   return "**" + best[0] + "**"; }}""")
        gr.on([content.change, controls["steps"].change, controls["size"].change], estimate_text,
              [content, controls["steps"], controls["size"]], [estimate], trigger_mode="always_last", **private)
        download.change(lambda path: gr.Column(visible=path is not None), [download], [finished], **private)
        recipe_file.upload(load_recipe, [recipe_file],
                           [*(controls[n] for n in (*MAIN_SETTINGS, *ADVANCED_SETTINGS)), weight_slider], **private)
        missing = set(controls) - set(inspect.signature(stylize).parameters)
        assert not missing, f"stylize() needs a parameter for each control; add {missing}"
        run_btn.click(_pressed(False), None, None, queue=False, api_visibility="private").then(
            stylize, [content, style], outputs, inputs_kwargs={**controls, "more_styles": more_styles},
            api_name="stylize", api_description=_api_description(), concurrency_limit=CONCURRENCY,
            concurrency_id="gpu", show_progress="minimal", scroll_to_output=True,
        )
        stop_btn.click(_pressed(True), None, None, queue=False, api_visibility="private")
        demo.unload(_pressed(False))
    demo.queue(max_size=QUEUE_SIZE)
    return demo


def _examples() -> list[list[Any]]:
    """(content, style, steps, size) rows for the example pairs whose files are present."""
    return [[str(EXAMPLES_DIR / c), str(EXAMPLES_DIR / s), EXAMPLE_RUN["steps"], EXAMPLE_RUN["size"]]
            for c, s in EXAMPLE_PAIRS if (EXAMPLES_DIR / c).is_file() and (EXAMPLES_DIR / s).is_file()]


demo = build_demo()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the nst web app (127.0.0.1:7860 by default).")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (or NST_SHARE=1)")
    args = parser.parse_args(argv)
    if not ON_ZERO_GPU:  # time a few whole steps, so that the first estimate holds (ZeroGPU: no GPU here)
        nst.calibrate(DEVICE)
    share = args.share or os.environ.get("NST_SHARE") == "1"
    # quiet: Gradio's own lines would say to set `share=True` in `launch()`; the app says
    # where it serves and its own switch instead (Gradio still prints a public link it makes).
    demo.launch(**launch_kwargs(share=share), quiet=True, prevent_thread_lock=True)
    print(f"nst is serving on {demo.local_url}")
    if not share and not os.environ.get("SPACE_ID"):
        print("For a public link as well, run: python app.py --share")
    demo.block_thread()


if __name__ == "__main__":
    main()
