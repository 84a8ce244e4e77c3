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

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import flow as fl
from . import images as im
from .errors import SettingsError
from .inputs import Progress
from .losses import TemporalLoss
from .masks import resize_mask
from .pipeline import PreparedRun, prepare
from .run import Run, run_events
from .settings import DEFAULT, Settings
from .steps import resize
from .tiles import TiledObjective
from .videoio import MAX_CLIP_SECONDS, ClipInfo, ClipWriter, VideoError, frames, is_video, probe, sample_times

__all__ = ["FrameRun", "PreparedVideo", "VideoProgress", "prepare_video", "stylize_video", "is_video"]

OUTPUT_SUFFIXES = (".mp4", ".gif")


@dataclass(kw_only=True)
class VideoProgress:
    """One event of a video run.

    Attributes:
        frame: frames finished so far.
        frames: frames the run takes (the clip sampled at its rate).
        image: the frame just finished (a preview of the result), else None.
        step: the current frame's latest :class:`~nst.Progress` (its steps and losses), else None.
        elapsed: seconds since the run started.
        eta: seconds until the whole clip is done: the current frame's ETA, then the later
            frames' pace (planned from the costs known until one is measured).
        done: True on the last event; ``output`` is then written.
        stopped: the run was stopped (``stop=`` or the time limit): the clip has the frames finished.
        note: one line when the clip was cut short (stopped, time limit, a corrupt file), else None.
        output: the file written, on the last event (None if no frame was finished).
        rate: the output's frames per second.
    """

    frame: int
    frames: int
    image: Image.Image | None = None
    step: Progress | None = None
    elapsed: float = 0.0
    eta: float | None = None
    done: bool = False
    stopped: bool = False
    note: str | None = None
    output: Path | None = None
    rate: float = 0.0


