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
    style = im.to_tensor(
        im.resize_to_pixels(Image.open(EXAMPLES / painting).convert("RGB"), content.shape[-1] * content.shape[-2])
    )
    return Objective(model, s, content, [style], [1.0], None, torch.Generator()), content, style


@pytest.mark.parametrize("photo, painting", PAIRS)
def test_pair_normalisation_puts_each_term_at_one_at_the_far_end(model, photo, painting):
    objective, content, style = _objective(model, photo, painting)
    with torch.no_grad():
        _, at_photo = objective(content)
        _, at_painting = objective(
            torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bicubic").clamp(0, 1)
        )
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


# --- By value at 32 px: the terms, the weights, the targets ----------------------------


def _small(seed: int, h: int = 24, w: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_resize_to_is_bicubic_clamped_and_leaves_the_same_grid_alone():
    from nst.objective import _resize_to

    x = torch.zeros(1, 3, 4, 8)
    x[..., 4:] = 1  # a step: bicubic overshoots on both sides of it
    assert _resize_to(x, torch.Size([4, 8])) is x
    out = _resize_to(x, torch.Size([6, 12]))
    want = torch.nn.functional.interpolate(x, size=(6, 12), mode="bicubic", align_corners=False)
    assert want.min() < 0 and want.max() > 1
    assert out.shape == (1, 3, 6, 12) and torch.equal(out, want.clamp(0, 1))


def test_to_grid_is_the_area_mean_and_a_float():
    from nst.objective import _to_grid

    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0, 0, 1, 1], [0, 0, 1, 1]]).view(1, 1, 4, 4)
    out = _to_grid(mask, torch.zeros(1, 64, 2, 2))
    assert out.tolist() == [[[[0.75, 0.0], [0.0, 1.0]]]]
    same = _to_grid(mask > 0.5, torch.zeros(1, 8, 4, 4))
    assert same.dtype == torch.float32 and torch.equal(same, (mask > 0.5).float())


def test_regional_style_loss_is_the_weighted_sum_of_its_regions():
    from nst.objective import RegionalStyleLoss

    class Fixed(torch.nn.Module):
        def __init__(self, value):
            super().__init__()
            self.value, self.calls = value, 0

        def forward(self, a):
            self.calls += 1
            return torch.tensor(self.value) + 0 * a.float().sum()  # given the activations

    a, b, c = Fixed(3.0), Fixed(5.0), Fixed(7.0)
    loss = RegionalStyleLoss([a, b, c], [2.0, 0.0, 0.5])
    total = loss(torch.zeros(1, 4, 2, 2, dtype=torch.bfloat16))
    assert total.dtype == torch.float32 and total.shape == ()
    assert float(total) == 2 * 3.0 + 0.5 * 7.0
    assert (a.calls, b.calls, c.calls) == (1, 0, 1)  # a region of weight 0 is not evaluated


def test_the_total_is_content_plus_beta_times_the_layer_weighted_style(model):
    s = nst.DEFAULT.replace(
        style_layers=("relu1_1", "relu2_1", "relu4_2"),
        style_layer_weights=(1.0, 3.0, 4.0),
        content_layer="relu4_2",
        style_weight=7.0,
    )
    content, style = _small(0), _small(1)
    objective = Objective(model, s, content, [style], [1.0], None, torch.Generator())
    # The content layer once, first; λ normalised to sum 1.
    assert objective.layers == ["relu4_2", "relu1_1", "relu2_1"]
    assert objective.layer_weights == {"relu1_1": 0.125, "relu2_1": 0.375, "relu4_2": 0.5}
    with torch.no_grad():
        total, terms = objective(_small(2))
    assert list(terms) == ["content", "style:relu1_1", "style:relu2_1", "style:relu4_2", "style", "total"]
    style_sum = sum(objective.layer_weights[l] * float(terms[f"style:{l}"]) for l in s.style_layers)
    assert float(terms["style"]) == pytest.approx(style_sum, rel=1e-6)
    assert float(total) == float(terms["total"]) == pytest.approx(float(terms["content"]) + 7.0 * style_sum, rel=1e-6)
    assert all(float(v) > 0 for v in terms.values())
    # Each term is its loss divided by its scale.
    g = _small(2)
    with torch.no_grad():
        feats = model(g, ["relu1_1", "relu4_2"])
        assert float(terms["content"]) == pytest.approx(
            float(objective.content_loss(feats["relu4_2"])) / objective.scales["content"], rel=1e-5
        )
        assert float(terms["style:relu1_1"]) == pytest.approx(
            float(objective.style_losses["relu1_1"](feats["relu1_1"])) / objective.scales["relu1_1"], rel=1e-5
        )


