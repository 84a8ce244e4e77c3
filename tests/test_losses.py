import pytest
import torch

from nst.losses import ContentLoss, GramStyleLoss, gram_matrix, tv_loss


def test_gram_matrix_by_hand():
    # 2 channels, 2×2 positions.
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 2.0]]]])
    g = gram_matrix(a)[0]
    assert g.tolist() == [[1 + 4 + 9 + 16, 0 + 2 + 0 + 8], [10, 0 + 1 + 0 + 4]]


def test_content_loss_is_half_mean_squared_error():
    c = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    g = torch.tensor([[[[1.0, 0.0], [3.0, 7.0]]]])
    # ½ · (0 + 4 + 0 + 9) / 4
    assert ContentLoss(c)(g).item() == 0.5 * 13 / 4


def test_style_loss_uses_the_squared_2_nh_nw_nc_factor():
    torch.manual_seed(0)
    s = torch.rand(1, 3, 4, 5)
    g = torch.rand(1, 3, 4, 5)
    n_c, n_h, n_w = 3, 4, 5
    # The formula as written: ‖G(S) − G(G)‖²_F / (2·nH·nW·nC)².
    by_hand = 0.0
    fs, fg = s[0].reshape(3, -1), g[0].reshape(3, -1)
    for k in range(n_c):
        for k2 in range(n_c):
            gs = sum(fs[k, i] * fs[k2, i] for i in range(n_h * n_w))
            gg = sum(fg[k, i] * fg[k2, i] for i in range(n_h * n_w))
            by_hand += float(gs - gg) ** 2
    by_hand /= (2 * n_h * n_w * n_c) ** 2
    loss = GramStyleLoss(GramStyleLoss.target_from(s))(g)
    assert abs(loss.item() - by_hand) < 1e-6 * by_hand
    assert GramStyleLoss(GramStyleLoss.target_from(s))(s).item() == 0


def test_style_loss_is_size_independent_for_a_repeated_texture():
    torch.manual_seed(0)
    tile = torch.rand(1, 4, 6, 6)
    big = tile.repeat(1, 1, 3, 3)
    other = torch.rand(1, 4, 6, 6)
    small_loss = GramStyleLoss(GramStyleLoss.target_from(tile))(other)
    big_loss = GramStyleLoss(GramStyleLoss.target_from(big))(other.repeat(1, 1, 3, 3))
    assert torch.allclose(small_loss, big_loss, rtol=1e-4)


def test_losses_accumulate_in_float32_from_bfloat16_activations():
    a = torch.rand(1, 8, 4, 4).bfloat16()
    assert gram_matrix(a).dtype == torch.float32
    assert ContentLoss(a)(a).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_matrix_and_its_gradient_in_every_dtype_and_layout(dtype, layout):
    # 2·1030 positions: two low-precision blocks of 1024, then a partial one.
    torch.manual_seed(0)
    a64 = torch.rand(1, 16, 2, 1030, dtype=torch.float64)
    a = a64.to(dtype).contiguous(memory_format=layout).requires_grad_(True)
    ref = a.detach().double().requires_grad_(True)
    want = ref.flatten(2) @ ref.flatten(2).transpose(1, 2)
    got = gram_matrix(a)
    assert got.dtype == torch.float32
    # bf16: each block's Gram is rounded once (2⁻⁹), the blocks summed in fp32.
    rtol = 1e-5 if dtype == torch.float32 else 5e-3
    assert torch.allclose(got.double(), want, rtol=rtol)
    weight = torch.rand(1, 16, 16, dtype=torch.float64)
    (got.double() * weight).sum().backward()
    (want * weight).sum().backward()
    assert a.grad.dtype == dtype and a.grad.shape == a.shape
    assert a.grad.is_contiguous(memory_format=layout)
    assert torch.allclose(a.grad.double(), ref.grad, rtol=1e-4 if dtype == torch.float32 else 2e-2)


def test_tv_loss_is_zero_on_flat_images_and_positive_on_noise():
    assert tv_loss(torch.full((1, 3, 8, 8), 0.3)).item() == 0
    assert tv_loss(torch.rand(1, 3, 8, 8)).item() > 0


