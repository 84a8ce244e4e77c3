"""What a run's parts cost on one device and precision: :class:`CostModel`, four pairs of numbers.

A value type only: the engine's cache file (:mod:`nst.calibration_cache`) stores it, the
planning layer (:mod:`nst.costs`, :mod:`nst.schedule`) keeps the table of them and plans
with it. It lives at the bottom so that the cache file needs nothing above the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CostModel"]


@dataclass(frozen=True)
class CostModel:
    """Seconds of a run's parts on one device and precision, each ``fixed + per_mpx × megapixels``.

    Attributes:
        step: (fixed, per megapixel) seconds of one optimisation step, all of it: forward
            and backward of the objective, the optimiser, the box constraint.
        scale: (fixed, per megapixel) seconds paid once per scale beyond its steps: the
            targets (a forward pass of the content and of each style) and the first pass
            at a new image shape (oneDNN builds its kernels then).
        finish: (fixed, per megapixel of output) seconds to make and save the result.
        setup: seconds to load the network, where it is not loaded yet.
        measured: whether the numbers come from timed steps on this machine.
    """

    step: tuple[float, float]
    scale: tuple[float, float]
    finish: tuple[float, float] = (0.05, 0.5)
    setup: float = 1.0
    measured: bool = False

    def step_seconds(self, mpx: float) -> float:
        return self.step[0] + self.step[1] * mpx

    def scale_seconds(self, mpx: float) -> float:
        return self.scale[0] + self.scale[1] * mpx

    def finish_seconds(self, mpx: float) -> float:
        return self.finish[0] + self.finish[1] * mpx
