"""This visit's results: the gallery (a :class:`.gallery.Gallery` per browser tab, in
``gr.State``), a pick shown again with its settings, two results on the compare slider.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from .door import cheap
from .gallery import Gallery
from .settings import ADVANCED_SETTINGS, MAIN_SETTINGS, load_recipe


@cheap("reads the result's recipe chunk (bounded); the gallery holds a bounded number of entries")
def add_result(png: str | None, visit: Gallery) -> tuple:
    """A finished run into this visit's gallery, and into the compare menus' choices."""
    if png:
        visit.add(png)
    menu = gr.Dropdown(choices=visit.choices())
    return visit.items(), visit, menu, menu


@cheap("looks up the visit's entry and reads its recipe chunk (bounded)")
def pick_result(visit: Gallery, evt: gr.SelectData) -> list[Any]:
    """A gallery pick: the result shown again, with its settings restored in the controls."""
    entry = visit.at(evt.index)
    if not Path(entry.path).is_file():
        gr.Warning(f"Result #{entry.number} is no longer on the server (results are kept for an hour).")
        return [gr.skip()] * (4 + len(MAIN_SETTINGS) + len(ADVANCED_SETTINGS))
    return [entry.path, entry.path, f"Showing result {html.escape(entry.caption)}", *load_recipe(entry.path)]


def compare_results(a: int | None, b: int | None, visit: Gallery) -> Any:
    """Two of the visit's results on the before/after slider (A left, B right)."""
    first, second = visit.numbered(a), visit.numbered(b)
    if first is None or second is None:
        return gr.skip()
    return Image.open(first.path).convert("RGB"), Image.open(second.path).convert("RGB")


@cheap("shows or hides a column")
def show_finished(path: str | None) -> Any:
    """The result's column (before/after, PNG, Upscale), shown once there is a result."""
    return gr.Column(visible=path is not None)
