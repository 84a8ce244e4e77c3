"""nst_web.brush: the editor's strokes as one greyscale mask per style."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nst_web.brush import PALETTE, brush_colors, masks_from_strokes
from nst.errors import ImageError


def _layer(size=(120, 80), strokes=()) -> Image.Image:
    """A transparent RGBA layer with filled rectangles ``(box, style index)``."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for box, i in strokes:
        draw.rectangle(box, fill=(*PALETTE[i], 255))
    return layer


def test_nothing_painted_means_no_masks():
    assert masks_from_strokes([], 1) is None
    assert masks_from_strokes([_layer()], 2) is None


def test_each_colour_is_its_style_mask_with_soft_edges():
    layer = _layer(strokes=[((0, 0, 59, 79), 0), ((60, 0, 119, 79), 1)])
    m1, m2 = (np.asarray(m, float) for m in masks_from_strokes([layer], 2, feather=0.05))
    assert m1.shape == (80, 120)
    assert m1[:, :45].min() >= 254 and m1[:, 75:].max() <= 1
    assert m2[:, 75:].min() >= 254 and m2[:, :45].max() <= 1
    seam = m1[40, 57:63]
    assert 0 < seam.min() and seam.max() < 255  # feathered (4 px), not a hard step
    assert np.all(np.diff(seam) <= 0)
    hard = np.asarray(masks_from_strokes([layer], 2, feather=0)[0], float)
    assert set(np.unique(hard)) == {0, 255}


def test_a_half_transparent_stroke_is_a_soft_mask_and_size_is_honoured():
    layer = Image.new("RGBA", (60, 40), (*PALETTE[0], 128))
    (m,) = masks_from_strokes([layer], 1, size=(120, 80), feather=0)
    assert m.size == (120, 80) and abs(np.asarray(m, float).mean() - 128) <= 1


def test_a_later_layer_covers_an_earlier_one():
    bottom = _layer(strokes=[((0, 0, 119, 79), 0)])
    top = _layer(strokes=[((0, 0, 59, 79), 1)])
    m1, m2 = (np.asarray(m, float) for m in masks_from_strokes([bottom, top], 2, feather=0))
    assert m2[:, :60].min() == 255 and m1[:, :60].max() == 0 and m1[:, 60:].min() == 255


def test_a_colour_without_its_style_is_refused():
    layer = _layer(strokes=[((0, 0, 30, 30), 0), ((40, 0, 70, 30), 2)])
    with pytest.raises(ImageError, match=r"green \(style 3\), but the run has 2 style images"):
        masks_from_strokes([layer], 2)


def test_brush_colours_are_css():
    assert brush_colors(2) == [f"rgb({r}, {g}, {b})" for r, g, b in PALETTE[:2]]


def test_white_strokes_are_the_keep_mask_not_a_style():
    from nst_web.brush import KEEP_COLOUR, strokes

    layer = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle((0, 0, 19, 39), fill=(*KEEP_COLOUR, 255))
    only_keep = strokes([layer], 1)
    assert only_keep.masks is None  # no style strokes: the style covers the whole image
    assert masks_from_strokes([layer], 1) is None
    keep = np.asarray(only_keep.keep)
    assert keep[20, 5] == 255 and keep[20, 50] == 0
    ImageDraw.Draw(layer).rectangle((40, 0, 59, 39), fill=(*PALETTE[0], 255))
    both = strokes([layer], 1)
    assert np.asarray(both.masks[0])[20, 50] == 255 and np.asarray(both.masks[0])[20, 5] == 0
    assert np.asarray(both.keep)[20, 5] == 255 and np.asarray(both.keep)[20, 50] == 0
    assert strokes([], 1) == (None, None)


def test_the_keep_colour_is_offered_last_when_asked():
    assert brush_colors(1, keep=True) == [brush_colors(1)[0], "rgb(255, 255, 255)"]