class FrameRun(Run):
    """A frame's :class:`~nst.run.Run`: started from ``warm`` (the previous result, warped), with
    the temporal cost on; it keeps its optimised image (``raw``), which the next frame warps.

    Args:
        inputs: the frame's run, checked and planned.
        stop: as :class:`Run`'s.
        warm: ``(1, 3, H, W)`` in [0, 1], the image to start from, else None (the first frame).
        temporal: ``(target, mask, weight)`` of :class:`~nst.losses.TemporalLoss`, else None.
    """

    def __init__(
        self,
        inputs: PreparedRun,
        stop: threading.Event | None,
        warm: torch.Tensor | None = None,
        temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None,
    ) -> None:
        super().__init__(inputs, stop)
        self.warm, self.temporal = warm, temporal
        self.raw: torch.Tensor | None = None

    def begin_scale(self, index, scale):  # type: ignore[no-untyped-def]  # Run.begin_scale's
        if self.warm is not None and self.image is None:
            self.image = self.warm.to(self.inputs.device)  # resized to the scale by Run.begin_scale
        content_img, objective = super().begin_scale(index, scale)
        if self.temporal is not None and self.temporal[2] > 0:
            if isinstance(objective, TiledObjective):
                raise SettingsError(
                    "video frames this large are optimised in tiles, which have no temporal cost; lower size"
                )
            target, mask, weight = self.temporal
            hw = self.image.shape[-2:] if self.image is not None else target.shape[-2:]
            objective.temporal = TemporalLoss(
                resize(target, hw).to(self.inputs.device), resize_mask(mask, hw).to(self.inputs.device), weight
            )
        return content_img, objective

    def finish(self, index: int, stopped: bool) -> Progress:
        self.raw = None if self.image is None else self.image.detach().cpu().clone()
        return super().finish(index, stopped)


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
        return prepare(self.first.content, *self._args(), **self._later_overrides()).estimate(calibrated=calibrated)

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
        out = _output_path(output)
        return self._events(out, stop, preview_size)

    def _events(self, out: Path, stop: threading.Event | None, preview_size: int | None) -> Iterator[VideoProgress]:
        s, n, t0 = self.settings, self.frame_count, time.perf_counter()
        partial = out.with_name(f".{out.stem}.partial{out.suffix}")
        writer = ClipWriter(partial, self.rate, self.path if self.info.audio else None, self.start)
        deadline = None if s.time_limit is None else self.started + s.time_limit
        done, note, stopped, measured = 0, None, False, False
        # The later frames' pace: planned from the costs known, then measured (an average).
        per_frame = self._later_seconds(calibrated=False)
        prev_grey: np.ndarray | None = None
        prev_raw: torch.Tensor | None = None
        try:
            source = frames(self.path, self.info, self.times)
            while done < n:
                try:
                    frame = next(source, None)  # the first frame too: the decoder moves past it
                except VideoError as exc:
                    if not done:
                        raise
                    note = f"{exc}; kept the {done} frame{'s' if done != 1 else ''} done"
                    break
                if frame is None:
                    note = f"the clip ended after {done} frames"
                    break
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                run = self.first if not done else prepare(frame, *self._args(), **self._later_overrides())
                if deadline is not None:
                    run.time_cap = self._share(deadline - time.perf_counter(), done)
                    if run.time_cap <= 0:
                        stopped, note = True, f"time limit {s.time_limit:g} s"
                        break
                t_frame = time.perf_counter()
                warm = temporal = None
                grey = fl.grey(run.output)
                if prev_grey is not None and prev_raw is not None:
                    warm, temporal = _warped(prev_raw, prev_grey, grey, s.temporal_weight)
                frun = FrameRun(run, stop, warm, temporal)
                last = None
                for event in run_events(run, stop, None, None, run=frun):
                    last = event
                    yield VideoProgress(
                        frame=done, frames=n, step=event, elapsed=time.perf_counter() - t0,
                        eta=_eta(per_frame, n - done, event), rate=self.rate,
                    )  # fmt: skip
                assert last is not None and last.image is not None
                if last.stopped:
                    stopped = True
                    break
                writer.write(last.image)
                prev_grey, prev_raw = grey, frun.raw
                done += 1
                if done > 1:  # the later frames' pace (the first frame takes its full plan)
                    took = time.perf_counter() - t_frame
                    per_frame, measured = (0.7 * per_frame + 0.3 * took if measured else took), True
                preview = last.image if preview_size is None else _shrunk(last.image, preview_size)
                yield VideoProgress(
                    frame=done, frames=n, image=preview, elapsed=time.perf_counter() - t0,
                    eta=per_frame * (n - done), rate=self.rate,
                )  # fmt: skip
        except BaseException:
            with contextlib.suppress(Exception):
                writer.close()
            partial.unlink(missing_ok=True)
            raise
        yield self._final(writer.close(), partial, out, stopped, note, t0)

    def _share(self, left: float, done: int) -> float:
        """The seconds of ``left`` that frame ``done`` (from 0) may take: its share of the frames
        left, the first frame's plan counting as ``steps / frame_steps`` later frames."""
        s = self.settings
        weight = (s.steps / s.frame_steps) if not done else 1.0
        return max(0.0, left) * weight / (weight + (self.frame_count - done - 1))

    def _final(
        self, written: int, partial: Path, out: Path, stopped: bool, note: str | None, t0: float
    ) -> VideoProgress:
        """The last event: the clip moved to ``out`` (none written: removed), and what cut it short."""
        final = None
        if written == 0:
            partial.unlink(missing_ok=True)
            note = (note + "; " if note else "") + "no frame was finished: nothing written"
        else:
            partial.replace(out)
            final = out
            if stopped:
                kept = f"kept the {written} frame{'s' if written != 1 else ''} done"
                note = (note + ": " if note else "stopped: ") + kept
        return VideoProgress(
            frame=written, frames=self.frame_count, elapsed=time.perf_counter() - t0, eta=0.0, done=True,
            stopped=stopped, note=note, output=final, rate=self.rate,
        )  # fmt: skip

    def _args(self) -> tuple[Any, ...]:
        return (self.styles, self.settings)


def _warped(
    prev_raw: torch.Tensor, prev_grey: np.ndarray, grey: np.ndarray, weight: float
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, float]]:
    """The previous result warped onto this frame (the start), and the temporal cost's target and mask."""
    backward = fl.flow(grey, prev_grey)
    forward = fl.flow(prev_grey, grey)
    h, w = grey.shape
    raw = resize(prev_raw, (h, w))  # the optimised image is at the output size already
    hwc = raw[0].permute(1, 2, 0).numpy().astype(np.float32)
    warped = fl.warp(hwc, backward)
    if warped.ndim == 2:
        warped = warped[..., None]
    target = torch.from_numpy(np.ascontiguousarray(warped)).permute(2, 0, 1)[None].clamp(0, 1).contiguous()
    mask = torch.from_numpy(fl.consistency(backward, forward))[None, None]
    return target.clone(), (target, mask, weight)


def _eta(per_frame: float, left: int, event: Progress) -> float:
    """Seconds to the end: this frame's own ETA, then ``per_frame`` for each frame after it."""
    return (event.eta or 0.0) + per_frame * max(0, left - 1)


def _shrunk(img: Image.Image, longest: int) -> Image.Image:
    if max(img.size) <= longest:
        return img
    k = longest / max(img.size)
    return img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))), Image.Resampling.LANCZOS)


def _output_path(output: str | Path) -> Path:
    out = Path(output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise SettingsError(f"a video's output must be a .mp4 or .gif file, not {str(output)!r}")
    if not out.parent.is_dir():
        raise SettingsError(f"the output folder {str(out.parent)!r} does not exist")
    return out


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
    out = _output_path(output)
    return prepare_video(content, style, settings, **kwargs).events(out, stop=stop, preview_size=preview_size)
