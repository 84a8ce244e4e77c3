"""nst.render: the image as shown: resized to the output or a preview, the photo's chroma under
swap and luminance, the photo itself outside the regions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst.color import rgb_to_ycbcr
from nst.render import Render, fit


def _image(r: float, g: float, b: float, h: int = 8, w: int = 12) -> torch.Tensor:
    return torch.tensor([r, g, b]).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def test_outside_the_regions_the_picture_is_the_photo():
    photo, painted = _image(0.2, 0.4, 0.6), _image(0.9, 0.1, 0.1)
    union = torch.zeros(1, 1, 8, 12)
    union[..., :6] = 1
    out = np.asarray(Render("none", photo, union)(painted, (12, 8)), float) / 255
    assert np.allclose(out[:, :6], [0.9, 0.1, 0.1], atol=1 / 255)
    assert np.allclose(out[:, 6:], [0.2, 0.4, 0.6], atol=1 / 255)


@pytest.mark.parametrize("mode", ["swap", "luminance"])
def test_a_colour_mode_shows_the_photos_chroma(mode):
    photo, painted = _image(0.2, 0.4, 0.6), _image(0.9, 0.5, 0.1)
    out = torch.from_numpy(np.asarray(Render(mode, photo, None)(painted, (12, 8)), np.float32) / 255)
    out = out.permute(2, 0, 1)[None]
    assert torch.allclose(rgb_to_ycbcr(out)[0, 1:], rgb_to_ycbcr(photo)[0, 1:], atol=0.01)


def test_a_preview_is_the_image_shrunk_to_fit():
    assert fit((512, 384), 256) == (256, 192) and fit((100, 50), 256) == (100, 50)
    shown = Render("none", None, None)(_image(0.5, 0.5, 0.5, 64, 96), fit((96, 64), 48))
    assert shown.size == (48, 32)
