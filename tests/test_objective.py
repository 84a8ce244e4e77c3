"""The objective's per-pair normalisation, on real weights and the images in examples/."""

from pathlib import Path

import pytest
import torch
from PIL import Image

import nst
from nst import images as im
from nst.objective import Objective

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# A muted photo with a bright painting, and a bright photo with a flat synthetic style.
PAIRS = [("chelsea.jpg", "starry_night.jpg"), ("coffee.jpg", "mosaic.jpg")]


@pytest.fixture(scope="module")
def model():
    return nst.load_model().truncated("relu5_1")


def _objective(model, photo: str, painting: str, **settings) -> tuple[Objective, torch.Tensor, torch.Tensor]:
    s = nst.DEFAULT.replace(**settings)
    content = im.to_tensor(im.resize_to_long_side(Image.open(EXAMPLES / photo).convert("RGB"), 96))
    style = im.to_tensor(im.resize_to_pixels(Image.open(EXAMPLES / painting).convert("RGB"), content.shape[-1] * content.shape[-2]))
    return Objective(model, s, content, [style], [1.0], None, torch.Generator()), content, style


@pytest.mark.parametrize("photo, painting", PAIRS)
def test_pair_normalisation_puts_each_term_at_one_at_the_far_end(model, photo, painting):
    objective, content, style = _objective(model, photo, painting)
    with torch.no_grad():
        _, at_photo = objective(content)
        _, at_painting = objective(torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bicubic").clamp(0, 1))
    # At the photo: no content cost, and every style layer a whole distance away.
    assert float(at_photo["content"]) == 0
    for layer in nst.DEFAULT.style_layers:
        assert float(at_photo[f"style:{layer}"]) == pytest.approx(1.0, rel=1e-3)
    # At the painting (on the photo's grid): a whole content distance away.
    assert float(at_painting["content"]) == pytest.approx(1.0, rel=1e-3)


def test_gatys_units_differ_by_orders_between_layers_and_pairs(model):
    """What the normalisation removes: in Gatys's units the deep layers dominate the style
    cost and its size depends on the pair, so one β/α means another balance per pair."""
    starts = []
    for photo, painting in PAIRS:
        objective, content, _ = _objective(model, photo, painting, normalization="none")
        with torch.no_grad():
            _, terms = objective(content)
        assert float(terms["style:relu4_1"]) > 100 * float(terms["style:relu1_1"])
        starts.append(float(terms["style"]))
        # "none" is the plain term, unscaled.
        assert objective.scales == {"content": 1.0, **{l: 1.0 for l in nst.DEFAULT.style_layers}}
    assert max(starts) / min(starts) > 2


def test_style_only_and_content_only_normalisations(model):
    style_only, content, style = _objective(model, *PAIRS[0], normalization="style")
    content_only, _, _ = _objective(model, *PAIRS[0], normalization="content")
    pair, _, _ = _objective(model, *PAIRS[0])
    assert style_only.scales["content"] == 1.0 and content_only.scales["content"] == pair.scales["content"]
    for layer in nst.DEFAULT.style_layers:
        assert content_only.scales[layer] == 1.0 and style_only.scales[layer] == pair.scales[layer]


def test_a_style_identical_to_the_photo_is_left_unscaled(model):
    objective, content, _ = _objective(model, "chelsea.jpg", "chelsea.jpg")
    # No distance to divide by: every term keeps the scale 1 (not a division by ~0).
    assert objective.scales == {"content": 1.0, **{l: 1.0 for l in nst.DEFAULT.style_layers}}
    with torch.no_grad():
        total, terms = objective(content)
    assert torch.isfinite(total) and float(total) == pytest.approx(0.0, abs=1e-3)


def test_the_default_paints_alike_across_pairs(model):
    """Short real runs: with the per-pair scales, the content cost the default ends at
    (a fraction of the photo-to-painting distance) is alike for a muted and a bright pair."""
    def final_content(photo, painting, **settings):
        ev = None
        for ev in nst.stylize(EXAMPLES / photo, EXAMPLES / painting, size=96, steps=30, preview_every=0, **settings):
            pass
        objective, content, style = _objective(model, photo, painting)  # pair units, to compare
        with torch.no_grad():
            _, terms = objective(im.to_tensor(ev.image))
        return float(terms["content"])

    pair = [final_content(*p) for p in PAIRS]
    assert all(0.05 < c < 0.9 for c in pair), pair
    assert max(pair) / min(pair) < 2.0, pair


def test_the_content_term_weighs_five_times_where_no_mask_is_white(model):
    """README: during the optimisation the content term weighs 5× where no mask is white
    (the composite at the end hides it, so it is checked on the objective)."""
    from nst.objective import KEEP_CONTENT_WEIGHT

    assert 1 + KEEP_CONTENT_WEIGHT == 5
    s = nst.DEFAULT.replace(normalization="none")
    content = im.to_tensor(im.resize_to_long_side(Image.open(EXAMPLES / "chelsea.jpg").convert("RGB"), 96))
    style = im.to_tensor(im.resize_to_pixels(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB"), 96 * 64))
    h, w = content.shape[-2:]
    mask = torch.zeros(1, 1, h, w)
    mask[..., : w // 2] = 1  # the left half is painted
    masked = Objective(model, s, content, [style], [1.0], None, torch.Generator(), masks=[mask])
    plain = Objective(model, s, content, [style], [1.0], None, torch.Generator())
    # The same change of the photo, once in the painted half and once in the kept half
    # (well away from the seam: relu4_2's grid is an eighth of the pixels).
    def changed(x0, x1):
        x = content.clone()
        x[..., 8:-8, x0:x1] = (x[..., 8:-8, x0:x1] + 0.3).clamp(0, 1)
        return x

    with torch.no_grad():
        inside = float(masked(changed(8, w // 2 - 16))[1]["content"])
        outside = float(masked(changed(w // 2 + 16, w - 8))[1]["content"])
        inside_plain = float(plain(changed(8, w // 2 - 16))[1]["content"])
        outside_plain = float(plain(changed(w // 2 + 16, w - 8))[1]["content"])
    # (Within 8%: the deep features of a change spill a little across the seam.)
    assert inside == pytest.approx(inside_plain, rel=0.08)  # inside a region: the unmasked weight
    assert outside == pytest.approx(5 * outside_plain, rel=0.08)  # where the photo is kept: 5×


def _with_weight(model, weight: torch.Tensor | None, **settings) -> tuple[Objective, torch.Tensor]:
    s = nst.DEFAULT.replace(normalization="none", **settings)
    content = im.to_tensor(im.resize_to_long_side(Image.open(EXAMPLES / "chelsea.jpg").convert("RGB"), 96))
    style = im.to_tensor(im.resize_to_pixels(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB"), 96 * 72))
    w = None if weight is None else weight(content)
    return Objective(model, s, content, [style], [1.0], None, torch.Generator(), content_weight=w), content


def test_a_content_weight_of_one_everywhere_changes_nothing(model):
    plain, content = _with_weight(model, None)
    ones, _ = _with_weight(model, lambda c: torch.ones_like(c[:, :1]))
    g = torch.rand_like(content)
    with torch.no_grad():
        a, b = plain(g)[1], ones(g)[1]
    for k in a:
        assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-5), k


def test_pixels_held_to_the_photo_count_less_in_the_style_statistics(model):
    """A kept face holds its pixels to the photo; the Gram statistics then take them at
    1/weight, so the rest of the image is not pushed past the painting to make up for them."""
    def left_held(c: torch.Tensor) -> torch.Tensor:
        w = torch.ones_like(c[:, :1])
        w[..., : c.shape[-1] // 2] = 1e4
        return w

    plain, content = _with_weight(model, None)
    held, _ = _with_weight(model, left_held)
    g = torch.rand_like(content)
    changed = g.clone()
    changed[..., : g.shape[-1] // 4] = 0.5  # the left quarter, well inside the held half
    with torch.no_grad():
        base_plain, moved_plain = plain(g)[1]["style"], plain(changed)[1]["style"]
        base_held, moved_held = held(g)[1]["style"], held(changed)[1]["style"]
    assert abs(float(moved_plain / base_plain) - 1) > 0.05  # counted: the statistics move
    assert abs(float(moved_held / base_held) - 1) < 0.01  # held: they barely do
