"""Memory planning: how much working memory each scale of a run needs, and whether it runs in tiles.

Every run is planned here (:func:`memory_plans`): a scale runs whole where its memory fits
the budget (``Settings.max_memory``, else :func:`default_budget`), else in the largest
tiles that do (:mod:`nst.tiles` computes them). The bytes per pixel below are what the
plans count.
"""

from __future__ import annotations

import math
import os

import torch

from .errors import SettingsError
from .schedule import ScalePlan
from .settings import LIMITS, Settings
from .tilegrid import HISTORY, MemoryPlan, layer_factor, layout, tile_geometry, work_factor
from .vgg import channels

__all__ = [
    "ACTIVATION_BYTES",
    "TILE_BYTES",
    "IMAGE_BYTES",
    "PROCESS_BYTES",
    "MIN_HISTORY",
    "default_budget",
    "memory_plans",
    "plan_memory",
    "work_plan",
]

# Peak bytes per pixel of one forward and backward pass to relu5_1 with the costs (the
# activations kept for backward, the gradients alive with them, and the heap's slack, which
# nst.cpu keeps during a run), fp32 on a 2-core Intel Xeon: a default 1024 px run peaked at
# 3.07 GB RSS, (3.07 − 0.45 process − 0.45 image-sized buffers) / 0.79 Mpx = 2.8 kB.
ACTIVATION_BYTES = 2800
# A tile's share, per pixel of its box: its pass as above and its cores' crops, which the
# Gram matrices copy (they are not contiguous). A tiled scale runs in nst.cpu.lean_memory
# (large blocks returned on free): 1536 px in 464 px cores, 3 steps, peaked 0.52 GB above
# the step's base for boxes of 0.28 Mpx (1.9 kB); one 656×492 box, 2.0 kB. In the kept
# heap the same steps took 3.8 kB, and its forward sweep grew with every tile.
TILE_BYTES = 2100
# One RGB float32 image buffer, per pixel (the image, its gradient, L-BFGS's vectors).
IMAGE_BYTES = 12
# The image-sized buffers besides L-BFGS's history, at a tiled scale: nst.lbfgs's four
# (the pixels, their gradient, its previous value, the direction); Adam's pixels, gradient,
# two moments and its update's temporaries. Where used, one more each: the TV term's
# neighbour difference (tv_into_grad), the photo at the output size (the colour modes'
# and the masks' source).
_FIXED_BUFFERS = {"lbfgs": 4, "adam": 6}
# A whole scale, with torch's L-BFGS: its flat gradient copy, the old and the new direction,
# the recursion's work vector and the new pair made before the oldest is dropped, besides
# the pixels and their gradient.
_WHOLE_BUFFERS = 8
# The share of the budget a tiled scale leaves to the heap: tiles of shifting shapes leave
# freed blocks between live ones (nst.cpu keeps the heap during a run; a tiled step gives
# it back after every tile).
HEAP_SHARE = 0.1
# The least L-BFGS curvature history (pairs of image-sized vectors) a tiled scale keeps
# when the budget is short (nst.tilegrid.HISTORY: the default).
MIN_HISTORY = 3
# A default budget too small for a scale grows to tiles of this core, where memory allows.
DEFAULT_CORE = 512
# A tiled step's cost over a whole step's on the same pixels: the forward-only sweep that
# sums this step's Gram matrices first (a forward pass is about a third of a forward and
# backward one; assumed, not measured here).
EXACT_SWEEP = 4 / 3
# Python, torch and the network's weights: what the budget does not cover.
PROCESS_BYTES = 450e6


def _fixed_bytes(pixels: int, s: Settings, history: int, tiled: bool = True, masks: bool = False) -> float:
    fixed = _FIXED_BUFFERS.get(s.optimizer, 8) if tiled else _WHOLE_BUFFERS
    fixed += (s.tv_weight > 0 and tiled) + (masks or s.preserve_color in ("swap", "luminance"))
    buffers = fixed + (2 * history if s.optimizer == "lbfgs" else 0)
    # The content target, one vector per position of the content layer (fp32).
    target = 4 * channels(s.content_layer) / layer_factor(s.content_layer) ** 2
    return pixels * (IMAGE_BYTES * buffers + target)


