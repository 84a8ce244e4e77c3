"""The style-transfer run: validate, prepare, optimise, post-process.

:func:`stylize` is a generator of :class:`Progress` events, the one stream that the CLI,
the app and Python callers all consume. :func:`stylize_image` runs it to the end.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import color
from . import images as im
from .device import autocast_dtype, resolve_device, seconds_per_megapixel_step
from .losses import tv_loss
from .objective import Objective
from .recipe import RECIPE_KEY, input_reference, make_recipe
from .schedule import Scale, megapixels, plan_scales
from .settings import DEFAULT, LIMITS, Settings, SettingsError
from .vgg import deepest, min_input_size
from .weights import load_model

__all__ = ["Progress", "stylize", "stylize_image"]

# The box constraint 0 ≤ pixel ≤ 1, by projection after each step. Without it L-BFGS
# leaves ~2% of the pixels outside [0, 1] for good, which show clipped, as bright
# speckles; with it the style distance falls 2.8× for 4% more content distance
# (`python bench/trials.py range` turns it off to compare).
BOX_CONSTRAINT = True
# The longest L-BFGS step, as the RMS change of the pixels (in [0, 1]). Without a line
# search, L-BFGS's early curvature guesses at a new scale now and then step far too
# long: RMS 0.3 (pixels moved by up to 2.2) and J ×30 in one step, where its other steps
# are below 0.02; at 1024 px such a step (J ×100) wiped out the content for good.
MAX_STEP_RMS = 0.05


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
        scale: ``(index, count)`` of the coarse-to-fine scale being optimised, from 1.
    """

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    image: Image.Image | None = None
    done: bool = False
    settings: Settings = field(default=DEFAULT, repr=False)
    scale: tuple[int, int] = (1, 1)


def _check(settings: Settings | None, overrides: dict[str, Any]) -> tuple[Settings, torch.device]:
    s = (settings or DEFAULT).replace(**overrides)
    device = resolve_device(s.device)
    if device.type == "cpu" and s.size > LIMITS.max_size_cpu:
        raise SettingsError(
            f"size {s.size} is above the CPU limit of {LIMITS.max_size_cpu} px; "
            f"sizes up to {LIMITS.max_size_gpu} px need a GPU"
        )
    return s, device


