"""Reading and writing clips as streams of frames: :func:`probe`, :func:`frames`, :class:`ClipWriter`.

PyAV (``av``) decodes and encodes: its wheels bundle FFmpeg with libx264, so no system
ffmpeg is needed, and it hands frames over one at a time (imageio-ffmpeg pipes raw frames
through a subprocess binary; OpenCV's VideoWriter has no H.264 in its wheels and no audio).
Animated GIF and WebP files are read with Pillow, which knows their frame durations.

Nothing here holds more than a frame or two: a clip is decoded, styled and encoded as a
stream, so memory does not grow with its length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageError

__all__ = [
    "MAX_CLIP_SECONDS",
    "MAX_FPS",
    "MAX_FRAME_PIXELS",
    "ClipInfo",
    "ClipWriter",
    "VideoError",
    "frames",
    "is_video",
    "probe",
    "sample_times",
]

# A clip's frames may be this large at most (4096×2160, "4K"): a frame is decoded whole
# before it is resized, and a larger one is more likely a hostile file than a film.
MAX_FRAME_PIXELS = 4096 * 2160
# The most seconds of a clip one run styles (the API and the CLI; the app caps lower).
MAX_CLIP_SECONDS = 120.0
# The default sampling rate is the clip's own, at most this: above it each extra frame costs
# a whole optimisation and the eye gains little.
MAX_FPS = 24.0


class VideoError(ImageError):
    """A clip that cannot be used (not a video, no frames, corrupt, too large or too long)."""


@dataclass(frozen=True)
class ClipInfo:
    """What :func:`probe` found in a clip.

    Attributes:
        width: frame width as shown (after the rotation metadata).
        height: frame height as shown.
        rate: the clip's average frame rate, frames per second.
        duration: seconds.
        rotation: counter-clockwise degrees the frames are turned to be shown upright.
        audio: whether it has an audio track.
        animated_image: an animated GIF/WebP/PNG (read with Pillow), not a container.
    """

    width: int
    height: int
    rate: float
    duration: float
    rotation: int = 0
    audio: bool = False
    animated_image: bool = False


def is_video(path: str | Path) -> bool:
    """Whether ``path`` holds a clip (a video, or an image of several frames), by its content.

    A still image (even one FFmpeg could open) is not; a file that is neither, or missing,
    is not either (loading it as an image then says why).
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with Image.open(p) as img:
            return bool(getattr(img, "is_animated", False)) and getattr(img, "n_frames", 1) > 1
    except Exception:  # not an image Pillow knows: perhaps a container
        pass
    import av

    try:
        with av.open(str(p)) as c:
            return not _still_format(c.format.name) and (bool(c.streams.video) or bool(c.streams.audio))
    except Exception:  # av.FFmpegError and OSError: not a container either
        return False


def _still_format(name: str) -> bool:
    """Whether FFmpeg read the file as a still image or text (``image2``, ``png_pipe``, ``tty``…):
    an image Pillow refused (too large, odd metadata) is an image to refuse as one, not a clip."""
    return any(n in ("image2", "tty") or n.endswith("_pipe") for n in name.split(","))


def _name(path: Path) -> str:
    return repr(path.name)


def probe(path: str | Path, what: str = "clip") -> ClipInfo:
    """The clip's frame size, rate, length, rotation and audio, without decoding it.

    Raises:
        VideoError: not a clip, no video track (audio only), no frames, or frames over
            :data:`MAX_FRAME_PIXELS`.
    """
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"the {what} {_name(p)} does not exist")
    try:
        with Image.open(p) as img:
            if getattr(img, "is_animated", False):
                return _check_size(_probe_animation(img), p, what)
    except VideoError:
        raise
    except Exception:
        pass
    import av

    try:
        c = av.open(str(p))
    except Exception:
        raise VideoError(f"the {what} {_name(p)} is not a video nst can read") from None
    with c:
        if _still_format(c.format.name):
            raise VideoError(f"the {what} {_name(p)} is a still image, not a video")
        if not c.streams.video:
            if c.streams.audio:
                raise VideoError(f"the {what} {_name(p)} has only audio, no video track")
            raise VideoError(f"the {what} {_name(p)} has no video track")
        v = c.streams.video[0]
        w, h = v.codec_context.width, v.codec_context.height
        if not w or not h:
            raise VideoError(f"the {what} {_name(p)} has no frames")
        rate = float(v.average_rate or v.guessed_rate or 0) or 25.0
        if v.duration is not None and v.time_base is not None:
            duration = float(v.duration * v.time_base)
        elif c.duration is not None:
            duration = c.duration / 1_000_000
        else:
            duration = (v.frames or 0) / rate
        _check_size(ClipInfo(w, h, rate, duration), p, what)  # before a frame of it is decoded
        # The rotation is in the first frame's side data (the display matrix): one frame decoded.
        try:
            first = next(c.decode(v))
        except (StopIteration, av.FFmpegError):
            raise VideoError(f"the {what} {_name(p)} has no frames nst can decode") from None
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        if rotation in (90, 270):
            w, h = h, w
        info = ClipInfo(w, h, rate, max(duration, 1 / rate), rotation, bool(c.streams.audio))
    return _check_size(info, p, what)


