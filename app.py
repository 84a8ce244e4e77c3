"""The nst web app: Gatys-style neural style transfer in the browser, with live previews.

Run it with ``python app.py`` (http://127.0.0.1:7860; ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT``
move it, ``--share`` or ``NST_SHARE=1`` asks for a public link); on Spaces it is the ``app_file``.

This file is the page, a view over :func:`nst.stylize`: defaults, ranges, choices and help
come from ``nst.field_info``; refusals are nst's errors, shown as ``gr.Error``; the estimate,
the ETA, stopping and out-of-memory detection are nst's. The run is ``nst.prepare(...).events()``
inside ``spaces.GPU`` (a no-op off ZeroGPU; see ``app_gpu.py``), which yields Progress with PIL images. The
brush's strokes become masks in ``nst.brush``; the visit's gallery is ``nst.gallery``; the
Gradio helpers that are not the page are in ``app_parts.py``.
"""

from __future__ import annotations

import argparse
import html
import inspect
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

_STARTED = time.perf_counter()  # for the start-up's own line; Python's start is a little before

from nst import workdir  # noqa: E402

# This process's own temporary folder (results, and Gradio's uploads): removed when the
# server stops, and by the next start after a kill. Made before Gradio is imported, which
# reads GRADIO_TEMP_DIR then.
WORKDIR = workdir.claim("nst-app-", uploads_env="GRADIO_TEMP_DIR")

import gradio as gr  # noqa: E402
import spaces  # noqa: E402,F401  (on ZeroGPU it patches torch first; app_gpu uses it)
from PIL import Image  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

import app_budgets  # noqa: E402
import app_door  # noqa: E402
import app_gpu  # noqa: E402
import app_parts  # noqa: E402
import app_queue  # noqa: E402
import app_uploads  # noqa: E402
import nst  # noqa: E402
from app_door import cheap, guarded  # noqa: E402
from app_parts import as_path, as_paths, control, failure, loss_frame, nst_error, previews, results_dir  # noqa: E402
from app_parts import save_photo, save_result, shown, status_line  # noqa: E402
from nst import brush, calibration_cache, faces  # noqa: E402
from nst.gallery import Gallery  # noqa: E402
from nst.images import MAX_INPUT_PIXELS  # noqa: E402
from nst.schedule import format_seconds  # noqa: E402
from nst.settings import STRENGTHS, strength  # noqa: E402

app_parts.WORKDIR = WORKDIR

# Uploads that declare more pixels than nst accepts are refused from their header, undecoded.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

EXAMPLES_DIR = app_uploads.EXAMPLES_DIR
MAX_FILE_SIZE = app_uploads.MAX_FILE_SIZE  # per file, uploads and data: URLs alike; pixels are capped separately (above)
QUEUE_SIZE = 16  # waiting runs; more get "queue full" rather than a long wait
MAX_STYLES = 8  # style images in one run (each is a mask, and targets, more)
BRUSH_PIXELS = 2_000_000  # brush layers are read at most this large (the masks are made at full size)
STATUS_EVERY = 1.0  # seconds between status/plot updates when there is no new preview
YIELD_EVERY = 0.5  # Gradio can end a generator only between yields; each yield costs the server a message
OOM_RETRIES = 2  # after running out of memory, retry at 1/√2 of the size this many times
PLOT_POINTS = 200  # at most this many steps per loss term in the live curve
ON_ZERO_GPU = app_gpu.ON_ZERO_GPU
# Previews by time, at display size (the same small share of a run at any size); the
# full-resolution image comes once, with the result.
PREVIEW_SECONDS, PREVIEW_SIZE = app_gpu.PREVIEW_SECONDS, app_gpu.PREVIEW_SIZE
# Photos with real paintings (public domain, see examples/README.md), and one synthetic style.
EXAMPLE_PAIRS = (("astronaut.jpg", "starry_night.jpg"), ("chelsea.jpg", "shipwreck.jpg"), ("coffee.jpg", "mosaic.jpg"))
EXAMPLE_RUN = {"steps": 100, "size": 256}  # cheap enough to cache lazily on a CPU

DEVICE = nst.resolve_device("auto")
DEVICE_LABEL = {"cuda": "GPU", "mps": "Apple GPU"}.get(DEVICE.type, "CPU")
MAX_SIZE = nst.max_size(DEVICE)
_PLACEHOLDER = Image.new("RGB", (640, 480))  # the image the estimate assumes before an upload
SKIP = (gr.skip(),) * 5  # an update that changes none of the run's five outputs


