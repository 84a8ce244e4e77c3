"""A small TIFF writer for the tests: the float and wide-integer layouts Pillow cannot write.

Writes one image in strips (contiguous or planar), uncompressed or Deflate, with TIFF
predictor 2 (integers) or 3 (floats) where asked, in either byte order.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


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


def write_tiff(path: Path, a: np.ndarray, big_endian: bool = False, deflate: bool = False,
               predictor: int = 1, planar: bool = False, rows_per_strip: int | None = None) -> Path:
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
            rows = plane[y:y + rps].reshape(min(rps, h - y), -1)
            raw = _predict(rows, predictor, 1 if planar else spp)
            strips.append(zlib.compress(raw) if deflate else raw)
    data = b"".join(strips)
    offsets = list(np.cumsum([0] + [len(s) for s in strips[:-1]]) + 8)
    kind = {"f": 3, "u": 1, "i": 2}[a.dtype.kind]
    tags: dict[int, tuple[int, list[int]]] = {
        256: (4, [w]), 257: (4, [h]), 258: (3, [a.dtype.itemsize * 8] * spp), 259: (3, [8 if deflate else 1]),
        262: (3, [2 if spp >= 3 else 1]), 273: (4, offsets), 277: (3, [spp]), 278: (4, [rps]),
        279: (4, [len(s) for s in strips]), 284: (3, [2 if planar else 1]), 317: (3, [predictor]),
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