def plan_memory(
    wh: tuple[int, int],
    s: Settings,
    budget: float | None = None,
    *,
    masks: bool = False,
    run_side: int | None = None,
) -> MemoryPlan:
    """Whole, or the largest tiles that fit ``budget`` bytes, for one scale of ``wh`` px.

    A scale runs whole when it fits with L-BFGS's full history. Otherwise the history is
    cut (to no fewer than :data:`MIN_HISTORY` pairs) so that the image-sized buffers take
    at most half the budget, and the tiles get the rest but :data:`HEAP_SHARE`.
    ``masks``: a regional run (the photo at the output size is kept).

    ``budget`` None is the default: :func:`default_budget`, raised where a scale's
    image-sized buffers alone need more (an 8192 px image is 0.6 GB per buffer), up to
    0.8 of the memory available, so that large sizes run wherever the machine holds them
    (with tiles of :data:`DEFAULT_CORE` px, where the default would leave them under half that).
    ``run_side``: the long side of the run's output (default: this scale's); the default
    runs a scale whole beyond the budget only in a run up to the app's CPU cap.

    Raises:
        SettingsError: the budget holds no tile (or the style loss cannot tile).
    """
    if budget is None:
        return _plan_default(wh, s, masks, run_side)
    w, h = wh
    pixels = w * h
    align, halo = tile_geometry([s.content_layer, *s.style_layers])
    need = _fixed_bytes(pixels, s, HISTORY, tiled=False, masks=masks) + ACTIVATION_BYTES * pixels
    if need <= budget:
        return MemoryPlan(wh, None, halo, align, HISTORY, need)
    if s.style_loss != "gram":
        raise SettingsError(
            f"{w}×{h} px needs {need / 1e9:.1f} GB whole, above max_memory ({budget / 1e9:.1f} GB), and "
            "sliced-wasserstein cannot run in tiles: use style_loss gram, a smaller size or more max_memory"
        )
    history = HISTORY
    while history > MIN_HISTORY and _fixed_bytes(pixels, s, history, masks=masks) > budget / 2:
        history -= 1
    while True:
        fixed = _fixed_bytes(pixels, s, history, masks=masks)
        side = math.sqrt(max(0.0, budget * (1 - HEAP_SHARE) - fixed) / TILE_BYTES)
        core = int((side - 2 * halo) // align) * align
        if core >= 2 * align or history <= MIN_HISTORY:
            break
        history -= 1  # fewer curvature pairs before no tile fits
    least = (_fixed_bytes(pixels, s, MIN_HISTORY, masks=masks) + TILE_BYTES * (2 * align + 2 * halo) ** 2) / (
        1 - HEAP_SHARE
    )
    if core < 2 * align:
        raise SettingsError(
            f"max_memory {budget / 1e9:.2f} GB is too little for {w}×{h} px: it needs at least "
            f"{least / 1e9:.2f} GB (tiles of {2 * align} px); raise max_memory or lower size"
        )
    core = min(core, max(h, w))
    tiles = layout((h, w), core, halo)
    box = max(t.pixels for t in tiles)
    peak = (fixed + TILE_BYTES * box) / (1 - HEAP_SHARE)
    return MemoryPlan(wh, core, halo, align, history, peak, len(tiles), work_factor((h, w), core, halo, align))


def _plan_default(wh: tuple[int, int], s: Settings, masks: bool, run_side: int | None) -> MemoryPlan:
    """:func:`plan_memory` with no budget given: whole where a run up to the app's CPU cap
    fits, else the default budget, raised where it would leave tiles under half of
    :data:`DEFAULT_CORE` (see plan_memory's docstring)."""
    if (run_side or max(wh)) <= LIMITS.max_size_cpu:
        # In a run up to the app's CPU cap (the sizes a visitor waits for) a scale runs
        # whole where half the memory available holds it: tiles would cost it time (the
        # forward sweep, the context). The default budget bounds the print sizes' runs,
        # their scales under the cap too (990 px whole is 3.3 GB).
        whole = plan_memory(wh, s, 1e18, masks=masks)
        if whole.peak <= 0.5 * _available_bytes():
            return whole
    try:
        plan = plan_memory(wh, s, default_budget(torch.device("cpu")), masks=masks)
        if plan.core is None or plan.core >= DEFAULT_CORE // 2:
            return plan
    except SettingsError:
        pass
    w, h = wh
    _, halo = tile_geometry([s.content_layer, *s.style_layers])
    least = (_fixed_bytes(w * h, s, MIN_HISTORY, masks=masks) + TILE_BYTES * (DEFAULT_CORE + 2 * halo) ** 2) / (
        1 - HEAP_SHARE
    )
    try:
        return plan_memory(wh, s, min(least, 0.8 * _available_bytes()), masks=masks)
    except SettingsError:
        raise SettingsError(
            f"{w}×{h} px needs about {least / 1e9:.1f} GB of memory; this machine has "
            f"{_available_bytes() / 1e9:.1f} GB available: lower size"
        ) from None


def work_plan(plan: list[ScalePlan], memory: list[MemoryPlan]) -> list[ScalePlan]:
    """``plan`` as the estimates count it: a tiled scale as the pixels its tiles and their
    halos cover (``MemoryPlan.work`` times its own), times :data:`EXACT_SWEEP` for the
    forward sweep of each step; ``memory`` empty: ``plan`` itself."""
    if not memory:
        return plan
    k = {m.wh: (m.work * EXACT_SWEEP) ** 0.5 for m in memory if m.tiled}
    return [
        ScalePlan((round(sc.wh[0] * k[m.wh]), round(sc.wh[1] * k[m.wh])), sc.steps) if m.tiled else sc
        for sc, m in zip(plan, memory)
    ]


def default_budget(device: torch.device) -> float:
    """The working memory a run may take, in bytes, when ``max_memory`` is not set.

    A GPU: 80% of its free memory. The CPU: half of the memory available now, at most
    ``LIMITS.cpu_memory`` (1.8 GB), so that a print-size run beside others (and nst's own
    process: :data:`PROCESS_BYTES`) stays under 2.5 GB. (:func:`plan_memory`'s default
    runs scales up to the app's CPU cap whole where half the memory available holds them:
    1024 px needs 2.7 GB.)
    """
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
            return 0.8 * free
        except (RuntimeError, AssertionError):
            # No CUDA context to ask in this process (ZeroGPU's app process plans before the
            # GPU is attached; CUDA calls are only made in its worker): the CPU's rule.
            pass
    return min(LIMITS.cpu_memory * 1e9, 0.5 * _available_bytes())


def _available_bytes() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4e9


def memory_plans(plan: list[ScalePlan], s: Settings, device: torch.device, masks: bool = False) -> list[MemoryPlan]:
    """Each scale of ``plan``: whole, or in tiles that fit the memory budget.

    Args:
        plan: the run's scales.
        s: its settings (``max_memory``, else on a GPU :func:`default_budget`; on a CPU
            :func:`plan_memory`'s default).
        device: where it runs.
        masks: a regional run (the photo at the output size is kept).
    """
    budget = (
        s.max_memory * 1e9 if s.max_memory is not None else default_budget(device) if device.type != "cpu" else None
    )
    return [plan_memory(sc.wh, s, budget, masks=masks, run_side=max(plan[-1].wh)) for sc in plan]
