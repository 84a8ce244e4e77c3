"""The cost terms, as small modules holding their targets.

Each style or content term is built once per run (and per scale) from target activations,
computed without autograd; calling it on the generated image's activations gives a scalar.
All reductions run in float32, whatever precision the network ran in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "ContentLoss",
    "FaceStructureLoss",
    "GramStyleLoss",
    "GuidedGramStyleLoss",
    "SlicedWassersteinStyleLoss",
    "TemporalLoss",
    "NORMALIZATIONS",
    "gram_matrix",
    "pair_scales",
    "region_scale",
    "structure_energy",
    "structure_of",
    "tv_loss",
]


def gram_matrix(a: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``G_kk' = Σ_ij a_ijk · a_ijk'`` of ``(N, C, H, W)`` activations, ``(N, C, C)``.

    Always float32. Low-precision (bf16/fp16) activations are multiplied in their own
    precision, at the bf16 matmul rate (4× faster than casting to fp32 here), over blocks
    of 1024 positions whose partial Gram matrices are summed in fp32: the sum over H·W
    (200k terms for relu1_1 at 512 px) accumulates in fp32 throughout, and only each
    block's result is rounded (2⁻⁹ relative, averaging out over the blocks).
    """
    return _Gram.apply(a)


# Positions per block in low precision: measured fastest on a 2-core CPU (one batched
# matmul over the blocks), and the smallest rounding error of the sizes tried.
_GRAM_BLOCK = 1024


class _Gram(torch.autograd.Function):
    """``F Fᵀ`` with a one-matmul backward, ``(dG + dGᵀ) F``, in ``a``'s memory format.

    Autograd's own ``F @ Fᵀ`` on ``a.float()`` makes one gradient per operand, then their
    sum, then a cast back: four activation-sized tensors (150 MB for relu1_1 at 512 px)
    where this makes one, already in the activation's dtype and layout, so that adding it
    to the gradient from the deeper layers is a plain vectorised add.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        n, c = a.shape[:2]
        ft = a.flatten(2).transpose(1, 2)  # (N, H·W, C): a view in either memory format
        if a.dtype == torch.float32:
            return ft.transpose(1, 2) @ ft
        # One batched matmul over blocks of positions, each block's Gram summed in fp32.
        ft = ft.contiguous()  # free for channels-last activations
        k = ft.shape[1] // _GRAM_BLOCK
        g = a.new_zeros(n, c, c, dtype=torch.float32)
        if k:
            blocks = ft[:, : k * _GRAM_BLOCK].reshape(n * k, _GRAM_BLOCK, c)
            g += (blocks.transpose(1, 2) @ blocks).view(n, k, c, c).sum(1, dtype=torch.float32)
        if k * _GRAM_BLOCK < ft.shape[1]:
            rest = ft[:, k * _GRAM_BLOCK :]
            g += (rest.transpose(1, 2) @ rest).float()
        return g

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        sym = (grad + grad.transpose(1, 2)).to(a.dtype)
        n, c, h, w = a.shape
        if a.is_contiguous(memory_format=torch.channels_last) and not a.is_contiguous():
            # (N, H·W, C) rows: the gradient comes out channels-last, like ``a``.
            return (a.flatten(2).transpose(1, 2) @ sym).transpose(1, 2).view(n, c, h, w)
        return (sym @ a.flatten(2)).view(n, c, h, w)


class ContentLoss(nn.Module):
    """``J_content = ½ · mean((a(C) − a(G))²)``, or ``½ · mean(w · (a(C) − a(G))²)``.

    Gatys et al. sum over elements; we take the mean so that one weight gives the same
    balance at any image size (the sum grows with the pixel count, the style term does not).

    Args:
        target: the content's activations ``(1, C, H, W)``.
        weight: optional per-position weight ``(1, 1, H, W)`` (regional runs weigh the
            photo more where it is kept); not normalised, so where it is 1 the balance
            with the style is the unweighted one.
    """

    target: torch.Tensor  # buffers
    weight: torch.Tensor | None

    def __init__(self, target: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.register_buffer("weight", None if weight is None else weight.detach().float())

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.weight is None:
            return 0.5 * (a.float() - self.target).pow(2).mean()
        return 0.5 * (self.weight * (a.float() - self.target).pow(2)).mean()


def structure_of(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """The structure a kept face keeps: the Laplacian of Gaussian (scale ``sigma`` px) of the
    luminance of an RGB image ``(1, 3, H, W)`` in [0, 1], ``(1, 1, H, W)``, float32.

    A band-pass of the brightness alone: where the eyes, nose and mouth are and their edges,
    at the face's scale. Colour is not in it, and neither is texture finer than ``sigma``.
    Edges are replicated, so a tile whose box reaches the image's border gets what the whole
    image gets, and inside, a halo of ``structure_radius(sigma)`` px is enough.
    """
    r, x, g = _gaussian(sigma, image.device)
    # ∇²(g⊗g) = g''⊗g + g⊗g'', g'' = g·(x² − σ²)/σ⁴; times σ² (scale-normalised), zero mean.
    d2 = g * (x * x - sigma * sigma) / sigma**2
    d2 = d2 - g * d2.sum() / g.sum()
    y = (0.299 * image[:, 0:1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:3]).float()
    y = torch.nn.functional.pad(y, (r, r, r, r), mode="replicate")
    conv = torch.nn.functional.conv2d
    gy, gx = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)
    dy, dx = d2.view(1, 1, -1, 1), d2.view(1, 1, 1, -1)
    return conv(conv(y, dy), gx) + conv(conv(y, gy), dx)


def _gaussian(sigma: float, device: torch.device) -> tuple[int, torch.Tensor, torch.Tensor]:
    """A Gaussian's half-width, its taps' offsets and its (normalised) taps."""
    r = structure_radius(sigma)
    x = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return r, x, g / g.sum()


def structure_energy(structure: torch.Tensor, sigma: float) -> torch.Tensor:
    """The local energy of a structure map (:func:`structure_of`): its square, blurred by a
    Gaussian of ``sigma`` px (edges replicated), ``(1, 1, H, W)``."""
    r, _, g = _gaussian(sigma, structure.device)
    e = torch.nn.functional.pad(structure.pow(2), (r, r, r, r), mode="replicate")
    conv = torch.nn.functional.conv2d
    return conv(conv(e, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))


def structure_radius(sigma: float) -> int:
    """The half-width in pixels of :func:`structure_of`'s kernel."""
    return max(1, math.ceil(3 * sigma))


