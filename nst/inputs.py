"""What a run is given and what it gives: :class:`RunInputs` (checked and planned by
:func:`nst.prepare`) and :class:`Progress` (each event of :func:`nst.stylize`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from PIL import Image

from .faces import Face
from .memory import work_plan
from .schedule import ScalePlan
from .settings import DEFAULT, Settings
from .tilegrid import MemoryPlan

__all__ = ["Progress", "RunInputs"]


@dataclass(kw_only=True)
class Progress:
    """One event of a run.

    Attributes:
        step: optimisation steps done so far.
        total: steps the run will take.
        losses: ``content`` (J_content), ``style`` (J_style), ``total`` (J) and
            ``style:<layer>`` (each J_style^l), as floats, at this step (empty if the
            run was stopped before its first step).
        elapsed: seconds since the run started.
        size: ``(width, height)`` of the image being optimised.
        image: a preview or, when ``done``, the result at the output size.
        done: True on the last event, whose ``image`` is the result.
        stopped: True on the last event of a run ended by ``stop=``; its image is the
            image as it was after the last whole step.
        scale: ``(index, count)`` of the coarse-to-fine scale being optimised, from 1.
        work_done: megapixel-steps done so far (coarse steps are cheap: this is the
            measure of progress).
        work_total: megapixel-steps of the whole run, as planned.
        eta: seconds until the result, from the plan and the pace measured so far.
        note: one line when a time limit changed the plan (the steps it kept, or the
            smaller working size), else None.
    """

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    image: Image.Image | None = None
    done: bool = False
    stopped: bool = False
    settings: Settings = field(default=DEFAULT, repr=False)
    scale: tuple[int, int] = (1, 1)
    work_done: float = 0.0
    work_total: float = 0.0
    eta: float | None = None
    note: str | None = None

    @property
    def terms(self) -> dict[str, float]:
        """What J sums: ``content``, the weighted style term ``style`` (β·J_style) and
        ``total`` (J); empty before the first step."""
        if not self.losses:
            return {}
        return {
            "content": self.losses["content"],
            "style": self.settings.style_weight * self.losses["style"],
            "total": self.losses["total"],
        }


@dataclass
class RunInputs:
    """A run checked and planned, before any network work: what :func:`nst.stylize` validated
    (:class:`nst.PreparedRun` adds the ways to run and estimate it).

    Attributes:
        settings: the validated settings.
        device: where the run computes.
        content: the content image, as given (RGB).
        styles: the style images, as given (RGB).
        blend: each style's weight, normalised to sum 1.
        output: the content at the output size: the result's size and chroma source.
        plan: the scales, coarse to fine, with their pixel sizes and steps.
        masks: one greyscale mask per style (regional runs), as given, else None.
        mask_names: how the recipe names each mask (file names, or "mask N").
        faces: the faces protected (``keep_faces``), in the content image's pixels.
        keep: the keep mask (white: keep the photo's structure), as given, else None.
        keep_name: how the recipe names the keep mask.
        time_cap: seconds the run may take at most, set by a front end (the app: what a
            visitor's wait allows, or on ZeroGPU its GPU reservation); like ``time_limit``,
            but not a setting, so recipes do not record it; counted from the start of
            :meth:`events`.
        started: when the time limit's clock started (``time.perf_counter()``): the call
            of :func:`nst.prepare`, unless the caller started it earlier (the CLI: at the
            process's start).
        reserve: seconds of the time limit kept for what the caller does after the result
            (the CLI writes the PNG).
        memory: each scale's :class:`~nst.tilegrid.MemoryPlan`: whole or in tiles, and the
            working memory expected.
        start: the image the run continues from (an upscale: its first scale is finer
            than this image), else None.
    """

    settings: Settings
    device: torch.device
    content: Image.Image
    styles: list[Image.Image]
    blend: list[float]
    output: Image.Image
    plan: list[ScalePlan]
    masks: list[Image.Image] | None = None
    mask_names: list[str] | None = None
    faces: list[Face] = field(default_factory=list)
    keep: Image.Image | None = None
    keep_name: str | None = None
    time_cap: float | None = None
    started: float = field(default_factory=time.perf_counter)
    reserve: float = 0.0
    memory: list[MemoryPlan] = field(default_factory=list)
    start: Image.Image | None = None

    @property
    def total_steps(self) -> int:
        """The steps of the plan, all scales."""
        return sum(sc.steps for sc in self.plan)

    @property
    def peak_memory(self) -> float:
        """The run's expected peak working memory, bytes (the process and weights not included)."""
        return max((m.peak for m in self.memory), default=0.0)

    def work_plan(self) -> list[ScalePlan]:
        """The plan as the estimates count it: a tiled scale as the pixels its tiles and
        their halos cover (``MemoryPlan.work`` times its own)."""
        return work_plan(self.plan, self.memory)
