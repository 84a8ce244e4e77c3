"""The cost terms, as small modules holding their targets.

Each style or content term is built once per run (and per scale) from target activations,
computed without autograd; calling it on the generated image's activations gives a scalar.
All reductions run in float32, whatever precision the network ran in.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ContentLoss",
    "GramStyleLoss",
    "SlicedWassersteinStyleLoss",
    "gram_matrix",
    "tv_loss",
]


def gram_matrix(a: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``G_kk' = Σ_ij a_ijk · a_ijk'`` of ``(N, C, H, W)`` activations, ``(N, C, C)``."""
    return _Gram.apply(a.float().flatten(2))


class _Gram(torch.autograd.Function):
    """``F Fᵀ`` with a one-matmul backward, ``(dG + dGᵀ) F``. Autograd's own ``F @ Fᵀ``
    makes one gradient per operand and then their sum: three activation-sized tensors
    at once (150 MB for relu1_1 at 512 px) where this makes one."""

    @staticmethod
    def forward(ctx, f: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(f)
        return f @ f.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (f,) = ctx.saved_tensors
        return (grad + grad.transpose(1, 2)) @ f


class ContentLoss(nn.Module):
    """``J_content = ½ · mean((a(C) − a(G))²)``.

    Gatys et al. sum over elements; we take the mean so that one weight gives the same
    balance at any image size (the sum grows with the pixel count, the style term does not).
    """

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return 0.5 * (a.float() - self.target).pow(2).mean()


class GramStyleLoss(nn.Module):
    """``J_style^l = ‖G(S) − G(G)‖²_F / (2·nH·nW·nC)²`` for one layer.

    Computed as ``‖(G(S) − G(G)) / (nH·nW)‖²_F / (2·nC)²``, which is the same number: it
    keeps float32 far from overflow on deep layers of the 0–255 Caffe network, and it lets
    Gram targets taken at another size (a different style scale) be compared directly.

    Args:
        target_gram: the style's Gram matrix divided by its own ``nH·nW``, ``(1, C, C)``.
    """

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


class SlicedWassersteinStyleLoss(nn.Module):
    """Sliced Wasserstein distance between feature distributions (Heitz et al., CVPR 2021).

    Projects the ``C``-dimensional features of every position onto random unit directions,
    sorts each projection, and compares the sorted values with the style's: this matches
    the whole distribution of features, not only their second moments as a Gram matrix does.
    Fresh directions are drawn on every call from ``generator``.

    Args:
        target: style activations ``(1, C, H, W)``.
        generator: the run's random generator, for repeatable projections.
        projections: directions per call; ``C`` is the classic choice.
    """

    def __init__(self, target: torch.Tensor, generator: torch.Generator, projections: int | None = None) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float().flatten(2)[0])  # (C, Ns)
        self.generator = generator
        self.projections = projections or target.shape[1]

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        f = a.float().flatten(2)[0]  # (C, N)
        c, n = f.shape
        dirs = torch.randn(c, self.projections, generator=self.generator, device=self.generator.device)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(f.device)
        proj = (dirs.T @ f).sort(dim=1).values  # (P, N)
        target = (dirs.T @ self.target).sort(dim=1).values  # (P, Ns)
        if target.shape[1] != n:  # compare quantiles when the style has another size
            target = nn.functional.interpolate(target[None], size=n, mode="linear", align_corners=True)[0]
        # Normalised like the Gram term: divide by the feature scale squared per channel.
        return (proj - target).pow(2).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation of an image batch: mean squared difference of neighbouring pixels."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.float().pow(2).mean() + dy.float().pow(2).mean()
