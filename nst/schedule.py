"""How a run's steps are spread over image scales, and how long they take: nst's one source for time.

A step's cost is nearly proportional to the pixel count (VGG19 is all convolutions), plus
a small fixed part per step; each scale also pays once for its targets and for the first
pass at a new image shape. :class:`CostModel` holds those four numbers for one device and
precision, measured from whole steps by :func:`nst.pipeline.calibrate` (else a prior from
the convolution probe). The plan of a run (:func:`plan_scales`), its estimate
(:func:`estimate_seconds`), a time limit's fitting of steps (:func:`fit_steps`) and the
ETA of a run under way (:class:`Eta`) all use it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .costmodel import CostModel
# The cost table is nst.costs's; these names stay importable from here (app_gpu.py and
# tests/test_same_pixels.py import them from nst.schedule).
from .costs import _MEASURED, cost_model, remember_cost  # noqa: F401

__all__ = [
    "Scale", "ScalePlan", "CostModel", "Eta", "plan_scales", "plan_run", "megapixels",
    "estimate_seconds", "fit_steps", "fit_plan", "FittedPlan", "limit_note", "cost_model", "remember_cost",
    "format_seconds",
]

# Each finer scale gets this fraction of the previous one's steps. At equal time, the
# more time the fine scales get, the better both distances (bench/trials.py schedule:
# quality at 512 px in 48 s, ½: 0.62, 0.71: 0.56, 0.85: 0.54, 1: 0.51; at 1024 px in
# 96 s, ½: 0.91, 0.85: 0.74, 1: 0.73). 0.85 keeps finer scales on fewer steps than
# coarse ones, and ends with enough steps at the output size to sharpen its texture.
STEP_DECAY = 0.85
# A time limit keeps this fraction of its budget for what the plan cannot foresee
# (a busy machine, the final encoding).
BUDGET_MARGIN = 0.9
# Fewer steps than this leave the photo under a faint texture: a time limit that allows no
# more at the output size lowers the working size instead (see fit_plan).
MIN_PAINTED_STEPS = 40
# The smallest working size a time limit lowers a run to (px, long side).
MIN_WORKING_SIZE = 128


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
    content_wh: tuple[int, int], size: int, steps: int, *, multiscale: bool = True, min_side: int = 1,
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


def fit_steps(remaining: list[ScalePlan], cost: CostModel, budget: float, ratio: float = 1.0) -> tuple[int, float]:
    """Steps for the current scale, and its share of ``budget``, so that all ``remaining``
    scales (the current one first, its targets already computed) fit in ``budget`` seconds.

    Every remaining scale is cut by the same factor, so that a run cut short still ends
    at the output size. ``ratio`` is measured time over the model's, so far in the run.
    """
    later = sum(ratio * cost.scale_seconds(sc.mpx) for sc in remaining[1:])
    later += ratio * cost.finish_seconds(remaining[-1].mpx)
    work = [ratio * sc.steps * cost.step_seconds(sc.mpx) for sc in remaining]
    factor = min(1.0, max(0.0, budget * BUDGET_MARGIN - later) / max(sum(work), 1e-9))
    return max(1, int(remaining[0].steps * factor)), work[0] / max(sum(work), 1e-9)


@dataclass(frozen=True)
class FittedPlan:
    """A run's plan as a time limit leaves it (see :func:`fit_plan`).

    Attributes:
        plan: the scales to run; the last one may be smaller than the output (the result
            is then upsampled to the output size).
        note: what the limit changed, in a few words ("kept 60 of the plan's 200 steps"),
            or None when the plan fits as it is.
    """

    plan: list[ScalePlan]
    note: str | None = None

    @property
    def steps(self) -> int:
        return sum(sc.steps for sc in self.plan)


def _most_steps(
    content_wh: tuple[int, int], size: int, steps: int, cost: CostModel, budget: float, **plan_kw: object
) -> list[ScalePlan] | None:
    """The plan at ``size`` with the most steps (at most ``steps``) that fits in ``budget``, if any."""
    def fits(n: int) -> list[ScalePlan] | None:
        plan = plan_run(content_wh, size, n, **plan_kw)  # type: ignore[arg-type]
        return plan if estimate_seconds(plan, cost) <= budget else None

    lo, best = 1, fits(1)
    if best is None:
        return None
    hi = steps
    while lo < hi:  # the largest n that fits (the cost grows with n)
        mid = (lo + hi + 1) // 2
        plan = fits(mid)
        if plan is not None:
            lo, best = mid, plan
        else:
            hi = mid - 1
    return best


def fit_plan(
    content_wh: tuple[int, int], size: int, steps: int, cost: CostModel, budget: float, *,
    multiscale: bool = True, min_side: int = 1, decay: float = STEP_DECAY,
) -> FittedPlan:
    """The plan of a run that must end within ``budget`` seconds (its scales, steps and result).

    In order of preference: the whole plan; the plan with fewer steps, every scale cut alike
    (the same scales, so the result is made at the output size); when that leaves fewer than
    :data:`MIN_PAINTED_STEPS`, a smaller working size (by √2 at a time, so fewer and cheaper
    scales), upsampled to the output size at the end: a painted image somewhat softer, rather
    than the photo under a faint texture. When not even that fits, the smallest working size
    with the steps that fit (at least one).

    Args:
        content_wh: the content image's size.
        size, steps, multiscale, min_side, decay: as :func:`plan_run`.
        cost: the device's cost model, with its pace (busy machine) applied by the caller.
        budget: seconds for the optimisation and the result (set-up already paid).
    """
    kw: dict[str, object] = {"multiscale": multiscale, "min_side": min_side, "decay": decay}
    full = plan_run(content_wh, size, steps, **kw)  # type: ignore[arg-type]
    if estimate_seconds(full, cost) <= budget:
        return FittedPlan(full)
    cut = _most_steps(content_wh, size, steps, cost, budget, **kw)
    need = min(steps, MIN_PAINTED_STEPS)
    if cut is not None and sum(sc.steps for sc in cut) >= need:
        return FittedPlan(cut, limit_note(steps, size, sum(sc.steps for sc in cut), size))
    working, smallest = size, cut
    floor = max(MIN_WORKING_SIZE, min_side)
    while round(working / math.sqrt(2)) >= floor:
        working = round(working / math.sqrt(2))
        if min(long_side(content_wh, working)) < min_side:
            break
        plan = _most_steps(content_wh, working, steps, cost, budget, **kw)
        if plan is None:
            continue
        smallest = plan
        if sum(sc.steps for sc in plan) >= need:
            break
    if smallest is None:  # nothing fits: the cheapest plan there is, one step at the floor
        smallest = plan_run(content_wh, working, 1, **kw)  # type: ignore[arg-type]
    kept = sum(sc.steps for sc in smallest)
    return FittedPlan(smallest, limit_note(steps, size, kept, max(smallest[-1].wh)))


def limit_note(steps: int, size: int, kept: int, working: int) -> str:
    """What a time limit changed, in a few words: the steps kept of ``steps``, and the working
    size when it is below the output's ``size`` (both long sides, px)."""
    if working >= size:
        few = ", too few to paint much" if kept < min(steps, MIN_PAINTED_STEPS) else ""
        return f"kept {kept} of the plan's {steps} steps{few}"
    return (f"too short for {steps} steps at {size} px: {kept} step{'s' if kept != 1 else ''} at {working} px, "
            f"upsampled to {size} px")


