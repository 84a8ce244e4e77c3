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
import struct
import warnings
import zlib
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
    """The recipe's text in the PNG at ``path``, or None, from its text chunks alone: the
    pixels are not decoded (a recipe file may declare any size), and no other text chunk
    is unpacked. A file that is not a PNG holds no recipe, if it is an image at all."""
    limit = png_limit()
    with path.open("rb") as f:
        if f.read(len(png.SIGNATURE)) != png.SIGNATURE:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    Image.open(path).close()  # the header alone: is it an image (without a recipe)?
                except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                    pass
            return None
        while len(head := f.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                break
            if kind not in (b"tEXt", b"zTXt", b"iTXt"):
                f.seek(length + 4, 1)  # the chunk and its CRC, unread
                continue
            key = f.read(min(length, 80))
            if not key.startswith(RECIPE_KEY.encode() + b"\0"):
                f.seek(length - len(key) + 4, 1)
                continue
            if length > limit:
                raise ValueError(f"a recipe of {length} bytes")
            body = key + f.read(length - len(key))
            return png.find_text(png.SIGNATURE + head + body + b"\0" * 4, RECIPE_KEY, limit=limit)
    return None


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
        except IsADirectoryError:
            raise RecipeError(f"recipe file {name} is a folder, not a file") from None
        except (OSError, ValueError, SyntaxError, struct.error, zlib.error):
            raise RecipeError(f"recipe file {name} is not an image nst can read") from None
    if not text:
        raise RecipeError(f"{name} carries no nst recipe (only PNGs saved by nst do)")
    try:
        recipe = json.loads(text)
        values = recipe["settings"]
        if not isinstance(values, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: nested thousands deep
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
    except (TypeError, ValueError, OverflowError, RecursionError, AttributeError):  # values of shapes no setting has
        raise RecipeError(f"the recipe in {name} is damaged") from None
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
