import torch

from nst.color import grey, luminance, match_color, match_luminance, rgb_to_ycbcr, swap_chroma, ycbcr_to_rgb


def _image(seed: int, tint: tuple[float, float, float]) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 1, 24, 32, generator=g)
    # Mid-range colours, so that recolouring rarely needs clamping to [0, 1].
    mix = base * torch.tensor(tint).view(1, 3, 1, 1) + 0.1 * torch.rand(1, 3, 24, 32, generator=g)
    return 0.3 + 0.4 * mix.clamp(0, 1)


def test_ycbcr_round_trip_and_luma_of_grey():
    x = _image(0, (0.9, 0.5, 0.2))
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-5)
    y = luminance(x)
    assert torch.allclose(luminance(grey(y)), y, atol=1e-5)
    assert rgb_to_ycbcr(grey(y))[:, 1:].abs().max() < 1e-5  # grey has no chroma


def test_swap_chroma_keeps_the_content_chroma_and_the_result_luma():
    result, content = _image(1, (0.2, 0.3, 1.0)), _image(2, (1.0, 0.6, 0.1))
    out = swap_chroma(result, content)
    ycc_out, ycc_c, ycc_r = rgb_to_ycbcr(out), rgb_to_ycbcr(content), rgb_to_ycbcr(result)
    # Clamping to [0, 1] moves a few saturated pixels; most keep both exactly.
    assert (ycc_out[:, 1:] - ycc_c[:, 1:]).abs().median() < 1e-4
    assert (ycc_out[:, :1] - ycc_r[:, :1]).abs().median() < 1e-4


def test_match_luminance_takes_the_content_mean_and_spread():
    s, c = luminance(_image(3, (1, 1, 1))) * 0.3, luminance(_image(4, (1, 1, 1)))
    m = match_luminance(s, c)
    assert abs(m.mean() - c.mean()) < 0.01 and abs(m.std() - c.std()) < 0.01


def test_match_color_takes_the_content_colour_statistics():
    style, content = _image(5, (0.1, 0.3, 1.0)), _image(6, (1.0, 0.7, 0.2))
    out = match_color(style, content)

    def stats(x):
        f = x.flatten(2)[0]
        return f.mean(1), torch.cov(f)

    (mo, co), (mc, cc), (ms, _) = stats(out), stats(content), stats(style)
    assert (mo - mc).abs().max() < 0.02 < (ms - mc).abs().max()
    assert (co - cc).abs().max() < 0.1 * cc.abs().max()
    assert out.shape == style.shape and 0 <= out.min() and out.max() <= 1
