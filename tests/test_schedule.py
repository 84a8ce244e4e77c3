import pytest

from nst.schedule import estimate_seconds, plan_scales


def test_single_scale_when_small_or_off():
    assert [(s.size, s.steps) for s in plan_scales(128, 50)] == [(128, 50)]
    assert [(s.size, s.steps) for s in plan_scales(512, 50, multiscale=False)] == [(512, 50)]


@pytest.mark.parametrize("size, steps", [(512, 300), (384, 100), (1024, 500), (2048, 200), (300, 9)])
def test_scales_grow_by_about_sqrt2_and_spend_exactly_the_steps(size, steps):
    scales = plan_scales(size, steps)
    assert sum(s.steps for s in scales) == steps
    assert scales[-1].size == size
    assert all(s.steps >= 2 for s in scales)
    for a, b in zip(scales, scales[1:]):
        assert 1.3 < b.size / a.size < 1.6
        assert a.steps >= b.steps  # finer scales get fewer steps


def test_estimates_grow_with_size_steps_and_rate():
    assert estimate_seconds(512, 300, 4.0) > estimate_seconds(256, 300, 4.0) > estimate_seconds(256, 100, 4.0)
    assert estimate_seconds(512, 300, 0.012) < estimate_seconds(512, 300, 4.0)
