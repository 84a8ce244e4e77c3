"""Reproducible recipes: every result PNG carries the settings that made it.

The recipe is a JSON object in the PNG text chunk ``nst-recipe``::

    {"nst": "0.1.0", "settings": {...every Settings field...},
     "device": "cpu", "precision": "fp32", "weights": "embedded (Caffe VGG19, ...)",
     "styles": 1, "masks": ["sky.png"]}

``settings`` is what :func:`read_recipe` gives back; the rest records where the image was
made, since the same settings reproduce an image only on the same device and precision.
Images are never stored: ``masks`` (present only in regional runs) names each style's mask
by its file name, or ``"mask N"`` when it was given as pixels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from . import png
from .images import shown_path
from .settings import Settings, SettingsError, field_names

__all__ = ["RECIPE_KEY", "RecipeError", "input_reference", "make_recipe", "save_png", "read_recipe"]

RECIPE_KEY = "nst-recipe"
# Settings that change how a run reports, not what it makes.
_NOT_RECORDED = {"preview_every"}


from .errors import RecipeError  # noqa: E402  (defined with nst's other errors)


def make_recipe(settings: Settings, **where: Any) -> dict[str, Any]:
    """The recipe of a run: its settings and ``where`` (device, precision, weights, ...)."""
    from ._version import __version__

    values = {k: v for k, v in settings.to_dict().items() if k not in _NOT_RECORDED}
    return {"nst": __version__, "settings": values, **where}


def input_reference(src: Any, fallback: str) -> str:
    """How a recipe names an input image: its file name, or ``fallback`` (e.g. ``"mask 1"``)
    for pixels given directly. Never a folder (no server paths in recipes)."""
    if isinstance(src, (str, Path)) and str(src).strip():
        return Path(src).name
    return fallback


def save_png(image: Image.Image, path: str | Path, recipe: dict[str, Any] | None = None) -> None:
    """Save ``image`` as a PNG with its recipe (``recipe``, else ``image.info``'s) as text.

    Results of :func:`nst.stylize` carry their recipe in ``image.info["nst-recipe"]``,
    which Pillow's own ``save`` does not write; this does.
    """
    text = json.dumps(recipe) if recipe is not None else image.info.get(RECIPE_KEY)
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text(RECIPE_KEY, text)
        info.add_text("Software", f"nst {json.loads(text).get('nst', '')}".strip())
    image.save(path, format="PNG", pnginfo=info)


def _recipe_text(path: Path) -> str | None:
    try:
        with Image.open(path) as img:
            img.load()  # text after the pixels is read with them
            return img.info.get(RECIPE_KEY)
    except ValueError as exc:
        if not png.is_metadata_limit(exc):
            raise
    # Another text chunk is over Pillow's limit: find the recipe's own chunk, reading no other.
    return png.find_text(path.read_bytes(), RECIPE_KEY, limit=png_limit())


def png_limit() -> int:
    """The most a recipe's text may unpack to: Pillow's limit for one text chunk."""
    return PngImagePlugin.MAX_TEXT_CHUNK


def read_recipe(source: str | Path | Image.Image) -> dict[str, Any]:
    """The full recipe stored in an nst PNG (see the module docstring).

    Raises:
        RecipeError: the file cannot be read, or holds no valid nst recipe.
    """
    if isinstance(source, Image.Image):
        text = source.info.get(RECIPE_KEY)
        name = "the image"
    else:
        name = repr(shown_path(Path(source)))
        try:
            text = _recipe_text(Path(source))
        except FileNotFoundError:
            raise RecipeError(f"recipe file {name} does not exist") from None
        except (OSError, ValueError, SyntaxError):
            raise RecipeError(f"recipe file {name} is not an image nst can read") from None
    if not text:
        raise RecipeError(f"{name} carries no nst recipe (only PNGs saved by nst do)")
    try:
        recipe = json.loads(text)
        values = recipe["settings"]
        if not isinstance(values, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise RecipeError(f"the recipe in {name} is damaged") from None
    # Settings from a newer or older nst: known ones are used, the others named.
    known = {k: v for k, v in values.items() if k in field_names()}
    if _version(recipe.get("nst")) < (0, 2):
        # Made before the per-pair normalisation (nst 0.1): it ran in Gatys's units.
        known.setdefault("normalization", "none")
    if "keep_faces" not in values and _version(recipe.get("nst")) <= _version(_nst_version()):
        # Made before faces were kept: it ran without (every recipe since names it).
        known["keep_faces"] = False
    try:
        Settings.from_mapping(known)
    except SettingsError as exc:
        raise RecipeError(f"the recipe in {name} has a bad setting: {exc}") from None
    recipe["settings"] = known
    return recipe


def _nst_version() -> str:
    from ._version import __version__

    return __version__


def _version(text: Any) -> tuple[int, ...]:
    """``"0.1.0"`` as ``(0, 1, 0)``; a missing or odd version counts as the oldest."""
    try:
        return tuple(int(part) for part in str(text).split(".")[:3])
    except ValueError:
        return (0,)
