"""The run's settings on the page: which controls there are, the values checked by nst, and
the controls' values from a recipe (an nst PNG's, or a gallery pick's).

Defaults, ranges, choices and help come from ``nst.field_info``: a control is a Settings
field (:func:`.parts.control`).
"""

from __future__ import annotations

import html
import math
from typing import Any

import gradio as gr

import nst

from . import machine
from .door import cheap
from .parts import nst_error, shown

# The controls of the page and of the /stylize API, in order; each is a Settings field.
# Adding a setting to the Advanced section is adding its name here and a parameter of the
# same name to `run.stylize` (its component comes from the field's metadata: see `parts.control`).
MAIN_SETTINGS = ("steps", "style_weight", "content_layer", "style_layers", "keep_faces")
ADVANCED_SETTINGS = (
    "size",
    "preserve_color",
    "style_loss",
    "style_scale",
    "tv_weight",
    "style_blend",
    "init",
    "optimizer",
    "seed",
    "multiscale",
    "time_limit",
    "normalization",
)


def checked(values: dict[str, Any]) -> nst.Settings:
    """nst.DEFAULT with the submitted values, checked by nst; a gr.Error if one is bad."""
    try:
        s = nst.DEFAULT.replace(**values)
    except nst.SettingsError as exc:
        raise nst_error(exc) from None
    if s.size > machine.max_size():  # the app's cap, by a visitor's wait (nst takes up to 8192 px)
        raise gr.Error(nst.size_cap_message(s.size, machine.device()), print_exception=False)
    return s


@cheap("reads the recipe's text chunk, bounded by nst.read_recipe, and no pixels")
def load_recipe(path: str | None) -> list[Any]:
    """The controls' values from the recipe in an nst PNG (then the log-weight slider's); a
    file without a recipe leaves the controls as they are, with a notice."""
    names = [*MAIN_SETTINGS, *ADVANCED_SETTINGS]
    try:
        recipe = nst.read_recipe(path) if path else None
    except nst.RecipeError as exc:
        gr.Warning(html.escape(str(exc), quote=False))
        recipe = None
    if recipe is None:
        return [gr.skip()] * (len(names) + 1)
    s = nst.DEFAULT.replace(**recipe["settings"])
    gr.Info(f"Settings loaded from the recipe (made by nst {html.escape(str(recipe.get('nst', '?')))}).")
    return [
        *(shown(name, getattr(s, name)) for name in names),
        round(math.log10(s.style_weight), 1) if s.style_weight > 0 else gr.skip(),
    ]
