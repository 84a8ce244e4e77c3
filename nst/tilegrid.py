"""The tile grid: where a scale's tiles lie, how the grid moves, and a scale's memory plan.

A tile is a *core* (the cores partition the image) with a *halo* of context, cut on the
deepest layer's pixel grid (:func:`geometry`); the grid shifts every step
(:func:`grid_offset`). :class:`MemoryPlan` says whether a scale runs whole or in tiles
(:func:`nst.memory.plan_memory` decides; :class:`nst.tiles.TiledObjective` evaluates).
Why the halo is :data:`CONTEXT` positions and not the whole reach: :mod:`nst.tiles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .vgg import LAYER_NAMES

__all__ = [
    "CONTEXT",
    "HISTORY",
    "MemoryPlan",
    "Tile",
    "geometry",
    "grid_offset",
    "layer_factor",
    "layout",
    "tile_geometry",
    "work_factor",
]

# L-BFGS's curvature history (pairs of image-sized vectors): nst's default.
HISTORY = 20


def geometry(layers: list[str] | tuple[str, ...]) -> tuple[int, int]:
    """``(align, halo)`` in pixels for a network run up to the deepest of ``layers``.

    ``align``: the deepest layer's pixel grid (2 to the power of the pools before it);
    tile borders on it keep every layer's positions where the whole image has them.
    ``halo``: how far any activation of those layers reaches into the input, either side
    (3×3 convolutions one position, 2×2 pools one more), rounded up to ``align``.
    """
    last = max(layers, key=LAYER_NAMES.index)
    jump, reach = 1, 0
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        if name.startswith("conv"):
            reach += jump
        elif name.startswith("pool"):
            reach += jump
            jump *= 2
    return jump, math.ceil(reach / jump) * jump


# The context around a tile's core, in positions of the deepest layer's grid (see the
# module docstring: a departure from the exact halo, measured).
CONTEXT = 2


def tile_geometry(layers: list[str] | tuple[str, ...]) -> tuple[int, int]:
    """``(align, halo)`` of the tiles nst plans: :func:`geometry`'s grid, and a halo of
    :data:`CONTEXT` positions of it (no more than the layers' whole reach)."""
    align, reach = geometry(layers)
    return align, min(reach, CONTEXT * align)


def layer_factor(layer: str) -> int:
    """How many input pixels one position of ``layer`` steps over (2^pools before it)."""
    return 2 ** sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(layer)] if n.startswith("pool"))


@dataclass(frozen=True)
class Tile:
    """One tile: ``core`` (y0, y1, x0, x1) and ``box``, the core with its halo, clipped to the image."""

    core: tuple[int, int, int, int]
    box: tuple[int, int, int, int]

    @property
    def pixels(self) -> int:
        y0, y1, x0, x1 = self.box
        return (y1 - y0) * (x1 - x0)

    def crops(self, factor: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """At a layer of pixel step ``factor``: (the core within the tile's activations,
        the core within the whole image's). Floors as the pools do, so the cores of a
        layout partition the layer's grid."""
        (y0, y1, x0, x1), (by, _, bx, _) = self.core, self.box
        gy0, gy1, gx0, gx1 = y0 // factor, y1 // factor, x0 // factor, x1 // factor
        oy, ox = by // factor, bx // factor
        return (slice(gy0 - oy, gy1 - oy), slice(gx0 - ox, gx1 - ox)), (slice(gy0, gy1), slice(gx0, gx1))


def _cuts(n: int, core: int, offset: int) -> list[int]:
    cuts = [0, *(k * core - offset for k in range(1, n // core + 2) if 0 < k * core - offset < n), n]
    return sorted(set(cuts))


def layout(hw: tuple[int, int], core: int, halo: int, offset: tuple[int, int] = (0, 0)) -> list[Tile]:
    """The tiles of an ``hw`` image: cores of ``core`` px (less at the edges) on a grid
    shifted up-left by ``offset``, each with ``halo`` px of context, clipped to the image.

    Args:
        hw: the image's (height, width).
        core: the side of a whole core (a multiple of the layers' grid, see :func:`geometry`).
        halo: the context around each core.
        offset: the grid's shift (y, x), each in [0, core).
    """
    h, w = hw
    tiles = []
    ys, xs = _cuts(h, core, offset[0]), _cuts(w, core, offset[1])
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            box = (max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo))
            tiles.append(Tile((y0, y1, x0, x1), box))
    return tiles


# Irrational steps for the grid's offsets: consecutive offsets far apart, never repeating.
_GOLDEN, _SILVER = (math.sqrt(5) - 1) / 2, math.sqrt(2) - 1


def grid_offset(step: int, core: int, align: int) -> tuple[int, int]:
    """The grid's shift at ``step``: (y, x), multiples of ``align`` in [0, core); (0, 0) at step 0."""
    cells = max(1, core // align)
    return (int((step * _GOLDEN) % 1 * cells) * align, int((step * _SILVER) % 1 * cells) * align)


def work_factor(hw: tuple[int, int], core: int, halo: int, align: int, steps: int = 8) -> float:
    """Pixels the tiles (with their halos) cover per image pixel, averaged over ``steps`` offsets."""
    total = sum(sum(t.pixels for t in layout(hw, core, halo, grid_offset(k, core, align))) for k in range(steps))
    return total / steps / (hw[0] * hw[1])


@dataclass(frozen=True)
class MemoryPlan:
    """How one scale fits the memory budget: whole, or in tiles (:func:`nst.memory.plan_memory` decides).

    Attributes:
        wh: the scale's (width, height).
        core: a tile core's side in px, or None: the scale runs whole.
        halo: the context around each core, px.
        align: the tile grid, px.
        history: L-BFGS's curvature pairs.
        peak: the run's expected peak working memory at this scale, bytes (the process,
            its libraries and the weights not included: see :data:`PROCESS_BYTES`).
        tiles: tiles per step (with the grid unshifted).
        work: pixels processed per image pixel (1 whole; above 1 for the halos).
    """

    wh: tuple[int, int]
    core: int | None
    halo: int
    align: int
    history: int
    peak: float
    tiles: int = 1
    work: float = 1.0

    @property
    def tiled(self) -> bool:
        return self.core is not None
