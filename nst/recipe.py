"""Reproducible recipes: every result PNG carries the settings that made it.

The recipe is a JSON object in the PNG text chunk ``nst-recipe``::

    {"nst": "0.1.0", "settings": {...every Settings field...},
     "device": "cpu", "precision": "fp32", "weights_preprocessing": "caffe",
     "styles": 1, "masks": ["sky.png"]}

``settings`` is what :func:`read_recipe` gives back, less the settings that would choose
what the reading machine opens or where it runs (:data:`NOT_APPLIED`); the rest records
where the image was made, since the same settings reproduce an image only on the same
device and precision. Images are never stored: ``masks`` (present only in regional runs)
names each style's mask by its file name, or ``"mask N"`` when it was given as pixels.
"""

from __future__ import annotations

import json
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from . import png
from .images import shown_path
from .settings import LIMITS, Settings, SettingsError, field_names

__all__ = [
    "RECIPE_KEY",
    "MAX_RECIPE_BYTES",
    "NOT_APPLIED",
    "RecipeError",
    "input_reference",
    "make_recipe",
    "save_png",
    "read_recipe",
]

RECIPE_KEY = "nst-recipe"
# Settings that change how a run reports, not what it makes.
_NOT_RECORDED = ("preview_every",)
# Settings a recipe records but never sets: a picture from anywhere does not choose which
# files are opened or downloaded (weights), which device runs, or how much memory is planned.
NOT_APPLIED = ("weights", "device", "max_memory")
# The most text a recipe may hold: far above what nst writes (tests/test_recipe.py checks a
# real one against it) and far below Pillow's 1 MB per text chunk, so that what is read
# from a visitor's file, and what a gallery keeps of it, stays small whatever the file holds.
MAX_RECIPE_BYTES = 64 * 1024
# A name kept from a recipe (a mask's file name, the weights it ran with): a file name's
# length on common file systems, so real names are kept whole.
MAX_NAME = 255
# The most items of a list kept from a recipe (mask names, style_blend's weights).
MAX_LISTED = 64
# A zTXt or iTXt chunk holds a few bytes besides its text (method, flags, a language tag);
# a compressed text is larger than MAX_RECIPE_BYTES only when it would unpack to more.
_CHUNK_HEADROOM = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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
    is unpacked. A file that is not a PNG holds no recipe, if it is an image at all.

    Raises:
        _Refused: the recipe chunk is damaged or over MAX_RECIPE_BYTES.
    """
    key = RECIPE_KEY.encode() + b"\0"
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
            if kind not in png.TEXT:
                f.seek(length + 4, 1)  # the chunk and its CRC, unread
                continue
            start = f.read(min(length, len(key)))
            if start != key:
                f.seek(length - len(start) + 4, 1)
                continue
            # Checked on the chunk's declared length, before reading it: the length is the file's word.
            if length > MAX_RECIPE_BYTES + _CHUNK_HEADROOM:
                raise _Refused(_too_large())
            body = f.read(length - len(key))
            crc = f.read(4)
            if len(body) != length - len(key) or len(crc) != 4:
                raise _Refused("is damaged (the file ends inside it)")
            if struct.unpack(">I", crc)[0] != zlib.crc32(kind + key + body):
                raise _Refused("is damaged (its checksum does not match)")
            try:
                return png.chunk_text(kind, body, MAX_RECIPE_BYTES)
            except png.TextTooLarge:
                raise _Refused(_too_large()) from None
            except ValueError as exc:
                raise _Refused(f"is damaged ({exc})") from None
    return None


def read_recipe(source: str | os.PathLike[str] | Image.Image) -> dict[str, Any]:
    """The recipe stored in an nst PNG (see the module docstring), as data only.

    A recipe is a file from anywhere: what it may choose is what the image looks like, not
    what the reading machine opens, downloads, or how much memory it plans. So:

    - ``settings`` holds the known settings, validated and normalised (lists for tuples),
      without those of :data:`NOT_APPLIED` (weights, device, max_memory), which are given
      instead, as clipped one-line strings, in ``not_applied`` (always present) for a
      front end to mention;
    - the rest (``nst``, ``device``, ``precision``, ``weights_preprocessing``, ``styles``,
      ``masks``, ``keep``, ``upscaled_from``, ``steps_done``) is kept where it has its
      expected type, strings clipped to one line and lists to :data:`MAX_LISTED` items;
      other keys, and values of other types, are dropped.

    Raises:
        RecipeError: the file cannot be read, holds no nst recipe, or one that is damaged,
            over :data:`MAX_RECIPE_BYTES`, or has a setting out of range.
    """
    if isinstance(source, Image.Image):
        text = source.info.get(RECIPE_KEY)
        name = "the image"
        if text is not None and not isinstance(text, str):
            raise RecipeError(f"the recipe in {name} is damaged (not text)")
    else:
        name = repr(shown_path(Path(source)))
        try:
            text = _recipe_text(Path(source))
        except _Refused as exc:
            raise RecipeError(f"the recipe in {name} {exc}") from None
        except FileNotFoundError:
            raise RecipeError(f"recipe file {name} does not exist") from None
        except IsADirectoryError:
            raise RecipeError(f"recipe file {name} is a folder, not a file") from None
        except (OSError, ValueError, SyntaxError, struct.error, zlib.error):
            raise RecipeError(f"recipe file {name} is not an image nst can read") from None
    if text is None:
        raise RecipeError(f"{name} carries no nst recipe (only PNGs saved by nst do)")
    try:
        return _parse(text)
    except _Refused as exc:
        raise RecipeError(f"the recipe in {name} {exc}") from None


def _parse(text: str) -> dict[str, Any]:
    """The recipe in ``text``, as :func:`read_recipe` gives it.

    Raises:
        _Refused: why not (the words that follow "the recipe in NAME").
    """
    if not text.strip():
        raise _Refused("is empty")
    if len(text) > MAX_RECIPE_BYTES:
        raise _Refused(_too_large())
    try:
        recipe = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        raise _Refused("is damaged (not JSON)") from None
    if not isinstance(recipe, dict) or not isinstance(recipe.get("settings"), dict):
        raise _Refused("is damaged (it has no settings)")
    out: dict[str, Any] = {
        key: kept for key, check in _INFO.items() if key in recipe and (kept := check(recipe[key])) is not None
    }
    values = recipe["settings"]
    # Settings from a newer or older nst: the known ones are used, the others dropped.
    known = {k: v for k, v in values.items() if k in field_names() and k not in _NOT_RECORDED + NOT_APPLIED}
    version = _version(out.get("nst"))
    if version < (0, 2):
        # Made before the per-pair normalisation (nst 0.1): it ran in Gatys's units.
        known.setdefault("normalization", "none")
    if "keep_faces" not in values and version <= _version(_nst_version()):
        # Made before faces were kept: it ran without (every recipe since names it).
        known["keep_faces"] = False
    try:
        settings = Settings.from_mapping(known)
    except SettingsError as exc:
        raise _Refused(f"has a bad setting: {exc}") from None
    except (TypeError, ValueError, OverflowError, RecursionError, AttributeError):  # values of shapes no setting has
        raise _Refused("is damaged (a setting of the wrong type)") from None
    if settings.style_blend is not None and len(settings.style_blend) > MAX_LISTED:
        raise _Refused(
            f"has a bad setting: style_blend has {len(settings.style_blend)} weights, more than {MAX_LISTED}"
        )
    # The validated values, not the given ones: "12" is 12, and no value is larger than its setting.
    plain = settings.to_dict()
    out["settings"] = {k: plain[k] for k in known}
    out["not_applied"] = {k: _clip(v) for k in NOT_APPLIED if _is_scalar(v := values.get(k))}
    return out


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _no_constant(word: str) -> Any:
    # NaN and Infinity are not JSON, though Python's reader takes them by default.
    raise ValueError(f"{word} is not a number a recipe holds")


def _too_large() -> str:
    return f"is over {MAX_RECIPE_BYTES // 1024} KiB (nst's recipes hold a few KiB)"


def _clip(value: str | float) -> str:
    """``value`` as one line of at most MAX_NAME characters: no control characters (a
    newline or a terminal escape in a recipe must not reach a terminal or a log as such)."""
    text = _CONTROL.sub("?", str(value)[: MAX_NAME * 2])
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def _text(value: Any) -> str | None:
    return _clip(value) if isinstance(value, str) else None


def _count(hi: int) -> Callable[[Any], int | None]:
    """A check that keeps a whole number in [0, hi] (not a bool), and drops anything else."""

    def check(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= hi else None

    return check


def _names(value: Any) -> list[str] | None:
    """The first MAX_LISTED names of a list of names (clipped), else None."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value[:MAX_LISTED]):
        return None
    return [_clip(v) for v in value[:MAX_LISTED]]


def _size(value: Any) -> list[int] | None:
    """A ``[width, height]`` of plausible sides, else None."""
    side = _count(10 * LIMITS.max_size)
    if not isinstance(value, list) or len(value) != 2 or any(side(v) is None for v in value):
        return None
    return list(value)


# The informational keys of a recipe and how each is kept (None: dropped).
_INFO = {
    "nst": _text,
    "device": _text,
    "precision": _text,
    "weights_preprocessing": _text,
    "keep": _text,
    "styles": _count(10_000),
    "masks": _names,
    "upscaled_from": _size,
    "steps_done": _count(10 * LIMITS.max_steps),
}


class _Refused(Exception):
    """Why a recipe is refused, as the words after "the recipe in NAME"."""


def _nst_version() -> str:
    from ._version import __version__

    return __version__


def _version(text: Any) -> tuple[int, ...]:
    """``"0.1.0"`` as ``(0, 1, 0)``; a missing or odd version counts as the oldest."""
    try:
        return tuple(int(part) for part in str(text).split(".")[:3])
    except ValueError:
        return (0,)
