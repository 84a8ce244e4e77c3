"""One optimisation step and what it needs: the optimiser, the closure that evaluates J, the
length of L-BFGS's first step and the trust region on every step, and the starting image.

The run (:mod:`nst.run`) calls these once per scale (the optimiser, the closure, the
curvature it carries to the next scale) and once per step (:func:`first_step`,
:func:`limit_step`); they know nothing of time or previews.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import color
from .lbfgs import LBFGS, LeanLBFGS
from .losses import tv_loss
from .objective import Objective
from .settings import Settings
from .tiles import TiledObjective, tv_into_grad

__all__ = [
    "FIRST_STEP_RMS",
    "MAX_STEP_RMS",
    "Curvature",
    "curvature_of",
    "first_step",
    "Stopped",
    "closure_of",
    "finite",
    "initial_image",
    "limit_step",
    "make_optimizer",
    "resize",
    "upsample",
]

# The longest L-BFGS step, as the RMS change of the pixels (in [0, 1]). Without a line
# search, L-BFGS's early curvature guesses at a new scale now and then step far too
# long: RMS 0.3 (pixels moved by up to 2.2) and J ×30 in one step, where its other steps
# are below 0.02; at 1024 px such a step (J ×100) wiped out the content for good.
MAX_STEP_RMS = 0.05


class Stopped(Exception):
    """Raised inside a step (by the objective's layer check) once the run's stop is set."""


def initial_image(
    s: Settings,
    content: torch.Tensor,
    style: torch.Tensor,
    gen: torch.Generator,
    photo: torch.Tensor | None = None,
) -> torch.Tensor:
    """The first scale's starting image, as ``s.init`` says: the content, the content in the
    style's colours, the style, or noise.

    Args:
        s: the run's settings.
        content: the content at the first scale.
        style: the first style at the first scale.
        gen: the run's random generator (noise draws from it).
        photo: where the result is to be the photo itself, ``(1, 1, H, W)`` in [0, 1] at the
            scale's size (:func:`nst.weightmaps.photo_map`), else None: ``palette`` starts
            those pixels from the photo.
    """
    if s.init == "palette" and s.preserve_color == "none":
        # The photo recoloured to the painting's mean and covariance: a short run's first
        # steps go to strokes, not to repainting every pixel's colour. Where the photo is
        # kept (a keep mask, outside the regions), the photo.
        start = color.match_color(content, style).clamp(0, 1)
        return start if photo is None else photo * content + (1 - photo) * start
    if s.init in ("content", "palette"):  # a colour mode keeps the photo's colours: its own start
        return content.clone()
    if s.init == "style":
        return resize(style, content.shape[-2:])
    # Noise around mid-grey, as in Gatys et al.'s random initialisation.
    noise = torch.randn(content.shape, generator=gen, device=gen.device)
    return (0.5 + 0.1 * noise).clamp(0, 1).to(content.device)


def resize(x: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    """``x`` at ``hw`` (bicubic, clamped to [0, 1]); a copy when it is that size already."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x.clone()
    return torch.nn.functional.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)