def _probe_animation(img: Any) -> ClipInfo:
    durations = []
    for i in range(img.n_frames):
        img.seek(i)
        durations.append(max(int(img.info.get("duration", 100) or 100), 10) / 1000)  # 0: browsers show 100 ms
    total = sum(durations)
    return ClipInfo(img.width, img.height, len(durations) / total, total, animated_image=True)


def _check_size(info: ClipInfo, p: Path, what: str) -> ClipInfo:
    if info.width * info.height > MAX_FRAME_PIXELS:
        raise VideoError(
            f"the {what} {_name(p)} has frames of {info.width}×{info.height} px, more than the "
            f"{MAX_FRAME_PIXELS / 1e6:.1f} Mpx nst accepts (4096×2160); scale it down first"
        )
    return info


def sample_times(info: ClipInfo, fps: float | None, start: float, duration: float | None) -> list[float]:
    """The times (seconds from the clip's start) of the frames a run takes: from ``start``,
    every ``1/fps`` s, for ``duration`` s or to the clip's end.

    Args:
        info: the clip.
        fps: frames per second; None: the clip's own, at most :data:`MAX_FPS`.
        start: seconds into the clip.
        duration: seconds to take; None: to the end.
    """
    rate = fps or min(info.rate, MAX_FPS)
    end = info.duration if duration is None else min(info.duration, start + duration)
    n = max(0, math.ceil((end - start) * rate - 1e-6))
    return [start + k / rate for k in range(n)]


def frames(path: str | Path, info: ClipInfo, times: list[float]) -> Iterator[Image.Image]:
    """The frame shown at each of ``times`` (upright, RGB), decoded as a stream.

    Each time takes the last frame whose timestamp is at or before it, so a clip of variable
    frame rate is sampled by its timestamps, not by its frame count.

    Raises:
        VideoError: the clip cannot be decoded from some point on (after the frames before it).
    """
    if not times:
        return
    decoded = _animation(Path(path)) if info.animated_image else _decoded(Path(path), info, times[0])
    k, prev, last = 0, None, 0.0
    for t, img in decoded:
        while k < len(times) and times[k] < t - 1e-6:
            yield prev if prev is not None else img  # before the first frame: the first frame
            k += 1
        if k >= len(times):
            return
        prev, last = img, t
    if k < len(times) and not info.animated_image and times[-1] > last + 2 / info.rate:
        # The decoder ran out long before the length the header states: a file cut short.
        raise VideoError(
            f"the clip {_name(Path(path))} ends at {last:.2f} s, before the {info.duration:.2f} s "
            "its header states: the file is cut short or corrupt"
        )
    while prev is not None and k < len(times):  # the last frame lasts to the clip's end
        yield prev
        k += 1


def _animation(p: Path) -> Iterator[tuple[float, Image.Image]]:
    img: Any
    with Image.open(p) as img:
        t = 0.0
        for i in range(img.n_frames):
            img.seek(i)
            yield t, img.convert("RGB")
            t += max(int(img.info.get("duration", 100) or 100), 10) / 1000


