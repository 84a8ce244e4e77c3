"""PNG chunks, for the files whose metadata Pillow refuses.

Pillow stops at a text chunk (tEXt, zTXt, iTXt) or colour profile (iCCP) that unpacks to
more than ``PngImagePlugin.MAX_TEXT_CHUNK`` (1 MB), or text over ``MAX_TEXT_MEMORY`` in all,
as a guard against decompression bombs. nst needs no metadata from an input image, so
:func:`without_metadata` drops those chunks (unread) and the pixels load; the one text nst
reads, its recipe, is read by :func:`chunk_text` (nst.recipe finds its chunk) without
unpacking any other chunk.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

__all__ = [
    "SIGNATURE",
    "METADATA",
    "TEXT",
    "TextTooLarge",
    "chunks",
    "chunk_text",
    "without_metadata",
    "is_metadata_limit",
]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = (b"tEXt", b"zTXt", b"iTXt")
METADATA = (*TEXT, b"iCCP")


def is_metadata_limit(exc: BaseException) -> bool:
    """Whether ``exc`` is Pillow refusing a PNG's text or colour profile for its size."""
    return isinstance(exc, ValueError) and ("MAX_TEXT_CHUNK" in str(exc) or "MAX_TEXT_MEMORY" in str(exc))


def chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each chunk, ``data[start:end]`` being the whole chunk with its
    length, type and CRC; stops at IEND or where the file ends."""
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        yield kind, pos, min(end, len(data))
        if kind == b"IEND":
            return
        pos = end


def without_metadata(data: bytes) -> bytes:
    """The PNG ``data`` without its text chunks and colour profile."""
    kept = [data[start:end] for kind, start, end in chunks(data) if kind not in METADATA]
    return SIGNATURE + b"".join(kept)


class TextTooLarge(ValueError):
    """A text chunk that unpacks to more than its reader's limit."""


def chunk_text(kind: bytes, body: bytes, limit: int) -> str:
    """The text of a text chunk of type ``kind`` (tEXt, zTXt or iTXt), from ``body``: its
    bytes after the keyword and its NUL. Never unpacks past ``limit`` bytes (a small stream
    may unpack to gigabytes).

    Raises:
        TextTooLarge: the text is over ``limit`` bytes.
        ValueError: the chunk is damaged; the message says how, in a few words.
    """
    if kind == b"tEXt":
        text = body
    elif kind == b"zTXt":  # method, then the stream
        if body[:1] != b"\0":
            raise ValueError("an unknown compression")
        text = _inflate(body[1:], limit)
    elif kind == b"iTXt":  # compressed flag, method, language\0, translated keyword\0, the text
        _, sep1, rest = body[2:].partition(b"\0")
        _, sep2, text = rest.partition(b"\0")
        if len(body) < 2 or not (sep1 and sep2) or body[0] not in (0, 1) or (body[0] and body[1] != 0):
            raise ValueError("an incomplete text chunk")
        text = _inflate(text, limit) if body[0] else text
    else:
        raise ValueError(f"not a text chunk ({kind!r})")
    if len(text) > limit:
        raise TextTooLarge(f"text over {limit} bytes")
    if kind != b"iTXt":
        return text.decode("latin-1")
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("its text is not UTF-8") from None


def _inflate(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error:
        raise ValueError("its compressed text is broken") from None
    if len(out) > limit or d.unconsumed_tail:
        raise TextTooLarge(f"text over {limit} bytes")
    if not d.eof:
        raise ValueError("its compressed text ends early")
    return out
