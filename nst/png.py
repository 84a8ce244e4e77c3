"""PNG chunks, for the files whose metadata Pillow refuses.

Pillow stops at a text chunk (tEXt, zTXt, iTXt) or colour profile (iCCP) that unpacks to
more than ``PngImagePlugin.MAX_TEXT_CHUNK`` (1 MB), or text over ``MAX_TEXT_MEMORY`` in all,
as a guard against decompression bombs. nst needs no metadata from an input image, so
:func:`without_metadata` drops those chunks (unread) and the pixels load; the one text nst
reads, its recipe, is found by :func:`find_text` without unpacking any other chunk.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

__all__ = ["SIGNATURE", "METADATA", "chunks", "without_metadata", "find_text", "is_metadata_limit"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
METADATA = (b"tEXt", b"zTXt", b"iTXt", b"iCCP")


def is_metadata_limit(exc: BaseException) -> bool:
    """Whether ``exc`` is Pillow refusing a PNG's text or colour profile for its size."""
    return isinstance(exc, ValueError) and ("MAX_TEXT_CHUNK" in str(exc) or "MAX_TEXT_MEMORY" in str(exc))


def chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each chunk, ``data[start:end]`` being the whole chunk with its
    length, type and CRC; stops at IEND or where the file ends."""
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4: pos + 8]
        end = pos + 12 + length
        yield kind, pos, min(end, len(data))
        if kind == b"IEND":
            return
        pos = end


def without_metadata(data: bytes) -> bytes:
    """The PNG ``data`` without its text chunks and colour profile."""
    kept = [data[start:end] for kind, start, end in chunks(data) if kind not in METADATA]
    return SIGNATURE + b"".join(kept)


def find_text(data: bytes, key: str, limit: int) -> str | None:
    """The text stored under ``key`` in the PNG ``data`` (tEXt, zTXt or iTXt), or None.

    Args:
        limit: refuse (ValueError) text that unpacks to more than this many bytes.
    """
    want = key.encode("latin-1")
    for kind, start, end in chunks(data):
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        body = data[start + 8: end - 4]
        name, sep, rest = body.partition(b"\0")
        if not sep or name != want:
            continue
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return _inflate(rest[1:], limit).decode("latin-1")
        compressed, rest = rest[0], rest[2:]  # iTXt: flag, method, language\0, keyword\0, text
        _, _, rest = rest.partition(b"\0")
        _, _, text = rest.partition(b"\0")
        return (_inflate(text, limit) if compressed else text).decode("utf-8")
    return None


def _inflate(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, limit)
    if d.unconsumed_tail:
        raise ValueError(f"text over {limit} bytes")
    return out
