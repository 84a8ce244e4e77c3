"""A clip in the style of a painting, frame by frame, with frames that hold together.

Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos" (2016): the first frame is
styled with the full plan (``steps``, coarse to fine); every later frame starts from the
previous result warped by the optical flow (:mod:`nst.flow`) and takes ``frame_steps`` at
the output size, with a temporal cost (:class:`nst.losses.TemporalLoss`, weight
``temporal_weight``) holding the pixels the flow can follow to that warped result. Every
other setting applies as to a photo, per frame: the per-pair normalisation, the colour
modes, the masks (one set for every frame) and ``keep_faces`` (faces found in each frame).

The clip is decoded, styled and encoded as a stream (:mod:`nst.videoio`): memory holds a
frame or two, whatever the clip's length. Where this departs from the paper: docs/video.md.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from . import flow as fl
from . import images as im
from .errors import SettingsError
from .frame_run import FrameRun, warped
from .inputs import Progress
from .pipeline import PreparedRun, prepare
from .render import fit
from .run import run_events
from .settings import DEFAULT, Settings
from .video_output import VideoCarry, VideoProgress, VideoWriter, output_path
from .videoio import MAX_CLIP_SECONDS, ClipInfo, VideoError, frames, is_video, probe, sample_times

__all__ = [
    "VideoCarry",
    "FrameRun",
    "PreparedVideo",
    "VideoWriter",
    "VideoProgress",
    "prepare_video",
    "stylize_video",
    "is_video",
]


@dataclass
class PreparedVideo:
    """A video run checked and planned: the clip, the frames it takes, the settings, and the
    first frame prepared (its images' checks done). :meth:`events` runs it.

    Attributes:
        path: the clip.
        info: what :func:`nst.videoio.probe` found.
        times: the seconds (from the clip's start) of each frame taken.
        rate: frames per second of the output.
        settings: the validated settings.
        styles: the style images, opened once.
        masks: the masks (one set for every frame), else None.
        keep: the keep mask, else None.
        first: the first frame's run, prepared.
        start: seconds into the clip where the frames start.
    """

    path: Path
    info: ClipInfo
    times: list[float]
    rate: float
    settings: Settings
    styles: list[Image.Image]
    masks: list[Any] | None
    keep: Any
    first: PreparedRun
    start: float
    started: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def frame_count(self) -> int:
        """Frames the run takes."""
        return len(self.times)

    def estimate(self, calibrated: bool = True) -> float:
        """Expected seconds of the whole clip: the first frame's plan, then ``frame_steps`` per later frame."""
        return self.first.estimate(calibrated=calibrated) + self._later_seconds(calibrated) * (self.frame_count - 1)

    def _later_seconds(self, calibrated: bool) -> float:
        """Expected seconds of one later frame (``frame_steps`` at the output size)."""
        return self.later().estimate(calibrated=calibrated)

    def later(self) -> PreparedRun:
        """A later frame's run as planned (``frame_steps`` at the output size), with the first
        frame standing in for it: for estimates."""
        return prepare(self.first.content, *self._args(), **self._later_overrides())

    def _later_overrides(self) -> dict[str, Any]:
        return {
            "masks": self.masks,
            "keep": self.keep,
            "steps": self.settings.frame_steps,
            "multiscale": False,
            "time_limit": None,
            "preview_every": 0,
        }

    def events(
        self, output: str | Path, *, stop: threading.Event | None = None, preview_size: int | None = None
    ) -> Iterator[VideoProgress]:
        """Style the clip into ``output`` (.mp4 or .gif), yielding progress.

        The file is written beside ``output`` under a hidden name and moved there at the end,
        so an error leaves nothing behind; a stop, the time limit or a file corrupt halfway
        leave a shorter clip of the frames finished (none finished: no file).

        Args:
            output: where to write the clip (``.mp4``: H.264 with the clip's audio; ``.gif``).
            stop: once set, the frame under way is dropped and the clip ends with the frames done.
            preview_size: the long side of each finished frame's preview, at most.
        """
        out = output_path(output)
        return self._events(out, stop, preview_size)

    def _events(self, out: Path, stop: threading.Event | None, preview_size: int | None) -> Iterator[VideoProgress]:
        t0 = time.perf_counter()
        with self.writer(out) as clip:
            seconds = None if self.settings.time_limit is None else self.started + self.settings.time_limit - t0
            for ev in self.segment(stop=stop, seconds=seconds):
                if ev.done:
                    clip.end(ev.stopped, ev.note)
                elif ev.carry is not None and ev.image is not None:
                    clip.write(ev.image)
                    yield dataclasses.replace(ev, image=_shrunk(ev.image, preview_size), carry=None)
                else:
                    yield ev
        assert clip.final is not None
        yield clip.final

    def writer(self, out: str | Path) -> VideoWriter:
        """A :class:`VideoWriter` of this clip's frames into ``out`` (.mp4 or .gif): for a front
        end that styles the clip in parts (:meth:`segment`), in another process or several calls."""
        return VideoWriter(
            output_path(out), rate=self.rate, frames=self.frame_count, start=self.start,
            audio=self.path if self.info.audio else None, elapsed=self._elapsed,
        )  # fmt: skip

    def segment(
        self,
        carry: VideoCarry | None = None,
        count: int | None = None,
        *,
        stop: threading.Event | None = None,
        seconds: float | None = None,
    ) -> Iterator[VideoProgress]:
        """Style ``count`` frames from ``carry.done`` on (None: to the clip's end), without
        writing them: a clip styled in parts, each part given the last one's :class:`VideoCarry`,
        is the clip styled whole.

        Yields each step's event (``step``), then, as each frame is finished, an event with
        the frame at full size (``image``) and the :class:`VideoCarry` for the next; the last event
        has ``done`` (``stopped`` and ``note`` if the part was cut short).

        Args:
            carry: what the frame before hands on (None: the clip's start).
            count: frames to style, at most.
            stop: once set, the frame under way is dropped and the part ends.
            seconds: the time these frames may take (None: no limit); each frame takes its share.
        """
        s, n, t0 = self.settings, self.frame_count, time.perf_counter()
        carry = carry or VideoCarry()
        end = n if count is None else min(n, carry.done + count)
        note, stopped = None, False
        # The later frames' pace: measured (carried), else planned from the costs known.
        per_frame = carry.pace if carry.pace is not None else self._later_seconds(calibrated=False)
        source = frames(self.path, self.info, self.times[carry.done : end])
        while carry.done < end:
            try:
                frame = next(source, None)  # the first frame too: the decoder moves past it
            except VideoError as exc:
                if not carry.done:
                    raise
                note = f"{exc}; kept the {carry.done} frame{'s' if carry.done != 1 else ''} done"
                break
            if frame is None:
                note = f"the clip ended after {carry.done} frames"
                break
            if stop is not None and stop.is_set():
                stopped = True
                break
            run = self.first if not carry.done else prepare(frame, *self._args(), **self._later_overrides())
            if seconds is not None:
                run.time_cap = self._share(t0 + seconds - time.perf_counter(), carry.done, end)
                if run.time_cap <= 0:
                    stopped, note = True, f"time limit {s.time_limit:g} s" if s.time_limit else "out of time"
                    break
            t_frame = time.perf_counter()
            grey = fl.grey(run.output)
            warm = temporal = None
            if carry.grey is not None and carry.raw is not None:
                warm, temporal = warped(carry.raw, carry.grey, grey, s.temporal_weight)
            frun = FrameRun(run, stop, warm, temporal)
            last = None
            for event in run_events(run, stop, None, None, run=frun):
                last = event
                yield VideoProgress(
                    frame=carry.done, frames=n, step=event, elapsed=self._elapsed(), rate=self.rate,
                    eta=_eta(per_frame, n - carry.done, event),
                )  # fmt: skip
            assert last is not None and last.image is not None
            if last.stopped:
                stopped = True
                break
            if carry.done:  # the later frames' pace (the first frame takes its full plan)
                took = time.perf_counter() - t_frame
                per_frame = took if carry.pace is None else 0.7 * carry.pace + 0.3 * took
            carry = VideoCarry(carry.done + 1, grey, frun.raw, per_frame if carry.done else carry.pace)
            yield VideoProgress(
                frame=carry.done, frames=n, image=last.image, elapsed=self._elapsed(),
                eta=per_frame * (n - carry.done), rate=self.rate, carry=carry,
            )  # fmt: skip
        yield VideoProgress(
            frame=carry.done, frames=n, elapsed=self._elapsed(), eta=0.0 if carry.done == n else None, done=True,
            stopped=stopped, note=note, rate=self.rate,
        )  # fmt: skip

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started

    def weight(self, start: int, end: int) -> float:
        """Frames ``start`` to ``end - 1`` in later frames' time: the first frame's plan counts
        as ``steps / frame_steps`` later frames. A time limit is shared among frames by weight."""
        s = self.settings
        first = (s.steps / s.frame_steps) if start == 0 and end > 0 else 0.0
        return first + max(0, end - max(start, 1))

    def _share(self, left: float, done: int, end: int) -> float:
        """The seconds of ``left`` that frame ``done`` may take: its share of frames up to ``end``."""
        return max(0.0, left) * self.weight(done, done + 1) / self.weight(done, end)

    def _args(self) -> tuple[Any, ...]:
        return (self.styles, self.settings)


def _eta(per_frame: float, left: int, event: Progress) -> float:
    """Seconds to the end: this frame's own ETA, then ``per_frame`` for each frame after it."""
    return (event.eta or 0.0) + per_frame * max(0, left - 1)


def _shrunk(img: Image.Image, longest: int | None) -> Image.Image:
    wh = img.size if longest is None else fit(img.size, longest)
    return img if wh == img.size else img.resize(wh, Image.Resampling.LANCZOS)


def _seconds(value: Any, name: str, low: float, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number of seconds, not {value!r}") from None
    if not math.isfinite(x) or x < low:
        raise SettingsError(f"{name} must be at least {low:g}, not {x:g}")
    return x


def prepare_video(
    content: str | Path,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    masks: list[Any] | None = None,
    keep: Any = None,
    fps: float | None = None,
    start: float = 0.0,
    duration: float | None = None,
    max_seconds: float = MAX_CLIP_SECONDS,
    **overrides: Any,
) -> PreparedVideo:
    """Check a video run and plan it, before any network work: the clip, its frames, the
    settings, the images; the first frame is decoded and prepared as a photo would be.

    Args:
        content: the clip (MP4, WebM, MOV, ... or an animated GIF/WebP), recognised by content.
        style: as :func:`nst.stylize`'s.
        settings: a :class:`~nst.Settings`; defaults to :data:`~nst.DEFAULT`.
        masks: as :func:`nst.stylize`'s, in the frames' shape: one set for every frame.
        keep: as :func:`nst.stylize`'s.
        fps: frames per second taken from the clip (None: its own, at most 24).
        start: seconds into the clip.
        duration: seconds to take (None: to the end).
        max_seconds: the longest part of a clip one run takes (a front end's cap).
        **overrides: any :class:`~nst.Settings` field.

    Raises:
        VideoError: not a clip, no video track, no frames, frames too large, or a part longer
            than ``max_seconds``.
        SettingsError, ImageError: as :func:`nst.prepare`.
    """
    started = time.perf_counter()
    s = (settings or DEFAULT).replace(**overrides)
    rate = _seconds(fps, "fps", 0.1)
    if rate is not None and rate > 60:
        raise SettingsError(f"fps must be at most 60, not {rate:g}")
    first_s = _seconds(start, "start", 0.0, allow_none=False) or 0.0
    length = _seconds(duration, "duration", 0.01)
    info = probe(content)
    if first_s >= info.duration:
        raise VideoError(f"start {first_s:g} s is past the clip's end ({info.duration:.2f} s)")
    span = min(info.duration - first_s, length if length is not None else math.inf)
    if span > max_seconds + 1e-6:
        raise VideoError(
            f"the clip is {info.duration:.1f} s long; nst styles at most {max_seconds:g} s of a clip at once: "
            "choose a part with duration (and start)"
        )
    times = sample_times(info, rate, first_s, length)
    if not times:
        raise VideoError("the clip has no frames in the part asked for")
    first = next(frames(content, info, times[:1]), None)
    if first is None:
        raise VideoError("the clip has no frames nst can decode")
    given = [style] if not isinstance(style, (list, tuple)) else list(style)
    styles = [im.load_image(x, "style image") for x in given]
    prepared = prepare(first, list[im.ImageInput](styles), s, masks=masks, keep=keep, preview_every=0, time_limit=None)
    return PreparedVideo(
        Path(content),
        info,
        times,
        rate or min(info.rate, 24.0),
        s,
        styles,
        prepared.masks,
        prepared.keep,
        prepared,
        first_s,
        started=started,
    )


def stylize_video(
    content: str | Path,
    style: im.ImageInput | list[im.ImageInput],
    output: str | Path,
    settings: Settings | None = None,
    /,
    *,
    stop: threading.Event | None = None,
    preview_size: int | None = None,
    **kwargs: Any,
) -> Iterator[VideoProgress]:
    """Style the clip ``content`` into ``output``, yielding :class:`VideoProgress` as it goes.

    Checked at the call (:func:`prepare_video`, which takes the other keyword arguments:
    ``masks``, ``keep``, ``fps``, ``start``, ``duration``, ``max_seconds`` and any setting);
    the work starts at the first ``next()``.

        >>> for event in nst.stylize_video("clip.mp4", "painting.jpg", "out.mp4", size=256, duration=3):
        ...     print(f"frame {event.frame} of {event.frames}")
    """
    out = output_path(output)
    return prepare_video(content, style, settings, **kwargs).events(out, stop=stop, preview_size=preview_size)
