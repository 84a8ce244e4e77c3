"""Tiled optimisation: a scale too large for the memory budget is optimised tile by tile.

The objective stays the whole image's. Every step evaluates J and its gradient in two
sweeps over overlapping tiles (forward only, then with gradients), and the tiles'
gradients add up into the whole image's:

- **What a tile sees.** A tile is a *core* (the tiles' cores partition the image) and a
  *halo* of context around it, cut on the deepest layer's pixel grid (16 px for relu5_1).
  Costs are taken over the cores only; the gradient flows back through the halo too, so
  pixels near a border get their pull from both tiles. The halo is :data:`CONTEXT`
  positions of that grid (32 px), not the deepest layer's whole reach (:func:`geometry`:
  96 px for relu5_1), where VGG19's zero padding at the tile's edge would reach no core
  position: that exact halo made the tiles of a 2 GB budget at 3072 px process 2.6× their
  pixels, the 32 px one 1.31× (wider cores fit in the same memory). *Where this departs
  from the untiled run*: near a core's border, the deepest layers' activations see zeros
  where the neighbour's pixels are, most at relu5_1 (2 of its positions of context),
  least at relu1–3 (8 and more). As the grid moves every step, that error falls on other
  pixels each step and averages out: at 512 px with 128 px cores (a border every 128 px; the
  planner's cores at print sizes are about 4 times as wide), the result was 0.014 mean pixel
  difference from the untiled one (0.004 with the exact halo, rounding), its J as the
  tiles count it 7% higher, and no border visible (the seam measure 0.79, as exact).
  ``MemoryPlan.halo`` set to :func:`geometry`'s reach makes a tile's activations over its
  core the whole image's (tests).
- **Global statistics.** The style's Gram matrix of the whole image is the sum of the
  cores' (a Gram matrix is a sum over positions), and so is a regional run's guided Gram
  matrix. ``J_style`` is a function of those sums, and its gradient through tile *t* is
  ``dJ/dG · ∂G_t/∂x``, with ``dJ/dG`` at this step's whole-image Gram matrices: each step
  first sweeps the tiles forward only (no gradients: about a third of a step's cost) to
  sum them, then sweeps again with gradients. With the exact halo, the tiled cost and
  gradient are then the untiled ones up to rounding (tests compare them), and so is the
  run; with the planned context they depart at the cores' borders only (above). The cheaper
  alternative, ``exact=False``, takes ``dJ/dG`` at the previous step's Gram matrices
  (known when its sweep ends); it is not used: L-BFGS's curvature pairs then mix two
  objectives, and its path wanders (128 px, 6 steps, 4–9 tiles a step: J 8.4 against
  6.1 untiled, and a mean pixel difference of 0.050 where the run moved the image by
  0.042; with this step's Gram matrices, at 160 px: 0.00013 where it moved 0.043). Nor
  with this step's slope for a scale's first 3 steps and the previous one's after them:
  512 px, 19 steps at the finest scale in 128 px cores, J 3.1 against 0.66 untiled.
- **Local terms.** The content term is a sum over positions: each tile takes its core's
  part of the content target, and of any per-position weight map (regional runs weigh the
  photo more outside the masks), cropped from maps made once for the whole image.
- **Shared, computed once per scale.** The targets (the styles' Gram matrices, the
  content's activations at the content layer), the per-pair scales, the masks on every
  layer's grid, all from tiled forward passes without gradients. TV, the colour modes and
  the box constraint act on the whole image in the pipeline, as untiled.
- **A grid that moves.** The grid is shifted every step (a low-discrepancy sequence of
  offsets on the 16 px grid), so no border stays in one place; the optimiser's steps
  are taken on the whole image.

Only the Gram style loss tiles: sliced Wasserstein sorts every position's projection of
the whole image at once, which no sum over tiles gives; such runs stay whole, within the
budget or refused.

:func:`nst.memory.plan_memory` decides, per scale, whether it tiles and the tile size,
from the budget ``Settings.max_memory`` (default :func:`nst.memory.default_budget`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from . import cpu
from .errors import SettingsError
from .losses import FaceStructureLoss, gram_matrix, structure_radius
from .settings import Settings
from .tilegrid import MemoryPlan, Tile, grid_offset, layer_factor, layout
from .vgg import VGG19Features, channels

__all__ = ["TiledObjective", "tv_into_grad"]

# Gram sums per style layer, one per region: while being summed, an entry starts at 0.0
# and is a tensor from the first tile on (every tile's pass reaches every style layer).
_Sums = dict[str, list[torch.Tensor]]
_PartialSums = dict[str, list[torch.Tensor | float]]

# --- The objective, tile by tile -------------------------------------------------------


@dataclass
class _Region:
    """One guided Gram term of a style layer: the whole image (``root`` None) or a mask's region."""

    target: torch.Tensor  # (1, C, C): the style's Gram matrix / its nH·nW
    root: torch.Tensor | None  # √mask on the layer's grid, (1, 1, nH, nW)
    area: float  # Σ mask (nH·nW without one)
    share: float  # area / nH·nW
    weight: float  # strength of this region's style (and 1/its per-pair scale)

    def value(self, stat: torch.Tensor) -> torch.Tensor:
        """The term from the whole image's Gram sum ``stat`` (as GramStyleLoss / GuidedGramStyleLoss)."""
        if self.area <= 0:
            return stat.new_zeros(())
        n_c = stat.shape[-1]
        return self.share * (stat / self.area - self.target).pow(2).sum() / (2 * n_c) ** 2

    def slope(self, stat: torch.Tensor) -> torch.Tensor:
        """``d value / d stat``."""
        if self.area <= 0:
            return torch.zeros_like(stat)
        n_c = stat.shape[-1]
        return 2 * self.share * (stat / self.area - self.target) / self.area / (2 * n_c) ** 2


