"""Upscale a finished result: add finer scales up to 2× or 4× its size, without starting again.

A coarse-to-fine run to size ``N`` goes through the scales ``N/√2``, ``N/2``, …; a result
at 1024 px is where a run to 2048 px would stand two scales before its end, with its
composition decided. :func:`upscale` takes the result (a PNG with its recipe), plans the
run to ``factor`` times its size with the recipe's settings, and runs only the scales
finer than the result, starting from it: the steps that run would give those scales.
Large sizes run in tiles (:mod:`nst.tiles`) where the memory budget asks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from PIL import Image

from . import images as im
from .errors import RecipeError, SettingsError
from .pipeline import PreparedRun, Progress, prepare
from .recipe import read_recipe
from .settings import DEFAULT, LIMITS, Settings

__all__ = ["prepare_upscale", "upscale", "upscale_image", "MIN_FACTOR", "MAX_FACTOR"]

MIN_FACTOR, MAX_FACTOR = 1.25, 4.0


def prepare_upscale(
    result: im.ImageInput,
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    factor: float = 2.0,
    /,
    *,
    masks: list[Any] | None = None,
    keep: Any = None,
    **overrides: Any,
) -> PreparedRun:
    """Check and plan an upscale of ``result`` by ``factor`` (as :func:`nst.prepare`).

    Args:
        result: the result to continue from: a path or PIL image of an nst PNG, whose
            recipe gives the settings (a plain image runs with the defaults); never the
            weights, device or memory budget, which are this machine's (or ``overrides``').
        content: the content image the result was made from.
        style: its style image(s).
        factor: the new long side over the result's, 1.25 to 4.
        masks: the masks of a regional run, again.
        keep: the keep mask of the run, again.
        **overrides: settings that replace the recipe's (``size`` is the factor's).

    Raises:
        SettingsError: the factor is out of range or the size above the limit.
        RecipeError: ``result`` has a recipe that cannot be read.
        ImageError: ``result`` is not an image, or not of the content's shape.
    """
    if "size" in overrides:
        raise SettingsError("an upscale's size is the factor times the result's: give factor, not size")
    try:
        factor = float(factor)
    except (TypeError, ValueError):
        raise SettingsError(f"the upscale factor must be a number, not {factor!r}") from None
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise SettingsError(f"the upscale factor must be between {MIN_FACTOR:g} and {MAX_FACTOR:g}, not {factor:g}")
    image = im.load_image(result, "result to upscale")
    settings = _recipe_settings(result)
    size = round(max(image.size) * factor)
    if size > LIMITS.max_size:
        raise SettingsError(f"{max(image.size)} px × {factor:g} is {size} px, above the limit of {LIMITS.max_size} px")
    return prepare(content, style, settings, masks=masks, keep=keep, start=image, **{**overrides, "size": size})


def _recipe_settings(result: im.ImageInput) -> Settings:
    """The settings of ``result``'s recipe (the defaults for a plain image), as
    :func:`nst.read_recipe` gives them: never the weights, device or memory budget."""
    if not isinstance(result, (str, os.PathLike, Image.Image)):  # an array: no recipe
        return DEFAULT
    try:
        values = read_recipe(result)["settings"]
    except RecipeError as exc:
        if "carries no nst recipe" in str(exc):
            return DEFAULT
        raise
    return DEFAULT.replace(**values)


def upscale(
    result: im.ImageInput,
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    factor: float = 2.0,
    /,
    *,
    masks: list[Any] | None = None,
    keep: Any = None,
    stop: threading.Event | None = None,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    **overrides: Any,
) -> Iterator[Progress]:
    """:func:`nst.stylize`'s events for an upscale of ``result`` (see :func:`prepare_upscale`)."""
    run = prepare_upscale(result, content, style, factor, masks=masks, keep=keep, **overrides)
    return run.events(stop=stop, preview_seconds=preview_seconds, preview_size=preview_size)


def upscale_image(
    result: im.ImageInput,
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    factor: float = 2.0,
    /,
    **kwargs: Any,
) -> Image.Image:
    """Run :func:`upscale` to the end and return the larger result."""
    kwargs.setdefault("preview_every", 0)
    for event in upscale(result, content, style, factor, **kwargs):
        if event.done and event.image is not None:  # the last event holds the result
            return event.image
    raise RuntimeError("the run ended without a result")  # unreachable
