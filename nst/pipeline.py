"""The style-transfer run: validate, prepare, optimise, post-process.

:func:`stylize` is a generator of :class:`Progress` events, the one stream that the CLI,
the app and Python callers all consume. :func:`stylize_image` runs it to the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from . import images as im
from .losses import ContentLoss, GramStyleLoss
from .settings import DEFAULT, LIMITS, Settings, SettingsError
from .vgg import VGG19Features, deepest, min_input_size
from .weights import load_model

__all__ = ["Progress", "stylize", "stylize_image", "resolve_device"]


@dataclass
class Progress:
    """One event of a run.

    Attributes:
        step: optimisation steps done so far.
        total: steps the run will take.
        losses: ``content`` (J_content), ``style`` (J_style), ``total`` (J) and
            ``style:<layer>`` (each J_style^l), as floats, at this step.
        elapsed: seconds since the run started.
        size: ``(width, height)`` of the image being optimised.
        image: a preview (every ``preview_every`` steps) or, when ``done``, the result.
        done: True on the last event, whose ``image`` is the final result.
    """

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    image: Image.Image | None = None
    done: bool = False
    settings: Settings = field(default=DEFAULT, repr=False)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; other names are checked to exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise SettingsError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device cuda was asked for, but no CUDA GPU is available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SettingsError(f"device {name} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SettingsError("device mps was asked for, but MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise SettingsError(f"unsupported device {name!r}; use auto, cpu, cuda or mps")
    return device


def _check(settings: Settings | None, overrides: dict[str, Any]) -> tuple[Settings, torch.device]:
    s = (settings or DEFAULT).replace(**overrides)
    device = resolve_device(s.device)
    if device.type == "cpu" and s.size > LIMITS.max_size_cpu:
        raise SettingsError(
            f"size {s.size} is above the CPU limit of {LIMITS.max_size_cpu} px; "
            f"sizes up to {LIMITS.max_size_gpu} px need a GPU"
        )
    return s, device


class _Objective:
    """J = J_content + β·J_style at one image size, with targets computed once."""

    def __init__(self, model: VGG19Features, s: Settings, content: torch.Tensor, style: torch.Tensor) -> None:
        self.model = model
        self.s = s
        self.layers = [s.content_layer, *[l for l in s.style_layers if l != s.content_layer]]
        lw = s.style_layer_weights or (1.0,) * len(s.style_layers)
        # λ normalised to sum 1, so the ratio means the same with 1 or 5 layers.
        self.layer_weights = {l: w / sum(lw) for l, w in zip(s.style_layers, lw)}
        with torch.no_grad():
            c_feats = model(content, [s.content_layer])
            s_feats = model(style, list(s.style_layers))
        self.content_loss = ContentLoss(c_feats[s.content_layer])
        self.style_losses = {l: GramStyleLoss(GramStyleLoss.target_from(s_feats[l])) for l in s.style_layers}

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.model(image, self.layers)
        terms = {"content": self.content_loss(feats[self.s.content_layer])}
        style = image.new_zeros((), dtype=torch.float32)
        for layer, loss in self.style_losses.items():
            value = loss(feats[layer])
            terms[f"style:{layer}"] = value
            style = style + self.layer_weights[layer] * value
        terms["style"] = style
        total = terms["content"] + self.s.style_weight * style
        terms["total"] = total
        return total, terms


def _initial_image(s: Settings, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if s.init == "content":
        return content.clone()
    if s.init == "style":
        return torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bilinear", align_corners=False)
    # Noise around mid-grey, as in Gatys et al.'s random initialisation.
    noise = torch.randn(content.shape, generator=gen, device=gen.device)
    return (0.5 + 0.1 * noise).clamp(0, 1).to(content.device)


def _make_optimizer(s: Settings, image: torch.Tensor) -> torch.optim.Optimizer:
    if s.optimizer == "lbfgs":
        # One function evaluation per step, so that a step costs the same with either
        # optimiser; the curvature history carries over between calls. Tolerances are
        # off: the run ends when its steps are spent, not when progress slows.
        return torch.optim.LBFGS(
            [image], lr=s.learning_rate or 1.0, max_iter=1, history_size=100,
            tolerance_grad=-1, tolerance_change=-1,
        )
    return torch.optim.Adam([image], lr=s.learning_rate or 0.02, betas=(0.9, 0.99))


def stylize(
    content: im.ImageInput,
    style: im.ImageInput,
    settings: Settings | None = None,
    /,
    **overrides: Any,
) -> Iterator[Progress]:
    """Transfer the style of ``style`` onto ``content``, yielding progress as it goes.

    Args:
        content: the image whose layout is kept (path, PIL image or array).
        style: the image whose look is taken (path, PIL image or array).
        settings: a :class:`~nst.Settings`; defaults to :data:`~nst.DEFAULT`.
        **overrides: any :class:`~nst.Settings` field, e.g. ``steps=200, size=384``.

    Yields:
        :class:`Progress` after every step; ``image`` is set every ``preview_every`` steps
        and on the last event (``done=True``), whose image is the result. Closing the
        generator early stops the run; the last preview received is the current image.

    Raises:
        SettingsError: a setting is out of range or unknown.
        ImageError: an image is missing, unreadable or too small for the chosen layers.
        WeightsError: the weights cannot be loaded.
    """
    t0 = time.perf_counter()
    # 1. Validate.
    s, device = _check(settings, overrides)
    content_img = im.load_image(content, "content image")
    style_img = im.load_image(style, "style image")

    # 2. Prepare images, network and targets.
    content_img = im.resize_to_long_side(content_img, s.size)
    # The style is resized to the output's pixel count, so its features have the scale
    # of the content's whatever the two original sizes.
    style_img = im.resize_to_pixels(style_img, content_img.width * content_img.height)
    needed = min_input_size([s.content_layer, *s.style_layers])
    for what, img in (("content image", content_img), ("style image", style_img)):
        if min(img.size) < needed:
            raise im.ImageError(
                f"the {what} is {img.width}×{img.height} px at this size; the layers chosen "
                f"need at least {needed} px on each side (raise size or use shallower layers)"
            )
    model = load_model(s.weights, s.pooling, str(device))
    model = model.truncated(deepest([s.content_layer, *s.style_layers]))
    gen = torch.Generator(device="cpu").manual_seed(s.seed)
    c = im.to_tensor(content_img, device)
    st = im.to_tensor(style_img, device)
    objective = _Objective(model, s, c, st)
    image = _initial_image(s, c, st, gen).requires_grad_(True)
    optimizer = _make_optimizer(s, image)
    size = (content_img.width, content_img.height)

    # 3. Optimise.
    last: dict[str, torch.Tensor] = {}

    loss_scale: list[float] = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, terms = objective(image)
        # The optimiser sees J divided by its first value: the same minimiser, but a
        # unit-sized objective, which L-BFGS's default curvature guess assumes. (With the
        # 0–255 Caffe network, J starts around 1e10 and L-BFGS's second step overflows.)
        if not loss_scale:
            loss_scale.append(max(float(loss.detach()), 1e-12))
        (loss / loss_scale[0]).backward()
        last.update(terms)
        return loss / loss_scale[0]

    try:
        for step in range(1, s.steps + 1):
            optimizer.step(closure)
            if s.optimizer == "adam":
                with torch.no_grad():
                    image.clamp_(0, 1)  # box constraint; L-BFGS would lose its curvature
            losses = {k: float(v.detach()) for k, v in last.items()}
            if not all(map(_finite, losses.values())):
                raise FloatingPointError(
                    "the optimisation diverged (non-finite loss); lower style_weight or learning_rate"
                )
            done = step == s.steps
            preview = done or (s.preview_every and step % s.preview_every == 0)
            yield Progress(
                step=step, total=s.steps, losses=losses, elapsed=time.perf_counter() - t0,
                size=size, image=im.to_pil(image) if preview else None, done=done, settings=s,
            )
    finally:
        # Free per-run tensors promptly, also when the consumer stops early.
        del optimizer, objective, image, last
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def stylize_image(
    content: im.ImageInput, style: im.ImageInput, settings: Settings | None = None, /, **overrides: Any
) -> Image.Image:
    """Run :func:`stylize` to the end and return the result; takes the same arguments."""
    overrides.setdefault("preview_every", 0)
    for event in stylize(content, style, settings, **overrides):
        if event.done:
            return event.image
    raise RuntimeError("the run ended without a result")  # unreachable: steps ≥ 1
