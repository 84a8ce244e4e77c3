"""The per-pixel maps a run weighs its costs with: the regions' masks, and the content weight
that keeps faces and a keep mask's white.

Two sources say where the photo's structure is kept: faces found in the content image
(``keep_faces``, :mod:`nst.faces`), and a keep mask (``keep=``, the app's white brush;
white = keep). Both become one map of content weights at the output size
(:func:`content_weight_map`): 1 where nothing is protected, raised over each face
(soft-edged ellipse), highest over its eyes, nose and mouth, and raised where the keep
mask is white. The objective multiplies its content cost by that map (the same kind of
map regional runs use to keep the photo outside their masks), so a face is painted in the
style's palette and brushwork, but its features stay where they are. The style cost is
untouched: the rest of the image is painted as before.

A regional run's masks (:func:`region_maps`) are tensors at the output size, and their
union says where the result is the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import images as im
from .faces import Face
from .masks import mask_tensor

__all__ = [
    "FACE_WEIGHT",
    "FEATURE_WEIGHT",
    "KEEP_WEIGHT",
    "content_weight",
    "content_weight_map",
    "load_keep_mask",
    "region_maps",
]

# How much more the content cost weighs, on top of 1 (so 1 + x in all): over a face's
# ellipse; at the centre of its eyes, nose and mouth (Gaussian blobs, added to the face's);
# where a keep mask is white. The face's 3 is below the 4 that regional runs add outside
# their masks (the face is still to be painted); the features get 3 + 9, as Starry Night's
# swirls otherwise still run through the eyes (bench/portraits.py; the README's Faces
# section). Where we depart from Gatys et al.: their content weight is one number.
FACE_WEIGHT = 3.0
FEATURE_WEIGHT = 9.0
KEEP_WEIGHT = 8.0


def load_keep_mask(src: Any, content: Image.Image) -> Image.Image:
    """A keep mask (white = keep the photo's structure) as greyscale, checked as style masks
    are: readable, grey, in the content's frame, not all black.

    Raises:
        ImageError: the mask is missing, unreadable, in colour, of another shape, or all black.
    """
    m = im.load_mask(src, "keep mask")
    cw, ch = content.size
    if abs(m.height - m.width * ch / cw) > max(1.0, 0.01 * m.height):
        raise im.ImageError(
            f"the keep mask is {m.width}×{m.height} px, not the shape of the content image ({cw}×{ch} px); "
            "a mask is drawn in the content image's frame (any size, same aspect ratio)"
        )
    if m.getextrema()[1] == 0:
        raise im.ImageError(
            "the keep mask is all black: nothing would be kept; paint white where the photo should stay"
        )
    return m


def _ellipse(shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float, soft: float) -> np.ndarray:
    """1 inside the ellipse, falling to 0 smoothly over ``soft`` of its radius outside."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    r = np.sqrt(((xx - cx) / max(rx, 1)) ** 2 + ((yy - cy) / max(ry, 1)) ** 2)
    t = np.clip((r - 1) / soft + 1, 0, 1)  # 0 at 1 − soft of the radius, 1 at the radius
    return (1 - t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep: no hard edge


def _blob(shape: tuple[int, int], cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return np.exp(-0.5 * (((xx - cx) / max(sx, 0.5)) ** 2 + ((yy - cy) / max(sy, 0.5)) ** 2)).astype(np.float32)


def content_weight_map(
    wh: tuple[int, int],
    faces: Sequence[Face] = (),
    keep: Image.Image | None = None,
) -> np.ndarray | None:
    """The content cost's weight at each pixel, ``(H, W)`` float32 ≥ 1; None where there
    is nothing to protect (the run is then exactly a run without protection).

    Args:
        wh: ``(width, height)`` of the map (the output's).
        faces: the faces, in the pixels of an image of this size.
        keep: a keep mask in the content's frame (any size of its shape); white = keep.
    """
    if not faces and keep is None:
        return None
    w, h = wh
    extra = np.zeros((h, w), np.float32)
    for f in faces:
        x, y, fw, fh = f.box
        # The face's oval: the box is cut at the brow and chin; the oval reaches a little
        # past it (forehead, jaw), with an edge soft over 35% of its radius.
        face = _ellipse((h, w), x + fw / 2, y + 0.52 * fh, 0.55 * fw, 0.68 * fh, 0.35)
        feats = np.zeros((h, w), np.float32)
        for name, (cx, cy) in f.features().items():
            sx, sy = (0.12 * fw, 0.07 * fh) if name == "mouth" else (0.08 * fw, 0.08 * fh)
            feats = np.maximum(feats, _blob((h, w), cx, cy, sx, sy))
        extra = np.maximum(extra, FACE_WEIGHT * face + FEATURE_WEIGHT * feats)
    if keep is not None:
        k = keep if keep.size == (w, h) else keep.resize((w, h), Image.Resampling.BILINEAR)
        extra = np.maximum(extra, KEEP_WEIGHT * np.asarray(k, np.float32) / 255.0)
    return 1.0 + extra


def content_weight(
    output_wh: tuple[int, int],
    content_width: int,
    faces: list[Face],
    keep: Image.Image | None,
) -> torch.Tensor | None:
    """:func:`content_weight_map` at the output size as a ``(1, 1, H, W)`` tensor, or None.

    Args:
        output_wh: the result's ``(width, height)``.
        content_width: the content image's width, in whose pixels ``faces`` are.
        faces: the faces protected.
        keep: the keep mask, as given.
    """
    k = output_wh[0] / content_width
    weight = content_weight_map(output_wh, [f.scaled(k) for f in faces], keep)
    return None if weight is None else torch.from_numpy(weight)[None, None]


def region_maps(
    masks: list[Image.Image] | None,
    output_wh: tuple[int, int],
) -> tuple[list[torch.Tensor] | None, torch.Tensor | None]:
    """A regional run's masks at the output size, ``(1, 1, H, W)`` each, and their union
    (where the result is painted); ``(None, None)`` without masks.

    Args:
        masks: the masks, as given (greyscale, in the content's frame), or None.
        output_wh: the result's ``(width, height)``.
    """
    if masks is None:
        return None, None
    tensors = [mask_tensor(m, output_wh) for m in masks]
    return tensors, torch.stack(tensors).sum(0).clamp(0, 1)
