"""What keep_faces keeps: the faces' structure map (nst.weightmaps.face_structure) and its
term (nst.losses.FaceStructureLoss), whole and in tiles, and what it changes in a run.

Runs are tiny (96–128 px, a few steps). The face is the astronaut in examples/.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nst
from nst import faces, weightmaps
from nst import images as im
from nst.losses import FaceStructureLoss, structure_of, structure_radius
from nst.objective import Objective
from nst.tilegrid import MemoryPlan
from nst.tiles import TiledObjective
from nst.weights import load_model

from .support.paths import EXAMPLES

ASTRONAUT = EXAMPLES / "astronaut.jpg"  # 512×512; her face at about (177, 67), 95 px wide
FACE = faces.Face((100, 80, 100, 100), eyes=((130.0, 120.0), (170.0, 120.0)))


def test_structure_map_is_on_the_face_only_highest_on_the_features():
    assert weightmaps.face_structure_map((64, 48), []) is None
    assert weightmaps.face_structure((64, 48), 64, []) is None
    m = weightmaps.face_structure_map((320, 260), [FACE])
    assert m is not None and m.shape == (260, 320) and m.dtype == np.float32
    assert m[5, 5] == 0.0 and m[250, 310] == 0.0  # far from the face: no structure kept
    eye, cheek = m[120, 130], m[140, 120]
    assert eye == pytest.approx(1.0, abs=0.01) and cheek == pytest.approx(weightmaps.STRUCTURE_OVAL, abs=0.01)
    # At the output size, with its scale from the face's width there.
    fs = weightmaps.face_structure((640, 520), 320, [FACE])
    assert fs is not None and fs.mask.shape == (1, 1, 520, 640)
    assert fs.sigma == pytest.approx(200 * weightmaps.STRUCTURE_SIGMA)
    mask, sigma = fs.at((260, 320))  # a smaller scale of the run: the map area-averaged, the scale with it
    assert mask.shape == (1, 1, 260, 320) and sigma == pytest.approx(max(0.6, fs.sigma / 2))


def test_faces_no_longer_raise_the_content_weight_only_a_keep_mask_does():
    # The face is kept by its structure term; the content weight (and the Gram discount it
    # brings) is the keep mask's alone, so a face is painted as the rest is.
    assert weightmaps.content_weight_map((320, 260), [FACE]) is None
    keep = Image.new("L", (32, 26), 0)
    keep.paste(255, (0, 0, 16, 26))
    m = weightmaps.content_weight_map((320, 260), [FACE], keep)
    assert m is not None and m[120, 300] == 1.0 and m[120, 10] == pytest.approx(1 + weightmaps.KEEP_WEIGHT)


def _photo(size: int = 96) -> torch.Tensor:
    return im.to_tensor(im.resize_to_long_side(im.load_image(ASTRONAUT), size))


def test_structure_is_the_luminances_so_colour_and_brightness_are_free():
    c = _photo()
    face = torch.zeros(1, 1, *c.shape[-2:])
    face[..., 10:50, 30:70] = 1
    loss = FaceStructureLoss(c, face, 1.5, 10.0)
    assert float(loss(c)) == 0.0
    # Another colour of the same luminance, and the whole image brighter: nothing to pay.
    y = 0.299 * c[:, 0:1] + 0.587 * c[:, 1:2] + 0.114 * c[:, 2:3]
    grey = y.expand(1, 3, *c.shape[-2:])
    assert float(loss(grey)) < 1e-9
    assert float(loss(c + 0.1)) < 1e-9
    # Its features flattened: paid for, and only where the map is.
    blurred = torch.nn.functional.avg_pool2d(c, 5, 1, 2, count_include_pad=False)
    assert float(loss(blurred)) > 0.01
    away = c.clone()
    away[..., 60:, :] = blurred[..., 60:, :]  # below the face's map
    assert float(loss(away)) == pytest.approx(0.0, abs=1e-9)
    assert structure_of(c, 1.5).shape == (1, 1, *c.shape[-2:]) and structure_radius(1.5) == 5


def test_the_gate_frees_flat_skin_and_keeps_the_features_edges():
    """With a gate, texture drawn where the photo is flat costs nothing; the same texture over
    the photo's edges costs as without the gate."""
    c = torch.full((1, 3, 64, 96), 0.6)
    c[..., 20:44, 10:40] = 0.2  # a dark feature on the left; the right half is flat
    m = torch.ones(1, 1, 64, 96)
    stripes = torch.zeros_like(c)
    stripes[..., ::4, :] = 0.3  # a texture over everything
    plain, gated = FaceStructureLoss(c, m, 1.5, 10.0), FaceStructureLoss(c, m, 1.5, 10.0, gate=0.5)
    flat = c.clone()
    flat[..., 60:] += stripes[..., 60:]  # texture on the flat part only
    edge = c.clone()
    edge[..., :48] += stripes[..., :48]  # texture over the feature
    assert float(plain(flat)) > 0.01 and float(gated(flat)) < 1e-4 * float(plain(flat))
    assert float(gated(edge)) > 0.3 * float(plain(edge)) > 0
    assert float(gated(c)) == 0.0 and gated.scale == plain.scale
    assert float(gated.mask.max()) == 1.0 and float(gated.mask[..., 32, 80]) < 1e-3
    # The features' own weights are not gated: a feature's flat surroundings are kept too.
    features = torch.zeros(1, 1, 64, 96)
    features[..., 52:] = 1  # the flat texture's structure (from column 60, the kernel 5 px wide) is all under it
    exempt = FaceStructureLoss(c, m, 1.5, 10.0, gate=0.5, features=features)
    assert float(exempt(flat)) == pytest.approx(float(plain(flat)), rel=1e-6)
    assert float(gated(edge)) <= float(exempt(edge)) <= float(plain(edge))