class TiledObjective:
    """J = J_content + β·J_style at one image size, evaluated and differentiated tile by tile.

    The same J as :class:`nst.objective.Objective` (Gram style loss, with or without
    masks, with the same normalisations), in memory bounded by the tile: see the module
    docstring. :meth:`loss_and_grad` replaces ``objective(image)`` and ``backward()``.

    Args:
        model, s, content, styles, blend, autocast, masks: as :class:`~nst.objective.Objective`.
        plan: the scale's :class:`MemoryPlan` (its ``core`` set).
        exact: differentiate at this step's Gram matrices (a second, forward-only sweep):
            True every step, or the number of first steps that do (the steps that move the
            image most; see :data:`EXACT_STEPS`).
        content_weight: the faces' and keep mask's per-pixel weight of the content term,
            ``(1, 1, H, W)`` at the image's size (``nst.weightmaps.content_weight_map``); with masks,
            the larger of it and the regional weight counts, as untiled. Each tile crops it.
        faces: the faces' structure term (:class:`nst.losses.FaceStructureLoss`), as
            untiled: each tile computes it on its box and sums it over its core (its kernel
            is far narrower than the halo, so the tiles' sum is the whole image's).
    """

    tiled = True

    # Over 80 lines: the targets, their regions and their scales, made in the order the
    # untiled objective makes them, so the two read side by side.
    def __init__(
        self,
        model: VGG19Features,
        s: Settings,
        content: torch.Tensor,
        styles: list[torch.Tensor],
        blend: list[float],
        autocast: torch.dtype | None,
        plan: MemoryPlan,
        masks: list[torch.Tensor] | None = None,
        exact: bool | int = False,
        content_weight: torch.Tensor | None = None,
        faces: FaceStructureLoss | None = None,
    ) -> (
        None
    ):  # over 80 lines: the targets, their regions and their scales, in the order the untiled objective makes them
        from .objective import KEEP_CONTENT_WEIGHT  # the regional runs' rule, shared

        if s.style_loss != "gram":
            raise SettingsError("only style_loss gram runs in tiles")
        self.model, self.s, self.autocast, self.plan, self.exact = model, s, autocast, plan, exact
        if faces is not None and structure_radius(faces.sigma) > plan.halo:
            raise ValueError(f"the faces' structure kernel ({structure_radius(faces.sigma)} px) is wider than the halo")
        self.faces = faces
        self.check: Callable[[], None] | None = None
        self.hw = (content.shape[-2], content.shape[-1])
        self.layers = [s.content_layer, *[l for l in s.style_layers if l != s.content_layer]]
        lw = s.style_layer_weights or (1.0,) * len(s.style_layers)
        self.layer_weights = {l: w / sum(lw) for l, w in zip(s.style_layers, lw)}
        self.sweeps = 0
        self._stats: _Sums | None = None
        cl = s.content_layer
        with torch.no_grad():
            # The content's activations at the content layer (the target), and its Gram sums.
            grid = {l: (self.hw[0] // layer_factor(l), self.hw[1] // layer_factor(l)) for l in self.layers}
            maps = {}
            # Kept faces and keep masks count at 1/weight in the Gram statistics, as untiled
            # (nst.objective.Objective): one guided region over the whole image, or each
            # mask's region times it.
            counted = (
                None
                if content_weight is None
                else {l: _area(1 / content_weight.float(), grid[l]) for l in s.style_layers}
            )
            if masks is not None:
                maps = {
                    l: [_area(m, grid[l]) * (1 if counted is None else counted[l]) for m in masks]
                    for l in s.style_layers
                }
            elif counted is not None:
                maps = {l: [counted[l]] for l in s.style_layers}
            strengths = [w * len(blend) / sum(blend) for w in blend] if masks is not None else list(blend)
            used = [i for i, w in enumerate(strengths) if w > 0]
            # In the network's dtype: its bf16 activations as they are, at half the memory.
            target = torch.empty(1, channels(cl), *grid[cl], dtype=autocast or torch.float32)
            self.content_target = target
            roots: dict[str, list[torch.Tensor | None]] = {
                l: [m.sqrt() for m in maps[l]] if maps else [None] for l in s.style_layers
            }
            content_stats = self._sweep_stats(content, roots, keep_content=target)
            weight = None
            if masks is not None:
                union = torch.stack(masks).sum(0).clamp(0, 1)
                weight = 1 + KEEP_CONTENT_WEIGHT * (1 - _area(union, grid[cl]))
            if content_weight is not None:  # faces and keep masks: the larger weight counts, as untiled
                extra = _area(content_weight.float(), grid[cl])
                weight = extra if weight is None else torch.maximum(weight, extra)
            self.content_weight = weight
            # The styles' Gram targets, each from its own image, tiled alike.
            style_grams = {}
            for i in used:
                sh, sw = styles[i].shape[-2:]
                st = self._sweep_stats(styles[i], {l: [None] for l in s.style_layers})
                style_grams[i] = {
                    l: st[l][0] / ((sh // layer_factor(l)) * (sw // layer_factor(l))) for l in s.style_layers
                }
            self.regions: dict[str, list[_Region]] = {}
            self.scales = {"content": 1.0, **{l: 1.0 for l in s.style_layers}}
            n = {l: grid[l][0] * grid[l][1] for l in s.style_layers}
            if masks is None:
                wsum = sum(strengths[i] for i in used)
                for l in s.style_layers:
                    t = cast(torch.Tensor, sum(strengths[i] * style_grams[i][l] for i in used) / wsum)
                    if counted is None:
                        self.regions[l] = [_Region(t, None, float(n[l]), 1.0, 1.0)]
                    else:
                        area = float(maps[l][0].sum())
                        self.regions[l] = [_Region(t, roots[l][0], area, area / n[l], 1.0)]
                    if s.normalization in ("pair", "style"):
                        self.scales[l] = _positive(self.regions[l][0].value(content_stats[l][0]))
                content_pairs = [(i, strengths[i]) for i in used]
                content_mode = s.normalization in ("pair", "content")
            else:
                for l in s.style_layers:
                    regions = []
                    for i in used:
                        area = float(maps[l][i].sum())
                        r = _Region(style_grams[i][l], roots[l][i], area, area / n[l], strengths[i])
                        if s.normalization in ("pair", "style") and area > 0:
                            r.weight /= _positive(r.value(content_stats[l][i]) / r.share)
                        regions.append(r)
                    self.regions[l] = regions  # styles of weight 0 are left out, as untiled
                    roots[l] = [roots[l][i] for i in used]
                content_pairs = [(i, strengths[i] * float(masks[i].mean())) for i in used if float(masks[i].mean()) > 0]
                content_mode = s.normalization in ("pair", "content")
            self.roots = roots
            if content_mode and content_pairs:
                total = sum(w for _, w in content_pairs)
                value = 0.0
                for i, w in content_pairs:
                    on_grid = _resize_to(styles[i], self.hw)
                    value += w * self._sweep_content(on_grid)
                if total > 0:
                    self.scales["content"] = _positive(value / total)
        self.n_content = float(target.numel())

    # --- Passes ------------------------------------------------------------------------
    def _tiles(self, hw: tuple[int, int], step: int = 0) -> list[Tile]:
        p, core = self.plan, self.plan.core
        assert core is not None, "a tiled scale's plan has its core"
        return layout(hw, core, p.halo, grid_offset(step, core, p.align))

    def _sweep_stats(
        self,
        image: torch.Tensor,
        roots: dict[str, list[torch.Tensor | None]],
        keep_content: torch.Tensor | None = None,
    ) -> _Sums:
        """Forward only: each style layer's Gram sums over the cores (one per root), and
        (into ``keep_content``) the content layer's activations."""
        hw = (image.shape[-2], image.shape[-1])
        stats: _PartialSums = {l: [0.0] * len(roots[l]) for l in roots}
        for tile in self._tiles(hw):
            x = image[..., tile.box[0] : tile.box[1], tile.box[2] : tile.box[3]]
            for layer, a in self._layer_pass(x):
                (ty, tx), (gy, gx) = tile.crops(layer_factor(layer))
                core = a[..., ty, tx]
                if keep_content is not None and layer == self.s.content_layer:
                    keep_content[..., gy, gx] = core.float()
                if layer in roots:
                    for k, root in enumerate(roots[layer]):
                        stats[layer][k] = stats[layer][k] + _gram(core, root, gy, gx)
            _give_back(image)
        return cast(_Sums, stats)

    def _layer_pass(self, x: torch.Tensor):
        """``(layer, activation)`` of one tile, as the network reaches each (costs run outside autocast)."""
        layers = self.model.iter_features(x, self.layers, self.check)
        while True:
            with torch.autocast(x.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
                layer, a = next(layers, (None, None))
            if layer is None:
                return
            yield layer, a

    def _sweep_content(self, image: torch.Tensor) -> float:
        """J_content of ``image`` (unweighted, as the per-pair content scale takes it)."""
        total = 0.0
        for tile in self._tiles(self.hw):
            x = image[..., tile.box[0] : tile.box[1], tile.box[2] : tile.box[3]]
            for layer, a in self._layer_pass(x):
                if layer == self.s.content_layer:
                    (ty, tx), (gy, gx) = tile.crops(layer_factor(layer))
                    total += float((a[..., ty, tx].float() - self.content_target[..., gy, gx]).pow(2).sum())
                    break
            _give_back(image)
        return 0.5 * total / self.content_target.numel()

    def _current_stats(self, image: torch.Tensor, step: int) -> _Sums:
        with torch.no_grad():
            stats: _PartialSums = {l: [0.0] * len(self.regions[l]) for l in self.s.style_layers}
            for tile in self._tiles(self.hw, step):
                x = image[..., tile.box[0] : tile.box[1], tile.box[2] : tile.box[3]].detach()
                for layer, a in self._layer_pass(x):
                    if layer in stats:
                        (ty, tx), (gy, gx) = tile.crops(layer_factor(layer))
                        for k, root in enumerate(self.roots[layer]):
                            stats[layer][k] = stats[layer][k] + _gram(a[..., ty, tx], root, gy, gx)
            return cast(_Sums, stats)

    def loss_and_grad(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """J at ``image`` and its terms (as ``Objective.__call__``), with ∂J/∂image
        accumulated into ``image.grad`` (which is made if missing), tile by tile."""
        s, step = self.s, self.sweeps
        # What was freed since the last tile (a preview, the optimiser's step) and the
        # forward sweep's tiles: given back, so the first tile's pass is not stacked on it.
        _give_back(image)
        if self._stats is None or self.exact is True or step < int(self.exact):
            self._stats = self._current_stats(image, step)
            _give_back(image)
        # The slope of each style term at the whole image's Gram sums (see the module docstring).
        slopes = {
            l: [
                s.style_weight * self.layer_weights[l] / self.scales[l] * r.weight * r.slope(st)
                for r, st in zip(self.regions[l], self._stats[l])
            ]
            for l in s.style_layers
        }
        if image.grad is None:
            image.grad = torch.zeros_like(image)
        partial: _PartialSums = {l: [0.0] * len(self.regions[l]) for l in s.style_layers}
        content_sum = 0.0
        faces_sum = 0.0
        c_scale = self.n_content * self.scales["content"]
        f_scale = None if self.faces is None else 2 * self.hw[0] * self.hw[1] * self.faces.scale / self.faces.lam
        for tile in self._tiles(self.hw, step):
            by0, by1, bx0, bx1 = tile.box
            x = image.detach()[..., by0:by1, bx0:bx1].clone().requires_grad_(True)
            surrogate = x.new_zeros((), dtype=torch.float32)
            if self.faces is not None and f_scale is not None:
                part = self.faces.tile_sum(x, *tile.crops(1))
                faces_sum += float(part.detach())
                surrogate = surrogate + part / f_scale
            for layer, a in self._layer_pass(x):
                (ty, tx), (gy, gx) = tile.crops(layer_factor(layer))
                core = a[..., ty, tx]
                if layer == s.content_layer:
                    d = (core.float() - self.content_target[..., gy, gx]).pow(2)
                    if self.content_weight is not None:
                        d = d * self.content_weight[..., gy, gx]
                    part = 0.5 * d.sum()
                    content_sum += float(part.detach())
                    surrogate = surrogate + part / c_scale
                if layer in partial:
                    for k, root in enumerate(self.roots[layer]):
                        g = _gram(core, root, gy, gx)
                        partial[layer][k] = partial[layer][k] + g.detach()
                        surrogate = surrogate + (slopes[layer][k] * g).sum()
            surrogate.backward()
            assert x.grad is not None  # backward() made it: x requires grad
            image.grad[..., by0:by1, bx0:bx1] += x.grad
            del x, surrogate
            _give_back(image)
        self._stats = stats = cast(_Sums, partial)
        self.sweeps += 1
        terms = {"content": torch.tensor(content_sum / c_scale)}
        style = torch.zeros(())
        for l in s.style_layers:
            value = cast(
                torch.Tensor, sum(r.weight * r.value(st) for r, st in zip(self.regions[l], stats[l])) / self.scales[l]
            )
            terms[f"style:{l}"] = value
            style = style + self.layer_weights[l] * value
        terms["style"] = style
        terms["total"] = terms["content"] + s.style_weight * style
        if f_scale is not None:
            terms["faces"] = torch.tensor(faces_sum / f_scale)
            terms["total"] = terms["total"] + terms["faces"]
        return terms["total"], terms


def _give_back(image: torch.Tensor) -> None:
    """After a tile (and around a step's forward sweep), on the CPU: the heap's free
    memory back to the system.

    The pipeline runs a tiled scale in nst.cpu.lean_memory, where the large blocks (the
    activations, the image-sized vectors) are returned as they are freed; this returns the
    heap's holes among the rest, and bounds a tiled objective used outside the pipeline,
    where the heap is kept (nst.cpu.keep_memory) and tiles of changing shapes leave holes
    that stay resident: there, given back after every tile of a step rather than once a
    step, 2048 px, 4 steps, one thread, peaked at 2.35 GB instead of 2.77 GB.
    """
    if image.device.type == "cpu":
        cpu.return_memory()


def tv_into_grad(image: torch.Tensor, weight: float) -> torch.Tensor:
    """:func:`nst.losses.tv_loss` of ``image``, with ``weight`` times its gradient added to
    ``image.grad`` in place: one neighbour difference alive at a time, no autograd graph
    (at print size each image-sized buffer is tens of MB)."""
    x, grad = image.detach(), image.grad
    if grad is None:
        raise ValueError("tv_into_grad adds to image.grad: make it first")
    total = x.new_zeros((), dtype=torch.float32)
    for dim in (-1, -2):
        n = x.size(dim)
        diff = x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
        count = diff.numel()
        total = total + torch.linalg.vector_norm(diff.float()) ** 2 / count
        diff.mul_(2 * weight / count)
        grad.narrow(dim, 1, n - 1).add_(diff)
        grad.narrow(dim, 0, n - 1).sub_(diff)
        del diff
    return total


def _gram(core: torch.Tensor, root: torch.Tensor | None, gy: slice, gx: slice) -> torch.Tensor:
    """The Gram sum ``Σ m a aᵀ`` over a core (``root`` = √m on the whole layer grid, or None)."""
    if root is not None:
        core = core * root[..., gy, gx].to(core.dtype)
    return gram_matrix(core)


def _area(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``mask`` area-averaged to ``hw`` (as the untiled objective's ``_to_grid``)."""
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask.float()
    return torch.nn.functional.interpolate(mask.float(), size=tuple(hw), mode="area")


def _resize_to(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return torch.nn.functional.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)


def _positive(value: torch.Tensor | float) -> float:
    value = float(value)
    return value if value > 1e-12 else 1.0
