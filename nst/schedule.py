"""Run-time estimates, and how a run's steps are spread over image scales.

A step's cost is nearly proportional to the pixel count (VGG19 is all convolutions), so a
schedule is planned in units of "full-size steps" and timed with one per-device constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Scale", "plan_scales", "estimate_seconds"]

# Each finer scale gets this fraction of the previous one's steps. At equal time, the
# more time the fine scales get, the better both distances (bench/trials.py schedule:
# quality at 512 px in 48 s, ½: 0.62, 0.71: 0.56, 0.85: 0.54, 1: 0.51; at 1024 px in
# 96 s, ½: 0.91, 0.85: 0.74, 1: 0.73). 0.85 keeps finer scales on fewer steps than
# coarse ones, and ends with enough steps at the output size to sharpen its texture.
STEP_DECAY = 0.85
# Fixed cost of a run: loading the images, encoding the result.
_OVERHEAD_SECONDS = 1.0


@dataclass(frozen=True)
class Scale:
    """One stage of a coarse-to-fine run: the long side in pixels and its step count."""

    size: int
    steps: int


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
        start: long side of the first scale (no scale is smaller than this).
        decay: each finer scale's steps as a fraction of the previous scale's.
    """
    # Small outputs still get coarser scales, but none below 128 px: on tinier images
    # L-BFGS's early curvature guesses overshoot and leave saturated noise.
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


def megapixels(size: int, aspect: float = 0.75) -> float:
    """Pixels (in millions) of an image whose long side is ``size`` at the given aspect."""
    return size * size * aspect / 1e6


def estimate_seconds(
    size: int, steps: int, rate: float, *, multiscale: bool = True, aspect: float = 0.75
) -> float:
    """Expected wall time of a run, for the app's estimate and ZeroGPU reservations.

    Args:
        size: long side of the output.
        steps: total steps.
        rate: seconds per step per megapixel (:func:`nst.device.seconds_per_megapixel_step`).
        multiscale: whether the run is coarse-to-fine.
        aspect: short side / long side of the image.
    """
    # Each scale also computes its targets: a forward pass of the content and of the
    # style image, about one step's work.
    work = sum(megapixels(sc.size, aspect) * (sc.steps + 1) for sc in plan_scales(size, steps, multiscale=multiscale))
    return _OVERHEAD_SECONDS + rate * work
