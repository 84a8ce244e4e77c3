"""nst.steps: the length of L-BFGS's first step at a scale, and the curvature carried to the next."""

from __future__ import annotations

import pytest
import torch

import nst
from nst import run as nrun
from nst.steps import FIRST_STEP_RMS, Curvature, curvature_of, first_step, make_optimizer


def _rms(x: torch.Tensor) -> float:
    return float(x.pow(2).mean().sqrt())


def _quadratic_step(image: torch.Tensor, scale: float = 1e3) -> torch.optim.Optimizer:
    """One step of nst's L-BFGS on J = scale·‖x − ½‖² (a gradient of L1 norm far above 1)."""
    optimizer = make_optimizer(nst.Settings(), image)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = scale * (image - 0.5).pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)  # type: ignore[arg-type]
    return optimizer


def test_torch_first_step_moves_nothing_and_first_step_gives_it_its_length():
    start = torch.zeros(1, 3, 96, 128)
    image = start.clone().requires_grad_(True)
    optimizer = _quadratic_step(image)
    assert _rms(image.detach() - start) < 1e-4  # torch's t = 1/‖g‖₁: the step first_step mends
    first_step(optimizer, image, None)
    assert _rms(image.detach() - start) == pytest.approx(FIRST_STEP_RMS, rel=1e-4)
    # L-BFGS is told the length taken: its step t·d is the change made.
    state = optimizer.state[image]
    assert torch.allclose(float(state["t"]) * state["d"].view_as(start), image.detach() - start, atol=1e-7)


def test_a_carried_curvature_sets_the_first_step_as_minus_h_times_the_gradient():
    start = torch.zeros(1, 3, 96, 128)
    image = start.clone().requires_grad_(True)
    optimizer = _quadratic_step(image)
    carried = Curvature(h=2e-5, values=image.numel() // 4)  # learnt at a quarter of the pixels
    first_step(optimizer, image, carried)
    gradient = 2e3 * (start - 0.5)
    assert torch.allclose(image.detach() - start, -4 * 2e-5 * gradient, rtol=1e-5)
    assert carried.at(image.numel()) == pytest.approx(8e-5)


def test_curvature_of_is_lbfgs_last_pair_after_two_steps_only():
    image = torch.zeros(1, 3, 8, 8).requires_grad_(True)
    optimizer = _quadratic_step(image, scale=1.0)
    assert curvature_of(optimizer, image) is None  # one step: no pair yet
    first_step(optimizer, image, None)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (image - 0.5).pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)  # type: ignore[arg-type]
    found = curvature_of(optimizer, image)
    # J = ‖x − ½‖²: the Hessian is 2, so the pair's s·y / y·y is exactly ½.
    assert found is not None and found.h == pytest.approx(0.5) and found.values == image.numel()
    adam = torch.optim.Adam([image])
    assert curvature_of(adam, image) is None


def test_every_scale_of_a_run_starts_with_a_step_that_moves_the_pixels(monkeypatch):
    moved: list[tuple[int, float]] = []
    carried: list[Curvature | None] = []
    real = nrun.first_step

    def spy(optimizer, image, curvature):  # type: ignore[no-untyped-def]
        before = image.detach().clone()
        carried.append(curvature)
        real(optimizer, image, curvature)
        moved.append((image.shape[-1], _rms(image.detach() - before)))

    monkeypatch.setattr(nrun, "first_step", spy)
    *_, last = nst.stylize(
        nst.images.to_pil(torch.rand(1, 3, 72, 96, generator=torch.Generator().manual_seed(1))),
        nst.images.to_pil(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))),
        size=160,  # two scales, 113 and 160 px
        steps=12,
        precision="fp32",
        preview_every=0,
    )
    assert last.done and len(moved) == last.scale[1] >= 2  # once per scale
    # Each first step lengthened torch's (which moves about 1e-6 a pixel here) to a real one.
    assert all(rms > 1e-3 for _, rms in moved), moved
    # The first scale's at FIRST_STEP_RMS (less torch's own step, measured from after it); the
    # next ones' from the curvature the last one ended with.
    assert carried[0] is None and moved[0][1] == pytest.approx(FIRST_STEP_RMS, rel=0.02)
    assert all(isinstance(c, Curvature) for c in carried[1:])