@contextmanager
def _saying(what: str) -> Iterator[None]:
    """Start-up says what it does and how long it took: ``nst: loading the weights… 1.2 s``."""
    print(f"nst: {what}…", end="", flush=True)
    t = time.perf_counter()
    try:
        yield
    except BaseException:
        print(f" failed after {time.perf_counter() - t:.1f} s", flush=True)
        raise
    print(f" {time.perf_counter() - t:.1f} s", flush=True)


# The weights, loaded once (on ZeroGPU onto "cuda" here, as documented), shared by every run.
with _saying(f"loading the weights ({nst.DEFAULT.weights} VGG19, on the {DEVICE_LABEL})"):
    nst.load_model(nst.DEFAULT.weights, nst.DEFAULT.pooling, str(DEVICE))

# The controls of the page and of the /stylize API, in order; each is a Settings field.
# Adding a setting to the Advanced section is adding its name here and a parameter of the
# same name to `stylize` (its component comes from the field's metadata: see `control`).
MAIN_SETTINGS = ("steps", "style_weight", "content_layer", "style_layers", "keep_faces")
ADVANCED_SETTINGS = (
    "size", "preserve_color", "style_loss", "style_scale", "tv_weight", "style_blend",
    "init", "optimizer", "seed", "multiscale", "time_limit", "normalization",
)

# The page's text: the introduction, and the help of the controls (Markdown).
_PAGE = (Path(__file__).parent / "app.md").read_text().split("-->", 1)[1]
INTRO, HELP, PAINT_HELP = (part.strip() for part in _PAGE.split("\n---\n", 2))

# The loss curve's terms (nst.Progress.terms): colour, the colour's name, and what the term is.
TERMS = {"content": ("#2563eb", "blue", "content"), "style": ("#ea580c", "orange", "style × β"),
         "total": ("#16a34a", "green", "total J")}

CSS = """
#nst-status { min-height: 1.5em; }
#nst-estimate p { margin: 0; opacity: 0.8; }
/* Previews of the coarse scales are small: show every preview at the full width. */
#nst-result .image-container > button, #nst-result .image-frame { width: 100%; }
#nst-result .image-frame img { width: 100%; height: auto; max-height: 480px; object-fit: contain; }
/* The visit's gallery: small thumbnails from the first run on (Gradio widens a few to fill the row). */
#nst-gallery .grid-container { grid-template-columns: repeat(auto-fill, minmax(120px, 180px)); grid-auto-rows: 120px; }
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
        # Every request body is capped too (a data: URL or the brush's blobs bypass /upload's cap).
        "app_kwargs": {"middleware": [Middleware(app_uploads.BodyLimit)],
                       # The app's own files (results, painted masks, data: URL files) within the hour.
                       "lifespan": app_budgets.sweeper(lambda: [results_dir(), app_budgets.data_url_folder()])},
    }


# --- Settings, estimates, formatting -----------------------------------------------------


def _settings(values: dict[str, Any]) -> nst.Settings:
    """nst.DEFAULT with the submitted values, checked by nst; a gr.Error if one is bad."""
    try:
        s = nst.DEFAULT.replace(**values)
    except nst.SettingsError as exc:
        raise nst_error(exc) from None
    if s.size > MAX_SIZE:  # the app's cap, by a visitor's wait (nst takes up to 8192 px)
        raise gr.Error(nst.size_cap_message(s.size, DEVICE), print_exception=False)
    return s


@cheap("reads the photo's header; plans a blank image of at most the app's size, faces off")
def estimate_text(content: str | None, steps: Any, size: Any) -> str:
    """The 'estimated time' line shown under the Run button: nst's estimate for this image."""
    try:
        s = nst.DEFAULT.replace(steps=steps, size=size, keep_faces=False)  # faces change no cost
        if s.size > MAX_SIZE:
            return html.escape(f"⚠️ {nst.size_cap_message(s.size, DEVICE)}", quote=False)
        # The plan depends on the photo's shape only: its header gives it (no pixels are
        # decoded here, outside the run's queue), and a blank image of that shape stands in.
        image = app_parts.stand_in(content, s.size) if content else _PLACEHOLDER  # before an upload: 4:3
        secs = nst.prepare(image, image, s).estimate(calibrated=False)
    except nst.Error as exc:
        return html.escape(f"⚠️ {exc}", quote=False)
    line = f"Estimated time: about {format_seconds(secs)} ({s.steps} steps at {s.size} px on the {DEVICE_LABEL})."
    cap = app_budgets.run_seconds(DEVICE.type)
    if secs > cap:
        line += f" ⚠️ Over this app's cap of {format_seconds(cap)} a run: it will be planned to fit."
    return line


# --- The run ---------------------------------------------------------------------------


