"""nst.tiff: the float and wide-integer TIFFs Pillow cannot open, read sample for sample."""

from __future__ import annotations

import numpy as np
import pytest

from nst import tiff

from bench.bad_inputs import write_tiff


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int16, np.int32, np.uint32])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("deflate, predictor", [(False, 1), (True, 1), (True, "yes")])
# (One band is the same file planar or not: listed once.)
@pytest.mark.parametrize(
    "bands, planar", [(1, False), (2, False), (2, True), (3, False), (3, True), (4, False), (4, True)]
)
def test_samples_are_read_exactly(tmp_path, dtype, bands, big_endian, deflate, predictor, planar):
    rng = np.random.default_rng(1)
    shape = (7, 5) if bands == 1 else (7, 5, bands)
    if np.issubdtype(dtype, np.floating):
        a = (rng.standard_normal(shape) * 1e3).astype(dtype)
        pred = 3 if predictor == "yes" else 1
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, shape, dtype=np.int64, endpoint=True).astype(dtype)
        pred = 2 if predictor == "yes" else 1
    path = write_tiff(
        tmp_path / "a.tif", a, big_endian=big_endian, deflate=deflate, predictor=pred, planar=planar, rows_per_strip=3
    )
    b = tiff.read_array(path, 10**6)
    assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(b, a)


def test_what_is_left_to_pillow_or_refused(tmp_path):
    eight = write_tiff(tmp_path / "8.tif", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(tiff.NotDeep):
        tiff.read_array(eight, 10**6)
    big = write_tiff(tmp_path / "big.tif", np.zeros((40, 30), np.float32))
    with pytest.raises(tiff.TiffError, match="declares 30×40 pixels"):
        tiff.read_array(big, 1000)
    cut = tmp_path / "cut.tif"
    data = write_tiff(tmp_path / "whole.tif", np.ones((8, 8, 3), np.float32)).read_bytes()
    cut.write_bytes(data[:8] + data[8 : 8 + 100] + data[8 + 8 * 8 * 3 * 4 :])  # most pixels gone
    with pytest.raises(tiff.TiffError):
        tiff.read_array(cut, 10**6)
    with pytest.raises(tiff.TiffError, match="not a TIFF"):
        (tmp_path / "x.tif").write_bytes(b"GIF89a....")
        tiff.read_array(tmp_path / "x.tif", 10**6)
