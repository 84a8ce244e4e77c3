"""The brush: the painter's canvas for a new content photo, and at Run its strokes as mask
files (one per style, and the keep mask) in the masks and keep boxes. The strokes become
masks in :mod:`.brush` (no Gradio there).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

import nst

from . import brush, budgets
from .parts import nst_error, results_dir
from .run import MAX_STYLES

BRUSH_PIXELS = 2_000_000  # brush layers are read at most this large (the masks are made at full size)


def paint_on(content: str | None) -> dict[str, Any] | None:
    """The painter's canvas for a new content image: the photo, no strokes. The photo is
    decoded whole (in the queue): a damaged one gets no canvas, whose decoding at Run would
    fail before nst could say what is wrong."""
    if content is None:
        return None
    try:
        nst.load_image(content, "content image")
    except nst.Error:
        return None  # an image nst refuses: the canvas stays empty, and Run says why
    return {"background": content, "layers": [], "composite": content}


def painted_masks(painted: dict[str, Any] | None, current: list[str] | None, more_styles: list[str] | None) -> Any:
    """At Run: the mask files from the brush strokes (one per style), into the masks box. No
    strokes: the box is cleared of earlier painted masks, and uploaded masks are kept."""
    n = 1 + len([p for p in (more_styles or []) if p])
    if n > MAX_STYLES:
        raise gr.Error(f"at most {MAX_STYLES} style images in one run, not {n}", print_exception=False)
    layers = _layers(painted)
    full = layers[0].size if layers else None
    # Strokes are read at up to BRUSH_PIXELS (the masks are feathered anyway) and the masks
    # made at the canvas's size: a huge canvas then costs the server little.
    layers = budgets.reduced(layers, BRUSH_PIXELS)
    try:
        masks = brush.masks_from_strokes(layers, n, size=full)
    except nst.Error as exc:
        raise nst_error(exc) from None
    if masks is None:
        return None if current and all(Path(p).name.startswith("painted-") for p in current) else gr.skip()
    folder = Path(tempfile.mkdtemp(prefix="painted-", dir=results_dir()))
    for i, m in enumerate(masks, 1):
        m.save(folder / f"painted-mask-{i}.png")
    return [str(folder / f"painted-mask-{i}.png") for i in range(1, n + 1)]


def painted_keep(painted: dict[str, Any] | None, current: str | None) -> Any:
    """At Run (after :func:`painted_masks`, which has checked the strokes): the brush's white
    strokes as the keep mask file, into the keep box. No white strokes: the box is cleared of
    an earlier painted keep mask, and an uploaded one is kept."""
    layers = _layers(painted)
    keep = brush.strokes(budgets.reduced(layers, BRUSH_PIXELS), len(brush.PALETTE)).keep  # as the masks are read
    if keep is None:
        return None if current and Path(current).name.startswith("painted-") else gr.skip()
    path = Path(tempfile.mkdtemp(prefix="painted-", dir=results_dir())) / "painted-keep.png"
    keep.resize(layers[0].size, Image.Resampling.BILINEAR).save(path)  # at the canvas's size, as the masks are
    return str(path)


def _layers(painted: dict[str, Any] | None) -> list[Image.Image]:
    """The brush's stroke layers, as PIL images."""
    return [layer for layer in (painted or {}).get("layers") or [] if isinstance(layer, Image.Image)]
