"""Synthetic clips, good and bad, written with PyAV: what the video tests and benches send.

Each frame is a smooth random texture moved ``shift`` px to the right per frame (so optical
flow has something to follow), with the frame's index written into an 8×8 corner block
(grey level ``25 · index``, up to 10) so that a test can tell which frame came out.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture ``(h, w, 3)`` uint8 (blurred noise, full range)."""
    import cv2

    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    t = (t - t.min()) / (t.max() - t.min())
    return (t * 255).astype(np.uint8)


def frame_at(i: int, w: int, h: int, shift: int = 2) -> np.ndarray:
    """Frame ``i``: the texture moved ``i · shift`` px right (round), its index in the top-left block."""
    f = np.ascontiguousarray(np.roll(texture(h, w), i * shift, axis=1))  # wrapped round: any number of frames
    f[:8, :8] = min(255, 25 * i)
    return f


def write_clip(
    path: Path,
    frames: int = 6,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
    *,
    audio: bool = False,
    rotation: int = 0,
    times: list[float] | None = None,
    codec: str = "libx264",
) -> Path:
    """A clip of ``frames`` frames of ``size`` (w, h) at ``fps``.

    Args:
        audio: add a mono 440 Hz AAC track as long as the video.
        rotation: display rotation metadata, counter-clockwise degrees.
        times: each frame's time in seconds (a variable frame rate), instead of ``i / fps``.
        codec: the video encoder (``libx264``, ``mpeg4``, ...).
    """
    import av

    w, h = size
    with av.open(str(path), "w") as c:
        tb = Fraction(1, 1000)
        v = c.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.time_base = tb
        v.codec_context.time_base = tb  # else the encoder rounds times to 1/fps
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(frames):
            fr = av.VideoFrame.from_ndarray(frame_at(i, w, h), format="rgb24")
            t = times[i] if times is not None else i / fps
            fr.pts, fr.time_base = round(t * 1000), tb
            for p in v.encode(fr):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            n = round(16000 * frames / fps)
            _mux_audio(c, a, (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32))
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An M4A-like MP4 holding only an AAC track."""
    import av

    with av.open(str(path), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        _mux_audio(c, a, np.zeros(round(16000 * seconds), np.float32))
    return path


def _mux_audio(container: Any, stream: Any, samples: np.ndarray) -> None:
    """Encode mono 16 kHz ``samples`` into ``stream`` and mux them (then flush the encoder)."""
    import av

    frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
    frame.sample_rate, frame.pts = 16000, 0
    for p in [*stream.encode(frame), *stream.encode(None)]:
        container.mux(p)


def write_truncated(path: Path, frames: int = 30, keep: float = 0.7, size: tuple[int, int] = (96, 64)) -> Path:
    """A Matroska clip cut after ``keep`` of its bytes: its header still states the whole
    length, its first frames decode, and then the file ends (a download cut halfway)."""
    full = path.with_name(path.stem + "-whole.mkv")
    write_clip(full, frames, size, codec="mpeg4")
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    full.unlink()
    return path
