"""A visit's results, for the app's gallery: each finished run's PNG, a caption, its recipe.

The app keeps one :class:`Gallery` per browser tab (in ``gr.State``: nothing is shared
between visitors, and it is gone when the tab closes). No Gradio here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst import RecipeError, read_recipe

__all__ = ["Entry", "Gallery", "caption"]

MAX_ENTRIES = 24  # a visit's results kept; the oldest go first


@dataclass(frozen=True)
class Entry:
    """One result of the visit.

    Attributes:
        number: its place in the visit (1 for the first run).
        path: the PNG, with its recipe.
        recipe: the recipe as :func:`nst.read_recipe` gives it: known keys and small values
            only (a visitor's PNG may hold anything up to the reader's bound), so that a
            visit's gallery stays small, and its settings never the weights, device or memory.
        caption: the main settings, in a few words.
    """

    number: int
    path: str
    recipe: dict[str, Any]
    caption: str


def caption(recipe: dict[str, Any], number: int | None = None) -> str:
    """'#3 · 200 steps · β/α 1e+04 · 512 px · relu4_2 · 2 styles · masks' from a recipe."""
    s = recipe.get("settings", {})
    steps = recipe.get("steps_done", s.get("steps"))
    parts = [f"#{number}"] if number is not None else []
    parts.append(f"{steps} steps" + (" (stopped)" if "steps_done" in recipe else ""))
    if "style_weight" in s:
        parts.append(f"β/α {s['style_weight']:g}")
    if "size" in s:
        parts.append(f"{s['size']} px")
    if s.get("content_layer"):
        parts.append(str(s["content_layer"]))
    styles = int(recipe.get("styles", 1))
    if styles > 1:
        parts.append(f"{styles} styles")
    if s.get("preserve_color") not in (None, "off", "none"):
        parts.append(f"colour {s['preserve_color']}")
    if recipe.get("masks"):
        parts.append("painted" if any("painted" in str(m) for m in recipe["masks"]) else "masks")
    return " · ".join(parts)


@dataclass
class Gallery:
    """The results of one visit, oldest first (at most :data:`MAX_ENTRIES`)."""

    entries: list[Entry] = field(default_factory=list)
    count: int = 0  # runs added so far, so that numbers stay unique after the oldest go

    def add(self, path: str | Path) -> Entry | None:
        """Add the result PNG at ``path`` (None: not an nst PNG, nothing added)."""
        path = str(path)
        if any(e.path == path for e in self.entries):
            return None
        try:
            recipe = read_recipe(path)
        except RecipeError:
            return None
        self.count += 1
        entry = Entry(self.count, path, recipe, caption(recipe, self.count))
        self.entries = [*self.entries, entry][-MAX_ENTRIES:]
        return entry

    def items(self) -> list[tuple[str, str]]:
        """``(path, caption)`` pairs, newest first: a ``gr.Gallery`` value."""
        return [(e.path, e.caption) for e in reversed(self.entries)]

    def at(self, index: int) -> Entry:
        """The entry shown at ``index`` of :meth:`items` (newest first)."""
        return self.entries[len(self.entries) - 1 - index]

    def choices(self) -> list[tuple[str, int]]:
        """``(caption, number)`` pairs, newest first: the compare dropdowns' choices."""
        return [(e.caption, e.number) for e in reversed(self.entries)]

    def numbered(self, number: int | None) -> Entry | None:
        return next((e for e in self.entries if e.number == number), None)