def _sw(targets, weights, positions, seed=0):
    from nst.losses import SlicedWassersteinStyleLoss

    return SlicedWassersteinStyleLoss(targets, weights, positions, torch.Generator().manual_seed(seed))


def test_sliced_wasserstein_is_zero_on_the_style_and_positive_elsewhere():
    torch.manual_seed(0)
    s = torch.rand(1, 8, 6, 7)
    loss = _sw([s], [1.0], 42)
    assert loss(s).item() < 1e-10
    # A permutation of the positions has the same distribution: the loss cannot tell.
    shuffled = s.flatten(2)[..., torch.randperm(42)].reshape(1, 8, 6, 7)
    assert loss(shuffled).item() < 1e-10
    assert loss(torch.rand(1, 8, 6, 7) * 2).item() > 1e-3


def test_sliced_wasserstein_sees_more_than_a_gram_matrix():
    # Two distributions with the same second moments (Gram) but different shapes.
    torch.manual_seed(0)
    n = 4096
    gauss = torch.randn(1, 2, 64, 64)
    signs = torch.where(torch.rand(1, 2, 64, 64) < 0.5, -1.0, 1.0)  # ±1: also E[x²] = 1
    gram = GramStyleLoss(GramStyleLoss.target_from(gauss))(signs).item()
    sw = _sw([gauss], [1.0], n)(signs).item()
    assert gram < 0.01 * sw


def test_sliced_wasserstein_blend_weights():
    torch.manual_seed(0)
    a, b = torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8) + 1
    only_a = _sw([a], [1.0], 64)
    assert torch.equal(only_a.target, _sw([a, b], [1.0, 0.0], 64).target)  # the weight-0 style adds nothing
    half = _sw([a, b], [0.5, 0.5], 64)
    assert half(a).item() > 0 and half(b).item() > 0
    # The mixture's quantiles: the lower half comes from a, the upper from b.
    assert torch.equal(half.target, _sw([torch.cat([a, b], -1)], [1.0], 64).target)


# --- Guided Gram matrices (regional style) --------------------------------------------


def _guided(target_from, mask):
    from nst.losses import GuidedGramStyleLoss

    return GuidedGramStyleLoss(GramStyleLoss.target_from(target_from), mask)


def test_guided_gram_with_a_white_mask_is_the_plain_gram_loss():
    torch.manual_seed(0)
    s, g = torch.rand(1, 5, 6, 7), torch.rand(1, 5, 6, 7)
    plain = GramStyleLoss(GramStyleLoss.target_from(s))(g)
    assert torch.equal(_guided(s, torch.ones(1, 1, 6, 7))(g), plain)


def test_guided_gram_sees_only_its_region():
    # Left half: the style's own texture; right half: anything. With the left half as the
    # region the loss is zero, whatever is on the right, and the right gets no gradient.
    torch.manual_seed(0)
    s = torch.rand(1, 4, 6, 5)
    mask = torch.zeros(1, 1, 6, 10)
    mask[..., :5] = 1
    loss = _guided(s, mask)
    for right in (torch.rand(1, 4, 6, 5), 10 * torch.rand(1, 4, 6, 5)):
        g = torch.cat([s, right], -1).requires_grad_(True)
        value = loss(g)
        assert value.item() < 1e-9
        value.backward()
        assert torch.all(g.grad[..., 5:] == 0)
    # The region's statistics, not the image's: the same image against the right half's
    # own texture is far off.
    assert _guided(s, 1 - mask)(torch.cat([s, 3 * torch.rand(1, 4, 6, 5)], -1)).item() > 1e-2


def test_guided_gram_is_the_weighted_mean_over_a_soft_region_times_its_share():
    torch.manual_seed(0)
    s, g = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    mask = torch.rand(1, 1, 4, 4)
    f, m = g[0].reshape(3, -1), mask.reshape(-1)
    gram = (f * m) @ f.T / m.sum()
    target = GramStyleLoss.target_from(s)[0]
    by_hand = float(m.mean()) * float((gram - target).pow(2).sum()) / (2 * 3) ** 2
    assert _guided(s, mask)(g).item() == pytest.approx(by_hand, rel=1e-5)


