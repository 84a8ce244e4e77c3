"""The runs: /stylize and /upscale, streamed to the page (previews, status, loss curve), with
Stop, the out-of-memory retry and the app's time cap.

A run is ``nst.prepare(...)``, then its events on a thread of its own (:mod:`.gpu`: inside
``spaces.GPU`` on ZeroGPU, a plain call elsewhere); refusals are nst's errors, shown as
``gr.Error`` (:func:`.parts.nst_error`); the time a visitor waits is capped
(:func:`.budgets.capped`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

import nst

from . import budgets, gpu, machine
from .door import cheap
from .parts import failure, loss_frame, nst_error, previews, save_photo, save_result, saying, status_line
from .settings import ADVANCED_SETTINGS, MAIN_SETTINGS, checked

MAX_STYLES = 8  # style images in one run (each is a mask, and targets, more)
STATUS_EVERY = 1.0  # seconds between status/plot updates when there is no new preview
YIELD_EVERY = 0.5  # Gradio can end a generator only between yields; each yield costs the server a message
OOM_RETRIES = 2  # after running out of memory, retry at 1/√2 of the size this many times
PLOT_POINTS = 200  # at most this many steps per loss term in the live curve
SKIP = (gr.skip(),) * 5  # an update that changes none of the run's five outputs


def stylize(
    content: str | None,
    style: str | None,
    steps: int | None = None,
    style_weight: float | None = None,
    content_layer: str | None = None,
    style_layers: list[str] | None = None,
    size: int | None = None,
    init: str | None = None,
    optimizer: str | None = None,
    seed: int | None = None,
    multiscale: bool | None = None,
    style_scale: float | None = None,
    tv_weight: float | None = None,
    time_limit: float | None = None,
    preserve_color: str | None = None,
    style_loss: str | None = None,
    style_blend: str | list[float] | None = None,
    normalization: str | None = None,
    more_styles: list[str] | None = None,
    masks: list[str] | None = None,
    keep_faces: bool | None = None,
    keep: str | None = None,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Transfer the style of `style` onto `content`, streaming previews.

    `content` and `style` are image files; the other parameters are the nst.Settings fields
    of the same names (None takes nst's default); `more_styles` are further style images,
    blended by `style_blend`; `masks` are greyscale mask files, one per style image in order
    (white: that style here; where no mask is white the photo is kept); `keep` is a greyscale
    mask file (white: keep the photo's structure there, as over faces with `keep_faces`). Yields (image,
    status, loss curve, before/after pair, PNG): a preview every second, then the result
    with its full-resolution PNG (also on Stop).
    """
    values = dict(locals())
    session = getattr(request, "session_hash", None)
    settings = {
        k: v
        for k, v in values.items()
        if k in nst.field_names()
        and v is not None
        and not (nst.field_info(k).default is None and isinstance(v, str) and not v.strip())  # a blank box
    }
    s = checked(settings)
    for path, what in ((content, "content"), (style, "style")):
        if path is None:
            raise gr.Error(f"Upload a {what} image first.", print_exception=False)
    styles = [style, *(p for p in (more_styles or []) if p)]
    masks = [p for p in (masks or []) if p] or None
    if max(len(styles), len(masks or [])) > MAX_STYLES:
        raise gr.Error(
            f"at most {MAX_STYLES} style images (and masks) in one run, not {max(len(styles), len(masks or []))}",
            print_exception=False,
        )
    run = _prepare(content, styles, s, masks, keep)  # nst opens the images and masks and checks everything now
    kept = faces_kept(run)
    yield None, f"Preparing… ({s.steps} steps at {s.size} px on the {machine.label()}){kept}", None, None, None
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
    result: str | None,
    content: str | None,
    style: str | None,
    more_styles: list[str] | None = None,
    masks: list[str] | None = None,
    keep: str | None = None,
    request: gr.Request | None = None,
) -> Iterator[tuple]:
    """Continue the result shown (`result`: its full-resolution PNG, with its recipe) to twice
    its size: only the finer scales run, starting from it. `content`, `style`, `more_styles`,
    `masks` and `keep` are the run's images, as given to /stylize. Yields as /stylize."""
    for path, what in ((result, "result"), (content, "content image"), (style, "style image")):
        if not path:
            raise gr.Error(
                f"Upscale needs a result and its {what}: run one first, or pick one below."
                if what == "result"
                else f"Upscale needs the {what} the result was made from.",
                print_exception=False,
            )
    styles = [style, *(p for p in (more_styles or []) if p)]
    masks = [p for p in (masks or []) if p] or None
    try:
        run = nst.prepare_upscale(
            result, content, styles if len(styles) > 1 else styles[0], UPSCALE, masks=masks, keep=keep or None
        )
    except nst.Error as exc:
        raise nst_error(exc, *(p for p in (result, content, *styles, *(masks or []), keep) if p)) from None
    if run.settings.size > machine.max_size():  # the app's cap by a visitor's wait
        raise gr.Error(nst.size_cap_message(run.settings.size, machine.device()), print_exception=False)
    start = run.start.size
    yield None, f"Upscaling {start[0]}×{start[1]} px ×{UPSCALE} on the {machine.label()}…", None, None, None
    try:
        yield from _run(run, getattr(request, "session_hash", None), f"Upscaled ×{UPSCALE} · ")
    except nst.Error as exc:
        raise nst_error(exc) from None