def stylize(
    content: str | None, style: str | None, steps: int | None = None, style_weight: float | None = None,
    content_layer: str | None = None, style_layers: list[str] | None = None, size: int | None = None,
    init: str | None = None, optimizer: str | None = None, seed: int | None = None,
    multiscale: bool | None = None, style_scale: float | None = None, tv_weight: float | None = None,
    time_limit: float | None = None, preserve_color: str | None = None, style_loss: str | None = None,
    style_blend: str | list[float] | None = None, normalization: str | None = None,
    more_styles: list[str] | None = None, masks: list[str] | None = None, keep_faces: bool | None = None,
    keep: str | None = None, request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Transfer the style of `style` onto `content`, streaming previews.

    `content` and `style` are image files; the other parameters are the nst.Settings fields
    of the same names (None takes nst's default); `more_styles` are further style images,
    blended by `style_blend`; `masks` are greyscale mask files, one per style image in order
    (white: that style here; where no mask is white the photo is kept); `keep` is a greyscale
    mask file (white: keep the photo's structure there, as over faces with `keep_faces`). Yields (image,
    status, loss curve, before/after pair, PNG): previews twice a second, then the result
    with its full-resolution PNG (also on Stop).
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
    masks = [p for p in (masks or []) if p] or None
    if max(len(styles), len(masks or [])) > MAX_STYLES:
        raise gr.Error(f"at most {MAX_STYLES} style images (and masks) in one run, not "
                       f"{max(len(styles), len(masks or []))}", print_exception=False)
    run = _prepare(content, styles, s, masks, keep)  # nst opens the images and masks and checks everything now
    kept = faces_kept(run)
    yield None, f"Preparing… ({s.steps} steps at {s.size} px on the {DEVICE_LABEL}){kept}", None, None, None
    note = kept[3:] + " · " if kept else ""  # what is protected, then (after an out-of-memory retry) that
    for attempt in range(OOM_RETRIES + 1):
        try:
            yield from _run(run, session, note)
            return
        except nst.OutOfMemoryError as exc:  # nst has freed what the attempt held
            error, smaller = nst_error(exc), exc.smaller
            if attempt == OOM_RETRIES or smaller is None:
                break
        except nst.Error as exc:
            error = nst_error(exc)
            break
        except gr.Error:
            raise
        except Exception as exc:  # never a dead worker, a traceback or a bare "Error"
            error = failure(exc)
            break
        # Out of memory: try again at half the pixels.
        note = f"Out of memory at {run.settings.size} px: made at {smaller} px instead · " + note
        yield gr.skip(), f"⚠️ Out of memory at {run.settings.size} px: retrying at {smaller} px…", *[gr.skip()] * 3
        run = _prepare(run.content, run.styles, run.settings.replace(size=smaller), masks, keep)
    yield gr.skip(), f"⚠️ {error.message}", gr.skip(), gr.skip(), gr.skip()
    raise error


UPSCALE = 2  # the app's upscale factor: ×2 of the result shown (or of a gallery pick)


def upscale(
    result: str | None, content: str | None, style: str | None, more_styles: list[str] | None = None,
    masks: list[str] | None = None, keep: str | None = None, request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Continue the result shown (`result`: its full-resolution PNG, with its recipe) to twice
    its size: only the finer scales run, starting from it. `content`, `style`, `more_styles`,
    `masks` and `keep` are the run's images, as given to /stylize. Yields as /stylize."""
    for path, what in ((result, "result"), (content, "content image"), (style, "style image")):
        if not path:
            raise gr.Error(f"Upscale needs a result and its {what}: run one first, or pick one below."
                           if what == "result" else f"Upscale needs the {what} the result was made from.",
                           print_exception=False)
    styles = [style, *(p for p in (more_styles or []) if p)]
    masks = [p for p in (masks or []) if p] or None
    try:
        run = nst.prepare_upscale(result, content, styles if len(styles) > 1 else styles[0], UPSCALE,
                                  masks=masks, keep=keep or None)
    except nst.Error as exc:
        raise nst_error(exc, *(p for p in (result, content, *styles, *(masks or []), keep) if p)) from None
    if run.settings.size > MAX_SIZE:  # the app's cap by a visitor's wait
        raise gr.Error(nst.size_cap_message(run.settings.size, DEVICE), print_exception=False)
    start = run.start.size
    yield None, f"Upscaling {start[0]}×{start[1]} px ×{UPSCALE} on the {DEVICE_LABEL}…", None, None, None
    try:
        yield from _run(run, getattr(request, "session_hash", None), f"Upscaled ×{UPSCALE} · ")
    except nst.Error as exc:
        raise nst_error(exc) from None


def _prepare(
    content: Any, styles: list[Any], s: nst.Settings, masks: list[str] | None = None, keep: str | None = None,
) -> nst.PreparedRun:
    try:
        return nst.prepare(content, styles if len(styles) > 1 else styles[0], s, masks=masks, keep=keep or None)
    except nst.Error as exc:
        raise nst_error(exc, *(p for p in (content, *styles, *(masks or []), keep) if isinstance(p, str))) from None


def faces_kept(run: nst.PreparedRun) -> str:
    """`` · keeping 1 face (at x,y w×h px)`` (and the keep mask), or ``""``: what the run protects."""
    what = [f"keeping {faces.describe(run.faces)}"] if run.faces else []
    if run.keep is not None:
        what.append("keeping the keep mask's white")
    return "".join(f" · {w}" for w in what)


def faces_found(content: str | None, keep_faces: bool) -> str:
    """The line beside the *Keep faces* checkbox: the faces found in the content image (read
    reduced: the line only names them)."""
    if content is None:
        return ""
    try:
        image, factor = app_budgets.preview_image(content, "content image")
        found = [f.scaled(factor) for f in faces.detect_faces(image)]
    except faces.FaceDetectionUnavailable as exc:
        return f"⚠️ {exc}"
    except nst.Error:
        return ""  # an image nst refuses: Run says why
    if not found:
        return "No face found in the content image: it is painted as a whole."
    return f"Found {faces.describe(found)}: " + ("kept (features in place)." if keep_faces else "not kept (off).")


def _run(run: nst.PreparedRun, session: str | None, note: str) -> Iterator[tuple]:
    """One attempt of `stylize`'s run: its updates, then the result (also when stopped)."""
    run, cut = app_budgets.capped(run)  # within a visitor's wait on this device
    if cut:
        note = f"{cut[0].upper()}{cut[1:]} · {note}"
        yield gr.skip(), f"⚠️ {note}", *[gr.skip()] * 3
    rows: list[dict[str, Any]] = []
    every = max(1, math.ceil(run.total_steps / PLOT_POINTS))
    ev: nst.Progress | None = None
    shown: Image.Image | None = None  # the last preview: the result if stopped before the last event
    stop = app_gpu.RunStop()
    last_update = last_yield = 0.0
    # On a thread of its own, heard from every YIELD_EVERY; closing it (cancel, a closed tab)
    # sets `stop`, which reaches the ZeroGPU worker too.
    with closing(app_gpu.events(run, stop, YIELD_EVERY)) as events, previews() as preview:
        for item in events:
            if isinstance(item, app_gpu.Notice):  # said before every status line from here on
                note = f"{item.text} · {note}"
                yield gr.skip(), f"⚠️ {item.text}", *[gr.skip()] * 3
                continue
            if session in _stopping:
                stop.set()  # nst ends the run within a layer, with the image as it was
            if stop.is_set() and (item is None or not item.done):
                if time.monotonic() - last_yield >= YIELD_EVERY:  # heard while the run ends
                    last_yield = time.monotonic()
                    yield SKIP
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
                image = preview(ev.image) if ev.image is not None else gr.skip()
                line = note + _limited(ev) + status_line(ev)
                yield image, line, loss_frame(rows) if rows else gr.skip(), gr.skip(), gr.skip()
            elif now - last_yield >= YIELD_EVERY:  # nothing new, but a chance to be stopped
                last_yield = now
                yield SKIP
    plot = loss_frame(rows) if rows else gr.skip()
    if ev is None or (not ev.done and shown is None):
        yield gr.skip(), "**Stopped** before the first preview.", plot, None, None
        return
    result = ev.image if ev.done else shown
    before = save_photo(run.content.resize(result.size, Image.Resampling.LANCZOS))
    png = save_result(result)  # encoded once: the image shown, the slider's "after" and the download
    yield png, note + _limited(ev) + status_line(ev, stopped=not ev.done), plot, (before, png), png


def _limited(ev: nst.Progress) -> str:
    """What the time limit changed, before the status line ("Time limit 20 s: kept 131 of … · ")."""
    return f"{ev.note[0].upper()}{ev.note[1:]} · " if ev.note else ""


# Stop: the sessions that pressed Stop since they pressed Run. Their run sets nst's stop
# event and ends with the image as it was. (Gradio's own cancellation, which job.cancel()
# uses, also stops it, but in Gradio 6.31 a cancelled stream sometimes leaves "Error" on its
# outputs, and yields nothing more.)
_stopping: set[str] = set()


def _pressed(stop: bool):
    @cheap("adds or removes the session in a set")
    def record(request: gr.Request) -> None:
        if request.session_hash:
            (_stopping.add if stop else _stopping.discard)(request.session_hash)

    return record


@cheap("reads the recipe's text chunk, bounded by nst.read_recipe, and no pixels")
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
    return [*(shown(name, getattr(s, name)) for name in names),
            round(math.log10(s.style_weight), 1) if s.style_weight > 0 else gr.skip()]


def run_example(content: str, style: str, steps: int, size: int) -> tuple:
    """The final outputs of a run of an example pair (cached after its first use). The curve
    is not cached: Gradio 6.31's example cache does not restore a plot (nor what follows it)."""
    with _saying(f"caching the example {Path(content).stem} × {Path(style).stem} (its first use)"):
        *_, (result, status, _, pair, png) = stylize(content, style, steps=steps, size=size)
    return result, status, None, pair, png


def _api_description() -> str:
    lines = [f"- {name}: {nst.field_info(name).help}" for name in MAIN_SETTINGS + ADVANCED_SETTINGS]
    return "\n".join([stylize.__doc__.split("\n\n")[0], "", "Settings (all optional):", *lines,
                      "- more_styles: further style image files, blended with `style` by style_blend",
                      "- masks: one greyscale mask file per style image, in order (white: that style here; "
                      "black everywhere: the photo kept)",
                      "- keep: a greyscale mask file (white: keep the photo's structure there, as over faces)"])


# --- The brush and the gallery ----------------------------------------------------------


def paint_on(content: str | None) -> dict[str, Any] | None:
    """The painter's canvas for a new content image: the photo, no strokes. The photo is
    decoded whole (in the queue): a damaged one gets no canvas, whose decoding at Run would
    fail before nst could say what is wrong."""
    if content is None:
        return None
    try:
        nst.load_image(content, "content image")
    except nst.Error:
        return None  # an image nst refuses: the canvas stays empty, and Run says why
    return {"background": content, "layers": [], "composite": content}


def painted_masks(painted: dict[str, Any] | None, current: list[str] | None, more_styles: list[str] | None) -> Any:
    """At Run: the mask files from the brush strokes (one per style), into the masks box. No
    strokes: the box is cleared of earlier painted masks, and uploaded masks are kept."""
    n = 1 + len([p for p in (more_styles or []) if p])
    if n > MAX_STYLES:
        raise gr.Error(f"at most {MAX_STYLES} style images in one run, not {n}", print_exception=False)
    layers = _layers(painted)
    full = layers[0].size if layers else None
    # Strokes are read at up to BRUSH_PIXELS (the masks are feathered anyway) and the masks
    # made at the canvas's size: a huge canvas then costs the server little.
    layers = app_budgets.reduced(layers, BRUSH_PIXELS)
    try:
        masks = brush.masks_from_strokes(layers, n, size=full)
    except nst.Error as exc:
        raise nst_error(exc) from None
    if masks is None:
        return None if current and all(Path(p).name.startswith("painted-") for p in current) else gr.skip()
    folder = Path(tempfile.mkdtemp(prefix="painted-", dir=results_dir()))
    for i, m in enumerate(masks, 1):
        m.save(folder / f"painted-mask-{i}.png")
    return [str(folder / f"painted-mask-{i}.png") for i in range(1, n + 1)]


def painted_keep(painted: dict[str, Any] | None, current: str | None) -> Any:
    """At Run (after :func:`painted_masks`, which has checked the strokes): the brush's white
    strokes as the keep mask file, into the keep box. No white strokes: the box is cleared of
    an earlier painted keep mask, and an uploaded one is kept."""
    layers = _layers(painted)
    keep = brush.strokes(app_budgets.reduced(layers, BRUSH_PIXELS), len(brush.PALETTE)).keep  # as the masks are read
    if keep is None:
        return None if current and Path(current).name.startswith("painted-") else gr.skip()
    path = Path(tempfile.mkdtemp(prefix="painted-", dir=results_dir())) / "painted-keep.png"
    keep.resize(layers[0].size, Image.Resampling.BILINEAR).save(path)  # at the canvas's size, as the masks are
    return str(path)


def _layers(painted: dict[str, Any] | None) -> list[Image.Image]:
    """The brush's stroke layers, as PIL images."""
    return [layer for layer in (painted or {}).get("layers") or [] if isinstance(layer, Image.Image)]


@cheap("reads the result's recipe chunk (bounded); the gallery holds a bounded number of entries")
def add_result(png: str | None, visit: Gallery) -> tuple:
    """A finished run into this visit's gallery, and into the compare menus' choices."""
    if png:
        visit.add(png)
    menu = gr.Dropdown(choices=visit.choices())
    return visit.items(), visit, menu, menu


@cheap("looks up the visit's entry and reads its recipe chunk (bounded)")
def pick_result(visit: Gallery, evt: gr.SelectData) -> list[Any]:
    """A gallery pick: the result shown again, with its settings restored in the controls."""
    entry = visit.at(evt.index)
    if not Path(entry.path).is_file():
        gr.Warning(f"Result #{entry.number} is no longer on the server (results are kept for an hour).")
        return [gr.skip()] * (4 + len(MAIN_SETTINGS) + len(ADVANCED_SETTINGS))
    return [entry.path, entry.path, f"Showing result {html.escape(entry.caption)}", *load_recipe(entry.path)]


def compare_results(a: int | None, b: int | None, visit: Gallery) -> Any:
    """Two of the visit's results on the before/after slider (A left, B right)."""
    first, second = visit.numbered(a), visit.numbered(b)
    if first is None or second is None:
        return gr.skip()
    return Image.open(first.path).convert("RGB"), Image.open(second.path).convert("RGB")


# --- The page --------------------------------------------------------------------------


def build_demo() -> gr.Blocks:
    """The app's Blocks, with its queue set; launch it with ``launch_kwargs()``."""
    private = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    with gr.Blocks(title="Neural style transfer", delete_cache=app_budgets.delete_cache()) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                with gr.Row():
                    content, style = (as_path(gr.Image(
                        label=f"{what.capitalize()} image", type="filepath", image_mode=None, min_width=200,
                        sources=["upload", "clipboard"], height=240, elem_id=f"nst-{what}",
                    ), what) for what in ("content", "style"))
                with gr.Accordion("Paint where each style goes (optional)", open=False, elem_id="nst-paint"):
                    painter = app_uploads.bounded_blobs(app_uploads.uploads_only(gr.ImageEditor(
                        label="Brush on the content image", type="pil", image_mode="RGBA", sources=[], format="png",
                        layers=False, transforms=[], height=360, elem_id="nst-painter",
                        brush=gr.Brush(colors=brush.brush_colors(keep=True), color_mode="fixed"), eraser=gr.Eraser(),
                    ), "the brush canvas"))
                    gr.Markdown(PAINT_HELP)
                controls: dict[str, gr.components.Component] = {}
                controls["steps"] = control("steps", cls=gr.Slider, minimum=1, maximum=nst.LIMITS.max_steps, step=1)
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
                    controls["style_weight"] = control("style_weight", info=None, scale=1, min_width=110)
                strength_word = gr.Markdown(f"**{strength(nst.DEFAULT.style_weight)}**", elem_id="nst-strength")
                controls["content_layer"] = control("content_layer")
                controls["style_layers"] = control("style_layers")
                # Faces: the checkbox, and beside it the faces found in the content image.
                controls["keep_faces"] = control("keep_faces", label="Keep faces")
                faces_note = gr.Markdown("", elem_id="nst-faces")
                # Run sits above Advanced, so that it stays in reach when Advanced is open.
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="nst-run")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="nst-stop")
                estimate = gr.Markdown(estimate_text(None, nst.DEFAULT.steps, nst.DEFAULT.size), elem_id="nst-estimate")
                with gr.Accordion("Advanced", open=False, elem_id="nst-advanced"):
                    controls["size"] = control("size", cls=gr.Slider, minimum=nst.LIMITS.min_size, maximum=MAX_SIZE,
                                                step=16)
                    with gr.Row():  # two columns on a laptop, one on a phone
                        for name in ADVANCED_SETTINGS[1:]:
                            controls[name] = control(name, min_width=200)
                    more_styles = as_paths(gr.File(
                        label="More style images (blended with the first by the blend weights)", height=140,
                        file_count="multiple", file_types=["image"], type="filepath", elem_id="nst-more-styles",
                    ), "more_styles")
                    masks = as_paths(gr.File(
                        label="Masks, one per style (painted ones appear here at Run; or upload greyscale PNGs)",
                        file_count="multiple", file_types=["image"], type="filepath", height=140, elem_id="nst-masks",
                    ), "masks")
                    keep = as_path(gr.Image(
                        label="Keep mask (white: keep the photo's structure; the brush's white strokes appear here at Run)",
                        type="filepath", image_mode=None, sources=["upload"], height=140, elem_id="nst-keep",
                    ), "keep")
                    recipe_file = app_uploads.uploads_only(gr.File(
                        label="Load settings from an nst PNG (its recipe)", file_types=[".png"], type="filepath",
                        height=140, elem_id="nst-recipe"), "recipe")
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
                    download = app_uploads.uploads_only(gr.File(
                        label="Full-resolution PNG", interactive=False, height=90, elem_id="nst-download"), "download")
                    upscale_btn = gr.Button(f"Upscale ×{UPSCALE} (adds finer scales to this result)",
                                            elem_id="nst-upscale")
        with gr.Accordion("This visit's results (gone when the tab closes)", open=True, elem_id="nst-visit"):
            visit = gr.State(Gallery())  # per tab: nothing is shared between visitors
            gallery = gr.Gallery(label="Pick one to see it again with its settings", columns=6, height=200,
                                 allow_preview=False, interactive=False, object_fit="contain", elem_id="nst-gallery")
            with gr.Row():
                compare_a, compare_b = (gr.Dropdown(label=f"Compare {side} (on the before/after slider)",
                                                    choices=[], elem_id=f"nst-compare-{side.lower()}")
                                        for side in ("A", "B"))
        outputs = [result, status, curve, compare, download]
        examples = _examples()
        if examples:
            with examples_here:
                examples_ui = gr.Examples(
                    examples=examples, inputs=[content, style, controls["steps"], controls["size"]], outputs=outputs,
                    fn=run_example, cache_examples=True, cache_mode="lazy", visible_columns=[0, 1],
                    example_labels=[f"{Path(c).stem} × {Path(s).stem}" for c, s, *_ in examples],
                    label=f"Examples ({EXAMPLE_RUN['size']} px, {EXAMPLE_RUN['steps']} steps; computed once, on first use)",
                )
                # An example's first use is a run: under the runs' limit, not beside one.
                cached = demo.fns[examples_ui.cache_event["id"]]
                cached.concurrency_id, cached.concurrency_limit = "gpu", app_door.GROUPS["gpu"]

        # The ratio is shown and sent as itself; the slider moves it by powers of ten.
        weight_slider.input(None, [weight_slider], [controls["style_weight"]],
                            js="(x) => Number(Math.pow(10, x).toPrecision(3))", api_visibility="private")
        controls["style_weight"].input(
            None, [controls["style_weight"], weight_slider], [weight_slider], api_visibility="private",
            js=f"(r, cur) => (r > 0 ? Math.min({hi}, Math.max({lo}, Math.round(Math.log10(r) * 10) / 10)) : cur)",
        )
        # The word under the slider: the nearest mark on the log scale (nst.settings.strength's JS twin).
        gr.on([controls["style_weight"].change, controls["normalization"].change], None,
              [controls["style_weight"], controls["normalization"]], [strength_word], api_visibility="private",
              js=f"""(r, norm) => {{ if (norm !== "pair") return "(in " + norm + " units a ratio has no fixed look)";
                   if (!(r > 0)) return "**photo only**"; const m = {json.dumps(marks)}, x = Math.log10(r);
                   let best = m[0]; for (const k of m) if (Math.abs(k[1] - x) < Math.abs(best[1] - x)) best = k;
                   return "**" + best[0] + "**"; }}""")
        gr.on([content.change, controls["steps"].change, controls["size"].change], estimate_text,
              [content, controls["steps"], controls["size"]], [estimate], trigger_mode="always_last", queue=False,
              show_progress="hidden", api_name="estimate",  # public: a client can learn a run's time first
              api_description="nst's estimate of a /stylize run of this content image at these steps and size.")
        download.change(show_finished, [download], [finished], **private)
        settings_out = [*(controls[n] for n in (*MAIN_SETTINGS, *ADVANCED_SETTINGS)), weight_slider]
        recipe_file.upload(load_recipe, [recipe_file], settings_out, **private)
        content.change(paint_on, [content], [painter], **{**private, **guarded(group="light")})
        gr.on([content.change, controls["keep_faces"].change], faces_found, [content, controls["keep_faces"]],
              [faces_note], trigger_mode="always_last", **{**private, **guarded(group="light")})
        gallery.select(pick_result, [visit], [result, download, status, *settings_out], **private)
        gr.on([compare_a.input, compare_b.input], compare_results, [compare_a, compare_b, visit], [compare],
              **{**private, **guarded(group="light")})
        missing = set(controls) - set(inspect.signature(stylize).parameters)
        assert not missing, f"stylize() needs a parameter for each control; add {missing}"
        # The masks are computed in the queue, one request at a time, beside (not behind) the runs.
        run_btn.click(_pressed(False), None, None, queue=False, api_visibility="private").then(
            painted_masks, [painter, masks, more_styles], [masks], **{**private, **guarded(group="brush")},
        ).success(painted_keep, [painter, keep], [keep], **{**private, **guarded(group="brush")}).success(
            stylize, [content, style], outputs,
            inputs_kwargs={**controls, "more_styles": more_styles, "masks": masks, "keep": keep},
            api_name="stylize", api_description=_api_description(), **guarded(group="gpu"),
            show_progress="minimal", scroll_to_output=True,
        ).success(add_result, [download, visit], [gallery, visit, compare_a, compare_b], **private)
        upscale_btn.click(_pressed(False), None, None, queue=False, api_visibility="private").then(
            upscale, [download, content, style, more_styles, masks, keep], outputs, api_name="upscale",
            api_description=upscale.__doc__.split("\n\n")[0], **guarded(group="gpu"),
            show_progress="minimal", scroll_to_output=True,
        ).success(add_result, [download, visit], [gallery, visit, compare_a, compare_b], **private)
        stop_btn.click(_pressed(True), None, None, queue=False, api_visibility="private")
        demo.unload(_pressed(False))
    demo.queue(max_size=QUEUE_SIZE, api_open=False)  # queued events only through the queue (Gradio opens /run/ off Spaces)
    app_queue.poll_less(demo)
    app_door.seal(demo)  # every event guarded or cheap; fair shares per group; files only from uploads
    return demo


@cheap("shows or hides a column")
def show_finished(path: str | None) -> Any:
    return gr.Column(visible=path is not None)


def _examples() -> list[list[Any]]:
    """(content, style, steps, size) rows for the example pairs whose files are present."""
    return [[str(EXAMPLES_DIR / c), str(EXAMPLES_DIR / s), EXAMPLE_RUN["steps"], EXAMPLE_RUN["size"]]
            for c, s in EXAMPLE_PAIRS if (EXAMPLES_DIR / c).is_file() and (EXAMPLES_DIR / s).is_file()]


demo = build_demo()


def _serve_until_signalled() -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, then shut down in order and return, so that
    the process exits 0 through the interpreter's own exit (atexit removes WORKDIR).

    The order matters: a run computes on a daemon thread (nst.background), and one still
    inside torch when the interpreter finalizes aborts the process ("terminate called
    without an active exception", status 134; see nst/background.py). So the runs are
    stopped and their threads joined, the server closed (no run starts after), and the
    runs joined again. A second signal while that lasts ends the process at once.
    """
    import signal
    import sys

    from gradio.tunneling import CURRENT_TUNNELS

    from nst.background import stop_all

    asked: list[int] = []  # the signals received

    def on_signal(signum: int, frame: Any) -> None:
        if asked:  # a second one: the user will not wait
            workdir.release(WORKDIR)
            os._exit(128 + signum)
        asked.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while demo.is_running and not asked:
            time.sleep(0.2)
        if asked:
            how = "Ctrl-C" if asked[0] == signal.SIGINT else signal.Signals(asked[0]).name
            print(f"nst: {how}: stopping the runs and the server (again to quit at once)…", flush=True)
        stop_all(timeout=10)
        demo.close(verbose=False)
        for tunnel in list(CURRENT_TUNNELS):
            tunnel.kill()
        if not stop_all(timeout=10):
            # A run's thread is still inside one torch op after being told to stop. The
            # interpreter's exit would end that daemon thread through pthread_exit, whose
            # unwind through torch's noexcept C++ frames aborts the process (see
            # nst/background.py); os._exit ends every thread at once instead, without
            # unwinding them. What atexit would have done is done here: the folder goes.
            print("nst: a run did not stop in time; exiting without waiting for it", flush=True)
            workdir.release(WORKDIR)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if asked:
            print("nst: stopped", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the nst web app (127.0.0.1:7860 by default).")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (or NST_SHARE=1)")
    args = parser.parse_args(argv)
    if not ON_ZERO_GPU:  # time a few whole steps, so that the first estimate holds (ZeroGPU: no GPU here)
        cache = calibration_cache.cache_path()
        precision = nst.device.dtype_name(nst.device.autocast_dtype(nst.DEFAULT.precision, DEVICE))
        known = calibration_cache.load(DEVICE, precision) is not None
        try:
            with _saying(f"step costs from this machine's calibration ({cache})" if known
                         else f"calibrating: timing a few steps, once for this machine (kept in {cache})"):
                nst.calibrate(DEVICE)
        except Exception as exc:  # the estimates keep the prior; the app serves all the same
            print(f"nst: calibration failed ({type(exc).__name__}: {exc}); estimates use the prior", flush=True)
    share = args.share or os.environ.get("NST_SHARE") == "1"
    # quiet: Gradio's own lines would say to set `share=True` in `launch()`; the app says
    # where it serves and its own switch instead (Gradio still prints a public link it makes).
    demo.launch(**launch_kwargs(share=share), quiet=True, prevent_thread_lock=True)
    print(f"nst is serving on {demo.local_url} (started in {time.perf_counter() - _STARTED:.1f} s)")
    if not share and not os.environ.get("SPACE_ID"):
        print("For a public link as well, run: python app.py --share")
    _serve_until_signalled()


if __name__ == "__main__":
    main()
