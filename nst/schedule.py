"""Run-time estimates, and how a run's steps are spread over image scales.

A step's cost is nearly proportional to the pixel count (VGG19 is all convolutions), so a
schedule is planned in units of "full-size steps" and timed with one per-device constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Scale", "plan_scales", "estimate_seconds", "SECONDS_PER_MEGAPIXEL_STEP"]

# Seconds for one forward+backward step through VGG19 to relu5_1 per megapixel, measured
# (bench/bench.py) on: 2-core x86 CPU (fp32, faster than its emulated bf16) and an H100 (bf16 autocast).
SECONDS_PER_MEGAPIXEL_STEP = {"cpu": 6.4, "cuda": 0.012, "mps": 0.5}
# Fixed cost of a run: targets, first-step overheads, image encoding.
_OVERHEAD_SECONDS = {"cpu": 1.5, "cuda": 1.0, "mps": 2.0}


@dataclass(frozen=True)
class Scale:
    """One stage of a coarse-to-fine run: the long side in pixels and its step count."""

    size: int
    steps: int


def plan_scales(size: int, steps: int, *, multiscale: bool = True, start: int = 192) -> list[Scale]:
    """Spread ``steps`` over sizes growing by about √2 from ``start`` up to ``size``.

    Coarse scales are cheap and settle the large structures of the style, so they get
    most of the steps; each finer scale gets fewer, as in jcjohnson's multi-scale recipes.
    Every scale keeps at least a few steps, and the total is exactly ``steps``.

    Args:
        size: long side of the output.
        steps: total steps over all scales.
        multiscale: False gives the single scale ``[Scale(size, steps)]``.
        start: long side of the first scale (no scale is smaller than this).
    """
    # Small outputs still get coarser scales, but none below 128 px: on tinier images
    # L-BFGS's early curvature guesses overshoot and leave saturated noise.
    start = max(128, min(start, size // 2))
    if not multiscale or size <= start * 1.2 or steps < 8:
        return [Scale(size, steps)]
    n = 1 + math.ceil(math.log(size / start, math.sqrt(2)) - 0.25)
    sizes = [round(size / math.sqrt(2) ** (n - 1 - i)) for i in range(n)]
    # Weights halve with each finer scale: 8:4:2:1 ... of the steps, at least 2 each.
    weights = [2.0 ** (n - 1 - i) for i in range(n)]
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
    size: int, steps: int, device_type: str = "cpu", *, multiscale: bool = True, aspect: float = 0.75
) -> float:
    """Rough wall time of a run, for progress ETAs and GPU reservations.

    Args:
        size: long side of the output.
        steps: total steps.
        device_type: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        multiscale: whether the run is coarse-to-fine.
        aspect: short side / long side of the image.
    """
    k = SECONDS_PER_MEGAPIXEL_STEP.get(device_type, SECONDS_PER_MEGAPIXEL_STEP["cpu"])
    work = sum(megapixels(sc.size, aspect) * sc.steps for sc in plan_scales(size, steps, multiscale=multiscale))
    return _OVERHEAD_SECONDS.get(device_type, 2.0) + k * work
