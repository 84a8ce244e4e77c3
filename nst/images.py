"""Image input and output: any path, PIL image or array in; RGB tensors in [0, 1] inside."""

from __future__ import annotations

import io
import math
import os
import re
import struct
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from . import png, tiff

__all__ = [
    "ImageInput",
    "ImageError",
    "MAX_INPUT_PIXELS",
    "load_image",
    "load_mask",
    "resize_to_long_side",
    "resize_to_pixels",
    "to_tensor",
    "to_pil",
    "to_uint8",
]

ImageInput = Union[str, Path, Image.Image, np.ndarray]

# Decoding more than this is refused before any pixel data is read: a tiny file can
# declare a 40000×40000 canvas. A 60 Mpx photo (e.g. 9504×6336) still loads and is downscaled.
MAX_INPUT_PIXELS = 64_000_000

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_VECTOR = {".svg": "SVG", ".svgz": "SVG", ".pdf": "PDF", ".eps": "EPS", ".ai": "Illustrator"}


from .errors import ImageError  # noqa: E402  (defined with nst's other errors)


def load_image(src: ImageInput, what: str = "image") -> Image.Image:
    """Read ``src`` as an 8-bit RGB PIL image.

    Honours EXIF orientation and converts every mode Pillow holds (L, LA, P, PA, RGBA, the
    premultiplied La and RGBa, CMYK, YCbCr, LAB, HSV, I;16, I, F, ...) to RGB, and also reads
    the float and 32-bit TIFFs with several bands that Pillow cannot (:mod:`nst.tiff`);
    transparent areas (an alpha band, a palette's alpha, or one transparent colour) are
    composited on white. An animated image contributes its first frame.

    Args:
        src: a file path, a PIL image, or an ``(H, W)``, ``(H, W, 1|2|3|4)`` array of
            integers or floats (scaled as :func:`to_uint8` says; a file of the same samples
            gives the same image).
        what: how to name the image in error messages, e.g. ``"content image"``.

    Raises:
        ImageError: the input is missing, unreadable, too large or of an unknown kind.
    """
    if isinstance(src, np.ndarray):
        img = _from_array(src, what)
    elif isinstance(src, Image.Image):
        img = src
    elif isinstance(src, str) and not src.strip():
        raise ImageError(f"no {what} was given")
    elif isinstance(src, str) and _URL.match(src):
        raise ImageError(f"the {what} {src!r} is a web address; nst reads local files only, so download it first")
    elif isinstance(src, (str, Path)):
        img = _open(Path(src), what)
    elif src is None:
        raise ImageError(f"no {what} was given")
    else:
        raise ImageError(f"the {what} must be a file path, a PIL image or an array, not {type(src).__name__}")
    if img.width * img.height > MAX_INPUT_PIXELS:
        raise ImageError(
            f"the {what} is {img.width}×{img.height} pixels, more than the "
            f"{MAX_INPUT_PIXELS // 1_000_000} Mpx nst accepts; downscale it first"
        )
    if not img.width or not img.height:  # Image.new() makes them; nothing can be resized from one
        raise ImageError(f"the {what} is empty ({img.width}×{img.height} pixels)")
    return _upright(img, what, _to_rgb)


def _upright(img: Image.Image, what: str, convert: Callable[[Image.Image, str], Image.Image]) -> Image.Image:
    """``img`` turned upright by its EXIF orientation, then ``convert``-ed (to RGB or to a
    mask); a decoding failure on the way is an :class:`ImageError` naming ``what``."""
    try:
        return convert(ImageOps.exif_transpose(img), what)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the {what} could not be decoded ({_short(exc)})") from None


