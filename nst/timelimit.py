"""A time limit: the plan that fits it, each scale's share of what is left, and what it cut.

The run calls :func:`fit_plan` once, after the network is loaded (fewer steps, or a smaller
working size upsampled at the end), then :func:`fit_steps` at the start of every scale
with the time then left and the pace measured so far, so that a run cut short still
finishes at the output size. :class:`Deadline` is the clock both read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .costmodel import CostModel
from .schedule import ScalePlan, estimate_seconds, long_side, plan_run, STEP_DECAY

__all__ = [
    "BUDGET_MARGIN",
    "FINISH_STEPS",
    "MIN_COARSE_STEPS",
    "MIN_PAINTED_STEPS",
    "SETTLED_COARSE_STEPS",
    "MIN_WORKING_SIZE",
    "Deadline",
    "FittedPlan",
    "fit_plan",
    "fit_steps",
    "limit_note",
]

# A time limit keeps this fraction of its budget for what the plan cannot foresee
# (a busy machine, the final encoding).
BUDGET_MARGIN = 0.9
# A time limit's plan ends with at least this many steps at the output size, when they fit:
# fewer leave the strokes of a smaller scale, enlarged (see fit_plan).
FINISH_STEPS = 7
# Before the finishing pass, a working size's scales keep at least MIN_COARSE_STEPS (fewer
# do not settle the composition and palette); of the working sizes that keep them, the
# largest with SETTLED_COARSE_STEPS, else the smallest (the most steps). A finishing step
# gains more than coarse steps do beyond those (docs/performance.md, "Short limits").
MIN_COARSE_STEPS = 3
SETTLED_COARSE_STEPS = 8
# Fewer steps than this are "too few to paint much" (limit_note): no room for settled
# coarse steps and a few finishing ones.
MIN_PAINTED_STEPS = SETTLED_COARSE_STEPS + 3
# The smallest working size a time limit lowers a run to (px, long side).
MIN_WORKING_SIZE = 128


@dataclass(frozen=True)
class Deadline:
    """When a run must end, and what set it (``"time limit 30 s"``, ``"run cap 45 s"``).

    Attributes:
        name: the limit, as the run's notes name it.
        at: the ``time.perf_counter()`` by which the result must be made.
    """

    name: str
    at: float

    @staticmethod
    def earliest(
        time_limit: float | None, started: float, reserve: float, time_cap: float | None, now: float
    ) -> Deadline | None:
        """The earlier of a run's time limit and its front end's cap, or None without either.

        Args:
            time_limit: the setting, seconds from ``started`` (the call, or the CLI's start).
            started: when the limit's clock started.
            reserve: seconds of the limit kept for what the caller does after the result.
            time_cap: a front end's cap (not a setting), seconds from ``now``.
            now: when the run starts (its worker's clock: ZeroGPU's reservation counts from here).
        """
        found = []
        if time_limit is not None:
            found.append(Deadline(f"time limit {time_limit:g} s", started + time_limit - reserve))
        if time_cap is not None:
            found.append(Deadline(f"run cap {time_cap:g} s", now + time_cap))
        return min(found, key=lambda d: d.at) if found else None

    def left(self) -> float:
        """Seconds left until the deadline (negative once past it)."""
        return self.at - time.perf_counter()


def fit_steps(
    remaining: list[ScalePlan], cost: CostModel, budget: float, ratio: float = 1.0, spare: int = 0
) -> tuple[int, float]:
    """Steps for the current scale, and its share of ``budget``, so that all ``remaining``
    scales (the current one first, its targets already computed) fit in ``budget`` seconds.

    The last scale takes every step that fits before the deadline, up to its planned steps
    and the ``spare`` ones (the run's steps that a limit took out of its plan): it keeps no
    margin, since nothing comes after it but the result, and the run stops it before a step
    that would overrun anyway.

    The output size's steps are the last to give way: while the earlier scales can make
    room for them, they are cut (alike) and the finishing steps kept, as :func:`fit_plan`
    plans them; then every scale is cut alike, so that a run cut short still ends at the
    output size. ``ratio`` is measured time over the model's, so far in the run.

    The earlier scales keep :data:`BUDGET_MARGIN` of what the output size's steps leave; the
    output size's steps keep none (as the last scale, see below). The share is the part of
    ``budget`` the current scale may take: while the output size keeps its steps, all of it
    but the later scales' expected time (the earlier ones' over the margin), so that a
    generous limit's slack is this scale's and a scale slower than its estimate is not cut
    while the limit is far; cut alike, its part of the work.
    """
    if len(remaining) == 1:
        step = ratio * cost.step_seconds(remaining[0].mpx)
        fit = int((budget - ratio * cost.finish_seconds(remaining[0].mpx)) / max(step, 1e-9))
        return max(1, min(fit, remaining[0].steps + max(0, spare))), 1.0
    later = sum(ratio * cost.scale_seconds(sc.mpx) for sc in remaining[1:])
    later += ratio * cost.finish_seconds(remaining[-1].mpx)
    work = [ratio * sc.steps * cost.step_seconds(sc.mpx) for sc in remaining]
    # The earlier scales keep the margin; the output size's steps do not (as the last scale).
    coarse = max(0.0, budget - later - work[-1]) * BUDGET_MARGIN
    if coarse >= ratio * cost.step_seconds(remaining[0].mpx):
        factor = min(1.0, coarse / max(sum(work[:-1]), 1e-9))
        steps = max(1, int(remaining[0].steps * factor))
        # What the later scales are expected to take (the earlier ones over the margin).
        after = later + work[-1] + factor * sum(work[1:-1]) / BUDGET_MARGIN
        return steps, max(0.0, 1.0 - after / max(budget, 1e-9))
    room = max(0.0, budget * BUDGET_MARGIN - later)
    factor = min(1.0, room / max(sum(work), 1e-9))
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
    content_wh: tuple[int, int],
    size: int,
    steps: int,
    cost: CostModel,
    budget: float,
    *,
    multiscale: bool = True,
    min_side: int = 1,
    decay: float = STEP_DECAY,
) -> FittedPlan:
    """The plan of a run that must end within ``budget`` seconds (its scales, steps and result).

    In order of preference:

    1. the whole plan;
    2. the plan with fewer steps, every scale cut alike, while its output size keeps at
       least :data:`FINISH_STEPS`;
    3. a working size and a finishing pass: the most finishing steps at the output size,
       :data:`FINISH_STEPS` at most, that leave a smaller size room for
       :data:`MIN_COARSE_STEPS`; the plan up to the largest such size that keeps
       :data:`SETTLED_COARSE_STEPS`, else up to the smallest, then those steps at the
       output size. Coarse steps are cheap and settle the composition and palette; the
       finishing steps paint strokes at the output's scale, over the photo's own detail
       (:func:`nst.steps.upsample`). Upsampled instead, a result has no strokes at the
       output's scale (bench/quality_per_second.py, bench/short_plans.py);
    4. when not even one step at the output size fits, the working size alone, upsampled
       to the output size at the end.

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
    finish = min(steps, FINISH_STEPS)
    # A single-scale plan keeps its one scale: the steps that fit at the output size.
    if cut is not None and (len(full) == 1 or cut[-1].steps >= finish and len(cut) == len(full)):
        return FittedPlan(cut, limit_note(steps, size, sum(sc.steps for sc in cut), size))
    sizes = _working_sizes(content_wh, size, min_side)
    out = full[-1]
    for k in range(finish, 0, -1) if len(full) > 1 else ():
        # The output scale's targets, steps and result come off the whole time left (budget
        # over the margin: the run stops the last scale before a step that would overrun,
        # fit_steps); the coarse part keeps the margin of the rest. (Its own estimate also
        # counts a result at its size: a little to spare.)
        out_seconds = cost.scale_seconds(out.mpx) + k * cost.step_seconds(out.mpx) + cost.finish_seconds(out.mpx)
        room = budget - BUDGET_MARGIN * out_seconds
        fits = [c for c in (_most_steps(content_wh, w, steps - k, cost, room, **kw) for w in sizes) if c is not None]
        fits = [c for c in fits if _total(c) >= min(MIN_COARSE_STEPS, steps - k)]  # largest size first
        if fits:
            settled = [c for c in fits if _total(c) >= min(SETTLED_COARSE_STEPS, steps - k)]
            plan = [*(settled[0] if settled else fits[-1]), ScalePlan(out.wh, k)]
            return FittedPlan(plan, limit_note(steps, size, _total(plan), size))
    for working in sizes:
        smaller = _most_steps(content_wh, working, steps, cost, budget, **kw)
        if smaller is not None:
            return FittedPlan(smaller, limit_note(steps, size, sum(sc.steps for sc in smaller), max(smaller[-1].wh)))
    # Nothing fits: the cheapest plan there is, one step at the smallest working size.
    cheapest = plan_run(content_wh, sizes[-1] if sizes else size, 1, **kw)  # type: ignore[arg-type]
    return FittedPlan(cheapest, limit_note(steps, size, 1, max(cheapest[-1].wh)))


def _total(plan: list[ScalePlan]) -> int:
    return sum(sc.steps for sc in plan)


def _working_sizes(content_wh: tuple[int, int], size: int, min_side: int) -> list[int]:
    """The sizes below ``size`` a plan may work at (long sides, px): ``size`` divided by √2
    at a time, largest first, down to :data:`MIN_WORKING_SIZE` and what the layers need."""
    sizes, working = [], size
    while round(working / math.sqrt(2)) >= max(MIN_WORKING_SIZE, min_side):
        working = round(working / math.sqrt(2))
        if min(long_side(content_wh, working)) < min_side:
            break
        sizes.append(working)
    return sizes


def limit_note(steps: int, size: int, kept: int, working: int) -> str:
    """What a time limit changed, in a few words: the steps kept of ``steps``, and the working
    size when it is below the output's ``size`` (both long sides, px)."""
    if working >= size:
        few = ", too few to paint much" if kept < min(steps, MIN_PAINTED_STEPS) else ""
        return f"kept {kept} of the plan's {steps} steps{few}"
    return (
        f"too short for {steps} steps at {size} px: {kept} step{'s' if kept != 1 else ''} at {working} px, "
        f"upsampled to {size} px"
    )
