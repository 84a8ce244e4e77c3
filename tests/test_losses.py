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


def test_tv_loss_is_zero_on_flat_images_and_positive_on_noise():
    assert tv_loss(torch.full((1, 3, 8, 8), 0.3)).item() == 0
    assert tv_loss(torch.rand(1, 3, 8, 8)).item() > 0
