"""Masks for regional styles: one greyscale mask per style image, in the content's frame.

Loaded and checked once, at `nst.prepare` (count, shape, all black); made into tensors at
the output size for the run, and resized by area to each scale (the per-pixel content
weights of kept faces are resized the same way).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import images as im
from .errors import SettingsError
from .settings import Settings

__all__ = ["load_masks", "mask_tensor", "resize_mask"]


def load_masks(masks: list[Any] | None, content: Image.Image, n_styles: int, s: Settings) -> list[Image.Image] | None:
    """The masks as greyscale images, after every check that needs no network."""
    if masks is None:
        return None
    if len(masks) != n_styles:
        raise im.ImageError(
            f"{len(masks)} mask{'s' if len(masks) != 1 else ''} for {n_styles} style image"
            f"{'s' if n_styles != 1 else ''}: give one mask per style image, in the same order"
        )
    if s.style_loss != "gram":
        raise SettingsError("masks work with style_loss gram only, not sliced-wasserstein")
    what = ["mask"] if n_styles == 1 else [f"mask {i + 1}" for i in range(n_styles)]
    out = [im.load_mask(m, w) for m, w in zip(masks, what)]
    cw, ch = content.size
    for m, w in zip(out, what):
        # Any size, but the content's shape: a mask of another shape is another picture's.
        if abs(m.height - m.width * ch / cw) > max(1.0, 0.01 * m.height):
            raise im.ImageError(
                f"the {w} is {m.width}×{m.height} px, not the shape of the content image ({cw}×{ch} px); "
                "a mask is drawn in the content image's frame (any size, same aspect ratio)"
            )
    empty = [w for m, w in zip(out, what) if m.getextrema()[1] == 0]
    if len(empty) == len(out):
        raise im.ImageError(
            ("the mask is" if len(out) == 1 else "every mask is") + " all black: no style goes anywhere, "
            "so the result would be the photo; paint white where the style goes"
        )
    for w in empty:
        warnings.warn(f"the {w} is all black: its style image is not used", stacklevel=4)
    return out


def mask_tensor(mask: Image.Image, wh: tuple[int, int]) -> torch.Tensor:
    """A greyscale mask at ``wh`` as a ``(1, 1, H, W)`` float tensor in [0, 1]."""
    if mask.size != wh:
        # Bilinear: antialiased when shrinking, and no overshoot at hard edges (Lanczos rings).
        mask = mask.resize(wh, Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None]


def resize_mask(mask: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A ``(1, 1, H, W)`` mask or weight map at ``hw``, by area (each pixel the mean of what it covers)."""
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    return torch.nn.functional.interpolate(mask, size=tuple(hw), mode="area")
