"""Brush strokes to masks: what the app's image editor paints, as one greyscale mask per style.

The editor paints with a fixed palette, one colour per style (:data:`PALETTE`: style 1 red,
style 2 blue, ...), and white (:data:`KEEP_COLOUR`: keep the photo's structure there), on
transparent layers over the content photo. Each painted pixel goes to the nearest colour;
its opacity (the brush's antialiased edge) is the mask's value there, and a light blur
(``feather``) softens the seams. No style strokes means no style masks: the style goes on
the whole image. White strokes make the keep mask (:func:`strokes`). No Gradio here:
layers are PIL images or arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter

from nst import ImageError

__all__ = ["PALETTE", "COLOUR_NAMES", "KEEP_COLOUR", "Strokes", "brush_colors", "masks_from_strokes", "strokes"]

# One colour per style, far apart (so that an antialiased edge is still nearest its own).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 40, 40),
    (30, 100, 240),
    (20, 170, 60),
    (250, 190, 0),
    (170, 40, 200),
)
COLOUR_NAMES = ("red", "blue", "green", "yellow", "purple")
# The keep colour: white, far from every style's colour (the nearest, yellow, is 260 away).
KEEP_COLOUR: tuple[int, int, int] = (255, 255, 255)
# Pixels below this opacity are not painted (the canvas leaves a few stray low-alpha pixels).
MIN_ALPHA = 8


def brush_colors(n: int = len(PALETTE), keep: bool = False) -> list[str]:
    """The first ``n`` palette colours (then, with ``keep``, the keep colour) as CSS
    ``rgb(...)`` strings, for the editor's brush."""
    return [f"rgb({r}, {g}, {b})" for r, g, b in (*PALETTE[:n], *((KEEP_COLOUR,) if keep else ()))]


class Strokes(NamedTuple):
    """What the brush painted: one mask per style (None: no style strokes) and the keep
    mask (None: no white strokes)."""

    masks: list[Image.Image] | None
    keep: Image.Image | None


def _rgba(layer: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(layer, np.ndarray):
        a = layer
        if a.ndim == 2 or a.shape[-1] != 4:
            raise ImageError(
                f"a brush layer must be RGBA (its transparency is where nothing is painted), not {a.shape}"
            )
        return a.astype(np.float32)
    return np.asarray(layer.convert("RGBA"), dtype=np.float32)


def masks_from_strokes(
    layers: Sequence[Image.Image | np.ndarray],
    n_styles: int,
    size: tuple[int, int] | None = None,
    feather: float = 0.01,
) -> list[Image.Image] | None:
    """One mask per style from the editor's layers; ``None`` when no style is painted
    (white keep strokes are not a style's: see :func:`strokes`). Takes :func:`strokes`'s
    arguments."""
    return strokes(layers, n_styles, size, feather).masks


def strokes(
    layers: Sequence[Image.Image | np.ndarray],
    n_styles: int,
    size: tuple[int, int] | None = None,
    feather: float = 0.01,
) -> Strokes:
    """The style masks and the keep mask from the editor's layers.

    Args:
        layers: the editor's layers (RGBA, transparent where unpainted), bottom first; a
            later layer's strokes cover an earlier one's.
        n_styles: how many style images the run has (the masks returned).
        size: ``(width, height)`` of the masks (the content photo's); the layers' own size
            when None. The layers are stretched to it (the editor's canvas is the photo's
            frame).
        feather: the blur of the seams, as a fraction of the masks' shorter side (0: none).

    Raises:
        ImageError: strokes in the colour of a style the run does not have, or layers of
            different sizes.
    """
    if n_styles < 1:
        raise ValueError("n_styles must be at least 1")
    arrays = [_rgba(layer) for layer in layers if layer is not None]
    if not arrays:
        return Strokes(None, None)
    if len({a.shape for a in arrays}) > 1:
        raise ImageError("the brush layers have different sizes")
    # Layers composited bottom to top ("over"); colour unpremultiplied again afterwards.
    h, w = arrays[0].shape[:2]
    rgb, alpha = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
    for a in arrays:
        top = a[..., 3] / 255.0
        out = top + alpha * (1 - top)
        safe = np.where(out > 0, out, 1)
        rgb = (a[..., :3] * top[..., None] + rgb * (alpha * (1 - top))[..., None]) / safe[..., None]
        alpha = out
    painted = alpha * 255 >= MIN_ALPHA
    if not painted.any():
        return Strokes(None, None)
    palette = np.asarray((*PALETTE, KEEP_COLOUR), np.float32)  # the keep colour is the last
    nearest = np.argmin(((rgb[..., None, :] - palette) ** 2).sum(-1), axis=-1)
    used = sorted({int(i) for i in np.unique(nearest[painted])})
    keep_index = len(PALETTE)
    extra = [i for i in used if n_styles <= i < keep_index]
    if extra:
        names = ", ".join(f"{COLOUR_NAMES[i]} (style {i + 1})" for i in extra)
        raise ImageError(
            f"the brush painted in {names}, but the run has {n_styles} style image{'s' if n_styles > 1 else ''}; "
            "add that style under More style images, or paint with the colours of the styles you have"
        )
    size = size or (w, h)
    radius = feather * min(size)

    def mask(i: int) -> Image.Image:
        m = np.where(painted & (nearest == i), alpha, 0.0)
        img = Image.fromarray((m * 255).round().astype(np.uint8), "L")
        if img.size != size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        if radius >= 0.5:
            img = img.filter(ImageFilter.GaussianBlur(radius))
        return img

    styled = any(i < keep_index for i in used)
    return Strokes(
        [mask(i) for i in range(n_styles)] if styled else None, mask(keep_index) if keep_index in used else None
    )