class FaceStructureLoss(nn.Module):
    """``J_faces = λ · ½ · mean(m · (L(G) − L(C))²) / (Σ m L(C)² / Σ m)``, ``L`` = :func:`structure_of`.

    What ``keep_faces`` keeps: the structure of the face's luminance (after Li et al. 2017,
    "Laplacian-Steered Neural Style Transfer"), weighted per pixel by ``m`` (the face map,
    highest on the eyes, nose and mouth; 0 elsewhere). Divided by the photo's own structure
    energy per unit of the map, so the term is a relative error: the same pull for a small
    or a large face, a pale or a contrasted one. Where we depart from Li et al.: their
    Laplacian is on the whole RGB image (after a 4×4 average pool), with one weight; ours is
    on the luminance alone, a Gaussian's Laplacian at the face's scale, and on the face only.

    With ``gate`` > 0 the map keeps its weight only where the photo has structure: ``m`` is
    multiplied by ``min(1, E / (gate · Ē))``, ``E`` the photo's local structure energy
    (:func:`structure_energy` at 2σ), ``Ē`` its mean under ``m``, except under ``features``
    (the eyes, nose and mouth), which keep theirs: the features stay whole, and flat skin,
    which has no structure to keep, is free to take the painting's texture (a mosaic's
    tiles, a painting's strokes) as the rest of the picture does.

    Args:
        content: the photo ``(1, 3, H, W)`` in [0, 1], at this scale.
        mask: ``m``, ``(1, 1, H, W)`` ≥ 0.
        sigma: the scale, in pixels of this image.
        weight: ``λ``.
        gate: the energy, relative to ``Ē``, above which a pixel keeps its whole weight; 0: off.
        features: weights ``(1, 1, H, W)`` the gate leaves as they are (at most ``m``), else None.
    """

    target: torch.Tensor
    mask: torch.Tensor

    def __init__(
        self,
        content: torch.Tensor,
        mask: torch.Tensor,
        sigma: float,
        weight: float,
        gate: float = 0.0,
        features: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        target = structure_of(content, sigma).detach()
        mask = mask.detach().float()
        self.sigma, self.lam = sigma, weight
        self.scale = max(float((mask * target.pow(2)).sum() / mask.sum().clamp_min(1e-12)), 1e-12)
        if gate > 0:
            gated = mask * (structure_energy(target, 2 * sigma) / (gate * self.scale)).clamp(max=1.0)
            mask = gated if features is None else torch.maximum(gated, features.detach().float().to(mask.device))
        self.register_buffer("target", target)
        self.register_buffer("mask", mask)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        d = structure_of(image, self.sigma) - self.target
        return self.lam * 0.5 * (self.mask * d.pow(2)).mean() / self.scale

    def tile_sum(self, image_tile: torch.Tensor, crop: tuple[slice, slice], core: tuple[slice, slice]) -> torch.Tensor:
        """The term's un-averaged sum over one tile's core (``crop``: the core within the
        tile; ``core``: within the whole image): :meth:`forward` is the sum of these over the
        cores, times ``λ / (2 · H·W · scale)``."""
        d = structure_of(image_tile, self.sigma)[..., crop[0], crop[1]] - self.target[..., core[0], core[1]]
        return (self.mask[..., core[0], core[1]] * d.pow(2)).sum()


class TemporalLoss(nn.Module):
    """``J_temporal = λ · mean(c · (G − W)²)``: video's temporal cost (Ruder et al. 2016, eq. 7).

    ``W`` is the previous frame's result warped onto this frame by the optical flow, ``c`` the
    flows' consistency (:func:`nst.flow.consistency`: 0 where disoccluded or on a motion
    boundary). Like ``keep_faces``' term (:class:`FaceStructureLoss`), a per-pixel weighted
    distance on the image itself, added to J as it is: the other terms are unit-free (per-pair
    normalisation), and pixels are in [0, 1], so one ``λ`` holds alike at any size.

    Args:
        target: ``W``, ``(1, 3, H, W)`` in [0, 1].
        mask: ``c``, ``(1, 1, H, W)`` in [0, 1].
        weight: ``λ``.
    """

    target: torch.Tensor
    mask: torch.Tensor

    def __init__(self, target: torch.Tensor, mask: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.lam = weight
        self.register_buffer("target", target.detach().float())
        self.register_buffer("mask", mask.detach().float())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.lam * (self.mask * (image - self.target).pow(2)).mean()


class GramStyleLoss(nn.Module):
    """``J_style^l = ‖G(S) − G(G)‖²_F / (2·nH·nW·nC)²`` for one layer.

    Computed as ``‖(G(S) − G(G)) / (nH·nW)‖²_F / (2·nC)²``, which is the same number: it
    keeps float32 far from overflow on deep layers of the 0–255 Caffe network, and it lets
    Gram targets taken at another size (a different style scale) be compared directly.

    Args:
        target_gram: the style's Gram matrix divided by its own ``nH·nW``, ``(1, C, C)``.
    """

    target: torch.Tensor  # a buffer

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())

    @staticmethod
    def target_from(a: torch.Tensor) -> torch.Tensor:
        """The size-normalised Gram target of style activations ``a``."""
        return gram_matrix(a) / (a.shape[-1] * a.shape[-2])

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        n_c = a.shape[1]
        g = self.target_from(a)
        return (g - self.target).pow(2).sum() / (2 * n_c) ** 2


class GuidedGramStyleLoss(nn.Module):
    """The Gram term of one style over its own region: a guided Gram matrix.

    ``J = (Σm / nH·nW) · ‖G_m(G) − G(S)‖²_F / (2·nC)²`` with ``G_m = Σ_ij m_ij a_ij a_ijᵀ / Σ m``,
    where ``m`` is the region's mask at this layer's grid and ``G(S)`` the style's
    size-normalised Gram matrix over the whole style image (as in :class:`GramStyleLoss`).

    After Gatys et al. (2017, "Controlling Perceptual Factors in Neural Style Transfer",
    §4, spatial control). Where we depart from the paper:

    - The paper multiplies the features by the guidance channel, so positions count with
      weight ``m²``, and normalises by the whole layer. We weigh positions by ``m`` (the
      features times ``√m``) and divide by the region's area ``Σm``: the region's Gram is a
      weighted mean of ``a aᵀ`` over the region, directly comparable with the style's own,
      and a soft edge is a partial membership, not a darkening of the features.
    - The paper downsamples the guidance channels to each layer's grid, or erodes them so
      that deep receptive fields stay inside; we use area averaging (done by the caller),
      which keeps the region's mass at every layer and gives soft seams.
    - The term is weighed by the region's share of the image, ``Σm / nH·nW``. Then each
      pixel of the region feels the same pull as in an unmasked run (the gradient of
      ``G_m`` scales as ``1/Σm``), a small region does not get a whole image's force,
      and an all-white mask gives exactly :class:`GramStyleLoss`.

    Args:
        target_gram: the style's Gram matrix divided by its own ``nH·nW``, ``(1, C, C)``.
        mask: the region at this layer's grid, ``(1, 1, nH, nW)``, values in [0, 1].
    """

    target: torch.Tensor  # buffers
    root: torch.Tensor

    def __init__(self, target_gram: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        mask = mask.detach().float()
        self.register_buffer("target", target_gram.detach().float())
        self.register_buffer("root", mask.sqrt())
        self.area = float(mask.sum())
        self.share = self.area / (mask.shape[-1] * mask.shape[-2])

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.area <= 0:
            return a.new_zeros((), dtype=torch.float32)  # a style painted nowhere
        n_c = a.shape[1]
        g = gram_matrix(a * self.root.to(a.dtype)) / self.area
        return self.share * (g - self.target).pow(2).sum() / (2 * n_c) ** 2


class SlicedWassersteinStyleLoss(nn.Module):
    """Sliced Wasserstein distance between feature distributions (Heitz et al., CVPR 2021).

    Projects the ``C``-dimensional feature of every position onto random unit directions,
    sorts each projection, and compares the sorted values with the style's quantiles: this
    matches the whole distribution of features, not only their second moments as a Gram
    matrix does.

    Where we depart from the paper:

    - Heitz et al. draw fresh directions at every Adam step. We draw them once per term
      (once per scale of a run), so that the objective is deterministic, which L-BFGS's
      curvature pairs need, and the style's quantiles are computed once, not every step.
    - Several styles are blended as a mixture of their distributions: the target
      quantiles are those of all styles' projections pooled, each style weighted by its
      blend weight.
    - The distance is multiplied by the style's mean squared activation / 8. That gives
      the term the units of the Gram term (activation⁴) and, measured on the shared image
      pairs at every default layer, within about 2× of its value for the same images, so
      one ``style_weight`` means about the same balance with either loss.

    Args:
        targets: style activations ``(1, C, H, W)``, one per style image.
        weights: blend weight of each style (normalised here).
        positions: ``H·W`` of the generated image's activations at this layer.
        generator: the run's random generator, for repeatable directions.
        projections: number of directions; ``C``, the classic choice, when not given.
    """

    dirs: torch.Tensor  # buffers
    target: torch.Tensor

    def __init__(
        self,
        targets: list[torch.Tensor],
        weights: list[float],
        positions: int,
        generator: torch.Generator,
        projections: int | None = None,
    ) -> None:
        super().__init__()
        c = targets[0].shape[1]
        dirs = torch.randn(c, projections or c, generator=generator, device=generator.device)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(targets[0].device)
        total = sum(weights)
        feats = [t.detach().float().flatten(2)[0] for t in targets]  # (C, Ns) each
        values = torch.cat([dirs.T @ f for f in feats], dim=1)  # (P, ΣNs)
        mass = torch.cat(
            [torch.full((f.shape[1],), w / total / f.shape[1], device=f.device) for f, w in zip(feats, weights)]
        )
        self.register_buffer("dirs", dirs)
        self.register_buffer("target", _weighted_quantiles(values, mass, positions))
        self.scale = float(sum(w / total * f.pow(2).mean() for f, w in zip(feats, weights))) / 8

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        f = a.float().flatten(2)[0]  # (C, N)
        proj = (self.dirs.T @ f).sort(dim=1).values  # (P, N)
        return self.scale * (proj - self.target).pow(2).mean()


def _weighted_quantiles(values: torch.Tensor, mass: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` quantiles at levels ``(k + ½)/n`` of each row of ``values``, whose entries
    have probability ``mass`` (summing to 1): ``(P, M)`` → ``(P, n)``."""
    sorted_values, order = values.sort(dim=1)
    cdf = mass[order].cumsum(dim=1)
    levels = (torch.arange(n, device=values.device, dtype=cdf.dtype) + 0.5) / n
    index = torch.searchsorted(cdf, levels.expand(values.shape[0], n).contiguous())
    return sorted_values.gather(1, index.clamp_(max=values.shape[1] - 1))


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation of an image batch: mean squared difference of neighbouring pixels."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.float().pow(2).mean() + dy.float().pow(2).mean()


# How the costs are scaled per image pair (Settings.normalization); see pair_scales.
NORMALIZATIONS = ("pair", "style", "content", "none")


def pair_scales(
    mode: str,
    content_feats: dict[str, torch.Tensor],
    style_content_feats: Callable[[], list[tuple[torch.Tensor, float]]],
    content_loss: ContentLoss,
    style_losses: dict[str, nn.Module],
) -> dict[str, float]:
    """The scale each cost term is divided by, so that one β/α paints alike for any pair.

    Where we depart from Gatys et al.: their J = α·J_content + β·J_style is in the network's
    units, and the size of each term depends on the images. The style term's size follows
    the Gram statistics of both the painting and the photo (a high-contrast painting over a
    flat photo starts 100× further away than a muted one), the content term's the photo's
    activation energy. So one β/α gave some pairs a painting and others a faint texture.
    We measure each term at the two ends of the path the optimisation travels:

    - ``style``: each style layer's J_style^l divided by its value at the content image,
      ``J_style^l(C)``: the distance the generated image has to travel, 1 at the start.
    - ``content``: J_content divided by ``J_content(S)``, the content cost of the style
      image itself (resized onto the content's grid): 1 is "as far from the photo as the
      painting", whatever the photo's contrast.
    - ``pair`` (the default): both. Both terms then run from 0 to about 1 between photo
      and painting, and β/α weighs fractions of those distances.
    - ``none``: Gatys's units (recipes made before nst 0.2 were run so).

    Args:
        mode: one of :data:`NORMALIZATIONS`.
        content_feats: the content image's activations at the content and style layers.
        style_content_feats: gives each style's activations at the content layer, on the
            content's grid, with its blend weight (called only when needed: a forward pass).
        content_loss: the content term, holding the content target.
        style_losses: the style term of each style layer, holding its targets.

    Returns:
        ``{"content": scale, layer: scale, ...}``; every scale is positive.
    """
    scales = {"content": 1.0, **{layer: 1.0 for layer in style_losses}}
    if mode in ("pair", "style"):
        for layer, loss in style_losses.items():
            scales[layer] = _positive(loss(content_feats[layer]))
    if mode in ("pair", "content"):
        pairs = style_content_feats()
        total = sum(w for _, w in pairs)
        if total > 0:
            scales["content"] = _positive(sum(w * content_loss(a) for a, w in pairs) / total)
    return scales


def region_scale(loss: GuidedGramStyleLoss, content_feat: torch.Tensor) -> float:
    """A regional style term's ``style`` scale: its value at the photo per unit of its share
    of the image (the share stays in the term, see :class:`GuidedGramStyleLoss`)."""
    if loss.area <= 0:
        return 1.0  # a style painted nowhere
    return _positive(loss(content_feat) / loss.share)


def _positive(value: torch.Tensor | float) -> float:
    # A style identical to the photo is no distance at all: its term then stays unscaled.
    value = float(value)
    return value if value > 1e-12 else 1.0
