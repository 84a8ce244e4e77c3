"""The time left of a run under way: its plan's cost, corrected by the pace measured so far."""

from __future__ import annotations

import time

from .costmodel import CostModel
from .schedule import ScalePlan

__all__ = ["Eta"]


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
        self.plan = [*self.plan[:index], ScalePlan(old.wh, steps), *self.plan[index + 1 :]]

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
        for s in self.plan[index + 1 :]:
            scales += c.scale_seconds(s.mpx) + c.step_seconds(s.mpx)
            steps += (s.steps - 1) * c.step_seconds(s.mpx)
        eta = steps * self.pace + scales * self.scale_pace
        return eta if time_limit_left is None else max(0.0, min(eta, time_limit_left))
