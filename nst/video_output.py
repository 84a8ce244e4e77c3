"""A clip's output: the events of a video run, the file written as frames come, and what a
finished frame hands the next (which pickles, so a clip's parts can run in other processes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .errors import SettingsError
from .inputs import Progress
from .videoio import ClipWriter

__all__ = ["OUTPUT_SUFFIXES", "VideoCarry", "VideoProgress", "VideoWriter", "output_path"]

OUTPUT_SUFFIXES = (".mp4", ".gif")


@dataclass
class VideoCarry:
    """What a finished frame hands the next (:meth:`PreparedVideo.segment`); it pickles, so the
    parts of a clip can be styled in other processes.

    Attributes:
        done: frames finished.
        grey: the last frame, grey (its flow to the next), else None.
        raw: the last frame's optimised image, ``(1, 3, H, W)`` on the CPU, else None.
        pace: seconds a later frame took (an average), else None (none measured yet).
    """

    done: int = 0
    grey: np.ndarray | None = None
    raw: torch.Tensor | None = None
    pace: float | None = None


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
        carry: on a finished frame's event of :meth:`PreparedVideo.segment`, what the next
            frame needs (:meth:`PreparedVideo.events` gives None).
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
    carry: VideoCarry | None = None


class VideoWriter:
    """A clip's frames, written as they come (:meth:`write`); a context manager. On leaving,
    the clip is moved to its place (no frame written: nothing is), and :attr:`final` is the
    run's last event (the file, and what cut the clip short, as :meth:`end` said); on an error,
    nothing is left behind. The file is written beside its place under a hidden name.

    Args:
        out: where the clip goes (``.mp4`` or ``.gif``).
        rate: the output's frames per second.
        frames: the frames the whole run takes (for the last event's count).
        audio: the clip whose audio track goes with the frames, else None.
        start: seconds into ``audio`` where the frames start.
        elapsed: the run's seconds so far (for the last event).
    """

    def __init__(
        self,
        out: Path,
        *,
        rate: float,
        frames: int,
        audio: Path | None,
        start: float,
        elapsed: Callable[[], float],
    ) -> None:
        self.out, self.rate, self.frames, self._elapsed = out, rate, frames, elapsed
        self.partial = out.with_name(f".{out.stem}.partial{out.suffix}")
        self.stopped: bool = False
        self.note: str | None = None
        self.final: VideoProgress | None = None
        self._clip = ClipWriter(self.partial, rate, audio, start)

    def __enter__(self) -> VideoWriter:
        return self

    def write(self, image: Image.Image) -> None:
        """Add a finished frame."""
        self._clip.write(image)

    def end(self, stopped: bool, note: str | None) -> None:
        """Say why the clip ends where it does (a segment's last event's ``stopped`` and ``note``)."""
        self.stopped, self.note = stopped, note

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is not None:
            with contextlib.suppress(Exception):
                self._clip.close()
            self.partial.unlink(missing_ok=True)
            return
        written, note, final = self._clip.close(), self.note, None
        if written == 0:
            self.partial.unlink(missing_ok=True)
            note = (note + "; " if note else "") + "no frame was finished: nothing written"
        else:
            self.partial.replace(self.out)
            final = self.out
            if self.stopped:
                kept = f"kept the {written} frame{'s' if written != 1 else ''} done"
                note = (note + ": " if note else "stopped: ") + kept
        self.final = VideoProgress(
            frame=written, frames=self.frames, elapsed=self._elapsed(), eta=0.0, done=True,
            stopped=self.stopped, note=note, output=final, rate=self.rate,
        )  # fmt: skip


def output_path(output: str | Path) -> Path:
    out = Path(output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise SettingsError(f"a video's output must be a .mp4 or .gif file, not {str(output)!r}")
    if not out.parent.is_dir():
        raise SettingsError(f"the output folder {str(out.parent)!r} does not exist")
    return out
