"""The app's run on the GPU: inside ``@spaces.GPU``, which on ZeroGPU runs it in a worker
process forked from this one (every argument and event pickled) and everywhere else is a
plain call. nst_web.run consumes :func:`events`; the rest is here so that both places behave alike.

- **Stop reaches the worker.** A run's :class:`RunStop` also marks the run stopped in a
  shared array that the worker inherits when it is forked; nst, in the worker, reads it
  after every layer (its ``stop=``), so Stop, a cancelled job and a closed tab end the GPU
  work within a layer, with the image as it was. (``spaces`` itself stops a generator only
  when its own generator is closed, and then only after the worker's next event.)
- **Errors are events.** The GPU function never raises: it yields :class:`Failed` with the
  exception, which crosses the process boundary whole (``spaces`` would send only the class
  name of anything but a ``gr.Error``, and fork a new worker after it). The visitor gets nst's
  message, and the out-of-memory retry runs in nst_web.run as off ZeroGPU: each attempt is a GPU
  call of its own, with a reservation sized for it, in the same (idle) worker.
- **Reservations from the GPU's own pace.** The worker's first call times whole steps
  (``nst.calibrate``); every run sends its cost model back (:class:`Measured`), and the next
  reservation is that estimate with a margin. The run's ``time_cap`` (not a setting: recipes
  do not record it) ends it inside its reservation.
- **Quotas.** ZeroGPU refuses, before anything runs, a reservation larger than the quota a
  visitor has left, naming what is left; the run is then planned for that time, or (too
  little left) explained.
- **The run's own images.** The worker gets the images at the run's sizes, not the uploads.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr
import spaces
from PIL import Image

import nst
from nst import CostModel, estimate_seconds, format_seconds, remember_cost

from .background import in_thread

__all__ = ["ON_ZERO_GPU", "RunStop", "Notice", "clip_events", "clip_part", "events", "prepare", "reservation"]

ON_ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
MAX_GPU_SECONDS = 300  # the longest reservation one run asks for
# Seconds of a reservation for what is not the run: the worker's start (fork, CUDA, the
# weights' copy), the first call's calibration, the result's transfer.
GPU_MARGIN = 10
MIN_GPU_SECONDS = GPU_MARGIN + 5  # less than this is not worth a run
# Previews by time (the first at step 1), at display size. Each one is a render on the
# run's thread and, in the server, a file copied into Gradio's cache, an update and a
# download, which take a core from torch's two threads on a 2-core CPU: one a second, not two.
PREVIEW_SECONDS, PREVIEW_SIZE = 1.0, 512
# Before the first GPU call, the GPU's pace is not known here (on ZeroGPU this process has no
# GPU, and must not touch CUDA): nst's prior for a CUDA GPU in bf16 (a step of ~12 ms per
# megapixel), with a wider margin (see `reservation`).
ASSUMED_PACE = CostModel(step=(0.005, 0.012), scale=(0.05, 0.012))
# spaces.zero.client.schedule's refusal: "... quota (120s requested vs. 45s left) ..."
_QUOTA = re.compile(r"\((\d+)s requested vs\. (\d+)s left\)")

# Stopped runs, by slot: run id. Made by `prepare` (when the app starts), before ZeroGPU
# forks its worker from this process, so the worker shares it. Runs hold a slot each (one
# run per GPU at a time).
_STOPS: Any = None
_ids = itertools.count(1)
# The GPU's pace as the worker measured it (None until the first GPU call has ended).
_pace: Measured | None = None


def prepare() -> None:
    """Make the stops' shared array (once), before ZeroGPU forks its worker from this process."""
    global _STOPS
    if _STOPS is None:
        _STOPS = multiprocessing.get_context("fork").RawArray("q", 64)


class RunStop(threading.Event):
    """A run's stop event that also reaches the GPU worker (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        prepare()
        self.id = next(_ids)
        self.slot = self.id % len(_STOPS)

    def set(self) -> None:
        super().set()
        _STOPS[self.slot] = self.id

    def remote(self) -> _RemoteStop:
        return _RemoteStop(self.slot, self.id)


@dataclass(frozen=True)
class _RemoteStop:
    """The worker's view of a :class:`RunStop`: picklable, read from the shared array."""

    slot: int
    id: int

    def is_set(self) -> bool:
        return _STOPS[self.slot] == self.id


@dataclass
class Failed:
    """The run's error, as an event (see the module's docstring)."""

    error: BaseException


@dataclass
class Measured:
    """The worker's cost model after a run: the GPU's pace, in the precision it ran."""

    dtype: str
    cost: CostModel


@dataclass
class Notice:
    """A line for the visitor before the run's progress (e.g. that the quota shortened it)."""

    text: str