class Eta:
    """The time left of a run under way, from its plan, corrected by the measured pace.

    The cost model gives the shape (a fine scale's step costs more than a coarse one's);
    the paces are the wall times measured so far over the model's, kept apart for warm
    steps and for a scale's one-off costs (its targets and first step), so that neither
    skews the other; a busy machine or a wrong prior is corrected as the run goes.
    """

    def __init__(self, plan: list[ScalePlan], cost: CostModel) -> None:
        self.plan, self.cost = plan, cost
        self.work_total = sum(sc.mpx * sc.steps for sc in plan)
        self.work_done = 0.0
        self._scale_t0 = 0.0
        self._steps = [0.0, 0.0]  # warm steps: measured, predicted seconds
        self._scales = [0.0, 0.0]  # a scale's targets and first step: measured, predicted

    def scale_started(self, index: int) -> None:
        self._scale_t0 = time.perf_counter()

    def step_done(self, index: int, seconds: float, first: bool) -> None:
        """A step of scale ``index`` took ``seconds`` (``first``: the scale's first step)."""
        sc = self.plan[index]
        self.work_done += sc.mpx
        if first:  # with the targets computed since the scale started
            self._scales[0] += time.perf_counter() - self._scale_t0
            self._scales[1] += self.cost.scale_seconds(sc.mpx) + self.cost.step_seconds(sc.mpx)
        else:
            self._steps[0] += seconds
            self._steps[1] += self.cost.step_seconds(sc.mpx)

    def replan(self, index: int, steps: int) -> None:
        """Scale ``index`` will take ``steps`` in all (a time limit cut it)."""
        old = self.plan[index]
        self.work_total += (steps - old.steps) * old.mpx
        self.plan = [*self.plan[:index], ScalePlan(old.wh, steps), *self.plan[index + 1:]]

    @property
    def pace(self) -> float:
        """Measured seconds per predicted second of warm steps so far (else of scales; else 1)."""
        for measured, predicted in (self._steps, self._scales):
            if predicted > 0 and measured > 0:
                return max(1e-3, measured / predicted)
        return 1.0

    @property
    def scale_pace(self) -> float:
        measured, predicted = self._scales
        return max(1e-3, measured / predicted) if predicted > 0 and measured > 0 else self.pace

    def seconds_left(self, index: int, steps_done_here: int, time_limit_left: float | None = None) -> float:
        """Seconds until the result, with ``steps_done_here`` steps of scale ``index`` done."""
        c, sc = self.cost, self.plan[index]
        steps = max(0, sc.steps - steps_done_here) * c.step_seconds(sc.mpx) + c.finish_seconds(self.plan[-1].mpx)
        scales = 0.0
        for s in self.plan[index + 1:]:
            scales += c.scale_seconds(s.mpx) + c.step_seconds(s.mpx)
            steps += (s.steps - 1) * c.step_seconds(s.mpx)
        eta = steps * self.pace + scales * self.scale_pace
        return eta if time_limit_left is None else max(0.0, min(eta, time_limit_left))


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
