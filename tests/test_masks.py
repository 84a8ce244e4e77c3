"""Masks for regional styles (nst/masks.py): checked at load, resized by area."""

import numpy as np
import pytest
import torch
from PIL import Image

import nst
from nst import masks


def _mask(w: int, h: int, value: int = 255) -> Image.Image:
    return Image.new("L", (w, h), value)


def test_one_mask_per_style_in_the_contents_shape():
    content = Image.new("RGB", (90, 60))
    s = nst.DEFAULT
    with pytest.raises(nst.ImageError, match="^2 masks for 1 style image: give one mask per style image"):
        masks.load_masks([_mask(90, 60), _mask(90, 60)], content, 1, s)
    # Any size of the content's shape; another shape is another picture's.
    assert [m.size for m in masks.load_masks([_mask(45, 30)], content, 1, s)] == [(45, 30)]
    with pytest.raises(nst.ImageError, match=r"^the mask is 60×60 px, not the shape of the content image \(90×60 px\)"):
        masks.load_masks([_mask(60, 60)], content, 1, s)
    with pytest.raises(nst.SettingsError, match="masks work with style_loss gram only"):
        masks.load_masks([_mask(90, 60)], content, 1, s.replace(style_loss="sliced-wasserstein"))
    assert masks.load_masks(None, content, 1, s) is None


def test_all_black_masks_are_refused_and_one_black_mask_warns():
    content = Image.new("RGB", (90, 60))
    with pytest.raises(nst.ImageError, match="^every mask is all black"):
        masks.load_masks([_mask(90, 60, 0), _mask(90, 60, 0)], content, 2, nst.DEFAULT)
    with pytest.warns(UserWarning, match="the mask 2 is all black: its style image is not used"):
        out = masks.load_masks([_mask(90, 60), _mask(90, 60, 0)], content, 2, nst.DEFAULT)
    assert len(out) == 2


def test_masks_become_tensors_in_0_1_and_shrink_by_area():
    half = Image.fromarray(np.tile(np.array([255] * 4 + [0] * 4, np.uint8), (6, 1)))  # 8×6, left half white
    t = masks.mask_tensor(half, (8, 6))
    assert t.shape == (1, 1, 6, 8) and t.dtype == torch.float32
    assert t[0, 0, 0].tolist() == [1.0] * 4 + [0.0] * 4
    assert masks.mask_tensor(half, (4, 3)).shape == (1, 1, 3, 4)  # resized to (w, h)
    # By area: each pixel is the mean of what it covers (a 2×2 checker is 0.5 as one pixel).
    checker = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert masks.resize_mask(checker, (1, 1)).item() == 0.5
    assert masks.resize_mask(t, (3, 4))[0, 0].tolist() == [[1.0, 1.0, 0.0, 0.0]] * 3
    assert masks.resize_mask(t, (3, 2))[0, 0].tolist() == [[1.0, 0.0]] * 3
    three = torch.tensor([[[[1.0] * 3 + [0.0] * 5]]])  # interpolation would sample 1.0 at x = 1.5
    assert masks.resize_mask(three, (1, 2))[0, 0, 0].tolist() == [0.75, 0.0]
    assert masks.resize_mask(t, (6, 8)) is t  # already that size: the same tensor