def _initial_image(s: Settings, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if s.init == "content":
        return content.clone()
    if s.init == "style":
        return _resize(style, content.shape[-2:])
    # Noise around mid-grey, as in Gatys et al.'s random initialisation.
    noise = torch.randn(content.shape, generator=gen, device=gen.device)
    return (0.5 + 0.1 * noise).clamp(0, 1).to(content.device)


def _resize(x: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x.clone()
    return torch.nn.functional.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)


def _make_optimizer(s: Settings, image: torch.Tensor) -> torch.optim.Optimizer:
    if s.optimizer == "lbfgs":
        # One function evaluation per step, so that a step costs the same with either
        # optimiser; the curvature history carries over between calls. Tolerances are
        # off: the run ends when its steps are spent, not when progress slows. A history
        # of 20 pairs (not 100) keeps a 512 px run under 1 GB: each pair is 2 images.
        return torch.optim.LBFGS(
            [image], lr=s.learning_rate or 1.0, max_iter=1, history_size=20,
            tolerance_grad=-1, tolerance_change=-1,
        )
    return torch.optim.Adam([image], lr=s.learning_rate or 0.02, betas=(0.9, 0.99))


def _styles(style: im.ImageInput | list[im.ImageInput]) -> list[im.ImageInput]:
    if isinstance(style, (list, tuple)):
        if not style:
            raise im.ImageError("no style image was given")
        return list(style)
    return [style]


def stylize(
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    masks: list[im.ImageInput | torch.Tensor] | None = None,
    **overrides: Any,
) -> Iterator[Progress]:
    """Transfer the style of ``style`` onto ``content``, yielding progress as it goes.

    Args:
        content: the image whose layout is kept (path, PIL image or array).
        style: the image whose look is taken (path, PIL image or array), or a list of
            them, blended with the ``style_blend`` weights.
        masks: where each style goes: one greyscale mask per style image, in the
            content image's frame (any size of its aspect ratio; soft edges allowed).
            White is "this style here"; where no mask is white the result is the photo.
            Each style's Gram matrices are then matched over its own region only, and
            ``style_blend`` is each region's strength. ``None``: the whole image.
        settings: a :class:`~nst.Settings`; defaults to :data:`~nst.DEFAULT`.
        **overrides: any :class:`~nst.Settings` field, e.g. ``steps=200, size=384``.

    Yields:
        :class:`Progress` after every step; ``image`` is set every ``preview_every`` steps
        and on the last event (``done=True``), whose image is the result at full size.
        Closing the generator early stops the run; the last preview received is the
        current image.

    Raises:
        SettingsError: a setting is out of range or unknown.
        ImageError: an image or mask is missing, unreadable, too small for the chosen
            layers, or (a mask) in colour, of another shape, or one too many or few.
        WeightsError: the weights cannot be loaded.
    """
    t0 = time.perf_counter()
    # 1. Validate.
    s, device = _check(settings, overrides)
    content_full = im.load_image(content, "content image")
    style_inputs = _styles(style)
    blend = list(s.style_blend or (1.0,) * len(style_inputs))
    if len(blend) != len(style_inputs):
        raise SettingsError(f"style_blend has {len(blend)} weights for {len(style_inputs)} style images")
    blend = [w / sum(blend) for w in blend]
    what = ["style image"] if len(style_inputs) == 1 else [f"style image {i + 1}" for i in range(len(style_inputs))]
    styles_full = [im.load_image(x, w) for x, w in zip(style_inputs, what)]
    # [regions] The masks, checked against the content and the styles (None: no masks).
    if masks is not None and not isinstance(masks, (list, tuple)):
        masks = [masks]
    masks_full = _load_masks(masks, content_full, len(styles_full), s)

    # 2. Prepare the schedule, the network and the first scale's images.
    out_img = im.resize_to_long_side(content_full, s.size)
    out_tensor = im.to_tensor(out_img)  # the chroma source of swap and luminance modes
    needed = min_input_size([s.content_layer, *s.style_layers])
    scales = [sc for sc in plan_scales(s.size, s.steps, multiscale=s.multiscale)]
    # Coarse scales too small for the deepest layer are skipped (their steps move on).
    while len(scales) > 1 and min(im.resize_to_long_side(content_full, scales[0].size).size) < needed:
        scales = [Scale(scales[1].size, scales[0].steps + scales[1].steps), *scales[2:]]
    for i, (label, img) in enumerate((("content image", content_full), *zip(what, styles_full))):
        scaled = out_img if i == 0 else im.resize_to_pixels(img, s.style_scale**2 * out_img.width * out_img.height)
        if min(scaled.size) < needed:
            # A long thin strip is too narrow at any size: say so rather than suggest a larger one.
            thin = min(img.size) / max(img.size) * LIMITS.max_size_cpu < needed
            raise im.ImageError(
                f"the {label} ({img.width}×{img.height} px) is {scaled.width}×{scaled.height} px at this size; "
                f"the layers chosen need at least {needed} px on each side "
                + ("(crop it closer to a square, or use shallower layers)" if thin else "(raise size or use shallower layers)")
            )
    model = load_model(s.weights, s.pooling, str(device))
    model = model.truncated(deepest([s.content_layer, *s.style_layers]))
    amp = autocast_dtype(s.precision, device)
    # [regions] Masks are recorded by reference (file names, or "mask N"), not as pixels.
    where = {} if masks_full is None else {"masks": [input_reference(m, f"mask {i + 1}") for i, m in enumerate(masks)]}
    recipe = make_recipe(
        s, device=device.type, precision="bf16" if amp == torch.bfloat16 else "fp32",
        weights_preprocessing=model.preprocessing, styles=len(styles_full), **where,
    )
    # [regions] The masks at the output size, (1, 1, H, W) each, and their union.
    masks_out = None if masks_full is None else [_mask_tensor(m, out_img.size) for m in masks_full]
    union = None if masks_out is None else torch.stack(masks_out).sum(0).clamp(0, 1)

    def finish(x: torch.Tensor) -> Image.Image:
        """The image as shown: at the output size, with the content's chroma if asked."""
        x = _resize(x.detach(), (out_img.height, out_img.width)).cpu()
        if s.preserve_color in ("swap", "luminance"):
            x = color.swap_chroma(x, out_tensor)
        if union is not None:
            # [regions] Where no mask is white the result is the photo.
            x = union * x + (1 - union) * out_tensor
        return im.to_pil(x)

    gen = torch.Generator(device="cpu").manual_seed(s.seed)
    total = sum(sc.steps for sc in scales)
    deadline = None if s.time_limit is None else t0 + s.time_limit
    # Seconds per megapixel-step, for fitting a time limit; refined live from each step.
    rate = seconds_per_megapixel_step(device, amp) if deadline is not None else 0.0

    # 3. Optimise, scale by scale.
    image: torch.Tensor | None = None
    step = 0
    try:
        for index, scale in enumerate(scales):
            content_img = out_img if scale.size == s.size else im.resize_to_long_side(content_full, scale.size)
            pixels = content_img.width * content_img.height
            c = im.to_tensor(content_img, device)
            # Each style is resized to the scale's pixel count (times style_scale²), so
            # its features keep the same scale relative to the content at every scale.
            st = [im.to_tensor(im.resize_to_pixels(x, s.style_scale**2 * pixels), device) for x in styles_full]
            c, st = _recolor(s.preserve_color, c, st)
            # [regions] The masks at this scale's size (area-averaged: no ringing, same mass).
            ms = None if masks_out is None else [_resize_mask(m, c.shape[-2:]).to(device) for m in masks_out]
            objective = Objective(model, s, c, st, blend, amp, gen, masks=ms)
            if image is None:
                image = _initial_image(s, c, st[0], gen)
            else:
                image = _resize(image.detach(), c.shape[-2:])
            image.requires_grad_(True)
            # A fresh optimiser per scale: L-BFGS's curvature pairs and Adam's moments
            # belong to the previous pixel grid.
            optimizer = _make_optimizer(s, image)
            steps_here, scale_deadline = scale.steps, None
            if deadline is not None:
                # Each scale gets its share of the time left, so a run cut short still
                # finishes at the output size instead of upsampling a coarse image.
                left = deadline - time.perf_counter()
                steps_here, share = _fit_steps(scales[index:], rate, left, c.shape[-2:])
                scale_deadline = time.perf_counter() + left * share
            closure, last = _closure(objective, optimizer, image, s.tv_weight)
            for _ in range(steps_here):
                t_step = time.perf_counter()
                before = image.detach().clone() if s.optimizer == "lbfgs" else None
                optimizer.step(closure)
                if before is not None:
                    _limit_step(optimizer, image, before)
                if BOX_CONSTRAINT:
                    with torch.no_grad():
                        image.clamp_(0, 1)
                step += 1
                dt = time.perf_counter() - t_step
                rate = dt / (pixels / 1e6)
                losses = {k: float(v.detach()) for k, v in last.items()}
                if not all(map(_finite, losses.values())):
                    raise FloatingPointError(
                        "the optimisation diverged (non-finite loss); lower style_weight or learning_rate"
                    )
                if step == total:
                    break
                # Move on (or finish) when the next step would overrun this scale's time.
                if scale_deadline is not None and time.perf_counter() + dt > scale_deadline:
                    break
                if s.preview_every and step % s.preview_every == 0:
                    # Previews are shown at the output size, whatever the current scale, and
                    # carry the recipe with the steps done, should the run be stopped here.
                    preview = finish(image)
                    preview.info[RECIPE_KEY] = json.dumps({**recipe, "steps_done": step})
                    yield Progress(step, total, losses, time.perf_counter() - t0, content_img.size,
                                   preview, False, s, (index + 1, len(scales)))
                else:
                    yield Progress(step, total, losses, time.perf_counter() - t0, content_img.size,
                                   None, False, s, (index + 1, len(scales)))

        # 4. Post-process: the result at the output size.
        result = finish(image)
        result.info[RECIPE_KEY] = json.dumps(recipe)  # written by nst.save_png (and the CLI and app)
        yield Progress(step, step, losses, time.perf_counter() - t0, out_img.size,
                       result, True, s, (len(scales), len(scales)))
    finally:
        # Free per-run tensors promptly, also when the consumer stops early.
        image = optimizer = objective = None
        if device.type == "cuda":
            torch.cuda.empty_cache()


# --- [regions] Masks: one per style, in the content's frame ---------------------------


def _load_masks(
    masks: list[Any] | None, content: Image.Image, n_styles: int, s: Settings
) -> list[Image.Image] | None:
    """The masks as greyscale images, after every check that needs no network."""
    if masks is None:
        return None
    if len(masks) != n_styles:
        raise im.ImageError(
            f"{len(masks)} mask{'s' if len(masks) != 1 else ''} for {n_styles} style image"
            f"{'s' if n_styles != 1 else ''}: give one mask per style image, in the same order"
        )
    if s.style_loss != "gram":
        raise SettingsError("masks work with style_loss gram only, not sliced-wasserstein")
    what = ["mask"] if n_styles == 1 else [f"mask {i + 1}" for i in range(n_styles)]
    out = [im.load_mask(m, w) for m, w in zip(masks, what)]
    cw, ch = content.size
    for m, w in zip(out, what):
        # Any size, but the content's shape: a mask of another shape is another picture's.
        if abs(m.height - m.width * ch / cw) > max(1.0, 0.01 * m.height):
            raise im.ImageError(
                f"the {w} is {m.width}×{m.height} px, not the shape of the content image ({cw}×{ch} px); "
                "a mask is drawn in the content image's frame (any size, same aspect ratio)"
            )
    empty = [w for m, w in zip(out, what) if m.getextrema()[1] == 0]
    if len(empty) == len(out):
        raise im.ImageError(
            ("the mask is" if len(out) == 1 else "every mask is") + " all black: no style goes anywhere, "
            "so the result would be the photo; paint white where the style goes"
        )
    for w in empty:
        warnings.warn(f"the {w} is all black: its style image is not used", stacklevel=3)
    return out


def _mask_tensor(mask: Image.Image, wh: tuple[int, int]) -> torch.Tensor:
    """A greyscale mask at ``wh`` as a ``(1, 1, H, W)`` float tensor in [0, 1]."""
    if mask.size != wh:
        # Bilinear: antialiased when shrinking, and no overshoot at hard edges (Lanczos rings).
        mask = mask.resize(wh, Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None]


def _resize_mask(mask: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    return torch.nn.functional.interpolate(mask, size=tuple(hw), mode="area")


def _recolor(mode: str, content: torch.Tensor, styles: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The content and styles the network sees under colour mode ``mode``.

    ``luminance``: both as grey images, each style's luminance matched to the content's
    mean and spread; ``match``: the styles recoloured to the content's colour statistics;
    otherwise unchanged (``swap`` acts on the result only).
    """
    if mode == "luminance":
        y = color.luminance(content)
        return color.grey(y), [color.grey(color.match_luminance(color.luminance(x), y)) for x in styles]
    if mode == "match":
        return content, [color.match_color(x, content) for x in styles]
    return content, styles


def _closure(objective: Objective, optimizer: torch.optim.Optimizer, image: torch.Tensor, tv_weight: float):
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


def _limit_step(optimizer: torch.optim.Optimizer, image: torch.Tensor, before: torch.Tensor) -> None:
    """Shorten the L-BFGS step just taken to :data:`MAX_STEP_RMS`, a trust region.

    L-BFGS's next curvature pair is (gradient change, ``d·t``): scaling its step length
    ``t`` alike keeps that pair true to the step actually taken.
    """
    with torch.no_grad():
        delta = image - before
        rms = float(delta.pow(2).mean().sqrt())
        if rms > MAX_STEP_RMS:
            factor = MAX_STEP_RMS / rms
            image.copy_(before + delta * factor)
            state = optimizer.state[image]
            state["t"] = state["t"] * factor


def _fit_steps(remaining: list[Scale], rate: float, budget: float, hw: tuple[int, int]) -> tuple[int, float]:
    """Steps for the current scale, and its share of ``budget``, so that all remaining
    scales fit in ``budget`` seconds.

    Every remaining scale is cut by the same factor; ``rate`` is seconds per megapixel-step.
    """
    aspect = hw[0] * hw[1] / max(hw) ** 2
    work = [megapixels(sc.size, aspect) * sc.steps for sc in remaining]
    # 10% of the budget is kept for targets, image transfers and the final encoding.
    factor = min(1.0, max(0.0, budget * 0.9) / max(rate * sum(work), 1e-9))
    return max(1, int(remaining[0].steps * factor)), work[0] / sum(work)


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def stylize_image(
    content: im.ImageInput, style: im.ImageInput, settings: Settings | None = None, /, **overrides: Any
) -> Image.Image:
    """Run :func:`stylize` to the end and return the result; takes the same arguments
    (``masks=`` too)."""
    overrides.setdefault("preview_every", 0)
    for event in stylize(content, style, settings, **overrides):
        if event.done:
            return event.image
    raise RuntimeError("the run ended without a result")  # unreachable: steps ≥ 1