def test_the_faces_term_in_tiles_is_the_whole_images():
    s = nst.DEFAULT.replace(size=128)
    model = load_model("embedded", "max", "cpu").truncated("relu5_1")
    c = _photo(128)
    st = [im.to_tensor(im.resize_to_pixels(im.load_image(EXAMPLES / "starry_night.jpg"), c.shape[-1] * c.shape[-2]))]
    m = torch.zeros(1, 1, *c.shape[-2:])
    m[..., 10:60, 40:90] = 1  # across the tiles' borders
    fs = FaceStructureLoss(c, m, 1.5, 10.0)
    whole = Objective(model, s, c, st, [1.0], None, torch.Generator().manual_seed(0), faces=fs)
    tiled = TiledObjective(
        model, s, c, st, [1.0], None, MemoryPlan((c.shape[-1], c.shape[-2]), 64, 96, 16, 20, 0.0), exact=True, faces=fs
    )
    x = (c + 0.1 * torch.randn(c.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1).requires_grad_(True)
    loss, terms = whole(x)
    loss.backward()
    g_whole, x.grad = x.grad.clone(), None
    _, terms_t = tiled.loss_and_grad(x)
    assert float(terms["faces"].detach()) > 0
    for k in terms:
        assert float(terms_t[k].detach()) == pytest.approx(float(terms[k].detach()), rel=1e-4), k
    assert float((x.grad - g_whole).norm() / g_whole.norm()) < 1e-4
    with pytest.raises(ValueError, match="wider than the halo"):
        TiledObjective(
            model, s, c, st, [1.0], None, MemoryPlan((c.shape[-1], c.shape[-2]), 64, 4, 16, 20, 0.0), faces=fs
        )


def _structure_error(result: Image.Image, photo: Image.Image, box: tuple[int, int, int, int], sigma: float) -> float:
    k = result.width / photo.width
    x, y, w, h = (round(v * k) for v in box)
    a = structure_of(im.to_tensor(result), sigma)[..., y : y + h, x : x + w]
    b = structure_of(im.to_tensor(photo.resize(result.size, Image.Resampling.LANCZOS)), sigma)[
        ..., y : y + h, x : x + w
    ]
    edges = b.pow(2) >= b.pow(2).mean()  # where the photo has structure to keep (flat skin may take texture)
    return float((a - b)[edges].pow(2).mean() / b[edges].pow(2).mean())


def test_keep_faces_keeps_the_faces_structure_and_only_the_faces():
    # Fails if the term is gone (the face's structure as far as without keep_faces) or
    # spread over the whole image (the corner's structure kept too). Measured where the
    # photo has structure: the features' edges, not the flat skin the gate leaves free.
    photo = Image.open(ASTRONAUT).convert("RGB")
    style = EXAMPLES / "starry_night.jpg"
    run = nst.prepare(photo, style, steps=12, size=128, keep_faces=True)
    assert len(run.faces) == 1
    box = run.faces[0].box
    on = nst.stylize_image(photo, style, steps=12, size=128, keep_faces=True)
    off = nst.stylize_image(photo, style, steps=12, size=128, keep_faces=False)
    sigma = 0.8
    inner = (box[0] + box[2] // 5, box[1] + box[3] // 5, 3 * box[2] // 5, 3 * box[3] // 5)
    assert _structure_error(on, photo, inner, sigma) < 0.7 * _structure_error(off, photo, inner, sigma)
    corner = (384, 384, 128, 128)
    assert _structure_error(on, photo, corner, sigma) > 0.8 * _structure_error(off, photo, corner, sigma)
    assert on.size == off.size


def test_a_run_gates_the_faces_term_by_the_photos_structure(monkeypatch):
    """The run's faces term gets the gate (flat skin free to take texture), not the bare map."""
    from nst import run as run_module

    made = []

    class Spy(FaceStructureLoss):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(run_module, "FaceStructureLoss", Spy)
    nst.stylize_image(ASTRONAUT, EXAMPLES / "starry_night.jpg", steps=2, size=96, keep_faces=True, multiscale=False)
    assert weightmaps.STRUCTURE_GATE > 0 and made
    fs = made[0]
    prepared = nst.prepare(ASTRONAUT, EXAMPLES / "starry_night.jpg", size=96)
    bare = weightmaps.face_structure(prepared.output.size, prepared.content.width, prepared.faces)
    assert bare is not None and bare.gate == weightmaps.STRUCTURE_GATE
    assert float(fs.mask.sum()) < 0.7 * float(bare.mask.sum())  # the flat skin's weight is gone


def test_the_photo_map_is_outside_the_painted_regions_and_under_the_keep_mask():
    left = torch.zeros(1, 1, 4, 8)
    left[..., :4] = 1
    right = 1 - left
    assert weightmaps.photo_map(None, [1.0], None, (8, 4)) is None
    # A region whose style has no weight is the photo's; so is the space outside every region.
    assert torch.equal(weightmaps.photo_map([left, right], [1.0, 0.0], None, (8, 4)), right)
    assert torch.equal(weightmaps.photo_map([left], [1.0], None, (8, 4)), right)
    keep = Image.fromarray(np.pad(np.full((4, 2), 255, np.uint8), ((0, 0), (0, 6))))
    both = weightmaps.photo_map([left, right], [1.0, 1.0], keep, (8, 4))
    assert torch.equal(both[0, 0, :, :2], torch.ones(4, 2)) and float(both[..., 2:].max()) == 0