def test_guided_gram_of_an_empty_region_is_zero():
    s = torch.rand(1, 3, 4, 4)
    assert _guided(s, torch.zeros(1, 1, 4, 4))(torch.rand(1, 3, 4, 4)).item() == 0


def test_weighted_content_loss():
    c, g = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 2.0]]]])
    assert ContentLoss(c, torch.ones(1, 1, 1, 2))(g).item() == ContentLoss(c)(g).item()
    # ½ · (3·1 + 1·4) / 2
    assert ContentLoss(c, torch.tensor([[[[3.0, 1.0]]]]))(g).item() == 0.5 * 7 / 2


# --- By value (each kills mutants that the tests above let live) ---------------------------


def test_tv_loss_by_hand():
    img = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 7.0], [2.0, 5.0, 6.0]]]])  # 3×3: dx and dy differ
    dx2 = [1.0, 4.0, 0.0, 25.0, 9.0, 1.0]  # along each row
    dy2 = [4.0, 1.0, 16.0, 0.0, 9.0, 1.0]  # down each column
    assert tv_loss(img).item() == pytest.approx(sum(dx2) / 6 + sum(dy2) / 6)


def test_a_term_at_zero_distance_is_left_unscaled():
    from nst.losses import _positive

    assert _positive(0.5) == 0.5 and _positive(2e-12) == 2e-12
    assert _positive(1e-12) == 1.0 and _positive(0.0) == 1.0


def test_the_content_scale_is_the_blend_weighted_mean_over_the_styles():
    from nst.losses import pair_scales

    target = torch.zeros(1, 1, 1, 2)
    feats = [torch.full((1, 1, 1, 2), 1.0), torch.full((1, 1, 1, 2), 3.0)]  # costs ½·1 and ½·9
    scales = pair_scales("content", {}, lambda: list(zip(feats, [1.0, 3.0])), ContentLoss(target), {})
    assert scales == {"content": pytest.approx((1 * 0.5 + 3 * 4.5) / 4)}
    # No style at the content layer: nothing to measure, the term stays unscaled.
    assert pair_scales("content", {}, lambda: [], ContentLoss(target), {}) == {"content": 1.0}


def test_weighted_quantiles_by_hand():
    from nst.losses import _weighted_quantiles

    values, mass = torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([0.5, 0.25, 0.25])
    # Levels ⅛, ⅜, ⅝, ⅞ against the CDF ¼, ½, 1 of the sorted values 1, 2, 3.
    assert _weighted_quantiles(values, mass, 4).tolist() == [[1.0, 2.0, 3.0, 3.0]]
    # A CDF that rounding left short of 1: the top levels take the largest value.
    assert _weighted_quantiles(torch.tensor([[2.0, 1.0]]), torch.tensor([0.3, 0.3]), 2).tolist() == [[1.0, 2.0]]


def test_sliced_wasserstein_directions_targets_and_scale_by_value():
    torch.manual_seed(0)
    a, b = torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8) + 1
    loss = _sw([a, b], [1.0, 3.0], 64)
    assert torch.allclose(loss.dirs.norm(dim=0), torch.ones(4))  # unit directions, one per column
    assert loss.dirs.shape == (4, 4)
    # Σ w/Σw · mean(f²) / 8, the Gram term's units.
    want = (1 / 4 * a.pow(2).mean() + 3 / 4 * b.pow(2).mean()).item() / 8
    assert loss.scale == pytest.approx(want, rel=1e-6)
    # Only the weights' ratio counts.
    assert torch.equal(loss.target, _sw([a, b], [2.0, 6.0], 64).target)


def test_guided_gram_of_a_region_smaller_than_a_pixel_still_counts():
    torch.manual_seed(0)
    s, g = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1, 2] = 0.5  # area ½
    assert _guided(s, mask)(g).item() > 0


def test_guided_gram_of_an_empty_region_is_a_float32_zero_for_bf16_activations():
    s = torch.rand(1, 3, 4, 4)
    value = _guided(s, torch.zeros(1, 1, 4, 4))(torch.rand(1, 3, 4, 4).bfloat16())
    assert value.dtype == torch.float32 and value.item() == 0