def load_mask(src: ImageInput | torch.Tensor, what: str = "mask") -> Image.Image:
    """Read ``src`` as an 8-bit greyscale (``L``) mask: white is "this style here".

    Files and PIL images go through :func:`load_image`'s checks (missing, unreadable,
    too large, EXIF orientation). Transparent areas count as black (not painted), so a
    layer of white strokes on a transparent background is a mask. Colour images are
    refused: a mask says where, not what colour.

    Args:
        src: a file path, a PIL image, an ``(H, W)`` or ``(H, W, 1)`` array or tensor
            (bool, uint8, uint16, or float in [0, 1]), or a grey ``(H, W, 3)`` one.
        what: how to name the mask in error messages, e.g. ``"mask 2"``.

    Raises:
        ImageError: the mask is missing, unreadable, in colour or of an unknown kind.
    """
    if isinstance(src, torch.Tensor):
        t = src.detach().cpu()
        while t.dim() > 2 and t.shape[0] == 1:
            t = t[0]  # (1, 1, H, W) and (1, H, W) as (H, W)
        src = t.numpy()
    if isinstance(src, np.ndarray):
        a = np.asarray(src)
        if np.issubdtype(a.dtype, np.floating) and a.size and np.isfinite(a).all():
            if a.min() < -1e-6 or a.max() > 1 + 1e-6:
                raise ImageError(
                    f"the {what} array has values from {a.min():g} to {a.max():g}; "
                    "a float mask goes from 0 (black: photo kept) to 1 (white: style here)"
                )
        if a.ndim == 3 and a.shape[2] == 4:
            raise ImageError(f"the {what} array has shape {a.shape}; a mask is (H, W), (H, W, 1) or grey (H, W, 3)")
        img = _from_array(a, what)  # shape, dtype and NaN checks
    elif isinstance(src, Image.Image):
        img = src
    else:
        # Paths (and bad kinds) through load_image's checks, then decoded again as a mask.
        load_image(src, what)
        return _upright(_open(Path(src), what), what, _to_mask)
    if img.width * img.height > MAX_INPUT_PIXELS:
        return load_image(img, what)  # raises the size error
    return _upright(img, what, _to_mask)


def _to_mask(img: Image.Image, what: str) -> Image.Image:
    if img.mode in ("La", "RGBa"):
        img = img.convert(img.mode.upper())  # premultiplied: un-premultiplied, alpha kept below
    elif img.mode in ("1", "L", "RGB") and img.info.get("transparency") is not None:
        img = img.convert("RGBA")  # one transparent colour: transparent is unpainted below
    if img.mode in ("1", "L"):
        return img.convert("L")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _to_rgb(img, what).convert("L")  # scaled from 16 bits, not clipped
    if img.mode == "P":
        img = img.convert("RGBA")
    alpha = None
    if img.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(img.getchannel(img.getbands()[-1]), dtype=np.float32) / 255.0
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    # JPEG noise leaves a grey image a little coloured; a colour picture is far more so.
    spread = float((rgb.max(axis=2) - rgb.min(axis=2)).mean()) if rgb.size else 0.0
    if spread > 8:
        raise ImageError(
            f"the {what} is a colour image; a mask is greyscale: white where the style goes, "
            "black where the photo is kept"
        )
    grey = np.asarray(img.convert("RGB").convert("L"), dtype=np.float32)
    if alpha is not None:
        grey = grey * alpha  # transparent is unpainted: black
    return Image.fromarray(grey.round().clip(0, 255).astype(np.uint8), "L")


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def shown_path(path: Path) -> str:
    """``path`` as the person gave it (``sub/x.jpg`` stays ``sub/x.jpg``), except an absolute
    path in the temporary folder, where front ends such as the app keep uploads: its folder
    is the server's, not the person's, so only the file name is shown."""
    if not path.is_absolute():
        return str(path)
    temp = [tempfile.gettempdir(), os.environ.get("GRADIO_TEMP_DIR")]
    try:
        if any(t and path.resolve().is_relative_to(Path(t).resolve()) for t in temp):
            return path.name
    except (OSError, RuntimeError):
        return path.name
    return str(path)


