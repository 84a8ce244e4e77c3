"""nst.flow: the optical flow, the warp it gives, and the consistency (occlusion) mask."""

from __future__ import annotations

import numpy as np
import pytest

from bench.clips import texture
from nst import flow as fl


def _pair(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t−1 and frame t: the same texture, moved ``shift`` px right in frame t."""
    big = fl.grey(texture(64, 96 + shift, seed=1))
    return big[:, shift : shift + 96].copy(), big[:, :96].copy()


@pytest.mark.parametrize("method", fl.FLOW_METHODS)
def test_a_shifted_image_warps_back(method):
    before, now = _pair(4)
    backward = fl.flow(now, before, method)  # where each pixel of `now` was in `before`
    inner = (slice(8, -8), slice(8, -8))
    assert abs(float(np.median(backward[..., 0][inner])) + 4) < 0.25  # moved 4 px right: came from 4 px left
    warped = fl.warp(before.astype(np.float32), backward)
    err = np.abs(warped - now)[inner].mean()
    assert err < 0.1 * np.abs(before.astype(np.float32) - now)[inner].mean()


def test_warp_moves_by_the_flow_exactly():
    img = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    f = np.zeros((20, 30, 2), np.float32)
    f[..., 0], f[..., 1] = 3, -2  # sample 3 px right and 2 px up
    out = fl.warp(img, f)
    assert np.array_equal(out[5:15, 5:20], img[3:13, 8:23])


def test_the_mask_marks_the_disoccluded_band_and_trusts_the_rest():
    bg = fl.grey(texture(96, 96, seed=2))
    fg = fl.grey(texture(40, 40, seed=3))
    before, now = bg.copy(), bg.copy()
    before[28:68, 20:60] = fg
    now[28:68, 28:68] = fg  # the square moved 8 px right: a band of background is uncovered
    mask = fl.consistency(fl.flow(now, before), fl.flow(before, now))
    assert mask[32:64, 20:28].mean() < 0.2  # the band uncovered at the square's left
    assert mask[4:20, 4:92].mean() > 0.9  # the still background
    assert mask[36:60, 38:60].mean() > 0.9  # the square's inside, followed


def test_a_flow_that_does_not_come_back_is_inconsistent():
    backward = np.zeros((16, 16, 2), np.float32)
    backward[..., 0] = 5
    assert fl.consistency(backward, -backward).min() == 1  # forward undoes backward
    assert fl.consistency(backward, backward).max() == 0  # forward goes on instead


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown flow method"):
        fl.flow(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), "magic")
