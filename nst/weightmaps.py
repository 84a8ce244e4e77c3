"""The per-pixel maps a run weighs its costs with: the regions' masks, the content weight
of a keep mask, and the faces' structure map.

Faces found in the content image (``keep_faces``, :mod:`nst.faces`) keep their structure,
not their pixels: :func:`face_structure` gives the map of a term of their own
(:class:`nst.losses.FaceStructureLoss`, the Laplacian of Gaussian of the luminance at the
face's scale), highest on the eyes, nose and mouth, lower over the face's oval, 0
elsewhere. Colour and texture are the painting's there as everywhere, and faces count in
the Gram statistics like any pixel, so a face is painted like the rest of the picture with
its features in place.

A keep mask (``keep=``, the app's white brush; white = keep) keeps the photo itself: the
content weight map (:func:`content_weight_map`) is raised where it is white, and those
pixels count less in the Gram statistics (:class:`nst.objective.Objective`).

A regional run's masks (:func:`region_maps`) are tensors at the output size, and their
union says where the result is the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    "STRUCTURE_OVAL",
    "STRUCTURE_SIGMA",
    "STRUCTURE_GATE",
    "STRUCTURE_WEIGHT",
    "FaceStructure",
    "content_weight",
    "content_weight_map",
    "face_structure",
    "face_structure_map",
    "load_keep_mask",
    "photo_map",
    "region_maps",
]

# How much more the content cost weighs, on top of 1 (so 1 + x in all): over a face's
# ellipse; at the centre of its eyes, nose and mouth (Gaussian blobs, added to the face's);
# where a keep mask is white. Faces add 0: the first version (3 and 3 + 9) kept the faces'
# features, but kept them photographic, pasted into the painting (issue #35); the structure
# term below keeps them instead. The two stay, at 0, as a variant bench/portraits.py can set
# (--set FACE_WEIGHT=3 FEATURE_WEIGHT=9 STRUCTURE_WEIGHT=0). Where we depart from Gatys et
# al.: their content weight is one number.
FACE_WEIGHT = 0.0
FEATURE_WEIGHT = 0.0
KEEP_WEIGHT = 8.0
# The face's structure term (nst.losses.FaceStructureLoss): its weight λ (10 and 30 kept
# the eyes alike on the portraits bench; at 30 Courbet's face under the Shipwreck was less
# painted, 1.36× its style distance without keep_faces, at 10 1.25×); the map it weighs pixels
# with, STRUCTURE_OVAL over the face's oval and 1 at its features' centres; its scale σ, as
# a share of the face's width (2 px for a 96 px face: the eyes' and mouth's edges, not the
# skin's texture).
STRUCTURE_WEIGHT = 10.0
STRUCTURE_OVAL = 0.3
STRUCTURE_SIGMA = 1 / 48
STRUCTURE_GATE = 8.0


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


def _face_maps(shape: tuple[int, int], f: Face) -> tuple[np.ndarray, np.ndarray]:
    """A face's oval and its features' blobs (each 0–1) on a ``shape`` grid."""
    h, w = shape
    x, y, fw, fh = f.box
    # The face's oval: the box is cut at the brow and chin; the oval reaches a little
    # past it (forehead, jaw), with an edge soft over 35% of its radius.
    face = _ellipse((h, w), x + fw / 2, y + 0.52 * fh, 0.55 * fw, 0.68 * fh, 0.35)
    feats = np.zeros((h, w), np.float32)
    for name, (cx, cy) in f.features().items():
        sx, sy = (0.12 * fw, 0.07 * fh) if name == "mouth" else (0.08 * fw, 0.08 * fh)
        feats = np.maximum(feats, _blob((h, w), cx, cy, sx, sy))
    return face, feats


def content_weight_map(
    wh: tuple[int, int],
    faces: Sequence[Face] = (),
    keep: Image.Image | None = None,
) -> np.ndarray | None:
    """The content cost's weight at each pixel, ``(H, W)`` float32 ≥ 1; None where there
    is nothing to protect (the run is then exactly a run without protection). Faces raise
    it by FACE_WEIGHT and FEATURE_WEIGHT, 0 by default: None without a keep mask.

    Args:
        wh: ``(width, height)`` of the map (the output's).
        faces: the faces, in the pixels of an image of this size.
        keep: a keep mask in the content's frame (any size of its shape); white = keep.
    """
    if (not faces or FACE_WEIGHT == FEATURE_WEIGHT == 0) and keep is None:
        return None
    w, h = wh
    extra = np.zeros((h, w), np.float32)
    for f in faces:
        face, feats = _face_maps((h, w), f)
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


@dataclass(frozen=True)
class FaceStructure:
    """What ``keep_faces`` keeps of the faces (:class:`nst.losses.FaceStructureLoss`).

    Attributes:
        mask: the pixels' weights, ``(1, 1, H, W)`` at the output size, 0 outside faces.
        sigma: the structure's scale in the output's pixels.
        weight: the term's weight λ.
        gate: where the photo's structure energy is below this part of its mean under the
            mask, the weight falls with it (flat skin is free to take texture); 0: off.
        features: the eyes', nose's and mouth's own weights (part of ``mask``), which the
            gate leaves whole, else None.
    """

    mask: torch.Tensor
    sigma: float
    weight: float
    gate: float = 0.0
    features: torch.Tensor | None = None

    def at(self, hw: tuple[int, int] | torch.Size) -> tuple[torch.Tensor, float]:
        """The mask (area-averaged) and the scale at an image of ``hw`` (the same framing)."""
        return _area(self.mask, hw), max(0.6, self.sigma * hw[-1] / self.mask.shape[-1])

    def features_at(self, hw: tuple[int, int] | torch.Size) -> torch.Tensor | None:
        """The features' weights (area-averaged) at an image of ``hw``, else None."""
        return None if self.features is None else _area(self.features, hw)


def _area(m: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    same = tuple(m.shape[-2:]) == tuple(hw[-2:])
    return m if same else torch.nn.functional.interpolate(m, size=tuple(hw[-2:]), mode="area")


def face_structure_map(wh: tuple[int, int], faces: Sequence[Face]) -> np.ndarray | None:
    """The structure term's weight at each pixel, ``(H, W)`` float32: STRUCTURE_OVAL over
    each face's oval, up to 1 at the centre of its eyes, nose and mouth; None without faces."""
    maps = _structure_maps(wh, faces)
    return None if maps is None else np.maximum(*maps)


def _structure_maps(wh: tuple[int, int], faces: Sequence[Face]) -> tuple[np.ndarray, np.ndarray] | None:
    """The faces' ovals (times STRUCTURE_OVAL) and their features' blobs, ``(H, W)`` each."""
    if not faces:
        return None
    w, h = wh
    oval, features = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for f in faces:
        face, feats = _face_maps((h, w), f)
        oval, features = np.maximum(oval, STRUCTURE_OVAL * face), np.maximum(features, feats)
    return oval, features


def face_structure(output_wh: tuple[int, int], content_width: int, faces: list[Face]) -> FaceStructure | None:
    """:func:`face_structure_map` at the output size, with its scale (the smallest face's
    width times STRUCTURE_SIGMA), or None without faces (or with STRUCTURE_WEIGHT 0).

    Args:
        output_wh: the result's ``(width, height)``.
        content_width: the content image's width, in whose pixels ``faces`` are.
        faces: the faces kept.
    """
    if not faces or STRUCTURE_WEIGHT <= 0:
        return None
    k = output_wh[0] / content_width
    scaled = [f.scaled(k) for f in faces]
    maps = _structure_maps(output_wh, scaled)
    assert maps is not None
    oval, features = (torch.from_numpy(x)[None, None] for x in maps)
    sigma = STRUCTURE_SIGMA * min(f.box[2] for f in scaled)
    return FaceStructure(torch.maximum(oval, features), sigma, STRUCTURE_WEIGHT, STRUCTURE_GATE, features)


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


def photo_map(
    masks: list[torch.Tensor] | None, blend: Sequence[float], keep: Image.Image | None, output_wh: tuple[int, int]
) -> torch.Tensor | None:
    """Where the result is to be the photo itself, ``(1, 1, H, W)`` in [0, 1] at the output
    size, or None (nowhere): outside every region of a style with strength (a region whose
    style's weight is 0 gets no style), and where the keep mask is white.

    Args:
        masks: the regions' masks (:func:`region_maps`), or None.
        blend: each style's weight, in the masks' order.
        keep: the keep mask, as given (greyscale, in the content's frame), or None.
        output_wh: the result's ``(width, height)``.
    """
    maps = []
    if masks is not None:
        painted = [m for m, w in zip(masks, blend, strict=False) if w > 0]
        maps.append(1 - torch.stack(painted).sum(0).clamp(0, 1) if painted else torch.ones_like(masks[0]))
    if keep is not None:
        maps.append(mask_tensor(keep, output_wh))
    return torch.stack(maps).amax(0) if maps else None