def _prepare(
    content: Any,
    styles: list[Any],
    s: nst.Settings,
    masks: list[str] | None = None,
    keep: str | None = None,
) -> nst.PreparedRun:
    try:
        return nst.prepare(content, styles if len(styles) > 1 else styles[0], s, masks=masks, keep=keep or None)
    except nst.Error as exc:
        raise nst_error(exc, *(p for p in (content, *styles, *(masks or []), keep) if isinstance(p, str))) from None


def faces_kept(run: nst.PreparedRun) -> str:
    """`` · keeping 1 face (at x,y w×h px)`` (and the keep mask), or ``""``: what the run protects."""
    what = [f"keeping {nst.describe_faces(run.faces)}"] if run.faces else []
    if run.keep is not None:
        what.append("keeping the keep mask's white")
    return "".join(f" · {w}" for w in what)


def _run(run: nst.PreparedRun, session: str | None, note: str) -> Iterator[tuple]:
    """One attempt of `stylize`'s run: its updates, then the result (also when stopped)."""
    run, cut = budgets.capped(run)  # within a visitor's wait on this device
    if cut:
        note = f"{cut[0].upper()}{cut[1:]} · {note}"
        yield gr.skip(), f"⚠️ {note}", *[gr.skip()] * 3
    rows: list[dict[str, Any]] = []
    every = max(1, math.ceil(run.total_steps / PLOT_POINTS))
    ev: nst.Progress | None = None
    shown: Image.Image | None = None  # the last preview: the result if stopped before the last event
    stop = gpu.RunStop()
    last_update = last_yield = 0.0
    # On a thread of its own, heard from every YIELD_EVERY; closing it (cancel, a closed tab)
    # sets `stop`, which reaches the ZeroGPU worker too.
    with closing(gpu.events(run, stop, YIELD_EVERY)) as events, previews() as preview:
        for item in events:
            if isinstance(item, gpu.Notice):  # said before every status line from here on
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
                rows += [
                    {"step": ev.step, "loss": math.log10(v) if v > 0 else math.nan, "term": k} for k, v in terms.items()
                ]
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


def stop_pressed(session: str) -> bool:
    """Whether ``session`` pressed Stop since it pressed Run (a clip's run reads it: nst_web.video)."""
    return session in _stopping


def pressed(stop: bool) -> Any:
    """The handler of Run (``stop`` False: the session's run goes on) or Stop (True)."""

    @cheap("adds or removes the session in a set")
    def record(request: gr.Request) -> None:
        if request.session_hash:
            (_stopping.add if stop else _stopping.discard)(request.session_hash)

    return record


def run_example(content: str, style: str, steps: int, size: int) -> tuple:
    """The final outputs of a run of an example pair (cached after its first use). The curve
    is not cached: Gradio 6.31's example cache does not restore a plot (nor what follows it)."""
    with saying(f"caching the example {Path(content).stem} × {Path(style).stem} (its first use)"):
        *_, (result, status, _, pair, png) = stylize(content, style, steps=steps, size=size)
    return result, status, None, pair, png


def api_description() -> str:
    """/stylize's description in the API page: what it does, then each setting's help."""
    lines = [f"- {name}: {nst.field_info(name).help}" for name in MAIN_SETTINGS + ADVANCED_SETTINGS]
    return "\n".join(
        [
            stylize.__doc__.split("\n\n")[0],
            "",
            "Settings (all optional):",
            *lines,
            "- more_styles: further style image files, blended with `style` by style_blend",
            "- masks: one greyscale mask file per style image, in order (white: that style here; "
            "black everywhere: the photo kept)",
            "- keep: a greyscale mask file (white: keep the photo's structure there, as over faces)",
        ]
    )