def reservation(run: nst.PreparedRun) -> int:
    """Seconds of GPU to reserve for ``run``: its estimate at the GPU's measured pace (before
    the first GPU call, an assumed one, with a wider margin), plus :data:`GPU_MARGIN`."""
    cost = _pace.cost if _pace is not None else ASSUMED_PACE
    factor = 1.5 if _pace is not None else 3.0
    seconds = GPU_MARGIN + factor * estimate_seconds(run.work_plan(), cost, time_limit=run.settings.time_limit)
    return int(min(MAX_GPU_SECONDS, max(MIN_GPU_SECONDS, seconds)))


def _duration(run: nst.PreparedRun, stop: Any, seconds: int | None, pace: Measured | None = None) -> int:
    return seconds or reservation(run)


@spaces.GPU(duration=_duration)
def _on_gpu(run: nst.PreparedRun, stop: Any, seconds: int | None, pace: Measured | None = None) -> Iterator[Any]:
    """The run, where the GPU is: Progress events, then its cost model; an error as
    :class:`Failed`. ``seconds``: the reservation on ZeroGPU (None elsewhere); ``pace``: the
    GPU's pace as an earlier worker measured it (a new worker then need not measure again)."""
    t0 = time.monotonic()
    try:
        if seconds is not None:
            if pace is not None and not nst.is_measured("cuda", pace.dtype):
                remember_cost("cuda", pace.dtype, pace.cost)
            nst.calibrate(run.device, run.settings.precision)  # the GPU's pace, once per worker
            run = replace(run, time_cap=max(1.0, seconds - GPU_MARGIN - (time.monotonic() - t0)))
        yield from run.events(stop=stop, preview_seconds=PREVIEW_SECONDS, preview_size=PREVIEW_SIZE)
    except Exception as exc:
        yield Failed(_portable(exc))
        return
    yield Measured(
        nst.precision_name(run.settings.precision, run.device), nst.current_cost(run.device, run.settings.precision)
    )


def _portable(exc: Exception) -> BaseException:
    """``exc`` if it pickles (nst's errors do), else a RuntimeError naming it; the traceback
    goes to the log (the worker's is the server's)."""
    import pickle
    import traceback

    if not isinstance(exc, nst.Error):
        traceback.print_exception(exc)
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def events(run: nst.PreparedRun, stop: RunStop, beat: float) -> Iterator[nst.Progress | Notice | None]:
    """The run's events on a thread of its own, heard at least every ``beat`` s (None
    between); setting ``stop`` or closing this ends the run within a layer, on ZeroGPU too.

    Raises:
        nst's errors as nst raised them; ``gr.Error`` for ZeroGPU's refusals.
    """
    return in_thread(lambda stop: _stream(run, stop), beat, stop)


def _stream(run: nst.PreparedRun, stop: RunStop) -> Iterator[nst.Progress | Notice]:
    if not ON_ZERO_GPU:
        gen = _on_gpu(run, stop, None)
        yield from _received(gen, gen)
        return
    run = _slim(run)
    seconds = reservation(run)
    gen = _on_gpu(run, stop.remote(), seconds, _pace)
    try:
        first = next(gen)  # ZeroGPU schedules here, and refuses here, before anything runs
    except gr.Error as exc:
        left = _quota_left(exc)
        if left is None:
            raise
        if left < MIN_GPU_SECONDS:
            raise gr.Error(
                f"This run needs about {format_seconds(seconds)} of GPU time and your ZeroGPU quota has {left} s "
                f"left today. {exc.message.split('. ', 1)[-1]}Lower the size or the steps, or come back later.",
                print_exception=False,
            ) from None
        yield Notice(f"Your ZeroGPU quota has {left} s left: this run is cut to fit it")
        gen = _on_gpu(run, stop.remote(), left, _pace)
        first = next(gen)
    yield from _received(itertools.chain([first], gen), gen)


def _received(items: Iterator[Any], gen: Iterator[Any]) -> Iterator[nst.Progress]:
    """The GPU function's events as the app takes them: errors raised, the pace kept."""
    global _pace
    with closing(gen):  # on an error here: spaces then stops the worker's generator too
        for item in items:
            if isinstance(item, Failed):
                raise item.error
            if isinstance(item, Measured):
                _pace = item
                remember_cost("cuda", item.dtype, item.cost)  # the app's estimates follow it too
                continue
            yield item


def _quota_left(exc: gr.Error) -> int | None:
    match = _QUOTA.search(str(exc.message))
    return int(match.group(2)) if match else None


