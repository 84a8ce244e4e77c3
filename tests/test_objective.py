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