def _decoded(p: Path, info: ClipInfo, start: float) -> Iterator[tuple[float, Image.Image]]:
    import av

    with av.open(str(p)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        base = 0.0  # where decoding starts, for frames without a timestamp
        if start > 0 and v.time_base is not None:
            c.seek(int(start / v.time_base), stream=v, backward=True)  # the key frame before it
            base = start
        n = 0
        try:
            for frame in c.decode(v):
                t = float(frame.time if frame.time is not None else base + n / info.rate)
                n += 1
                img = frame.to_image()
                if info.rotation:
                    img = img.rotate(info.rotation, expand=True)
                yield t, img
        except av.FFmpegError as exc:
            raise VideoError(f"the clip {_name(p)} is corrupt after {n} frames ({exc.strerror or exc})") from None


class ClipWriter:
    """Writes frames as they come: MP4 (H.264, yuv420p, even sides) or GIF, at ``rate``,
    with the audio of ``audio_from`` over the same span re-encoded as AAC (MP4 only).

    Args:
        path: ``.mp4`` or ``.gif``.
        rate: frames per second.
        audio_from: a clip whose audio track is kept, else None.
        start: where in ``audio_from`` the frames start, seconds.
    """

    def __init__(self, path: str | Path, rate: float, audio_from: str | Path | None = None, start: float = 0.0) -> None:
        import av

        self.path = Path(path)
        self.gif = self.path.suffix.lower() == ".gif"
        self.rate = Fraction(rate).limit_denominator(1001)
        self.container: Any = av.open(str(self.path), "w")
        self.video: Any = None
        self.count = 0
        self.audio_from, self.start = (None if self.gif else audio_from), start
        self._audio: Any = None  # (input container, its decoder iterator, output stream, sample rate)
        self._pending: Any = None  # an audio frame decoded, for after the next video frame
        self._samples = 0  # audio samples written

    def _open_video(self, img: Image.Image) -> None:
        if self.gif:
            self.video = self.container.add_stream("gif", rate=self.rate)
            self.video.pix_fmt = "pal8"
            self.size = img.size
        else:
            self.video = self.container.add_stream("libx264", rate=self.rate)
            self.video.pix_fmt = "yuv420p"
            self.size = (img.width // 2 * 2, img.height // 2 * 2)  # 4:2:0 needs even sides
            self.video.options = {"crf": "18", "preset": "medium"}
        self.video.width, self.video.height = self.size
        if self.audio_from is not None:
            self._open_audio()

    def _open_audio(self) -> None:
        import av

        try:
            src = av.open(str(self.audio_from))
        except av.FFmpegError:
            return
        if not src.streams.audio:
            src.close()
            return
        a_in = src.streams.audio[0]
        rate = a_in.codec_context.sample_rate or 44100
        out = self.container.add_stream("aac", rate=rate)
        out.layout = a_in.codec_context.layout.name if a_in.codec_context.layout else "stereo"
        if self.start > 0 and a_in.time_base is not None:
            src.seek(int(self.start / a_in.time_base), stream=a_in, backward=True)
        self._audio = (src, src.decode(a_in), out, rate)

    def write(self, img: Image.Image) -> None:
        """Append one frame (its audio up to the frame's end is muxed beside it)."""
        import av

        if self.video is None:
            self._open_video(img)
        if img.size != self.size:
            img = img.crop((0, 0, *self.size))
        if self.gif:
            pal = img.convert("RGB").quantize(256)
            palette = np.zeros((256, 4), np.uint8)
            rgb = np.frombuffer(bytes(pal.getpalette() or []), np.uint8).reshape(-1, 3)[:256]
            palette[: len(rgb), 0], palette[: len(rgb), 1:] = 255, rgb
            frame = av.VideoFrame.from_ndarray((np.asarray(pal), palette), format="pal8")  # type: ignore[arg-type]  # pal8 takes (indices, palette)
        else:
            frame = av.VideoFrame.from_image(img.convert("RGB"))
        frame.pts = self.count
        frame.time_base = 1 / self.rate
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.count += 1
        self._mux_audio(self.count / self.rate)

    def _mux_audio(self, until: float | Fraction, final: bool = False) -> None:
        """Re-encode the source's audio from ``start`` up to ``until`` seconds of the output,
        in whole audio frames (a few ms each); ``final``: cut the last one at ``until``."""
        if self._audio is None:
            return
        src, decoded, out, rate = self._audio
        end = round(float(until) * rate)
        while self._samples < end:
            frame = self._pending or next(decoded, None)
            self._pending = None
            if frame is None:
                break
            t = float(frame.time or 0.0) - self.start
            if t >= float(until) and not final:
                self._pending = frame  # it belongs after a later video frame
                break
            skip = max(0, round(-t * rate))  # samples before the start
            take = frame.samples - skip if not final else min(frame.samples - skip, end - self._samples)
            if take <= 0:
                continue
            data = frame.to_ndarray()
            if not frame.format.is_planar:  # interleaved: one row of channels × samples
                ch = len(frame.layout.channels)
                data = data[..., skip * ch : (skip + take) * ch]
            else:
                data = data[..., skip : skip + take]
            part = _audio_frame(data, frame, rate)
            part.pts = self._samples
            part.time_base = Fraction(1, rate)
            self._samples += take
            for packet in out.encode(part):
                self.container.mux(packet)

    def close(self) -> int:
        """Flush the encoders and close the file; returns the frames written."""
        if self.video is not None:
            for packet in self.video.encode(None):
                self.container.mux(packet)
            if self._audio is not None:
                self._mux_audio(self.count / self.rate, final=True)
                src, _, out, _ = self._audio
                for packet in out.encode(None):
                    self.container.mux(packet)
                src.close()
        self.container.close()
        return self.count


def _audio_frame(samples: np.ndarray, like: Any, rate: int) -> Any:
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format=like.format.name, layout=like.layout.name)
    frame.sample_rate = rate
    return frame
