"""The objective J of one image size: the content, style and total costs from VGG19 features.

Public for the benches, which time and probe the cost the optimiser sees.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .losses import ContentLoss, GramStyleLoss, SlicedWassersteinStyleLoss, pair_scales
from .settings import Settings
from .vgg import VGG19Features

__all__ = ["Objective"]


class Objective:
    """J = J_content + β·J_style (+ TV) at one image size, with targets computed once.

    With ``normalization="pair"`` (the default) each term is divided by its per-pair scale
    (:func:`nst.losses.pair_scales`), so the costs reported and weighed are unit-free.

    Several style images are blended in target space: with the Gram loss each layer's
    target is the weighted mean of the styles' (normalised) Gram matrices; with sliced
    Wasserstein it is the weighted mixture of their feature distributions. A style of
    weight 0 is left out, so weights 1 0 give exactly the first style's result.
    """

    def __init__(
        self, model: VGG19Features, s: Settings, content: torch.Tensor, styles: list[torch.Tensor],
        blend: list[float], autocast: torch.dtype | None, gen: torch.Generator,
    ) -> None:
        self.model = model
        self.s = s
        # Called after every layer, forward and back (see VGG19Features.iter_features):
        # the pipeline's stop= check.
        self.check: Callable[[], None] | None = None
        self.autocast = autocast
        self.layers = [s.content_layer, *[l for l in s.style_layers if l != s.content_layer]]
        lw = s.style_layer_weights or (1.0,) * len(s.style_layers)
        # λ normalised to sum 1, so the ratio means the same with 1 or 5 layers.
        self.layer_weights = {l: w / sum(lw) for l, w in zip(s.style_layers, lw)}
        used = [(x, w) for x, w in zip(styles, blend) if w > 0]
        self.style_losses: dict[str, torch.nn.Module] = {}
        with torch.no_grad():
            content_feats = self._features(content, self.layers)
            self.content_loss = ContentLoss(content_feats[s.content_layer])
            style_feats = [self._features(x, list(s.style_layers)) for x, _ in used]
            weights = [w for _, w in used]
            for l in s.style_layers:
                if s.style_loss == "gram":
                    target = sum(w * GramStyleLoss.target_from(f[l]) for f, w in zip(style_feats, weights))
                    self.style_losses[l] = GramStyleLoss(target / sum(weights))
                else:
                    positions = content_feats[l].shape[-1] * content_feats[l].shape[-2]
                    self.style_losses[l] = SlicedWassersteinStyleLoss(
                        [f[l] for f in style_feats], weights, positions, gen
                    )
            # The per-pair scales of each term (1 where the normalisation leaves it as is).
            self.scales = pair_scales(
                s.normalization,
                content_feats,
                lambda: [(self._features(_resize_to(x, content.shape[-2:]), [s.content_layer])[s.content_layer], w)
                         for x, w in used],
                self.content_loss,
                self.style_losses,
            )

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
            with torch.autocast(image.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
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
        terms["total"] = total
        return total, terms


def _resize_to(x: torch.Tensor, hw: torch.Size) -> torch.Tensor:
    """``x`` resized to ``hw`` (aspect not kept): a style image on the content's grid."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return torch.nn.functional.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)
