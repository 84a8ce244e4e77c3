"""How a run's steps are spread over image scales, and how long they take.

A step's cost is nearly proportional to the pixel count (VGG19 is all convolutions), plus
a small fixed part per step; each scale also pays once for its targets and for the first
pass at a new image shape. :class:`~nst.costmodel.CostModel` holds those four numbers for
one device and precision (:mod:`nst.costs` keeps the table of them). The plan of a run
(:func:`plan_scales`, :func:`plan_run`) and its estimate (:func:`estimate_seconds`) are
here; a time limit's fitting of the plan is :mod:`nst.timelimit`, the ETA of a run under
way :mod:`nst.eta`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .costmodel import CostModel

__all__ = [
    "Scale",
    "ScalePlan",
    "plan_scales",
    "plan_run",
    "long_side",
    "megapixels",
    "estimate_seconds",
    "format_seconds",
]

# Each finer scale gets this fraction of the previous one's steps. At equal time, the
# more time the fine scales get, the better both distances (bench/trials.py schedule:
# quality at 512 px in 48 s, ½: 0.62, 0.71: 0.56, 0.85: 0.54, 1: 0.51; at 1024 px in
# 96 s, ½: 0.91, 0.85: 0.74, 1: 0.73). 0.85 keeps finer scales on fewer steps than
# coarse ones, and ends with enough steps at the output size to sharpen its texture.
STEP_DECAY = 0.85


@dataclass(frozen=True)
class Scale:
    """One stage of a coarse-to-fine run: the long side in pixels and its step count."""

    size: int
    steps: int


@dataclass(frozen=True)
class ScalePlan:
    """A scale of a run on a given image: its pixel size ``(width, height)`` and steps."""

    wh: tuple[int, int]
    steps: int

    @property
    def mpx(self) -> float:
        return self.wh[0] * self.wh[1] / 1e6


def plan_scales(
    size: int, steps: int, *, multiscale: bool = True, start: int = 192, decay: float = STEP_DECAY
) -> list[Scale]:
    """Spread ``steps`` over sizes growing by about √2 from ``start`` up to ``size``.

    Coarse scales are cheap and settle the large structures of the style, so they get
    the most steps; each finer scale gets ``decay`` times fewer. Every scale keeps at
    least a few steps, and the total is exactly ``steps``.

    Args:
        size: long side of the output.
        steps: total steps over all scales.
        multiscale: False gives the single scale ``[Scale(size, steps)]``.
        start: the long side the first scale aims at. The scales are ``size`` divided by
            powers of √2, as many as bring the first within 0.77–1.09× of ``start``.
        decay: each finer scale's steps as a fraction of the previous scale's.
    """
    # Small outputs still get coarser scales, aiming at no less than 128 px (so none below
    # 0.77 × 128 ≈ 99 px): on tinier images L-BFGS's early curvature guesses overshoot and
    # leave saturated noise.
    start = max(128, min(start, size // 2))
    if not multiscale or size <= start * 1.2 or steps < 8:
        return [Scale(size, steps)]
    n = 1 + math.ceil(math.log(size / start, math.sqrt(2)) - 0.25)
    sizes = [round(size / math.sqrt(2) ** (n - 1 - i)) for i in range(n)]
    # Weights fall by `decay` with each finer scale, at least 2 steps each.
    weights = [decay ** (i - n + 1) for i in range(n)]
    raw = [steps * w / sum(weights) for w in weights]
    counts = [max(2, int(r)) for r in raw]
    counts[0] += steps - sum(counts)  # rounding goes to the cheapest scale
    if counts[0] < 2:
        return [Scale(size, steps)]
    return [Scale(s, c) for s, c in zip(sizes, counts)]


def long_side(wh: tuple[int, int], size: int) -> tuple[int, int]:
    """``wh`` resized so that its long side is ``size`` (as :func:`nst.images.resize_to_long_side`)."""
    scale = size / max(wh)
    return max(1, round(wh[0] * scale)), max(1, round(wh[1] * scale))


def plan_run(
    content_wh: tuple[int, int],
    size: int,
    steps: int,
    *,
    multiscale: bool = True,
    min_side: int = 1,
    decay: float = STEP_DECAY,
) -> list[ScalePlan]:
    """The scales of a run on a content image of ``content_wh`` pixels.

    Coarse scales whose short side is below ``min_side`` (what the deepest layer needs)
    are skipped, their steps moving on to the next scale. ``decay`` is as in
    :func:`plan_scales`.
    """
    scales = plan_scales(size, steps, multiscale=multiscale, decay=decay)
    while len(scales) > 1 and min(long_side(content_wh, scales[0].size)) < min_side:
        scales = [Scale(scales[1].size, scales[0].steps + scales[1].steps), *scales[2:]]
    return [ScalePlan(long_side(content_wh, sc.size), sc.steps) for sc in scales]


def megapixels(size: int, aspect: float = 0.75) -> float:
    """Pixels (in millions) of an image whose long side is ``size`` at the given aspect."""
    return size * size * aspect / 1e6


def estimate_seconds(
    plan: list[ScalePlan], cost: CostModel, *, setup: bool = False, time_limit: float | None = None
) -> float:
    """Expected wall time of a run of ``plan``: its scales, its steps and its result.

    Args:
        plan: the run's scales (:func:`plan_run`).
        cost: the device's cost model.
        setup: add the loading of the network (a fresh process, as the CLI is).
        time_limit: the run's time limit, if any: it ends then.
    """
    run = sum(cost.scale_seconds(sc.mpx) + sc.steps * cost.step_seconds(sc.mpx) for sc in plan)
    run += cost.finish_seconds(plan[-1].mpx)
    if time_limit is not None:
        run = min(run, time_limit)
    return run + (cost.setup if setup else 0.0)


def format_seconds(s: float) -> str:
    """A duration for people: ``<1 s``, ``42 s``, ``3 min 07 s``, ``2 h 05 min``."""
    s = max(0.0, s)
    if s < 1:
        return "<1 s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
