"""The video section: a clip styled with the page's painting, strength and controls.

:func:`section` lays it out (a clip input, Run on the clip, the finished frames as previews
with "frame 14 of 30", the playable MP4) and wires it behind the door: the run is in the
"gpu" group, so a video run counts as one run for the per-visitor limit, and the clip is
read only from uploads. The page's Stop stops it: the clip keeps the frames finished.

The clip's length and frame size are capped (:data:`CLIP_SECONDS`, :data:`FRAME_SIZE`) so a
run fits a visitor's wait on the device, and the whole clip is under the app's time cap
(:func:`.budgets.run_seconds`): past it, the clip ends with the frames done.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import closing
from collections.abc import Iterator
from typing import Any

import gradio as gr

import nst

from . import budgets, gpu, machine, uploads
from .door import guarded
from .parts import failure, nst_error, previews, results_dir
from .run import pressed, stop_pressed
from .settings import checked

# The longest part of a clip one run takes, seconds, and the frames' long side, px, per device.
CLIP_SECONDS = {"cpu": 4.0, "cuda": 10.0, "mps": 4.0}
FRAME_SIZE = {"cpu": 256, "cuda": 512, "mps": 256}
YIELD_EVERY = 0.5  # seconds between status updates while a frame is under way


def stylize_clip(
    clip: str | None,
    style: str | None,
    steps: int | None = None,
    style_weight: float | None = None,
    keep_faces: bool | None = None,
    size: int | None = None,
    request: gr.Request | None = None,
) -> Iterator[tuple[Any, str, Any]]:
    """Style the clip `clip` with `style`; yields (the last finished frame, status, MP4):
    each finished frame as it comes ("frame 14 of 30"), then the MP4 (also on Stop: the
    frames finished). `steps`, `style_weight`, `keep_faces` and `size` are the page's
    controls (the size at most the app's frame size); later frames take a fifth of the steps."""
    if not clip:
        raise gr.Error("Upload a clip first.", print_exception=False)
    if not style:
        raise gr.Error("Upload a style image first.", print_exception=False)
    given = {"steps": steps, "style_weight": style_weight, "keep_faces": keep_faces, "size": size}
    s = checked({k: v for k, v in given.items() if v is not None})
    # The later frames take the share of the steps nst's defaults give them (40 of 200).
    s = s.replace(frame_steps=max(1, round(s.steps * nst.DEFAULT.frame_steps / nst.DEFAULT.steps)))
    kind = machine.device().type
    seconds, side = CLIP_SECONDS.get(kind, CLIP_SECONDS["cpu"]), FRAME_SIZE.get(kind, FRAME_SIZE["cpu"])
    cap = budgets.run_seconds(kind)
    s = s.replace(size=min(s.size, side), time_limit=min(s.time_limit or cap, cap))
    try:
        run = nst.prepare_video(clip, style, s, max_seconds=seconds)
    except nst.Error as exc:
        raise nst_error(exc, clip, style) from None
    session = getattr(request, "session_hash", None)
    stop = gpu.RunStop()
    out = tempfile.NamedTemporaryFile(prefix="clip-", suffix=".mp4", dir=results_dir(), delete=False).name
    about = nst.format_seconds(run.estimate(calibrated=False))  # the whole clip, from the costs known
    yield (
        None,
        f"Preparing… {run.frame_count} frames at {run.rate:g} fps, {s.size} px, about {about} on the {machine.label()}",
        None,
    )
    last_yield, notes = 0.0, []
    try:
        # Written here, styled where the GPU is (on ZeroGPU in parts, a call each: nst_web.gpu).
        with (
            run.writer(out) as clip,
            previews() as preview,
            closing(gpu.clip_events(run, stop, YIELD_EVERY, s.time_limit)) as events,
        ):
            for ev in events:
                if session is not None and stop_pressed(session):
                    stop.set()  # the frame under way is dropped; the clip keeps the frames done
                if isinstance(ev, gpu.Notice):
                    notes.append(ev.text)
                    yield gr.skip(), f"⚠️ {ev.text}", gr.skip()
                    continue
                now = time.monotonic()
                if ev is not None and ev.done:
                    clip.end(ev.stopped, ev.note)
                    break
                if ev is not None and ev.carry is not None and ev.image is not None:
                    clip.write(ev.image)
                    last_yield = now
                    yield preview(ev.image), _status(ev), gr.skip()
                elif now - last_yield >= YIELD_EVERY:
                    last_yield = now
                    yield gr.skip(), _status(ev) if ev is not None else gr.skip(), gr.skip()
            else:  # the run ended without its last event (stopped): the frames done
                clip.end(True, None)
    except nst.Error as exc:
        raise nst_error(exc) from None
    except gr.Error:
        raise
    except Exception as exc:  # never a dead worker, a traceback or a bare "Error"
        raise failure(exc) from None
    ev = clip.final
    if ev is None or ev.output is None:
        yield gr.skip(), f"**Stopped** before the first frame was finished: {ev.note if ev else ''}", None
        return
    note = " · ".join([*notes, *([ev.note] if ev.note else [])])
    done = f"**Done** · {ev.frame} frames at {ev.rate:g} fps in {nst.format_seconds(ev.elapsed)}"
    yield gr.skip(), done + (f" · {note}" if note else ""), str(ev.output)


def _status(ev: nst.VideoProgress) -> str:
    eta = f" · ETA {nst.format_seconds(ev.eta)}" if ev.eta is not None else ""
    step = f" · step {ev.step.step}/{ev.step.total}" if ev.step is not None else ""
    return f"frame {ev.frame} of {ev.frames}{step} · elapsed {nst.format_seconds(ev.elapsed)}{eta}"


def section(style: gr.Image, controls: dict[str, gr.components.Component]) -> None:
    """The video section, inside the page's Blocks: its components and events.

    Args:
        style: the page's style image (the painting).
        controls: the page's controls; the clip takes its steps, strength and Keep faces.
    """
    private = {"api_visibility": "private"}
    with gr.Accordion("Video: style a short clip (optional)", open=False, elem_id="nst-video"):
        kind = machine.device().type
        clip = uploads.uploads_only(
            gr.Video(
                label=f"Clip (MP4, WebM, MOV; at most {CLIP_SECONDS.get(kind, 4):g} s at "
                f"{FRAME_SIZE.get(kind, 256)} px here)",
                sources=["upload"],
                height=200,
                elem_id="nst-clip",
            ),
            "clip",
        )
        go = gr.Button("Run on the clip", variant="primary", elem_id="nst-run-clip")
        frame = gr.Image(label="Finished frames", type="filepath", interactive=False, height=200, elem_id="nst-frame")
        status = gr.Markdown("", elem_id="nst-clip-status")
        result = gr.Video(label="Styled clip", interactive=False, height=240, elem_id="nst-clip-result")
    go.click(pressed(False), None, None, queue=False, **private).then(
        stylize_clip,
        [clip, style, *(controls[k] for k in ("steps", "style_weight", "keep_faces", "size"))],
        [frame, status, result],
        api_name="stylize_clip",
        api_description=(stylize_clip.__doc__ or "").split("\n\n")[0],
        **guarded(group="gpu"),
        show_progress="minimal",
    )