def _slim(run: nst.PreparedRun) -> nst.PreparedRun:
    """``run`` with its images at the sizes it uses: the content at the output size (the
    coarse scales are made from it), each style at its largest scale's pixels, the masks at
    the output size (as the run resizes them). Uploads up to the pixel limit are ~190 MB each."""
    out = run.output
    pixels = run.settings.style_scale**2 * out.width * out.height
    styles = [nst.resize_to_pixels(x, pixels) if x.width * x.height > pixels else x for x in run.styles]
    masks = run.masks and [
        m.resize(out.size, Image.Resampling.BILINEAR) if m.width > out.width else m for m in run.masks
    ]
    keep = run.keep and (
        run.keep.resize(out.size, Image.Resampling.BILINEAR) if run.keep.width > out.width else run.keep
    )
    content = out if run.content.width > out.width else run.content
    # The faces are in the content's pixels: they follow it to its new size.
    faces = [f.scaled(content.width / run.content.width) for f in run.faces]
    return replace(run, content=content, styles=styles, masks=masks, keep=keep, faces=faces)


# --- A clip: its frames in parts, a GPU call each on ZeroGPU --------------------------------


def _clip_duration(video: nst.PreparedVideo, carry: Any, count: Any, stop: Any, seconds: int | None, *a: Any) -> int:
    return seconds or MIN_GPU_SECONDS


@spaces.GPU(duration=_clip_duration)
def _clip_on_gpu(
    video: nst.PreparedVideo,
    carry: nst.VideoCarry | None,
    count: int | None,
    stop: Any,
    seconds: int | None,
    deadline: float | None,
    pace: Measured | None = None,
) -> Iterator[Any]:
    """``count`` frames of the clip from ``carry`` on (None: all), where the GPU is: the
    segment's events (:meth:`nst.PreparedVideo.segment`), then the cost model; an error as
    :class:`Failed`. ``seconds``: the reservation on ZeroGPU (None elsewhere); ``deadline``:
    when the whole clip must end (``time.monotonic()``, the same clock in a forked worker;
    None: no limit), of which this part takes its frames' share; ``pace``: as :func:`_on_gpu`'s."""
    t0 = time.monotonic()
    try:
        if seconds is not None:
            if pace is not None and not nst.is_measured("cuda", pace.dtype):
                remember_cost("cuda", pace.dtype, pace.cost)
            nst.calibrate(video.first.device, video.settings.precision)
        done, n = (carry.done if carry else 0), video.frame_count
        end = n if count is None else min(n, done + count)
        left = None
        if deadline is not None:  # this part's share of the clip's time left
            left = (deadline - time.monotonic()) * video.weight(done, end) / video.weight(done, n)
        if seconds is not None:
            budget = max(1.0, seconds - GPU_MARGIN - (time.monotonic() - t0))
            left = budget if left is None else min(left, budget)
        yield from video.segment(carry, count, stop=stop, seconds=left)
    except Exception as exc:
        yield Failed(_portable(exc))
        return
    yield Measured(
        nst.precision_name(video.settings.precision, video.first.device),
        nst.current_cost(video.first.device, video.settings.precision),
    )


def clip_events(
    video: nst.PreparedVideo, stop: RunStop, beat: float, seconds: float | None = None
) -> Iterator[nst.VideoProgress | Notice | None]:
    """A clip's events (:meth:`nst.PreparedVideo.segment`'s, the frames unwritten) on a thread
    of its own, heard at least every ``beat`` s (None between); ``seconds``: the whole clip's
    time limit. Setting ``stop`` or closing this ends the run within a layer.

    On ZeroGPU a clip is styled in parts, each a GPU call of at most :data:`MAX_GPU_SECONDS`
    (:func:`clip_part`), each part started from the last one's :class:`nst.VideoCarry`: a clip
    longer than one call is the same clip. A quota that runs out between parts ends the clip
    with the frames done.

    Raises:
        nst's errors as nst raised them; ``gr.Error`` for ZeroGPU's refusals of the first part.
    """
    return in_thread(lambda stop: _clip_stream(video, stop, seconds), beat, stop)


def clip_part(video: nst.PreparedVideo, carry: nst.VideoCarry, budget: float, later: float) -> tuple[int, int]:
    """The frames from ``carry.done`` on that one GPU call of ``budget`` s fits, at least one,
    and the seconds to reserve for them: each frame's estimate at the GPU's pace (``later``:
    a later frame's, else measured on the GPU: ``carry.pace``), with :func:`reservation`'s
    margins.

    Args:
        video: the clip's run.
        carry: where the part starts.
        budget: the longest call, seconds.
        later: a later frame's estimated seconds at the GPU's pace, when none was measured.
    """
    cost = _pace.cost if _pace is not None else ASSUMED_PACE
    factor = 1.5 if _pace is not None else 3.0
    first = estimate_seconds(video.first.work_plan(), cost)
    per_frame = carry.pace if carry.pace is not None else later
    count, total = 0, 0.0
    for k in range(carry.done, video.frame_count):
        t = factor * (first if k == 0 else per_frame)
        if count and GPU_MARGIN + total + t > budget:
            break
        count, total = count + 1, total + t
    return count, int(min(budget, max(MIN_GPU_SECONDS, GPU_MARGIN + total)))


