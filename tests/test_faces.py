"""nst.faces: faces found, the content-weight map, keep masks, and what they change in a run.

Runs are tiny (64–128 px, a few steps). The face is the astronaut in examples/.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, ImageDraw

import nst
from nst import faces, weightmaps

from .support.paths import EXAMPLES

pytest.importorskip("cv2")

ASTRONAUT = EXAMPLES / "astronaut.jpg"  # 512×512; her face at about (177, 67), 95 px wide


def _drawn() -> Image.Image:
    """A picture without a face: gradients and a few shapes."""
    x = np.linspace(0, 255, 160, dtype=np.float32)
    a = np.stack([np.tile(x, (120, 1)), np.tile(x[:120, None], (1, 160)), np.full((120, 160), 90.0)], -1)
    img = Image.fromarray(a.astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.rectangle((20, 20, 60, 70), fill=(250, 240, 30))
    d.ellipse((90, 30, 140, 100), fill=(20, 40, 200))
    return img


def test_finds_the_astronauts_face_and_eyes():
    found = faces.detect_faces(Image.open(ASTRONAUT))
    assert len(found) == 1
    x, y, w, h = found[0].box
    assert abs(x - 177) < 20 and abs(y - 67) < 20 and 70 < w < 130
    assert len(found[0].eyes) == 2
    feats = found[0].features()
    # Eyes above the nose, the nose above the mouth, all inside the box.
    assert feats["left eye"][1] < feats["nose"][1] < feats["mouth"][1]
    assert all(x <= fx <= x + w and y <= fy <= y + h for fx, fy in feats.values())


@pytest.mark.parametrize("path", [EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg", "drawn"])
def test_no_face_where_there_is_none(path):
    img = _drawn() if path == "drawn" else Image.open(path)
    assert faces.detect_faces(img) == []


def test_faces_are_found_in_the_images_own_pixels_at_any_size():
    img = Image.open(ASTRONAUT)
    small, big = faces.detect_faces(img.resize((256, 256)))[0], faces.detect_faces(img)[0]
    assert abs(small.box[0] * 2 - big.box[0]) < 16 and abs(small.box[2] * 2 - big.box[2]) < 24


def test_weight_map_is_none_without_faces_or_keep():
    assert weightmaps.content_weight_map((64, 48)) is None


def test_weight_map_with_the_former_face_weights_is_highest_on_the_features_raised_on_the_face_and_soft(monkeypatch):
    # Faces no longer raise the content weight (their structure term keeps them:
    # tests/test_weightmaps.py); the former weights stay a variant bench/portraits.py measures.
    monkeypatch.setattr(weightmaps, "FACE_WEIGHT", 3.0)
    monkeypatch.setattr(weightmaps, "FEATURE_WEIGHT", 9.0)
    face = faces.Face((100, 80, 100, 100), eyes=((130.0, 120.0), (170.0, 120.0)))
    m = weightmaps.content_weight_map((320, 260), [face])
    assert m.shape == (260, 320) and m.dtype == np.float32
    assert m.min() == 1.0 and m[5, 5] == 1.0 and m[250, 310] == 1.0  # far away: untouched
    eye, cheek = m[120, 130], m[165, 120]
    assert eye > cheek > 1.0  # eyes over the face over the rest
    assert eye >= 1 + weightmaps.FEATURE_WEIGHT
    assert m[120, 150] < eye  # between the eyes, less than on them
    assert np.abs(np.diff(m, axis=1)).max() < 1.5  # soft edges: no step of the full weight


def test_weight_map_takes_the_keep_mask():
    keep = Image.new("L", (32, 24), 0)
    keep.paste(255, (0, 0, 16, 24))  # the left half, given at a quarter of the size
    m = weightmaps.content_weight_map((128, 96), [], keep)
    assert m[48, 10] == pytest.approx(1 + weightmaps.KEEP_WEIGHT) and m[48, 120] == 1.0


def test_a_photo_without_a_face_gives_the_same_image_bit_for_bit():
    img = _drawn()
    on = nst.stylize_image(img, EXAMPLES / "starry_night.jpg", steps=3, size=64, keep_faces=True)
    off = nst.stylize_image(img, EXAMPLES / "starry_night.jpg", steps=3, size=64, keep_faces=False)
    assert np.array_equal(np.asarray(on), np.asarray(off))
    assert nst.prepare(img, EXAMPLES / "starry_night.jpg", size=64).faces == []


def _face_error(result: Image.Image, photo: Image.Image, box: tuple[int, int, int, int]) -> float:
    k = result.width / photo.width
    x, y, w, h = (round(v * k) for v in box)
    a = np.asarray(result, np.float32)[y : y + h, x : x + w]
    b = np.asarray(photo.resize(result.size, Image.Resampling.LANCZOS), np.float32)[y : y + h, x : x + w]
    return float(np.abs(a - b).mean())


# What keep_faces keeps in a run (the face's structure, not its pixels):
# tests/test_weightmaps.py, test_keep_faces_keeps_the_faces_structure_and_only_the_faces.


def test_keep_mask_keeps_its_white_closer_to_the_photo_and_is_named_in_the_recipe(tmp_path):
    photo = _drawn()
    keep = Image.new("L", photo.size, 0)
    keep.paste(255, (0, 0, 80, 120))  # the left half
    keep.save(tmp_path / "keep.png")
    on = nst.stylize_image(photo, EXAMPLES / "starry_night.jpg", steps=8, size=96, keep=tmp_path / "keep.png")
    off = nst.stylize_image(photo, EXAMPLES / "starry_night.jpg", steps=8, size=96)
    left = (0, 0, 70, 120)
    assert _face_error(on, photo, left) < 0.8 * _face_error(off, photo, left)
    assert '"keep": "keep.png"' in on.info["nst-recipe"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda img: Image.new("RGB", img.size, (255, 0, 0)), "colour"),
        (lambda img: Image.new("L", (img.width, img.width), 255), "not the shape of the content image"),
        (lambda img: Image.new("L", img.size, 0), "all black"),
        (lambda img: "no-such-keep.png", "does not exist"),
    ],
)
def test_bad_keep_masks_are_refused_at_the_call(make, message):
    img = _drawn()
    with pytest.raises(nst.ImageError, match=message) as info:
        nst.prepare(img, EXAMPLES / "starry_night.jpg", keep=make(img))
    assert "keep mask" in str(info.value)


def test_without_opencv_a_run_says_faces_are_not_protected(monkeypatch):
    def missing():
        raise faces.FaceDetectionUnavailable(
            "keep_faces needs OpenCV to find faces (pip install opencv-python-headless)"
        )

    monkeypatch.setattr(faces, "_cascades", missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nst.prepare(ASTRONAUT, EXAMPLES / "starry_night.jpg", size=64)
    assert run.faces == []
    assert any("opencv-python-headless" in str(w.message) for w in caught)
    assert not faces.detector_available()
    with warnings.catch_warnings(record=True) as caught:  # off: nothing is looked for, nothing said
        warnings.simplefilter("always")
        nst.prepare(ASTRONAUT, EXAMPLES / "starry_night.jpg", size=64, keep_faces=False)
    assert not caught


def test_describe():
    assert faces.describe([]) == "no face"
    assert faces.describe([faces.Face((1, 2, 30, 40))]) == "1 face (at 1,2 30×40 px)"
