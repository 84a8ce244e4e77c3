"""The public run: :func:`prepare` checks and plans, :func:`stylize` runs, :func:`estimate` says how long.

:func:`stylize` checks its settings and opens its images when it is called, then returns
a generator of :class:`~nst.inputs.Progress` events, the one stream that the CLI, the app
and Python callers all consume. :func:`stylize_image` runs it to the end. The phases:

1. :func:`prepare` (at the call): settings, device, images, the plan of scales and its
   memory, as a :class:`PreparedRun`; no network work yet, so a bad input fails at once.
2. :meth:`PreparedRun.events` (from the first ``next()``): :class:`nst.run.Run`'s phases,
   set-up, each scale, the result.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from . import costs
from . import images as im
from .calibration import calibrate
from .device import autocast_dtype, resolve_device
from .errors import SettingsError
from .faces import protected_faces
from .inputs import Progress, RunInputs
from .masks import load_masks
from .memory import memory_plans
from .recipe import input_reference
from .schedule import ScalePlan, estimate_seconds, plan_run
from .settings import DEFAULT, LIMITS, Settings, shown_value
from .run import run_events
from .vgg import min_input_size
from .weightmaps import load_keep_mask

__all__ = ["Progress", "PreparedRun", "prepare", "stylize", "stylize_image", "calibrate", "estimate", "blend_mismatch"]


@dataclass
class PreparedRun(RunInputs):
    """A run checked and planned, before any network work: what :func:`stylize` validated.

    Its attributes are :class:`~nst.inputs.RunInputs`' (the settings, the images, the plan
    of scales and its memory plans); :meth:`events` runs it, :meth:`estimate` says how
    long it will take.
    """

    def events(
        self,
        *,
        stop: threading.Event | None = None,
        preview_seconds: float | None = None,
        preview_size: int | None = None,
    ) -> Iterator[Progress]:
        """Run it: phases 2–4 of :func:`stylize`, which takes the same keyword arguments.

        Raises:
            SettingsError: ``stop``, ``preview_seconds`` or ``preview_size`` cannot be used
                (at the call, not deep in the run).
        """
        if stop is not None and not callable(getattr(stop, "is_set", None)):
            raise SettingsError(
                f"stop must be a threading.Event (or anything with an is_set() method), not {type(stop).__name__}"
            )
        return run_events(self, stop, _preview_seconds(preview_seconds), _preview_size(preview_size))

    def estimate(self, *, setup: bool = False, calibrated: bool = True) -> float:
        """Expected seconds of the run (with ``setup``: also loading the network).

        ``calibrated`` times whole steps on this device first (once per process, a few
        seconds on a CPU); otherwise the cost model this process has (refined by every
        run that ended: see :func:`nst.costs.learn`), else the prior from the convolution probe.
        """
        if calibrated:
            cost = calibrate(self.device, self.settings.precision)
        else:
            amp = autocast_dtype(self.settings.precision, self.device)
            cost = costs.current_cost(self.device, "bf16" if amp is torch.bfloat16 else "fp32")
        return estimate_seconds(self.work_plan(), cost, setup=setup, time_limit=self.settings.time_limit)


def _preview_seconds(value: Any) -> float | None:
    """``preview_seconds`` as a float (infinity: the first preview only), or None.

    Raises:
        SettingsError: not a number, negative or NaN.
    """
    if value is None:
        return None
    if isinstance(value, (bool, str, bytes)):  # a number of seconds, not text or a switch
        raise SettingsError(f"preview_seconds must be a number of seconds, 0 or more, not {shown_value(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float's range: no preview after the first, or negative
        seconds = math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise SettingsError(
            f"preview_seconds must be a number of seconds, 0 or more, not {shown_value(value)}"
        ) from None
    if not seconds >= 0:  # NaN too
        raise SettingsError(f"preview_seconds must be 0 or more, not {seconds:g}")
    return seconds


def _preview_size(value: Any) -> int | None:
    """``preview_size`` as an int of at least 16, or None.

    Raises:
        SettingsError: not a whole number, or below 16.
    """
    if value is None:
        return None
    try:
        size = operator.index(value) if not isinstance(value, bool) else None  # int, numpy integers
    except TypeError:
        size = None
    if size is None or size < 16:
        raise SettingsError(f"preview_size must be a whole number of at least 16 px, not {shown_value(value)}")
    return size


def blend_mismatch(name: str, weights: int, styles: int) -> str:
    """The message for a blend of ``weights`` weights given for ``styles`` style images (``name``:
    the setting as the caller spells it, ``style_blend`` or ``--style-blend``)."""
    return (
        f"{name} has {weights} weight{'s' if weights != 1 else ''} for {styles} style "
        f"image{'s' if styles != 1 else ''}; give one weight per style image"
    )


def _styles(style: im.ImageInput | list[im.ImageInput]) -> list[im.ImageInput]:
    if isinstance(style, (list, tuple)):
        if not style:
            raise im.ImageError("no style image was given")
        return list(style)
    return [style]


def prepare(
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    masks: list[Any] | None = None,
    keep: Any = None,
    start: im.ImageInput | None = None,
    **overrides: Any,
) -> PreparedRun:
    """Check the settings, open the images and plan the scales (phase 1 of :func:`stylize`).

    Takes :func:`stylize`'s arguments; raises its errors, and nothing else is done.
    ``start``: continue from this image (a result of the same content, smaller than
    ``size``): only the scales finer than it run (see :mod:`nst.upscale`).
    """
    started = time.perf_counter()  # a time limit counts from the call
    # Sizes up to LIMITS.max_size on any device (Settings checks them): scales beyond the
    # memory budget run in tiles. Front ends with a visitor waiting cap it by time (max_size).
    s = (settings or DEFAULT).replace(**overrides)
    device = resolve_device(s.device)
    content_full = im.load_image(content, "content image")
    style_inputs = _styles(style)
    blend = list(s.style_blend or (1.0,) * len(style_inputs))
    if len(blend) != len(style_inputs):
        raise SettingsError(blend_mismatch("style_blend", len(blend), len(style_inputs)))
    blend = [w / sum(blend) for w in blend]
    what = ["style image"] if len(style_inputs) == 1 else [f"style image {i + 1}" for i in range(len(style_inputs))]
    styles_full = [im.load_image(x, w) for x, w in zip(style_inputs, what)]
    # [regions] The masks, checked against the content and the styles (None: no masks).
    if masks is not None and not isinstance(masks, (list, tuple)):
        masks = [masks]
    masks_full = load_masks(masks, content_full, len(styles_full), s)
    names = None if masks is None else [input_reference(m, f"mask {i + 1}") for i, m in enumerate(masks)]
    # [faces] What keeps the photo's structure: a keep mask, and the faces found (nst.faces).
    keep_img = None if keep is None else load_keep_mask(keep, content_full)
    found = protected_faces(content_full) if s.keep_faces else []
    out_img = im.resize_to_long_side(content_full, s.size)
    needed = min_input_size([s.content_layer, *s.style_layers])
    # Coarse scales too small for the deepest layer are skipped (their steps move on).
    plan = plan_run(content_full.size, s.size, s.steps, multiscale=s.multiscale, min_side=needed)
    start_img = None
    if start is not None:
        start_img = im.load_image(start, "image to continue from")
        plan = _plan_from(plan, start_img, out_img)
    for i, (label, img) in enumerate((("content image", content_full), *zip(what, styles_full))):
        scaled = out_img if i == 0 else im.resize_to_pixels(img, s.style_scale**2 * out_img.width * out_img.height)
        if min(scaled.size) < needed:
            # A long thin strip is too narrow at any size: say so rather than suggest a larger one.
            thin = min(img.size) / max(img.size) * LIMITS.max_size_cpu < needed
            raise im.ImageError(
                f"the {label} ({img.width}×{img.height} px) is {scaled.width}×{scaled.height} px at this size; "
                f"the layers chosen need at least {needed} px on each side "
                + (
                    "(crop it closer to a square, or use shallower layers)"
                    if thin
                    else "(raise size or use shallower layers)"
                )
            )
    return PreparedRun(
        s,
        device,
        content_full,
        styles_full,
        blend,
        out_img,
        plan,
        masks_full,
        names,
        found,
        keep_img,
        None if keep is None else input_reference(keep, "keep mask"),
        started=started,
        memory=memory_plans(plan, s, device, masks is not None),
        start=start_img,
    )


def _plan_from(plan: list[ScalePlan], start: Image.Image, output: Image.Image) -> list[ScalePlan]:
    """The scales of ``plan`` finer than ``start`` (at least the last), with their planned steps."""
    if abs(start.height / start.width - output.height / output.width) > 0.02:
        raise im.ImageError(
            f"the image to continue from is {start.width}×{start.height} px, not the content image's shape"
        )
    if max(start.size) >= max(output.size):
        raise SettingsError(f"the image to continue from is {max(start.size)} px already, not smaller than size")
    finer = [sc for sc in plan if max(sc.wh) > max(start.size) * 1.05]
    return finer or plan[-1:]


def stylize(
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    masks: list[im.ImageInput | torch.Tensor] | None = None,
    keep: im.ImageInput | torch.Tensor | None = None,
    stop: threading.Event | None = None,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    **overrides: Any,
) -> Iterator[Progress]:
    """Transfer the style of ``style`` onto ``content``, yielding progress as it goes.

    The settings are checked and the images opened now, at the call; the work starts at
    the first ``next()``.

    Args:
        content: the image whose layout is kept (path, PIL image or array).
        style: the image whose look is taken (path, PIL image or array), or a list of
            them, blended with the ``style_blend`` weights.
        settings: a :class:`~nst.Settings`; defaults to :data:`~nst.DEFAULT`.
        masks: where each style goes: one greyscale mask per style image, in the
            content image's frame (any size of its aspect ratio; soft edges allowed).
            White is "this style here"; where no mask is white the result is the photo.
            Each style's Gram matrices are then matched over its own region only, and
            ``style_blend`` is each region's strength. ``None``: the whole image.
        keep: a greyscale mask in the content's frame: where it is white the photo's
            structure is kept (more content weight, as over faces with ``keep_faces``).
        stop: once set, the run ends within one layer of the current step and yields
            the image as it was after the last whole step, with ``stopped=True``.
        preview_seconds: send a preview at the first step and then at most this often
            (instead of every ``preview_every`` steps): previews by time cost the same
            share of a run at any size.
        preview_size: the long side of previews, at most (the result is always at the
            output size).
        **overrides: any :class:`~nst.Settings` field, e.g. ``steps=200, size=384``.

    Yields:
        :class:`Progress` after every step, with a preview now and then; the last event
        (``done=True``) holds the result at the output size. Closing the generator early
        also stops the run.

    Raises:
        SettingsError: a setting is out of range or unknown (at the call).
        ImageError: an image or mask is missing, unreadable, too small for the chosen
            layers, or (a mask) in colour, of another shape, or one too many or few
            (at the call).
        WeightsError: the weights cannot be loaded.
        OutOfMemoryError: the device ran out of memory; the message says what to lower.
        DivergedError: the cost became NaN or infinite.
    """
    run = prepare(content, style, settings, masks=masks, keep=keep, **overrides)
    return run.events(stop=stop, preview_seconds=preview_seconds, preview_size=preview_size)


def stylize_image(
    content: im.ImageInput,
    style: im.ImageInput,
    settings: Settings | None = None,
    /,
    *,
    stop: threading.Event | None = None,
    **overrides: Any,
) -> Image.Image:
    """Run :func:`stylize` to the end and return the result; takes the same arguments."""
    overrides.setdefault("preview_every", 0)
    for event in stylize(content, style, settings, stop=stop, **overrides):
        if event.done and event.image is not None:  # the last event holds the result
            return event.image
    raise RuntimeError("the run ended without a result")  # unreachable: steps ≥ 1


def estimate(
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    setup: bool = False,
    **overrides: Any,
) -> float:
    """Expected seconds of :func:`stylize` with these arguments, from timed whole steps.

    Args:
        setup: also count loading the network (a fresh process).
    """
    return prepare(content, style, settings, **overrides).estimate(setup=setup)