def _clip_stream(video: nst.PreparedVideo, stop: RunStop, seconds: float | None) -> Iterator[Any]:
    deadline = None if seconds is None else time.monotonic() + seconds
    if not ON_ZERO_GPU:
        gen = _clip_on_gpu(video, None, None, stop, None, deadline)
        yield from _received(gen, gen)
        return
    video, carry, n = _slim_video(video), nst.VideoCarry(), video.frame_count
    later, budget, retried, refused = video.later().work_plan(), float(MAX_GPU_SECONDS), False, False
    while True:
        cost = _pace.cost if _pace is not None else ASSUMED_PACE
        count, reserve = clip_part(video, carry, budget, estimate_seconds(later, cost))
        if retried:  # the last part did nothing in its reservation: twice that
            reserve = int(min(budget, 2 * reserve))
        before, end = carry.done, None
        try:
            gen, first = _clip_call(video, carry, count, stop, reserve, deadline)
        except gr.Error as exc:
            left = _quota_left(exc)
            if left is None or left < MIN_GPU_SECONDS:
                if not carry.done:
                    if left is None:
                        raise
                    raise gr.Error(
                        f"This clip needs about {format_seconds(reserve)} of GPU time and your ZeroGPU quota has "
                        f"{left} s left today. Choose a shorter part or a smaller size, or come back later.",
                        print_exception=False,
                    ) from None
                why = str(exc.message) if left is None else f"your ZeroGPU quota ran out ({left} s left)"
                yield _cut(video, carry, why)
                return
            if refused:  # refused twice in a row, though planned for what was left
                yield _cut(video, carry, f"ZeroGPU refused the next part ({left} s of quota left)")
                return
            if budget == MAX_GPU_SECONDS:  # said once: later parts are planned for what is left
                yield Notice(f"Your ZeroGPU quota has {left} s left: the clip is cut to fit it")
            budget, refused = float(left), True
            continue
        refused = False
        try:
            for item in _received(itertools.chain([first], gen), gen):
                if isinstance(item, nst.VideoProgress) and item.carry is not None:
                    carry = item.carry
                if isinstance(item, nst.VideoProgress) and item.done:
                    end = item  # the part's end: the clip's, or the next part's start
                    continue
                yield item
        except Exception as exc:  # a later part failed: the clip keeps the frames done
            if not carry.done:
                raise
            yield _cut(video, carry, f"{exc}")
            return
        if end is None:  # the call ended without its last event: the handler says stopped
            return
        if stop.is_set() or carry.done >= n or (end.note and not end.stopped):
            # The clip's end: Stop (also between parts), all done, a clip cut short.
            yield replace(end, stopped=end.stopped or (stop.is_set() and carry.done < n))
            return
        per_frame = carry.pace if carry.pace is not None else estimate_seconds(later, cost)
        if end.stopped and deadline is not None and deadline - time.monotonic() < per_frame:
            yield end  # the clip's time limit (not only this call's): no room for another frame
            return
        if carry.done == before:
            if retried:
                yield _cut(video, carry, "no frame fitted in a GPU call")
                return
            retried = True
        else:
            retried = False


def _cut(video: nst.PreparedVideo, carry: nst.VideoCarry, why: str) -> nst.VideoProgress:
    """The last event of a clip cut short after ``carry.done`` frames, saying why."""
    return nst.VideoProgress(
        frame=carry.done, frames=video.frame_count, done=True, stopped=True, note=why, rate=video.rate
    )


def _clip_call(
    video: nst.PreparedVideo, carry: nst.VideoCarry, count: int, stop: RunStop, reserve: int, deadline: float | None
) -> tuple[Iterator[Any], Any]:
    """One part's GPU call, scheduled (ZeroGPU refuses here, before anything runs), and its first event."""
    gen = _clip_on_gpu(video, carry, count, stop.remote(), reserve, deadline, _pace)
    return gen, next(gen)


def _slim_video(video: nst.PreparedVideo) -> nst.PreparedVideo:
    """``video`` with its images at the sizes its frames use (see :func:`_slim`)."""
    first = _slim(video.first)
    return replace(video, first=first, styles=first.styles, masks=first.masks, keep=first.keep)
