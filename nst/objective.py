"""The objective J of one image size: the content, style and total costs from VGG19 features.

Public for the benches, which time and probe the cost the optimiser sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch

from .losses import (
    ContentLoss,
    FaceStructureLoss,
    GramStyleLoss,
    TemporalLoss,
    GuidedGramStyleLoss,
    SlicedWassersteinStyleLoss,
    pair_scales,
    region_scale,
)
from .settings import Settings, SettingsError
from .vgg import VGG19Features

__all__ = ["KEEP_CONTENT_WEIGHT", "Objective", "RegionalStyleLoss"]

# Where no mask is white, the content term weighs this much more (1 inside the regions,
# so their balance is an unmasked run's). The result there is the photo anyway (the
# pipeline composites it back); the extra weight keeps the pixels next to a region
# photo-like, so that the region's deep features see the photo across the seam and the
# composite has no halo of style bleeding out.
KEEP_CONTENT_WEIGHT = 4.0


class RegionalStyleLoss(torch.nn.Module):
    """One layer's style cost in a regional run: ``Σ_r w_r · J_r``, one guided Gram term
    per style on its own region.

    Args:
        losses: one :class:`~nst.losses.GuidedGramStyleLoss` per region (style).
        weights: the strength of each region's style (``style_blend``, mean 1).
    """

    def __init__(self, losses: list[GuidedGramStyleLoss], weights: list[float]) -> None:
        super().__init__()
        self.regions = torch.nn.ModuleList(losses)
        self.weights = list(weights)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        total = a.new_zeros((), dtype=torch.float32)
        for loss, w in zip(self.regions, self.weights):
            if w > 0:
                total = total + w * loss(a)
        return total


class Objective:
    """J = J_content + β·J_style (+ TV) at one image size, with targets computed once.

    With ``normalization="pair"`` (the default) each term is divided by its per-pair scale
    (:func:`nst.losses.pair_scales`), so the costs reported and weighed are unit-free.

    Several style images are blended in target space: with the Gram loss each layer's
    target is the weighted mean of the styles' (normalised) Gram matrices; with sliced
    Wasserstein it is the weighted mixture of their feature distributions. A style of
    weight 0 is left out, so weights 1 0 give exactly the first style's result.

    With ``masks`` (one per style, at the content's size) each style is matched over its
    own region instead (:class:`RegionalStyleLoss`), ``blend`` is each region's strength,
    and the content term weighs :data:`KEEP_CONTENT_WEIGHT` more where no mask is white.
    Each mask is area-averaged to every layer's grid.

    ``content_weight`` (``(1, 1, H, W)`` at the content's size, ≥ 1; see
    :func:`nst.weightmaps.content_weight_map`) weighs the content cost per pixel: keep
    masks. It is area-averaged to the content layer's grid; with masks, the larger of it
    and the regions' weight counts. The per-pair content scale is the unweighted one, so
    where the map is 1 the balance is exactly that of a run without it.

    Where the map holds pixels to the photo, they also count less in the Gram statistics
    (weight ``1 / content_weight``, a guided Gram matrix; Gram loss only). Gatys et al.'s
    Gram matrix is a mean over the whole image: a kept region that fills a third of the
    picture would keep a third of it near the photo's statistics, and the optimiser would
    push the rest of the image past the painting's statistics to make up for it (the rest
    then paints differently; bench/portraits.py measured it with faces kept this way).
    Discounted, the rest matches the painting's statistics on its own.

    ``faces`` (:class:`nst.losses.FaceStructureLoss`, built on this scale's content) is what
    ``keep_faces`` adds: the structure of the faces' luminance, a term of its own
    (``terms["faces"]``) added to J as it is. Faces are otherwise painted like the rest.
    """

    def __init__(
        self,
        model: VGG19Features,
        s: Settings,
        content: torch.Tensor,
        styles: list[torch.Tensor],
        blend: list[float],
        autocast: torch.dtype | None,
        gen: torch.Generator,
        masks: list[torch.Tensor] | None = None,
        content_weight: torch.Tensor | None = None,
        faces: FaceStructureLoss | None = None,
    ) -> None:
        self.model = model
        self.s = s
        self.faces = faces
        # [video] The temporal cost (nst.losses.TemporalLoss), set by a frame's run, else None.
        self.temporal: TemporalLoss | None = None
        # Called after every layer, forward and back (see VGG19Features.iter_features):
        # the pipeline's stop= check.
        self.check: Callable[[], None] | None = None
        self.autocast = autocast
        self.layers = [s.content_layer, *[l for l in s.style_layers if l != s.content_layer]]
        lw = s.style_layer_weights or (1.0,) * len(s.style_layers)
        # λ normalised to sum 1, so the ratio means the same with 1 or 5 layers.
        self.layer_weights = {l: w / sum(lw) for l, w in zip(s.style_layers, lw)}
        self.style_losses: dict[str, torch.nn.Module] = {}
        if masks is not None:
            self._regional(content, styles, blend, masks, content_weight)
            return
        used = [(x, w) for x, w in zip(styles, blend) if w > 0]
        with torch.no_grad():
            content_feats = self._features(content, self.layers)
            plain = ContentLoss(content_feats[s.content_layer])
            self.content_loss = (
                plain
                if content_weight is None
                else ContentLoss(
                    content_feats[s.content_layer], _to_grid(content_weight, content_feats[s.content_layer])
                )
            )
            style_feats = [self._features(x, list(s.style_layers)) for x, _ in used]
            weights = [w for _, w in used]
            for l in s.style_layers:
                if s.style_loss == "gram":
                    target = cast(
                        torch.Tensor, sum(w * GramStyleLoss.target_from(f[l]) for f, w in zip(style_feats, weights))
                    )
                    self.style_losses[l] = (
                        GramStyleLoss(target / sum(weights))
                        if content_weight is None
                        else GuidedGramStyleLoss(target / sum(weights), _to_grid(1 / content_weight, content_feats[l]))
                    )
                else:
                    positions = content_feats[l].shape[-1] * content_feats[l].shape[-2]
                    self.style_losses[l] = SlicedWassersteinStyleLoss(
                        [f[l] for f in style_feats], weights, positions, gen
                    )
            # The per-pair scales of each term (1 where the normalisation leaves it as is).
            self.scales = pair_scales(
                s.normalization,
                content_feats,
                lambda: [
                    (self._features(_resize_to(x, content.shape[-2:]), [s.content_layer])[s.content_layer], w)
                    for x, w in used
                ],
                plain,  # the plain distance: the weight map raises the content term, not its unit
                self.style_losses,
            )

    # --- Regional (masked) runs -------------------------------------------------------
    def _regional(
        self,
        content: torch.Tensor,
        styles: list[torch.Tensor],
        blend: list[float],
        masks: list[torch.Tensor],
        content_weight: torch.Tensor | None = None,
    ) -> None:
        s = self.s
        if s.style_loss != "gram":
            # Sliced Wasserstein would need each region's features as a weighted
            # distribution (weighted quantiles of the generated image every step): not built.
            raise SettingsError("masks work with style_loss gram only, not sliced-wasserstein")
        if len(masks) != len(styles):
            raise ValueError(f"{len(masks)} masks for {len(styles)} style images")
        # Blend weights as strengths of mean 1: equal weights give each region the full
        # style_weight, as one style on the whole image has.
        strengths = [w * len(blend) / sum(blend) for w in blend]
        with torch.no_grad():
            content_feats = self._features(content, self.layers)
            union = torch.stack(masks).sum(0).clamp(0, 1)
            keep = 1 + KEEP_CONTENT_WEIGHT * (1 - _to_grid(union, content_feats[s.content_layer]))
            if content_weight is not None:  # faces and keep masks: the larger weight counts
                keep = torch.maximum(keep, _to_grid(content_weight, content_feats[s.content_layer]))
            self.content_loss = ContentLoss(content_feats[s.content_layer], keep)
            used = [i for i, w in enumerate(strengths) if w > 0]
            style_feats = {i: self._features(styles[i], list(s.style_layers)) for i in used}
            normalize = s.normalization in ("pair", "style")
            for l in s.style_layers:
                counted = 1 if content_weight is None else _to_grid(1 / content_weight, content_feats[l])
                losses = [
                    GuidedGramStyleLoss(
                        GramStyleLoss.target_from(style_feats[i][l]), _to_grid(masks[i], content_feats[l]) * counted
                    )
                    for i in used
                ]
                weights = [strengths[i] for i in used]
                if normalize:
                    # Each region by its own photo-to-painting distance (per unit of area, so
                    # that a region's pixels feel the pull of an unmasked run's): a region under
                    # a muted painting is painted as clearly as one under a bright painting.
                    weights = [w / region_scale(loss, content_feats[l]) for w, loss in zip(weights, losses)]
                self.style_losses[l] = RegionalStyleLoss(losses, weights)
            share = {i: float(masks[i].mean()) for i in used}
            self.scales = pair_scales(
                "content" if s.normalization in ("pair", "content") else "none",
                content_feats,
                lambda: [
                    (
                        self._features(_resize_to(styles[i], content.shape[-2:]), [s.content_layer])[s.content_layer],
                        strengths[i] * share[i],
                    )
                    for i in used
                    if share[i] > 0
                ],
                ContentLoss(content_feats[s.content_layer]),  # the plain distance, as unmasked runs
                {},
            )
            self.scales.update({l: 1.0 for l in s.style_layers})

    def _features(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        with torch.autocast(image.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            return self.model(image, layers)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # Each term is taken as soon as its layer is reached, so that backward differentiates
        # it just before that layer: holding every layer's cost gradient from the start of
        # backward cost ~180 MB more at 512 px. The terms run outside autocast, in fp32.
        values: dict[str, torch.Tensor] = {}
        layers = self.model.iter_features(image, self.layers, self.check)
        while True:
            with torch.autocast(
                image.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None
            ):
                layer, a = next(layers, (None, None))
            if layer is None:
                break
            if layer == self.s.content_layer:
                values["content"] = self.content_loss(a) / self.scales["content"]
            if layer in self.style_losses:
                values[layer] = self.style_losses[layer](a) / self.scales[layer]
        terms = {"content": values["content"]}
        style = image.new_zeros((), dtype=torch.float32)
        for layer in self.style_losses:
            value = values[layer]
            terms[f"style:{layer}"] = value
            style = style + self.layer_weights[layer] * value
        terms["style"] = style
        total = terms["content"] + self.s.style_weight * style
        if self.faces is not None:
            terms["faces"] = self.faces(image)
            total = total + terms["faces"]
        if self.temporal is not None:
            terms["temporal"] = self.temporal(image)
            total = total + terms["temporal"]
        terms["total"] = total
        return total, terms


def _resize_to(x: torch.Tensor, hw: torch.Size) -> torch.Tensor:
    """``x`` resized to ``hw`` (aspect not kept): a style image on the content's grid."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return torch.nn.functional.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)


def _to_grid(mask: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``mask`` ``(1, 1, H, W)`` area-averaged to the grid of activations ``a``."""
    if tuple(mask.shape[-2:]) == tuple(a.shape[-2:]):
        return mask.float()
    return torch.nn.functional.interpolate(mask.float(), size=tuple(a.shape[-2:]), mode="area")
