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
    "MIN_PAINTED_STEPS",
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
# Fewer steps than this leave the photo under a faint texture: a time limit that allows no
# more at the output size lowers the working size instead (see fit_plan).
MIN_PAINTED_STEPS = 40
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
    return (
        f"too short for {steps} steps at {size} px: {kept} step{'s' if kept != 1 else ''} at {working} px, "
        f"upsampled to {size} px"
    )