def _open(path: Path, what: str) -> Image.Image:
    name = shown_path(path)
    if not path.exists():
        raise ImageError(f"the {what} {name!r} does not exist")
    if path.is_dir():  # Path drops a typed trailing slash: put it back, the folder as typed
        raise ImageError(f"the {what} {name.rstrip(os.sep) + os.sep!r} is a folder, not an image file")
    if not path.is_file():
        raise ImageError(f"the {what} {name!r} is not a file")
    if path.stat().st_size == 0:
        raise ImageError(f"the {what} {name!r} is empty (0 bytes)")
    deep = None
    if _is_tiff(path):
        # Deep samples (float, 16 and 32 bits) are read by nst.tiff where it can: Pillow has
        # no mode for several such bands, reads unsigned 32-bit samples as signed, and
        # compressed big-endian ones in the wrong byte order.
        try:
            return _from_array(tiff.read_array(path, MAX_INPUT_PIXELS), f"{what} {name!r}")
        except tiff.NotDeep:
            pass
        except ImageError:
            raise
        except (tiff.TiffError, ValueError, struct.error) as exc:
            deep = f"the {what} {name!r} is a TIFF nst cannot read: {exc}"  # unless Pillow can
    try:
        try:
            img = _decode(path, what, name)
        except ValueError as exc:
            if not png.is_metadata_limit(exc):
                raise
            # Text or a colour profile too large for Pillow's guard: nst needs neither.
            img = _decode(io.BytesIO(png.without_metadata(path.read_bytes())), what, name)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused it from its header; its message holds the pixel count.
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"declares {int(pixels.group(1)) / 1e6:,.0f} Mpx" if pixels else "is too large to decode safely"
        raise ImageError(
            f"the {what} {name!r} {declared}, more than the {MAX_INPUT_PIXELS // 1_000_000} Mpx nst accepts"
        ) from None
    except UnidentifiedImageError:
        if deep:
            raise ImageError(deep) from None
        kind = _VECTOR.get(path.suffix.lower())
        hint = f": {kind} is a vector format, so export it as PNG or JPEG first" if kind else ""
        raise ImageError(f"the {what} {name!r} is not an image file nst can read{hint}") from None
    except PermissionError:
        raise ImageError(f"the {what} {name!r} cannot be read (permission denied)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        if deep:
            raise ImageError(deep) from None
        reason = _short(exc).replace(str(path), name)  # no server paths in messages
        raise ImageError(f"the {what} {name!r} is damaged or truncated ({reason})") from None
    return img


def _decode(src: Path | io.BytesIO, what: str, name: str) -> Image.Image:
    """Open and load ``src`` with Pillow, refusing a declared size over the limit first."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(src)
        if img.width * img.height > MAX_INPUT_PIXELS:
            raise ImageError(
                f"the {what} {name!r} declares {img.width}×{img.height} pixels, more than "
                f"the {MAX_INPUT_PIXELS // 1_000_000} Mpx nst accepts"
            )
        img.load()
    return img


def _is_tiff(path: Path) -> bool:
    with path.open("rb") as f:
        return tiff.is_tiff(f.read(4))


def _from_array(arr: np.ndarray, what: str) -> Image.Image:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ImageError(f"the {what} array has shape {a.shape}; expected (H, W), (H, W, 2), (H, W, 3) or (H, W, 4)")
    if a.size == 0:
        raise ImageError(f"the {what} array is empty")
    if not (a.dtype == bool or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ImageError(f"the {what} array has dtype {a.dtype}; use unsigned or signed integers, or floats")
    a = to_uint8(a, what)
    return Image.fromarray(np.ascontiguousarray(a))  # L, LA, RGB or RGBA


def to_uint8(a: np.ndarray, what: str = "image") -> np.ndarray:
    """Samples of any depth as 8-bit, by one rule for arrays and files alike.

    - uint8 as is; bool as 0/255; uint16 (and Pillow's I;16 modes) by its high byte, as
      Pillow reads 16-bit colour PNGs and TIFFs.
    - Other integers (Pillow's 32-bit mode I holds 8-, 16- and 32-bit files): negative
      values are black; the scale is 8-bit if no value is above 255, else 16-bit if none is
      above 65535, else 32-bit.
    - Floats on a 0–1 scale if no value is above 1 (what most tools write); else on 0–255
      (Pillow's mode F of an 8-bit image) if none is above 255, else on 0–65535. Values
      outside the scale are clipped; NaN or infinity is refused.

    Args:
        a: the samples, of any shape.
        what: how to name the image in error messages.
    """
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        top = int(a.max())
        shift = 0 if top <= 255 else 8 if top <= 65535 else 24
        return (np.clip(a, 0, None).astype(np.uint64) >> shift).clip(0, 255).astype(np.uint8)
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ImageError(f"the {what} contains NaN or infinite values")
    peak = float(a.max())
    scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
    return (np.clip(a / scale, 0.0, 1.0) * 255.0).round().astype(np.uint8)


# Modes whose transparency is one colour (``info["transparency"]``, a PNG's tRNS chunk):
# Pillow keeps it beside the pixels, and honours it when converting to RGBA.
_KEYED = ("1", "L", "RGB", "I", "I;16", "I;16L", "I;16B", "I;16N")


def _to_rgb(img: Image.Image, what: str) -> Image.Image:
    """``img`` as 8-bit RGB: every mode Pillow holds (see ``Image.MODES``), with transparent
    areas composited on white, whether the alpha is a band (``RGBA``, ``LA``, ``PA``, the
    premultiplied ``RGBa`` and ``La``), in the palette, or one transparent colour.

    Raises:
        ImageError: a mode this does not know (a Pillow newer than nst), named.
    """
    key = img.info.get("transparency") if img.mode in _KEYED else None
    if img.mode == "RGB" and key is None:
        return img
    if img.mode.startswith(("I;16", "I", "F")):
        # Pillow's own conversion of deep greyscale to RGB clips at 255 (mostly white), and
        # reads floats on a 0–255 scale: these follow the rule of arrays instead.
        a = np.asarray(img)
        if img.mode.startswith("I;16"):
            a = a.astype(np.uint16)  # native byte order (I;16B is big-endian)
        grey = to_uint8(a, what)
        if isinstance(key, int):  # the transparent grey level, in the samples' own units
            grey = np.where(a == key, np.uint8(255), grey)
        return Image.fromarray(grey).convert("RGB")
    if img.mode in ("RGBa", "La"):
        # Premultiplied: each colour is already colour × alpha, so over white it is that
        # plus the white showing through. (Pillow has no La to RGBA conversion, and un-
        # premultiplying first would lose the dark, nearly transparent levels.)
        a = np.asarray(img, dtype=np.float32)
        rgb = np.clip(a[..., :-1] + (255.0 - a[..., -1:]), 0, 255).round().astype(np.uint8)
        return Image.fromarray(np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb)
    if img.mode == "P" or key is not None:
        img = img.convert("RGBA")  # the palette's alpha, or the transparent colour, as a band
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("1", "L", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        return img.convert("RGB")
    raise ImageError(
        f"the {what} is a PIL image in mode {img.mode!r}, which nst cannot convert to RGB; "
        "convert it to RGB or RGBA first"
    )


def resize_to_long_side(img: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side is ``size`` pixels, keeping the aspect ratio."""
    scale = size / max(img.size)
    return _resize(img, (img.width * scale, img.height * scale))


def resize_to_pixels(img: Image.Image, pixels: float) -> Image.Image:
    """Resize to about ``pixels`` pixels in all, keeping the aspect ratio."""
    scale = math.sqrt(pixels / (img.width * img.height))
    return _resize(img, (img.width * scale, img.height * scale))


def _resize(img: Image.Image, wh: tuple[float, float]) -> Image.Image:
    w, h = max(1, round(wh[0])), max(1, round(wh[1]))
    if (w, h) == img.size:
        return img
    # Reduce in integer steps first: fast on huge photos, and no aliasing.
    factor = min(img.width // w, img.height // h)
    if factor >= 2:
        img = img.reduce(factor)
    return img.resize((w, h), Image.Resampling.LANCZOS)


def to_tensor(img: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """An RGB PIL image as a ``(1, 3, H, W)`` float32 tensor in [0, 1]."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


# Pixels per band of :func:`to_pil`'s conversion.
PIL_BAND_PIXELS = 1 << 20


def to_pil(x: torch.Tensor) -> Image.Image:
    """A ``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] as an RGB PIL image (clamped).

    Converted in bands of rows: each float step on the whole image would be an image-sized
    temporary (85 MB at 3072×2304), several alive at the end of a print-size run.
    """
    if x.dim() == 4:
        x = x[0]
    x = x.detach()
    h, w = x.shape[-2:]
    out = torch.empty((h, w, 3), dtype=torch.uint8)
    rows = max(1, PIL_BAND_PIXELS // max(1, w))
    for y in range(0, h, rows):
        band = x[:, y : y + rows].float().clamp(0, 1).mul_(255).round_()
        out[y : y + rows] = band.permute(1, 2, 0).cpu()
    return Image.fromarray(out.numpy(), "RGB")