def test_blended_gram_targets_are_the_weighted_mean_and_a_zero_weight_is_left_out(model):
    from nst.losses import GramStyleLoss

    s = nst.DEFAULT.replace(style_layers=("relu1_1", "relu2_1"), content_layer="relu2_1", normalization="none")
    content, a, b = _small(0), _small(1), _small(3, 16, 40)
    with torch.no_grad():
        fa, fb = model(a, ["relu1_1", "relu2_1"]), model(b, ["relu1_1", "relu2_1"])
        blend = Objective(model, s, content, [a, b], [3.0, 1.0], None, torch.Generator())
        first = Objective(model, s, content, [a, b], [1.0, 0.0], None, torch.Generator())
    for l in s.style_layers:
        want = (3 * GramStyleLoss.target_from(fa[l]) + GramStyleLoss.target_from(fb[l])) / 4
        assert torch.allclose(blend.style_losses[l].target, want, rtol=1e-5, atol=1e-7)
        assert torch.equal(first.style_losses[l].target, GramStyleLoss.target_from(fa[l]))
    assert torch.equal(blend.content_loss.target, model(content, ["relu2_1"])["relu2_1"])


def test_sliced_wasserstein_terms_sample_as_many_positions_as_the_content_layer_has(model):
    s = nst.DEFAULT.replace(
        style_layers=("relu1_1", "relu2_1"),
        content_layer="relu2_1",
        style_loss="sliced-wasserstein",
        normalization="none",
    )
    objective = Objective(
        model, s, _small(0), [_small(1), _small(2)], [1.0, 2.0], None, torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        feats = model(_small(0), ["relu1_1", "relu2_1"])
    for l in s.style_layers:
        loss = objective.style_losses[l]
        assert type(loss).__name__ == "SlicedWassersteinStyleLoss"
        # One target quantile per position of the image's activations, per direction.
        assert loss.target.shape == (feats[l].shape[1], feats[l].shape[-1] * feats[l].shape[-2])


def _regional(model, normalization: str, content_weight=None, blend=(3.0, 1.0, 0.0)):
    s = nst.DEFAULT.replace(style_layers=("relu1_1", "relu2_1"), content_layer="relu2_1", normalization=normalization)
    content = _small(0)
    styles = [_small(1), _small(2), _small(4)]
    masks = [torch.zeros(1, 1, 24, 32) for _ in styles]
    masks[0][..., :, :8] = 1  # a quarter of the image
    masks[1][..., :, 8:16] = 0.5  # a soft quarter
    masks[2][..., :, 16:24] = 1  # under a style of weight 0
    with torch.no_grad():
        objective = Objective(
            model, s, content, styles, list(blend), None, torch.Generator(), masks=masks, content_weight=content_weight
        )
        feats = model(content, ["relu1_1", "relu2_1"])
    return objective, s, content, styles, masks, feats


def test_regional_terms_by_value(model):
    from nst.losses import GramStyleLoss
    from nst.objective import KEEP_CONTENT_WEIGHT, _to_grid

    objective, s, content, styles, masks, feats = _regional(model, "none")
    # Strengths of mean 1 over the three styles (3, 1, 0 → 2.25, 0.75, 0); weight 0 is left out.
    for l in s.style_layers:
        loss = objective.style_losses[l]
        assert loss.weights == [2.25, 0.75] and len(loss.regions) == 2
        for region, i in zip(loss.regions, (0, 1)):
            with torch.no_grad():
                target = GramStyleLoss.target_from(model(styles[i], [l])[l])
            assert torch.equal(region.target, target)
            assert torch.allclose(region.root, _to_grid(masks[i], feats[l]).sqrt())
    # The content term: 1 inside any region (weight 0 too: the union), 5 elsewhere.
    union = _to_grid(torch.stack(masks).sum(0).clamp(0, 1), feats["relu2_1"])
    assert torch.equal(objective.content_loss.weight, 1 + KEEP_CONTENT_WEIGHT * (1 - union))
    assert objective.content_loss.weight.max() == 5 and objective.content_loss.weight.min() == 1
    assert objective.scales == {"content": 1.0, "relu1_1": 1.0, "relu2_1": 1.0}


def test_regional_pair_normalisation_by_value(model):
    from nst.losses import ContentLoss, region_scale

    objective, s, content, styles, masks, feats = _regional(model, "pair")
    for l in s.style_layers:
        loss = objective.style_losses[l]
        with torch.no_grad():
            want = [w / region_scale(r, feats[l]) for w, r in zip((2.25, 0.75), loss.regions)]
        assert loss.weights == pytest.approx(want, rel=1e-6)
        assert all(w < 0.1 for w in want)  # divided: Gatys's units are large
    assert objective.scales["relu1_1"] == objective.scales["relu2_1"] == 1.0
    # The content scale: the plain content distance of each used style, weighted by its
    # strength times its share of the image (2.25 × 1/4 and 0.75 × 1/8).
    plain = ContentLoss(feats["relu2_1"])
    with torch.no_grad():
        d = [float(plain(model(x, ["relu2_1"])["relu2_1"])) for x in styles[:2]]
    want = (2.25 * 0.25 * d[0] + 0.75 * 0.125 * d[1]) / (2.25 * 0.25 + 0.75 * 0.125)
    assert objective.scales["content"] == pytest.approx(want, rel=1e-5)
    assert _regional(model, "style")[0].scales["content"] == 1.0
    assert _regional(model, "content")[0].scales["content"] == pytest.approx(want, rel=1e-5)


def test_regional_runs_with_a_content_weight_map(model):
    from nst.objective import _to_grid

    weight = torch.ones(1, 1, 24, 32)
    weight[..., :12, :] = 8.0  # the top half held to the photo
    objective, s, content, styles, masks, feats = _regional(model, "none", content_weight=weight)
    keep = 1 + 4 * (1 - _to_grid(torch.stack(masks).sum(0).clamp(0, 1), feats["relu2_1"]))
    assert torch.equal(objective.content_loss.weight, torch.maximum(keep, _to_grid(weight, feats["relu2_1"])))
    for l in s.style_layers:
        counted = _to_grid(1 / weight, feats[l])
        for region, i in zip(objective.style_losses[l].regions, (0, 1)):
            assert torch.allclose(region.root, (_to_grid(masks[i], feats[l]) * counted).sqrt())


def test_regional_runs_refuse_what_they_cannot_do(model):
    s = nst.DEFAULT.replace(style_loss="sliced-wasserstein")
    with pytest.raises(nst.SettingsError, match="^masks work with style_loss gram only, not sliced-wasserstein$"):
        Objective(model, s, _small(0), [_small(1)], [1.0], None, torch.Generator(), masks=[torch.ones(1, 1, 24, 32)])
    with pytest.raises(ValueError, match="^1 masks for 2 style images$"):
        Objective(
            model,
            nst.DEFAULT,
            _small(0),
            [_small(1), _small(2)],
            [1.0, 1.0],
            None,
            torch.Generator(),
            masks=[torch.ones(1, 1, 24, 32)],
        )


def test_a_content_weight_map_weighs_the_content_term_and_discounts_the_gram_statistics(model):
    from nst.objective import _to_grid

    s = nst.DEFAULT.replace(style_layers=("relu1_1", "relu2_1"), content_layer="relu2_1", normalization="none")
    content, style = _small(0), _small(1)
    weight = torch.ones(1, 1, 24, 32)
    weight[..., :, :16] = 4.0
    objective = Objective(model, s, content, [style], [1.0], None, torch.Generator(), content_weight=weight)
    with torch.no_grad():
        feats = model(content, ["relu1_1", "relu2_1"])
    assert torch.equal(objective.content_loss.target, feats["relu2_1"])
    assert torch.equal(objective.content_loss.weight, _to_grid(weight, feats["relu2_1"]))
    for l in s.style_layers:
        loss = objective.style_losses[l]
        assert type(loss).__name__ == "GuidedGramStyleLoss"
        assert torch.allclose(loss.root, _to_grid(1 / weight, feats[l]).sqrt())


def test_a_style_of_weight_0_is_left_out_of_sliced_wasserstein_too(model):
    s = nst.DEFAULT.replace(
        style_layers=("relu1_1",), content_layer="relu1_1", style_loss="sliced-wasserstein", normalization="none"
    )
    one = Objective(model, s, _small(0), [_small(1)], [1.0], None, torch.Generator().manual_seed(0))
    with_zero = Objective(
        model, s, _small(0), [_small(1), _small(2)], [1.0, 0.0], None, torch.Generator().manual_seed(0)
    )
    assert torch.equal(one.style_losses["relu1_1"].target, with_zero.style_losses["relu1_1"].target)


def test_bf16_autocast_computes_the_features_in_bf16(model):
    s = nst.DEFAULT.replace(style_layers=("relu1_1", "relu2_1"), content_layer="relu2_1", normalization="none")
    fp32 = Objective(model, s, _small(0), [_small(1)], [1.0], None, torch.Generator())
    bf16 = Objective(model, s, _small(0), [_small(1)], [1.0], torch.bfloat16, torch.Generator())
    with torch.no_grad():
        a, b = fp32(_small(2))[1], bf16(_small(2))[1]
    for k in a:
        assert b[k].dtype == torch.float32  # the terms run in fp32
        assert float(b[k]) != float(a[k]) and float(b[k]) == pytest.approx(float(a[k]), rel=0.1), k


def test_overlapping_masks_count_once_in_the_union(model):
    """Where two regions overlap the masks sum past 1; the union is clamped, so the content
    weight there is 1 (painted), never below it."""
    from nst.objective import KEEP_CONTENT_WEIGHT, _to_grid

    s = nst.DEFAULT.replace(style_layers=("relu1_1",), content_layer="relu2_1", normalization="none")
    masks = [torch.zeros(1, 1, 24, 32), torch.zeros(1, 1, 24, 32)]
    masks[0][..., :, :16] = 1
    masks[1][..., :, 8:24] = 1  # columns 8–15 under both
    with torch.no_grad():
        objective = Objective(
            model, s, _small(0), [_small(1), _small(2)], [1.0, 1.0], None, torch.Generator(), masks=masks
        )
        feats = model(_small(0), ["relu2_1"])
    weight = objective.content_loss.weight
    assert weight.min() == 1 and weight.max() == 1 + KEEP_CONTENT_WEIGHT
    union = torch.zeros(1, 1, 24, 32)
    union[..., :, :24] = 1
    assert torch.equal(weight, 1 + KEEP_CONTENT_WEIGHT * (1 - _to_grid(union, feats["relu2_1"])))


def test_regional_style_normalisation_divides_each_region_as_pair_does(model):
    pair, style = _regional(model, "pair")[0], _regional(model, "style")[0]
    for l in ("relu1_1", "relu2_1"):
        assert style.style_losses[l].weights == pytest.approx(pair.style_losses[l].weights, rel=1e-6)
        assert all(w < 0.1 for w in style.style_losses[l].weights)  # divided, not the strengths 2.25 and 0.75


def test_blended_targets_with_a_content_weight_map_are_the_weighted_mean(model):
    from nst.losses import GramStyleLoss

    s = nst.DEFAULT.replace(style_layers=("relu1_1",), content_layer="relu2_1", normalization="none")
    weight = torch.ones(1, 1, 24, 32)
    weight[..., :, :16] = 4.0
    styles = [_small(1), _small(2)]
    objective = Objective(model, s, _small(0), styles, [1.0, 3.0], None, torch.Generator(), content_weight=weight)
    with torch.no_grad():
        grams = [GramStyleLoss.target_from(model(x, ["relu1_1"])["relu1_1"]) for x in styles]
    assert torch.allclose(objective.style_losses["relu1_1"].target, (grams[0] + 3 * grams[1]) / 4, rtol=1e-5)
