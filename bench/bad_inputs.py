"""Bad input, as careless people and scripts send it: the cases, and how to try them
(for ``python -m bench.load``'s first part).

The one copy of the catalogue: the tests import it (``tests/test_bad_inputs.py`` and
``tests/test_app_reliability.py`` try a fast part of these cases, the soak all of them), and
its TIFF writer (:func:`write_tiff`); no bench imports the tests.

:func:`build` writes every case's files into a folder and returns the :class:`Case` list;
:func:`try_api`, :func:`try_cli` and :func:`try_app` send one case through the Python API,
the command line and the app's ``/stylize`` endpoint (with gradio_client, as a script
would); :func:`judge` says whether the answer is acceptable.

Acceptable is either a result (a run of a few steps) or a message a person can act on: it
names the problem (each case has a pattern), and holds no traceback, no server path and
no bare "Error". A result must also look like what was sent: after one step from the photo
its 8×8 thumbnail is within :data:`TWIN_TOLERANCE` of the photo's, where the photo is the
case's odd file, its array twin (the pixels it was made from) stands in for it; a black or
turned result fails.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# Every run that should succeed is this small, so that the cases stay quick.
# One step from the photo itself (init "content", not the default palette): the result must
# still be recognisably the image sent (judge: TWIN_TOLERANCE), which proves which file ran.
QUICK = {"steps": 1, "size": 64, "init": "content"}

GOOD = object()  # stands for the good content (or style) image


@dataclass
class Case:
    """One kind of bad input.

    Attributes:
        name: a short identifier.
        group: file, path, type, parameter or weights.
        what: what is sent, in words.
        expect: "result" or "message".
        content, style: what is sent as the image (a path, or any object); GOOD is the
            good test image.
        params: settings sent with it (on top of QUICK).
        match: a regular expression the message must match (case-insensitive).
        expect_app, match_app: where the app differs (e.g. its upload limit).
        match_cli: where the command line differs (argparse refuses some values itself).
        cli: False where the case cannot be said on a command line (a Python object).
        app: False where it cannot be sent to the app (a Python object).
        size: the output size a result must have, where it matters (EXIF, huge photo).
        twin: for an odd image file that must load: the image it must read as (its array
            twin, e.g. a float TIFF's samples on their scale), made on demand.
    """

    name: str
    group: str
    what: str
    expect: str
    content: Any = GOOD
    style: Any = GOOD
    params: dict[str, Any] = field(default_factory=dict)
    match: str = ""
    expect_app: str | None = None
    match_app: str | None = None
    match_cli: str | None = None
    cli: bool = True
    app: bool = True
    size: tuple[int, int] | None = None
    twin: Callable[[], Image.Image] | None = None

    def expected(self, surface: str) -> str:
        return (self.expect_app or self.expect) if surface == "app" else self.expect

    def pattern(self, surface: str) -> str:
        if surface == "app" and self.match_app is not None:
            return self.match_app
        if surface == "cli" and self.match_cli is not None:
            return self.match_cli
        return self.match


@dataclass
class Outcome:
    """What a surface answered: a result, a message, or something unacceptable.

    ``kind`` is "result", "message" or "crash"; ``where`` says who answered (for the app:
    "server" or "client", i.e. gradio_client refused before sending).
    """

    kind: str
    text: str = ""
    where: str = ""
    seconds: float = 0.0
    size: tuple[int, int] | None = None
    thumb: np.ndarray | None = None  # a result's 8×8 thumbnail
    want: np.ndarray | None = None  # the thumbnail a result should be near (see TWIN_TOLERANCE)


# --- The files ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _photo(w: int, h: int) -> Image.Image:
    """A smooth colour image (cheap to make and to compress at any size)."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    rgb = np.stack(np.broadcast_arrays(x, y, (x + y) / 2), axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def _grey16() -> np.ndarray:
    return np.linspace(0, 65535, 96 * 72).reshape(72, 96).astype(np.uint16)


def _rgba() -> Image.Image:
    rgba = _photo(96, 72).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((96, 72)))
    return rgba


def _palette() -> Image.Image:
    return _photo(96, 72).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)


def _on_white(img: Image.Image) -> Image.Image:
    """``img`` composited on white, as nst shows transparency."""
    return Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA")).convert("RGB")


def _premultiplied(mode: str) -> Image.Image:
    """The RGBA photo in a premultiplied mode, ``La`` or ``RGBa``: no file holds one, a PIL
    image can (Pillow's RGBA to La drops the alpha: through LA)."""
    return _rgba().convert("LA" if mode == "La" else "RGBA").convert(mode)


def _keyed(mode: str, black: bool = True) -> Image.Image:
    """The photo in ``mode`` (L or RGB) with its top-left quarter black, the colour a PNG's
    tRNS chunk marks transparent in the file (white with ``black=False``: the twin)."""
    img = _photo(96, 72).convert(mode)
    img.paste((0 if black else 255,) * len(img.getbands()), (0, 0, 48, 36))
    return img


def _thumb(img: Image.Image) -> np.ndarray:
    """An 8×8 RGB thumbnail (box-averaged), as floats: what a result is compared by."""
    return np.asarray(img.convert("RGB").resize((8, 8), Image.Resampling.BOX), np.float64)


def _want(case: Case, content: Path) -> np.ndarray:
    """The thumbnail a result of ``case`` should be near: its odd content's twin, else the photo."""
    if case.content is not GOOD and case.twin is not None:
        return _thumb(case.twin())
    with Image.open(content) as img:
        return _thumb(img)


def _result(case: Case, content: Path, img: Image.Image) -> dict[str, Any]:
    return {"size": img.size, "thumb": _thumb(img), "want": _want(case, content)}


