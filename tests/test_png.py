"""nst.png: metadata chunks found and dropped without unpacking them."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from nst import png


def _png(**texts: tuple[str, bool]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, (text, kind) in texts.items():
        if kind == "itxt":
            info.add_itxt(key, text, zip=True)
        else:
            info.add_text(key, text, zip=kind == "ztxt")
    buf = io.BytesIO()
    img = Image.new("RGB", (5, 4), (1, 2, 3))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(buf, "PNG", pnginfo=info, exif=exif)
    return buf.getvalue()


def _find_text(data: bytes, key: str, limit: int) -> str | None:
    """The text under ``key`` in the PNG ``data``, through png.chunks and png.chunk_text."""
    for kind, start, end in png.chunks(data):
        name, sep, body = data[start + 8 : end - 4].partition(b"\0")
        if kind in png.TEXT and sep and name == key.encode("latin-1"):
            return png.chunk_text(kind, body, limit)
    return None


@pytest.mark.parametrize("kind", ["text", "ztxt", "itxt"])
def test_find_text_in_each_kind_of_chunk(kind):
    data = _png(**{"nst-recipe": ('{"ü": 1}' if kind == "itxt" else '{"a": 1}', kind), "Other": ("x", "text")})
    assert _find_text(data, "nst-recipe", 1000) == ('{"ü": 1}' if kind == "itxt" else '{"a": 1}')
    assert _find_text(data, "missing", 1000) is None


def test_find_text_refuses_text_over_its_limit():
    data = _png(**{"nst-recipe": ("x" * 5000, "ztxt")})
    with pytest.raises(ValueError, match="over 100 bytes"):
        _find_text(data, "nst-recipe", 100)


def test_without_metadata_keeps_the_pixels_and_exif():
    data = _png(Comment=("notes " * 1000, "ztxt"), Title=("t", "text"))
    kinds = [k for k, _, _ in png.chunks(data)]
    assert b"zTXt" in kinds and b"tEXt" in kinds and b"eXIf" in kinds
    stripped = png.without_metadata(data)
    assert not {b"zTXt", b"tEXt", b"iTXt", b"iCCP"} & {k for k, _, _ in png.chunks(stripped)}
    with Image.open(io.BytesIO(stripped)) as img:
        assert img.getpixel((0, 0)) == (1, 2, 3) and img.getexif()[0x0112] == 6


def test_metadata_limit_is_recognised():
    assert png.is_metadata_limit(ValueError("Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK"))
    assert not png.is_metadata_limit(ValueError("broken data stream"))
    assert not png.is_metadata_limit(OSError("MAX_TEXT_CHUNK"))