def upsample(image: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """A scale's result carried to the next, larger scale: ``image`` at ``content``'s size, its
    finest band (what the smaller size could not hold) taken from ``content``.

    Resized alone, the result of a smaller scale is blurred at the larger one: the steps
    there would first spend themselves on sharpening it, and a run cut short (a time limit)
    ends blurred, with no strokes at the output's scale. The content's own detail is the
    best start for that band, as the content is the start of the first scale
    (``init="content"``); the steps then paint it over.

    Args:
        image: the smaller scale's result, ``(1, 3, h, w)``.
        content: the content at the larger scale, ``(1, 3, H, W)``, in the network's colours.
    """
    hw = content.shape[-2:]
    if tuple(image.shape[-2:]) == tuple(hw):
        return image.clone()
    small = torch.nn.functional.interpolate(content, size=tuple(image.shape[-2:]), mode="bicubic", antialias=True)
    detail = content - resize(small.clamp(0, 1), hw)
    return (resize(image, hw) + detail).clamp(0, 1)


def make_optimizer(s: Settings, image: torch.Tensor, history: int = 20, lean: bool = False) -> torch.optim.Optimizer:
    """A fresh optimiser over ``image`` for one scale.

    Args:
        s: the run's settings (``optimizer``, ``learning_rate``).
        image: the pixels optimised.
        history: L-BFGS's curvature pairs.
        lean: a tiled scale: nst's L-BFGS that keeps fewer image-sized buffers.
    """
    if s.optimizer == "lbfgs" and lean:  # a tiled scale: the same iterates in fewer image-sized buffers
        return LeanLBFGS([image], lr=s.learning_rate or 1.0, history_size=history)
    if s.optimizer == "lbfgs":
        # One function evaluation per step, so that a step costs the same with either
        # optimiser; the curvature history carries over between calls. Tolerances are
        # off: the run ends when its steps are spent, not when progress slows. A history
        # of 20 pairs (not 100) keeps a 512 px run under 1 GB: each pair is 2 images;
        # tiled scales keep fewer where the memory budget asks (nst.tiles.plan_memory).
        return LBFGS(
            [image],
            lr=s.learning_rate or 1.0,
            max_iter=1,
            history_size=history,
            tolerance_grad=-1,
            tolerance_change=-1,
        )
    return torch.optim.Adam([image], lr=s.learning_rate or 0.02, betas=(0.9, 0.99))


def closure_of(
    objective: Objective | TiledObjective,
    optimizer: torch.optim.Optimizer,
    image: torch.Tensor,
    tv_weight: float,
) -> tuple[Callable[[], torch.Tensor], dict[str, torch.Tensor]]:
    """The closure the optimiser calls for J (divided by its first value) and its gradient,
    and the dict where each call leaves J's terms.

    Args:
        objective: the scale's objective, whole or tiled.
        optimizer: the scale's optimiser over ``image``.
        image: the pixels optimised.
        tv_weight: the TV term's weight against the normalised cost.
    """
    last: dict[str, torch.Tensor] = {}
    loss_scale: list[float] = []

    if isinstance(objective, TiledObjective):
        return _tiled_closure(objective, optimizer, image, tv_weight, last, loss_scale), last

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, terms = objective(image)
        # The optimiser sees J divided by its first value: the same minimiser, but a
        # unit-sized objective, which L-BFGS's default curvature guess assumes. (With the
        # 0–255 Caffe network, J starts around 1e10 and L-BFGS's second step overflows.)
        if not loss_scale:
            loss_scale.append(max(float(loss.detach()), 1e-12))
        scaled = loss / loss_scale[0]
        if tv_weight:
            # TV is weighed against the normalised cost (1 at the start of each scale), so
            # one tv_weight smooths alike whatever style_weight and the image size are.
            terms["tv"] = tv_loss(image)
            scaled = scaled + tv_weight * terms["tv"]
        scaled.backward()
        last.update(terms)
        return scaled

    return closure, last


def _tiled_closure(
    objective: TiledObjective,
    optimizer: torch.optim.Optimizer,
    image: torch.Tensor,
    tv_weight: float,
    last: dict[str, torch.Tensor],
    loss_scale: list[float],
) -> Callable[[], torch.Tensor]:
    """The closure of a tiled scale: the objective accumulates its gradient tile by tile."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=False)
        loss, terms = objective.loss_and_grad(image)
        if not loss_scale:  # as the untiled closure: J over its first value
            loss_scale.append(max(float(loss), 1e-12))
        assert image.grad is not None  # the objective accumulated it
        image.grad.div_(loss_scale[0])
        scaled = loss / loss_scale[0]
        if tv_weight:  # its gradient added in place: no image-sized autograd buffers
            terms["tv"] = tv_into_grad(image, tv_weight)
            scaled = scaled + tv_weight * terms["tv"]
        last.update({k: v.detach() for k, v in terms.items()})
        return scaled

    return closure


def limit_step(optimizer: torch.optim.Optimizer, image: torch.Tensor) -> None:
    """Shorten the L-BFGS step just taken to :data:`MAX_STEP_RMS`, a trust region.

    The step taken is ``t·d`` (L-BFGS's step length and direction), so no copy of the
    image is needed. L-BFGS's next curvature pair is (gradient change, ``d·t``): scaling
    its step length ``t`` alike keeps that pair true to the step actually taken.
    """
    state = optimizer.state[image]
    if "d" not in state:
        return
    with torch.no_grad():
        d, t = state["d"], float(state["t"])
        rms = abs(t) * float(torch.linalg.vector_norm(d)) / d.numel() ** 0.5  # no image-sized temporary
        if rms > MAX_STEP_RMS:
            factor = MAX_STEP_RMS / rms
            image.sub_(d.view_as(image), alpha=t * (1 - factor))
            state["t"] = state["t"] * factor


# L-BFGS's first step at the first scale, as the RMS change of the pixels: about what its
# later steps take there. torch's own first step is the gradient scaled to an L1 norm of 1,
# a change of about 1e-6 a pixel at 128 px: one evaluation spent on a curvature pair alone,
# a quarter of a short limit's steps at the output size (docs/performance.md, "The first step").
FIRST_STEP_RMS = 0.01


@dataclass(frozen=True)
class Curvature:
    """L-BFGS's scale of the inverse Hessian at the end of a scale (``H_diag``: the last
    curvature pair's ``s·y / y·y``), and the values it was measured over.

    J is divided by its first value at every scale, and most of its terms are means over
    positions, so a pixel's share of J (and of its curvature) goes as one over the
    pixels: at ``n`` values, the inverse Hessian's scale is about ``h · n / values``.
    """

    h: float
    values: int

    def at(self, values: int) -> float:
        """The scale carried to an image of ``values`` values."""
        return self.h * values / self.values


def curvature_of(optimizer: torch.optim.Optimizer, image: torch.Tensor) -> Curvature | None:
    """What L-BFGS learnt of the curvature over ``image``, or None before its second step
    (its first pair) or with another optimiser."""
    state = optimizer.state.get(image, {})
    if int(state.get("n_iter", 0)) < 2 or "H_diag" not in state:
        return None
    return Curvature(float(state["H_diag"]), image.numel())


def first_step(optimizer: torch.optim.Optimizer, image: torch.Tensor, carried: Curvature | None) -> None:
    """Give L-BFGS's first step at a scale a useful length, in place (before :func:`limit_step`).

    The first step is along the gradient ``d = -g``; torch takes it with the length
    ``t = 1/‖g‖₁``, which moves nothing. Here it is ``-H·g`` with the curvature the previous
    scale ended with (``carried``, moved to this size), else :data:`FIRST_STEP_RMS`; L-BFGS
    is told the length taken, so its first curvature pair is the step actually made.
    """
    state = optimizer.state[image]
    if "d" not in state:
        return
    with torch.no_grad():
        d, t = state["d"], float(state["t"])
        if carried is not None:
            want = carried.at(image.numel())
        else:
            want = FIRST_STEP_RMS * d.numel() ** 0.5 / max(float(torch.linalg.vector_norm(d)), 1e-30)
        if not finite(want) or want <= 0 or t <= 0:
            return
        image.add_(d.view_as(image), alpha=want - t)
        state["t"] = state["t"] * (want / t)


def finite(x: float) -> bool:
    """Whether ``x`` is neither NaN nor infinite."""
    return x == x and abs(x) != float("inf")