def _write_files(d: Path, marker: Path) -> None:
    def put(name: str, data: bytes | str) -> None:
        (d / name).write_bytes(data.encode() if isinstance(data, str) else data)

    put("empty.png", b"")
    put("notes.png", "These are my notes, not a picture.\n")
    buf = io.BytesIO()
    _photo(200, 150).save(buf, "JPEG", quality=90)
    put("truncated.jpg", buf.getvalue()[: len(buf.getvalue()) // 2])
    put(
        "drawing.svg",
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        '<circle cx="32" cy="32" r="30" fill="red"/></svg>',
    )
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    put(
        "bomb.png",
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _png_chunk(b"IEND", b""),
    )
    good = io.BytesIO()
    _photo(80, 60).save(good, "PNG")
    raw = bytearray(good.getvalue())
    idat = raw.index(b"IDAT")
    raw[idat + 8 : idat + 40] = b"\xff" * 32  # damage the compressed pixels (and the CRC)
    put("corrupt.png", bytes(raw))
    put("page.jpg", "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    put("error-page.jpg", "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n")

    def save(name: str, img: Image.Image, **kw: Any) -> None:
        img.save(d / name, **kw)

    save("one-pixel.png", Image.new("RGB", (1, 1), (200, 40, 40)))
    save("strip.png", _photo(8, 2000))
    save("cmyk.jpg", _photo(96, 72).convert("CMYK"))
    save("grey16.png", Image.fromarray(_grey16()))
    save("rgba.png", _rgba())
    save("palette.png", _palette())
    save("grey.jpg", _photo(96, 72).convert("L"))
    save("grey-alpha.png", _photo(96, 72).convert("LA"))
    save("bilevel.png", _photo(96, 72).convert("1"))
    save("float.tif", _photo(96, 72).convert("F"))
    save("grey-trns.png", _keyed("L"), transparency=0)
    save("rgb-trns.png", _keyed("RGB"), transparency=(0, 0, 0))
    # Found by an outside probe: floats on a 0–1 scale (came out black), float RGB (Pillow
    # cannot open it) and a PNG whose text unpacks to megabytes (called damaged).
    save("float01.tif", Image.fromarray(np.asarray(_photo(96, 72).convert("L"), np.float32) / 255))
    write_tiff(d / "float-rgb.tif", np.asarray(_photo(96, 72), np.float32) / 255, deflate=True, predictor=3)
    png = io.BytesIO()
    _photo(96, 72).save(png, "PNG")
    body = b"Comment\0\0" + zlib.compress(b"notes " * 800_000)
    at = png.getvalue().index(b"IDAT") - 4
    put("big-text.png", png.getvalue()[:at] + _png_chunk(b"zTXt", body) + png.getvalue()[at:])
    frames = [Image.new("RGB", (96, 72), c) for c in ("red", "green", "blue")]
    save("animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90° clockwise: portrait
    save("rotated.jpg", _photo(96, 64), exif=exif)
    save("huge.jpg", _photo(6000, 4000), quality=80)  # 24 Mpx: downscaled, not refused
    # 25 MB: a legitimate photo for the API and the CLI, over the app's upload limit.
    save("heavy.png", _photo(2900, 2900), compress_level=0)
    save("jpeg-named.png", _photo(96, 72), format="JPEG")
    if "WEBP" in Image.SAVE:
        save("photo.webp", _photo(96, 72))
    (d / "a-folder").mkdir(exist_ok=True)

    _write_weights(d, marker)


def _write_weights(d: Path, marker: Path) -> None:
    import torch

    (d / "random.pth").write_bytes(np.random.default_rng(0).bytes(4096))
    torch.save({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}, d / "resnet.pth")
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 5, 5), "conv1_1.bias": torch.zeros(64)}, d / "odd.pth")
    (d / "half.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    (d / "readme.safetensors").write_text("not tensors\n")

    class Payload:  # unpickling this would create `marker`
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    torch.save({"conv1_1.weight": Payload()}, d / "evil.pth")


# --- The cases ---------------------------------------------------------------------------


class _Files:
    """``files["name"]`` is ``folder / "name"``: the cases name their files before they exist."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __getitem__(self, name: str) -> Path:
        return self.folder / name


def build(folder: Path, write: bool = True) -> list[Case]:
    """Write the cases' files into ``folder`` (unless ``write`` is False) and return the cases.

    ``folder / "pickle-ran"`` appears if a weights file's pickled code was ever run.
    """
    if write:
        folder.mkdir(parents=True, exist_ok=True)
        _write_files(folder, folder / "pickle-ran")
    f = _Files(folder)
    not_image = r"is not an image file nst can read"
    layer = r"unknown VGG19 layer"
    argparse_int = r"invalid int value"
    not_app = r"not a valid key-word argument"  # gradio_client: the app has no such setting
    json_float = r"not JSON compliant"  # gradio_client: JSON has no NaN or infinity
    cases = [
        # Files.
        Case(
            "empty-file",
            "file",
            "an empty file named .png",
            "message",
            style=f["empty.png"],
            match=r"style image 'empty.png' is empty",
        ),
        Case(
            "text-as-png",
            "file",
            "a text file named .png",
            "message",
            content=f["notes.png"],
            match=rf"notes.png' {not_image}",
        ),
        Case(
            "truncated-jpeg",
            "file",
            "a JPEG cut in half",
            "message",
            content=f["truncated.jpg"],
            match=r"truncated.jpg' is damaged or truncated",
        ),
        Case("svg", "file", "an SVG drawing", "message", style=f["drawing.svg"], match=r"SVG is a vector format"),
        Case(
            "decompression-bomb",
            "file",
            "a tiny PNG declaring 40000×40000 pixels",
            "message",
            content=f["bomb.png"],
            match=r"bomb.png' declares .*more than the 64 Mpx",
        ),
        Case(
            "corrupt-png",
            "file",
            "a PNG with damaged pixel data",
            "message",
            content=f["corrupt.png"],
            match=r"corrupt.png' is damaged",
        ),
        Case(
            "pdf-as-jpeg", "file", "a PDF named .jpg", "message", style=f["page.jpg"], match=rf"page.jpg' {not_image}"
        ),
        Case(
            "html-as-jpeg",
            "file",
            "an HTML error page saved as .jpg",
            "message",
            content=f["error-page.jpg"],
            match=rf"error-page.jpg' {not_image}",
        ),
        Case(
            "one-pixel",
            "file",
            "a 1×1 image",
            "result",
            content=f["one-pixel.png"],
            size=(64, 64),
            twin=lambda: Image.new("RGB", (1, 1), (200, 40, 40)),
        ),
        Case(
            "strip",
            "file",
            "an 8×2000 strip",
            "message",
            content=f["strip.png"],
            match=r"8×2000 px.*crop it closer to a square",
        ),
        Case("cmyk", "file", "a CMYK JPEG", "result", content=f["cmyk.jpg"], twin=lambda: _photo(96, 72)),
        Case(
            "16-bit",
            "file",
            "a 16-bit greyscale PNG",
            "result",
            style=f["grey16.png"],
            twin=lambda: Image.fromarray((_grey16() >> 8).astype(np.uint8)),
        ),
        Case(
            "rgba",
            "file",
            "an RGBA PNG with varying transparency",
            "result",
            content=f["rgba.png"],
            twin=lambda: Image.alpha_composite(Image.new("RGBA", (96, 72), "white"), _rgba()).convert("RGB"),
        ),
        Case(
            "palette", "file", "a palette PNG", "result", style=f["palette.png"], twin=lambda: _palette().convert("RGB")
        ),
        Case(
            "greyscale",
            "file",
            "a greyscale JPEG",
            "result",
            content=f["grey.jpg"],
            twin=lambda: _photo(96, 72).convert("L"),
        ),
        Case(
            "grey-alpha",
            "file",
            "a greyscale PNG with alpha",
            "result",
            style=f["grey-alpha.png"],
            twin=lambda: _photo(96, 72).convert("L"),
        ),
        Case(
            "bilevel",
            "file",
            "a 1-bit PNG",
            "result",
            content=f["bilevel.png"],
            twin=lambda: _photo(96, 72).convert("1").convert("L"),
        ),
        Case(
            "grey-transparent-colour",
            "file",
            "a greyscale PNG with a transparent grey (tRNS)",
            "result",
            content=f["grey-trns.png"],
            twin=lambda: _keyed("L", black=False),
        ),
        Case(
            "rgb-transparent-colour",
            "file",
            "an RGB PNG with a transparent colour (tRNS)",
            "result",
            style=f["rgb-trns.png"],
            twin=lambda: _keyed("RGB", black=False),
        ),
        Case(
            "float-tiff",
            "file",
            "a 32-bit float TIFF",
            "result",
            style=f["float.tif"],
            twin=lambda: _photo(96, 72).convert("L"),
        ),
        Case(
            "float-tiff-0-1",
            "file",
            "a float TIFF with values in 0–1",
            "result",
            content=f["float01.tif"],
            twin=lambda: _photo(96, 72).convert("L"),
        ),
        Case(
            "float-rgb-tiff",
            "file",
            "a 3-band float TIFF (Deflate, predictor 3)",
            "result",
            style=f["float-rgb.tif"],
            twin=lambda: _photo(96, 72),
        ),
        Case(
            "png-big-text",
            "file",
            "a PNG whose text chunk unpacks to 4.8 MB",
            "result",
            content=f["big-text.png"],
            twin=lambda: _photo(96, 72),
        ),
        Case(
            "animated-gif",
            "file",
            "an animated GIF (first frame used)",
            "result",
            style=f["animated.gif"],
            twin=lambda: Image.new("RGB", (96, 72), "red"),
        ),
        Case(
            "exif-rotated",
            "file",
            "a JPEG with EXIF orientation 6",
            "result",
            content=f["rotated.jpg"],
            size=(43, 64),
            twin=lambda: _photo(96, 64).transpose(Image.Transpose.ROTATE_270),
        ),
        Case(
            "huge-photo",
            "file",
            "a 6000×4000 photo (24 Mpx)",
            "result",
            content=f["huge.jpg"],
            size=(64, 43),
            twin=lambda: _photo(600, 400),
        ),
        Case(
            "over-upload-limit",
            "file",
            "a 25 MB PNG (over the app's 20 MB upload limit)",
            "result",
            style=f["heavy.png"],
            expect_app="message",
            match_app=r"maximum file size",
            twin=lambda: _photo(290, 290),
        ),
        Case(
            "jpeg-named-png",
            "file",
            "a JPEG named .png",
            "result",
            content=f["jpeg-named.png"],
            twin=lambda: _photo(96, 72),
        ),
        # Paths and Python objects where an image belongs.
        Case(
            "missing-path",
            "path",
            "a path that does not exist",
            "message",
            content=folder / "nope.jpg",
            match=r"'nope.jpg' does not exist",
            match_app=r"nope.jpg does not exist",
        ),
        Case(
            "directory",
            "path",
            "a folder instead of a file",
            "message",
            style=f["a-folder"],
            match=r"'a-folder/' is a folder|is a directory",
        ),
        Case(
            "url",
            "path",
            "a web address",
            "message",
            content="https://example.invalid/photo.jpg",
            match=r"web address.*download it first",
            match_app=r"content must be a file uploaded to this app",
        ),  # the app reads uploads only
        Case(
            "blank-path",
            "path",
            "an empty string as the content",
            "message",
            content="",
            match=r"no content image was given",
            match_app=r"content must be an image file.*not text \(''\)",
        ),
        Case(
            "none",
            "type",
            "None as the style",
            "message",
            style=None,
            match=r"no style image was given|Upload a style image",
            cli=False,
        ),
        Case(
            "number-as-image",
            "type",
            "the number 42 as the content",
            "message",
            content=42,
            match=r"must be a file path, a PIL image or an array|'42' does not exist",
            match_app=r"content must be an image file.*not a number \(42\)",
        ),
        Case(
            "bytes-as-image",
            "type",
            "the file's bytes instead of its path",
            "message",
            content=b"\x89PNG...",
            match=r"must be a file path, a PIL image or an array, not bytes",
            cli=False,
            app=False,
        ),
        Case(
            "plain-string-path",
            "type",
            "a path string without handle_file (app) / the plain path",
            "result",
            expect_app="message",
            match_app=r"content must be an image file \(in gradio_client: handle_file",
        ),
        # Found by an outside probe: PIL images in modes no file gives (premultiplied alpha).
        Case(
            "pil-la",
            "type",
            "a PIL image in mode La (grey, premultiplied alpha)",
            "result",
            content=_premultiplied("La"),
            cli=False,
            app=False,
            twin=lambda: _on_white(_rgba().convert("LA")),
        ),
        Case(
            "pil-rgba-premultiplied",
            "type",
            "a PIL image in mode RGBa (premultiplied alpha)",
            "result",
            style=_premultiplied("RGBa"),
            cli=False,
            app=False,
            twin=lambda: _on_white(_rgba()),
        ),
        # Parameters.
        Case("steps-0", "parameter", "steps 0", "message", params={"steps": 0}, match=r"steps must be between 1 and"),
        Case(
            "steps-negative",
            "parameter",
            "steps -5",
            "message",
            params={"steps": -5},
            match=r"steps must be between 1 and",
        ),
        Case(
            "steps-enormous",
            "parameter",
            "steps 10⁹",
            "message",
            params={"steps": 10**9},
            match=r"steps must be between 1 and",
        ),
        Case(
            "steps-text",
            "parameter",
            "steps 'abc'",
            "message",
            params={"steps": "abc"},
            match=r"steps must be a number",
            match_cli=argparse_int,
        ),
        Case(
            "steps-fraction",
            "parameter",
            "steps 2.5",
            "message",
            params={"steps": 2.5},
            match=r"steps must be a whole number",
            match_cli=argparse_int,
        ),
        Case("steps-numeric-text", "parameter", "steps '2' (a number as text)", "result", params={"steps": "2"}),
        Case("size-0", "parameter", "size 0", "message", params={"size": 0}, match=r"size must be between"),
        Case("size-negative", "parameter", "size -64", "message", params={"size": -64}, match=r"size must be between"),
        Case(
            "size-enormous",
            "parameter",
            "size 10⁶",
            "message",
            params={"size": 10**6},
            match=r"size must be|size 1000000 is above the CPU limit of 1024 px",
        ),
        Case(
            "size-text",
            "parameter",
            "size 'big'",
            "message",
            params={"size": "big"},
            match=r"size must be a number",
            match_cli=argparse_int,
        ),
        Case(
            "style-weight-negative",
            "parameter",
            "style weight -1",
            "message",
            params={"style_weight": -1},
            match=r"style_weight must be between 0",
        ),
        Case("style-weight-zero", "parameter", "style weight 0 (content only)", "result", params={"style_weight": 0}),
        Case(
            "style-weight-infinite",
            "parameter",
            "style weight ∞ (a float)",
            "message",
            params={"style_weight": math.inf},
            match=r"style_weight must be a finite number",
            match_app=json_float,
        ),
        Case(
            "style-weight-nan",
            "parameter",
            "style weight NaN (a float)",
            "message",
            params={"style_weight": math.nan},
            match=r"style_weight must be a finite number",
            match_app=json_float,
        ),
        Case(
            "style-weight-inf-text",
            "parameter",
            "style weight 'inf' (as text)",
            "message",
            params={"style_weight": "inf"},
            match=r"style_weight must be a finite number",
        ),
        Case(
            "style-weight-nan-text",
            "parameter",
            "style weight 'nan' (as text)",
            "message",
            params={"style_weight": "nan"},
            match=r"style_weight must be a finite number",
        ),
        Case(
            "layers-empty",
            "parameter",
            "no style layers",
            "message",
            params={"style_layers": []},
            match=r"style_layers is empty",
            match_cli=r"--style-layers: expected at least one argument",
        ),
        Case(
            "layers-unknown",
            "parameter",
            "style layer relu9_9",
            "message",
            params={"style_layers": ["relu9_9"]},
            match=rf"{layer} 'relu9_9'",
        ),
        Case(
            "layers-junk",
            "parameter",
            "style layers with junk in the list",
            "message",
            params={"style_layers": ["relu1_1", "junk", 3]},
            match=rf"{layer} 'junk', '3'",
        ),
        Case(
            "layers-twice",
            "parameter",
            "a style layer twice",
            "message",
            params={"style_layers": ["relu1_1", "relu1_1"]},
            match=r"names a layer twice",
        ),
        Case(
            "layers-as-text",
            "parameter",
            "style layers as one 'relu1_1,relu3_1' string",
            "result",
            params={"style_layers": "relu1_1,relu3_1"},
        ),
        Case(
            "content-layer-empty",
            "parameter",
            "an empty content layer",
            "message",
            params={"content_layer": ""},
            match=rf"content_layer: {layer} ''",
        ),
        Case(
            "content-layer-unknown",
            "parameter",
            "content layer fc7",
            "message",
            params={"content_layer": "fc7"},
            match=rf"{layer} 'fc7'",
        ),
        Case(
            "init-unknown",
            "parameter",
            "init 'banana'",
            "message",
            params={"init": "banana"},
            match=r"init must be one of",
            match_cli=r"--init: invalid choice: 'banana'",
        ),
        Case(
            "optimizer-unknown",
            "parameter",
            "optimiser 'sgd'",
            "message",
            params={"optimizer": "sgd"},
            match=r"optimizer must be one of",
            match_cli=r"--optimizer: invalid choice: 'sgd'",
        ),
        Case(
            "preserve-color-unknown",
            "parameter",
            "colour mode 'sepia'",
            "message",
            params={"preserve_color": "sepia"},
            match=r"preserve_color must be one of",
            match_cli=r"--preserve-color: invalid choice: 'sepia'",
        ),
        Case(
            "style-loss-unknown",
            "parameter",
            "style loss 'l1'",
            "message",
            params={"style_loss": "l1"},
            match=r"style_loss must be one of",
            match_cli=r"--style-loss: invalid choice: 'l1'",
        ),
        Case(
            "blend-count",
            "parameter",
            "three blend weights for one style",
            "message",
            params={"style_blend": [1, 2, 3]},
            match=r"style_blend has 3 weights for 1 style image",
            match_cli=r"--style-blend has 3 weights for 1 style image",
        ),
        Case(
            "blend-zero",
            "parameter",
            "blend weights all zero",
            "message",
            params={"style_blend": [0]},
            match=r"style_blend must have a positive weight",
        ),
        Case(
            "blend-junk",
            "parameter",
            "blend weight 'heavy'",
            "message",
            params={"style_blend": "heavy"},
            match=r"style_blend must be a number",
            match_cli=r"--style-blend: invalid float value: 'heavy'",
        ),
        # Found by an outside probe: numbers past Python's 4300-digit limit on int text, and a
        # stop that is not an event (a ValueError, an AttributeError deep in the run).
        Case(
            "steps-5000-digits",
            "parameter",
            "steps of 5000 digits (as text)",
            "message",
            params={"steps": "9" * 5000},
            match=r"steps must be between 1 and 5000, not 9+…$",
            match_cli=argparse_int,
        ),
        Case(
            "seed-5000-digit-int",
            "parameter",
            "seed 10⁵⁰⁰⁰ (an int too long for text)",
            "message",
            params={"seed": 10**5000},
            match=r"seed must be between 0 and \d+, not a 5001-digit number",
            cli=False,
            app=False,
        ),
        Case(
            "style-weight-5000-digits",
            "parameter",
            "style weight of 5000 digits (as text)",
            "message",
            params={"style_weight": "9" * 5000},
            match=r"style_weight must be a finite number",
        ),
        Case(
            "style-weight-5000-digit-int",
            "parameter",
            "style weight 10⁵⁰⁰⁰ (an int too long for text)",
            "message",
            params={"style_weight": 10**5000},
            match=r"style_weight must be a finite number, not a 5001-digit one",
            cli=False,
            app=False,
        ),
        Case(
            "stop-not-an-event",
            "parameter",
            "stop='yes' (not a threading.Event)",
            "message",
            params={"stop": "yes"},
            match=r"stop must be a threading.Event .*, not str",
            cli=False,
            app=False,
        ),
        Case(
            "preview-seconds-text",
            "parameter",
            "preview_seconds='often'",
            "message",
            params={"preview_seconds": "often"},
            match=r"preview_seconds must be a number of seconds",
            cli=False,
            app=False,
        ),
        Case("seed-largest", "parameter", "seed 2⁶³ − 1 (the largest)", "result", params={"seed": 2**63 - 1}),
        Case(
            "seed-past-largest",
            "parameter",
            "seed 2⁶³",
            "message",
            params={"seed": 2**63},
            match=r"seed must be between 0 and 9223372036854775807, not 9223372036854775808",
        ),
        Case("seed-negative", "parameter", "seed -1", "message", params={"seed": -1}, match=r"seed must be between 0"),
        Case(
            "time-limit-0",
            "parameter",
            "time limit 0 s",
            "message",
            params={"time_limit": 0},
            match=r"time_limit must be between",
        ),
        Case(
            "tv-negative",
            "parameter",
            "TV weight -1",
            "message",
            params={"tv_weight": -1},
            match=r"tv_weight must be between",
        ),
        Case(
            "style-scale-huge",
            "parameter",
            "style scale 100",
            "message",
            params={"style_scale": 100},
            match=r"style_scale must be between",
        ),
        Case(
            "multiscale-junk",
            "parameter",
            "coarse-to-fine 'maybe'",
            "message",
            params={"multiscale": "maybe"},
            match=r"multiscale must be true or false",
            match_cli=r"unrecognized arguments: maybe",
        ),
        Case(
            "device-cuda-missing",
            "parameter",
            "device cuda on a machine without one",
            "message",
            params={"device": "cuda"},
            match=r"no CUDA GPU is available",
            match_app=not_app,
        ),
        Case(
            "unknown-setting",
            "parameter",
            "a setting that does not exist",
            "message",
            params={"frobnicate": 1},
            match=r"unknown setting frobnicate",
            match_cli=r"unrecognized arguments: --frobnicate",
            match_app=not_app,
        ),
        # Weights (not a setting of the app: its weights are the server's choice).
        Case(
            "weights-missing",
            "weights",
            "a weights file that does not exist",
            "message",
            params={"weights": folder / "vgg19.pth"},
            match=r"vgg19.pth does not exist",
            match_app=not_app,
        ),
        Case(
            "weights-corrupt",
            "weights",
            "random bytes as a .pth",
            "message",
            params={"weights": f["random.pth"]},
            match=r"cannot read weights file random.pth",
            match_app=not_app,
        ),
        Case(
            "weights-wrong-model",
            "weights",
            "another network's checkpoint",
            "message",
            params={"weights": f["resnet.pth"]},
            match=r"resnet.pth is not a VGG19 checkpoint",
            match_app=not_app,
        ),
        Case(
            "weights-wrong-shapes",
            "weights",
            "a VGG19-named file with wrong shapes",
            "message",
            params={"weights": f["odd.pth"]},
            match=r"odd.pth.*do not fit VGG19",
            match_app=not_app,
        ),
        Case(
            "weights-truncated-safetensors",
            "weights",
            "a truncated safetensors file",
            "message",
            params={"weights": f["half.safetensors"]},
            match=r"half.safetensors",
            match_app=not_app,
        ),
        Case(
            "weights-text-safetensors",
            "weights",
            "a text file named .safetensors",
            "message",
            params={"weights": f["readme.safetensors"]},
            match=r"cannot read weights file readme.safetensors",
            match_app=not_app,
        ),
        Case(
            "weights-pickle-payload",
            "weights",
            "a pickle whose loading would run code",
            "message",
            params={"weights": f["evil.pth"]},
            match=r"cannot read weights file evil.pth",
            match_app=not_app,
        ),
        Case(
            "weights-bad-hub-name",
            "weights",
            "a malformed Hub weights name",
            "message",
            params={"weights": "hf:just-a-name"},
            match=r"hf:OWNER/REPO/FILE",
            match_app=not_app,
        ),
    ]
    if "WEBP" in Image.SAVE:
        cases.append(Case("webp", "file", "a WebP image", "result", style=f["photo.webp"], twin=lambda: _photo(96, 72)))
    return cases


# --- Trying a case -----------------------------------------------------------------------


def _image(value: Any, good: Path) -> Any:
    return str(good) if value is GOOD else str(value) if isinstance(value, Path) else value


def _params(case: Case) -> dict[str, Any]:
    return {**QUICK, **{k: str(v) if isinstance(v, Path) else v for k, v in case.params.items()}}


def _nst_errors() -> tuple[type[BaseException], ...]:
    import nst

    return (nst.ImageError, nst.SettingsError, nst.WeightsError)


def try_api(case: Case, content: Path, style: Path) -> Outcome:
    """``nst.stylize_image`` with the case's inputs."""
    import nst

    t0 = time.perf_counter()
    try:
        img = nst.stylize_image(_image(case.content, content), _image(case.style, style), **_params(case))
    except _nst_errors() as exc:
        return Outcome("message", str(exc), "api", time.perf_counter() - t0)
    except Exception as exc:  # anything else is a failure to handle the input
        return Outcome("crash", f"{type(exc).__name__}: {exc}", "api", time.perf_counter() - t0)
    return Outcome("result", "", "api", time.perf_counter() - t0, **_result(case, content, img))


def cli_args(case: Case, content: Path, style: Path, output: Path) -> list[str] | None:
    """The case as ``python -m nst`` arguments, or None where it has no command-line form."""
    if not case.cli:
        return None
    c, s = _image(case.content, content), _image(case.style, style)
    argv = [str(c), str(s), "-o", str(output)]
    for key, value in _params(case).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        elif isinstance(value, bool):
            argv += [flag if value else "--no-" + flag[2:]]
        else:
            argv += [flag, str(value)]
    return argv


def try_cli(case: Case, content: Path, style: Path, out_dir: Path, subprocess_: bool = False) -> Outcome | None:
    """The command line, in-process (``nst.cli.main``) or as ``python -m nst``; None where
    the case has no command-line form."""
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{case.name}.png"
    argv = cli_args(case, content, style, output)
    if argv is None:
        return None
    t0 = time.perf_counter()
    if subprocess_:
        proc = subprocess.run(
            [sys.executable, "-m", "nst", *argv],
            capture_output=True,
            text=True,
            cwd=out_dir,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            timeout=300,
        )
        code, err = proc.returncode, proc.stderr
    else:
        from nst.cli import main

        err_buf = io.StringIO()
        try:
            with contextlib.redirect_stderr(err_buf), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:
            return Outcome("crash", f"{type(exc).__name__}: {exc}", "cli", time.perf_counter() - t0)
        err = err_buf.getvalue()
    seconds = time.perf_counter() - t0
    if code == 0 and output.is_file():
        with Image.open(output) as img:
            return Outcome("result", "", "cli", seconds, **_result(case, content, img))
    if code == 2:
        # The message is the last line ("nst: error: …" or argparse's "…: error: …").
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        text = lines[-1] if lines else ""
        if "Traceback" in err:
            return Outcome("crash", err[-2000:], "cli", seconds)
        return Outcome("message", text, "cli", seconds)
    return Outcome("crash", f"exit code {code}: {err[-2000:]}", "cli", seconds)


def app_kwargs(case: Case, content: Path, style: Path) -> dict[str, Any] | None:
    """The case as gradio_client keyword arguments, as a careless script would send them."""
    from gradio_client import handle_file

    if not case.app:
        return None

    def image(value: Any, good: Path) -> Any:
        if value is GOOD:
            # "plain-string-path": a path string, without handle_file. Gradio's refusal echoes
            # what it was sent, so a relative one: the test images lie in the server's folder.
            return good.name if case.name == "plain-string-path" and good == content else handle_file(str(good))
        if isinstance(value, Path) or (isinstance(value, str) and value):
            return handle_file(str(value))  # a missing path or a folder fails here, in the client
        return value

    return {"content": image(case.content, content), "style": image(case.style, style), **_params(case)}


def try_app(case: Case, client: Any, content: Path, style: Path, timeout: float = 300) -> Outcome | None:
    """The app's /stylize endpoint through gradio_client; None where the case cannot be sent."""
    from gradio_client.exceptions import AppError

    t0 = time.perf_counter()
    try:
        kwargs = app_kwargs(case, content, style)
        if kwargs is None:
            return None
        job = client.submit(**kwargs, api_name="/stylize")
        outputs = job.result(timeout=timeout)
    except AppError as exc:
        return Outcome("message", str(exc), "server", time.perf_counter() - t0)
    except (ValueError, TypeError, OSError) as exc:  # gradio_client refused before sending
        return Outcome("message", str(exc), "client", time.perf_counter() - t0)
    except Exception as exc:
        return Outcome("crash", f"{type(exc).__name__}: {exc}", "client", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    _, status, *_, png = outputs
    if isinstance(status, str) and status.startswith("**Done**") and png and Path(png).is_file():
        with Image.open(png) as img:
            return Outcome("result", status, "server", seconds, **_result(case, content, img))
    return Outcome("crash", f"no result and no message: {status!r}", "server", seconds)


# --- Judging an answer -------------------------------------------------------------------

GENERIC = ("verbose error reporting", "Traceback", 'File "', "Internal Server Error")
# Mean absolute difference, in 8-bit levels, between a result's 8×8 thumbnail and the
# photo's (or its twin's). One step from the photo moves pixels by an RMS of at most 0.05
# (13 levels, nst's step cap); black, white or a quarter turn is 60–130 away.
TWIN_TOLERANCE = 20.0


def not_tried(case: Case, surface: str, outcome: Outcome | None) -> str | None:
    """Why ``case`` was not tried on ``surface`` (None where it was): a test skips with this."""
    if outcome is None:
        if surface == "cli" and not case.cli:
            return "a Python object: it has no command-line form"
        if surface == "app" and not case.app:
            return "a Python object: it cannot be sent to the app"
        return f"not sent on {surface}"
    if surface == "app" and outcome.where == "client":
        return f"gradio_client refuses it before sending, so the server never sees it: {outcome.text[:160]}"
    return None


def judge(case: Case, surface: str, outcome: Outcome | None, server_paths: list[str] = ()) -> str | None:
    """None if ``outcome`` is acceptable for ``case`` on ``surface``, else what is wrong.

    Args:
        surface: "api", "cli" or "app".
        server_paths: text that a message from the server must not contain (its folders).
    """
    if outcome is None:
        return "not tried on this surface"  # see not_tried: never a pass
    want = case.expected(surface)
    if outcome.kind == "crash":
        return f"not handled: {outcome.text[:300]}"
    if outcome.kind != want:
        return f"expected a {want}, got a {outcome.kind}: {outcome.text[:300]}"
    if outcome.kind == "result":
        if case.size and outcome.size != case.size:
            return f"result is {outcome.size}, expected {case.size}"
        if outcome.thumb is not None and outcome.want is not None:
            off = float(np.abs(outcome.thumb - outcome.want).mean())
            if off > TWIN_TOLERANCE:
                return f"result is not the image sent: its thumbnail is {off:.0f} levels off (≤ {TWIN_TOLERANCE:.0f})"
        return None
    text = outcome.text.strip()
    if not text or text.rstrip(".!").lower() in ("error", "an error occurred", "exception"):
        return f"generic message: {text!r}"
    for bad in GENERIC:
        if bad in text:
            return f"message holds {bad!r}: {text[:300]}"
    if outcome.where == "server":
        for path in server_paths:
            if path and path in text:
                return f"message shows a server path ({path}): {text[:300]}"
    pattern = case.pattern(surface)
    if pattern and not re.search(pattern, text, re.IGNORECASE):
        return f"message does not name the problem (/{pattern}/): {text[:300]}"
    return None


# --- A TIFF writer (the float and wide-integer layouts Pillow cannot write): build's, and the tests' ---


def _predict(a: np.ndarray, predictor: int, spp: int) -> bytes:
    """The rows of ``a`` (rows × samples-in-a-row) encoded with the predictor, as bytes."""
    if predictor == 1:
        return a.tobytes()
    if predictor == 2:
        rows = a.reshape(a.shape[0], -1, spp)
        diff = rows.copy()
        diff[:, 1:] = rows[:, 1:] - rows[:, :-1]  # wraps around, as TIFF's encoder does
        return diff.tobytes()
    # Predictor 3: each row as byte planes, most significant first, differenced bytewise
    # with a stride of one pixel.
    size = a.dtype.itemsize
    b = a.astype(a.dtype.newbyteorder(">")).view(np.uint8).reshape(a.shape[0], -1, size)
    planes = np.ascontiguousarray(b.transpose(0, 2, 1)).reshape(a.shape[0], -1, spp).astype(np.int16)
    diff = planes.copy()
    diff[:, 1:] = planes[:, 1:] - planes[:, :-1]
    return (diff % 256).astype(np.uint8).tobytes()


def write_tiff(
    path: Path,
    a: np.ndarray,
    big_endian: bool = False,
    deflate: bool = False,
    predictor: int = 1,
    planar: bool = False,
    rows_per_strip: int | None = None,
) -> Path:
    """Write ``a``, ``(H, W)`` or ``(H, W, bands)``, as a TIFF at ``path``."""
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    spp = 1 if a.ndim == 2 else a.shape[2]
    bo = ">" if big_endian else "<"
    a = a.astype(a.dtype.newbyteorder(bo))
    rps = rows_per_strip or h
    planes = [a[..., i] for i in range(spp)] if planar and spp > 1 else [a.reshape(h, -1)]
    strips = []
    for plane in planes:
        for y in range(0, h, rps):
            rows = plane[y : y + rps].reshape(min(rps, h - y), -1)
            raw = _predict(rows, predictor, 1 if planar else spp)
            strips.append(zlib.compress(raw) if deflate else raw)
    data = b"".join(strips)
    offsets = list(np.cumsum([0] + [len(s) for s in strips[:-1]]) + 8)
    kind = {"f": 3, "u": 1, "i": 2}[a.dtype.kind]
    tags: dict[int, tuple[int, list[int]]] = {
        256: (4, [w]),
        257: (4, [h]),
        258: (3, [a.dtype.itemsize * 8] * spp),
        259: (3, [8 if deflate else 1]),
        262: (3, [2 if spp >= 3 else 1]),
        273: (4, offsets),
        277: (3, [spp]),
        278: (4, [rps]),
        279: (4, [len(s) for s in strips]),
        284: (3, [2 if planar else 1]),
        317: (3, [predictor]),
        339: (3, [kind] * spp),
    }
    if spp in (2, 4):
        tags[338] = (3, [2])  # an unassociated alpha band
    ifd_at = 8 + len(data)
    extra_at = ifd_at + 2 + 12 * len(tags) + 4
    entries, extra = b"", b""
    for tag in sorted(tags):
        typ, values = tags[tag]
        code = "H" if typ == 3 else "I"
        packed = struct.pack(bo + code * len(values), *map(int, values))
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field = struct.pack(bo + "I", extra_at + len(extra))
            extra += packed
        entries += struct.pack(bo + "HHI", tag, typ, len(values)) + field
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(bo + "I", ifd_at)
    ifd = struct.pack(bo + "H", len(tags)) + entries + struct.pack(bo + "I", 0)
    Path(path).write_bytes(head + data + ifd + extra)
    return Path(path)


# --- Clips ---------------------------------------------------------------------------------
# Bad clips, through nst.stylize_video and `python -m nst CLIP STYLE -o OUT.mp4`: each gets one
# line (a message) and leaves no file, or a result (a clip, upright, at the sampled rate), or
# a shorter clip with a note (a file cut halfway: the frames done are kept, and it says so).

VIDEO_QUICK = {"size": 64, "steps": 1, "frame_steps": 1, "keep_faces": False}


@dataclass
class VideoCase:
    """One kind of bad clip.

    Attributes:
        name: a short identifier.
        what: what is sent, in words.
        write: writes the clip into a folder and returns its path.
        expect: "message", "result" or "shorter" (a clip of fewer frames than asked, with a note).
        match: a regular expression the message (or the note) must match (case-insensitive).
        params: what is asked with it (fps, start, duration, ...).
        size: the frame size (w, h) a result must have.
    """

    name: str
    what: str
    write: Callable[[Path], Path]
    expect: str
    match: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    size: tuple[int, int] | None = None


def _text_clip(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


def _header_only(folder: Path) -> Path:
    from bench import clips

    whole = clips.write_clip(folder / "whole.mkv", 30, (96, 64), codec="mpeg4")
    path = folder / "header.mkv"
    path.write_bytes(whole.read_bytes()[:600])
    whole.unlink()
    return path


def _huge_frame(folder: Path) -> Path:
    import av

    path = folder / "huge.mkv"
    with av.open(str(path), "w") as c:  # one flat 4160×2200 frame (9.2 Mpx): small as a file
        v = c.add_stream("mpeg4", rate=1)
        v.width, v.height, v.pix_fmt = 4160, 2200, "yuv420p"
        for p in v.encode(av.VideoFrame.from_ndarray(np.zeros((2200, 4160, 3), np.uint8), format="rgb24")):
            c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return path


def video_cases() -> list[VideoCase]:
    """The bad clips, each with its writer and what it must give."""
    from bench import clips

    return [
        VideoCase("clip-not-a-video", "a text file named .mp4", _text_clip, "message", r"not (a video|an image)"),
        VideoCase(
            "clip-audio-only",
            "an MP4 with only an audio track",
            lambda d: clips.write_audio_only(d / "voice.mp4"),
            "message",
            r"only audio, no video track",
        ),
        VideoCase("clip-no-frames", "a Matroska header and no frame", _header_only, "message", r"no frames"),
        VideoCase("clip-huge-frame", "one 4160×2200 frame", _huge_frame, "message", r"4160×2200 px, more than the"),
        VideoCase(
            "clip-too-long",
            "a clip of 121 s",
            lambda d: clips.write_clip(d / "long.mkv", 121, (64, 48), fps=1, codec="mpeg4"),
            "message",
            r"at most 120 s of a clip",
        ),
        VideoCase(
            "clip-rotated",
            "a 64×48 clip with rotation metadata (90°)",
            lambda d: clips.write_clip(d / "turned.mp4", 3, rotation=90),
            "result",
            size=(48, 64),
        ),
        VideoCase(
            "clip-variable-rate",
            "frames at 0, 0.1, 0.15, 0.5 and 0.55 s",
            lambda d: clips.write_clip(d / "vfr.mp4", 5, times=[0, 0.1, 0.15, 0.5, 0.55]),
            "result",
            params={"fps": 5},
            size=(64, 48),
        ),
        VideoCase(
            "clip-cut-halfway",
            "a Matroska clip cut after 70% of its bytes",
            lambda d: clips.write_truncated(d / "cut.mkv"),
            "shorter",
            r"cut short or corrupt.*kept the \d+ frames done",
            params={"fps": 5},
        ),
    ]


def try_video(case: VideoCase, clip: Path, style: Path, out_dir: Path, surface: str) -> Outcome:
    """The clip through ``surface`` ("api": nst.stylize_video, "cli": nst.cli.main) into
    ``out_dir/out.mp4``: a message, a result (``text``: the note, if any) or a crash."""
    import nst

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / "out.mp4"
    t0 = time.perf_counter()
    if surface == "api":
        try:
            last = list(nst.stylize_video(clip, style, output, **case.params, **VIDEO_QUICK))[-1]
        except nst.Error as exc:
            return Outcome("message", str(exc), "api", time.perf_counter() - t0)
        except Exception as exc:
            return Outcome("crash", f"{type(exc).__name__}: {exc}", "api", time.perf_counter() - t0)
        text = last.note or ""
    else:
        from nst.cli import main

        argv = [str(clip), str(style), "-o", str(output), "--size", "64", "--steps", "1", "--frame-steps", "1"]
        argv += ["--no-keep-faces", *(w for k, v in case.params.items() for w in (f"--{k}", str(v)))]
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except Exception as exc:
            return Outcome("crash", f"{type(exc).__name__}: {exc}", "cli", time.perf_counter() - t0)
        lines = [ln for ln in err.getvalue().replace("\r", "\n").splitlines() if ln.strip().startswith("nst:")]
        text = lines[-1] if lines else ""
        if code == 2:
            return Outcome("message", text, "cli", time.perf_counter() - t0)
        if code not in (0, 1) or "Traceback" in err.getvalue():
            return Outcome("crash", f"exit code {code}: {err.getvalue()[-2000:]}", "cli", time.perf_counter() - t0)
    if not output.is_file():
        return Outcome("crash", f"no clip written ({text})", surface, time.perf_counter() - t0)
    import av

    with av.open(str(output)) as c:
        s = c.streams.video[0]
        return Outcome("result", text, surface, time.perf_counter() - t0, size=(s.width, s.height))


def judge_video(case: VideoCase, outcome: Outcome, out_dir: Path) -> str | None:
    """Why ``outcome`` is not acceptable for ``case``, or None."""
    left = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if outcome.kind == "crash":
        return f"{case.name}: crashed: {outcome.text}"
    if case.expect == "message":
        if outcome.kind != "message":
            return f"{case.name}: expected a message, got a {outcome.kind}"
        if "\n" in outcome.text or not re.search(case.match, outcome.text, re.I):
            return f"{case.name}: message {outcome.text!r} does not match {case.match!r} on one line"
        if any(w in outcome.text for w in GENERIC):
            return f"{case.name}: message {outcome.text!r} is generic"
        return f"{case.name}: left {left} behind" if left else None
    if outcome.kind != "result":
        return f"{case.name}: expected a clip, got a {outcome.kind}: {outcome.text!r}"
    if left != ["out.mp4"]:
        return f"{case.name}: left {left}, not out.mp4 alone"
    if case.size is not None and outcome.size != case.size:
        return f"{case.name}: frames of {outcome.size}, not {case.size}"
    if case.expect == "shorter" and not re.search(case.match, outcome.text, re.I):
        return f"{case.name}: the note {outcome.text!r} does not say the clip was cut short ({case.match!r})"
    return None
