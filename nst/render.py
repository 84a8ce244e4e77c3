"""A run's image as shown: at the output size or a preview's, with the photo's chroma where the
colour mode asks for it, and the photo itself where no region's mask is white."""

from __future__ import annotations

import torch
from PIL import Image

from . import color
from . import images as im

__all__ = ["Render", "fit"]


class Render:
    """Renders a run's optimised image (``(1, 3, h, w)`` in [0, 1]) as a picture.

    Args:
        preserve_color: the run's colour mode (``swap`` and ``luminance`` take the photo's chroma).
        photo: the content at the output size, ``(1, 3, H, W)`` on the CPU, where the colour
            mode or the regions need it, else None.
        union: the regions' union at the output size (:func:`nst.weightmaps.region_maps`), else None.
    """

    def __init__(self, preserve_color: str, photo: torch.Tensor | None, union: torch.Tensor | None) -> None:
        if (preserve_color in ("swap", "luminance") or union is not None) and photo is None:
            raise ValueError("this colour mode or regions need the photo")
        self.preserve_color, self.photo, self.union = preserve_color, photo, union

    def __call__(self, x: torch.Tensor, wh: tuple[int, int]) -> Image.Image:
        """``x`` as shown at ``wh`` (the output size, or a preview's)."""
        x = x.detach()
        if tuple(x.shape[-2:]) != (wh[1], wh[0]):
            # Antialiased when shrinking (a preview below the optimised size), bicubic when growing.
            smaller = wh[1] < x.shape[-2]
            x = torch.nn.functional.interpolate(
                x,
                size=(wh[1], wh[0]),
                mode="bilinear" if smaller else "bicubic",
                align_corners=False,
                antialias=smaller,
            ).clamp(0, 1)
        x = x.cpu()
        if self.preserve_color in ("swap", "luminance"):
            assert self.photo is not None
            x = color.swap_chroma(x, _at(self.photo, wh))
        if self.union is not None:
            # [regions] Where no mask is white the result is the photo.
            assert self.photo is not None
            u = _at(self.union, wh)
            x = u * x + (1 - u) * _at(self.photo, wh)
        return im.to_pil(x)


def fit(wh: tuple[int, int], longest: int) -> tuple[int, int]:
    """``wh`` shrunk (never enlarged) so that its long side is at most ``longest``."""
    if max(wh) <= longest:
        return wh
    k = longest / max(wh)
    return max(1, round(wh[0] * k)), max(1, round(wh[1] * k))


def _at(x: torch.Tensor, wh: tuple[int, int]) -> torch.Tensor:
    """``x`` (made at the output size) at ``wh``: itself, or antialiased to a preview's size."""
    if tuple(x.shape[-2:]) == (wh[1], wh[0]):
        return x
    return torch.nn.functional.interpolate(x, size=(wh[1], wh[0]), mode="bilinear", align_corners=False, antialias=True)
