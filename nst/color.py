"""Colour handling for ``preserve_color``: luminance/chroma split and linear colour transfer.

All functions take and return ``(1, 3, H, W)`` RGB tensors in [0, 1] (luminance alone is
``(1, 1, H, W)``), and work in float32 on any device.
"""

from __future__ import annotations

import torch

__all__ = [
    "COLOR_MODES",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "luminance",
    "grey",
    "swap_chroma",
    "match_luminance",
    "match_color",
    "recolor",
]

COLOR_MODES = ("none", "swap", "luminance", "match")

# ITU-R BT.601 (JPEG's YCbCr), full range, with chroma centred on 0.
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)


def _apply(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(x.device, torch.float32), x.float())


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB → (Y, Cb, Cr); Y in [0, 1], Cb and Cr in [−½, ½]."""
    return _apply(_RGB_TO_YCBCR, x)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(Y, Cb, Cr) → RGB, clamped to [0, 1]."""
    return _apply(torch.linalg.inv(_RGB_TO_YCBCR), x).clamp(0, 1)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """The Y channel of an RGB image, ``(1, 1, H, W)``."""
    return rgb_to_ycbcr(x)[:, :1]


def grey(y: torch.Tensor) -> torch.Tensor:
    """A luminance image as a grey RGB image (the network takes three channels)."""
    return y.expand(-1, 3, -1, -1).clamp(0, 1).contiguous()


def swap_chroma(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The luminance of ``result`` with the chroma (Cb, Cr) of ``content``, the same size."""
    y = luminance(result)
    cbcr = rgb_to_ycbcr(content)[:, 1:]
    return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1))


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """``style_y`` shifted and scaled to the mean and standard deviation of ``content_y``.

    Gatys et al. (2016, "Preserving color in neural artistic style transfer") do this
    before a luminance-only transfer, so that the style's brightness does not leak in.
    """
    mu_s, sd_s = style_y.mean(), style_y.std()
    mu_c, sd_c = content_y.mean(), content_y.std()
    return ((style_y - mu_s) * (sd_c / sd_s.clamp_min(1e-6)) + mu_c).clamp(0, 1)


def match_color(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``style`` so its pixels' mean and covariance are ``content``'s.

    The linear map is the symmetric one, ``A = Σc^½ Σs^−½`` ("image analogies" in Gatys
    et al. 2016), which changes the colours least among the maps that match the
    covariance; square roots come from ``torch.linalg.eigh``.
    """
    xs = style.float().flatten(2)[0]  # (3, N)
    xc = content.float().flatten(2)[0]
    mu_s, mu_c = xs.mean(1, keepdim=True), xc.mean(1, keepdim=True)
    eye = eps * torch.eye(3, device=xs.device)
    cov_s = torch.cov(xs) + eye
    cov_c = torch.cov(xc) + eye
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = a @ (xs - mu_s) + mu_c
    return out.reshape(style.shape).clamp(0, 1)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-8).sqrt()
    if inverse:
        values = 1 / values
    return vectors @ torch.diag(values) @ vectors.T


def recolor(mode: str, content: torch.Tensor, styles: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The content and styles the network sees under colour mode ``mode``.

    ``luminance``: both as grey images, each style's luminance matched to the content's
    mean and spread; ``match``: the styles recoloured to the content's colour statistics;
    otherwise unchanged (``swap`` acts on the result only).
    """
    if mode == "luminance":
        y = luminance(content)
        return grey(y), [grey(match_luminance(luminance(x), y)) for x in styles]
    if mode == "match":
        return content, [match_color(x, content) for x in styles]
    return content, styles
