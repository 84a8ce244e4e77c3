"""The TIFFs Pillow cannot open: float or wide-integer samples in more than one band.

Pillow reads single-band float and 16/32-bit TIFFs (modes F, I, I;16*), but not RGB, RGBA or
grey+alpha images with 32/64-bit float or 32-bit integer samples, nor 64-bit floats at all.
:func:`read_array` reads those (strips, contiguous or planar, uncompressed or Deflate, with
or without a predictor) into a numpy array, which :mod:`nst.images` then treats exactly like
the same array passed in directly.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["TiffError", "NotDeep", "is_tiff", "read_array"]

_MAGIC = (b"II*\0", b"MM\0*")
_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q"}  # the integer tag types that strips and sizes use
_DEFLATE = (8, 32946)


class TiffError(ValueError):
    """A TIFF this reader does not handle; the message says what it is."""


class NotDeep(TiffError):
    """A TIFF of 8-bit (or fewer) samples, or not greyscale or RGB: one for Pillow."""


def is_tiff(head: bytes) -> bool:
    return head[:4] in _MAGIC


def read_array(path: str | Path, max_pixels: int) -> np.ndarray:
    """The samples of the TIFF at ``path``'s first image, ``(H, W)`` or ``(H, W, bands)``.

    Args:
        path: a classic (not BigTIFF) TIFF file.
        max_pixels: refuse images that declare more pixels than this, before decoding.

    Raises:
        NotDeep: 8-bit samples, or colours other than greyscale or RGB (Pillow reads those).
        TiffError: a layout this reader does not handle (tiles, LZW, ...), or a damaged file.
    """
    data = Path(path).read_bytes()
    if not is_tiff(data):
        raise TiffError("not a TIFF file")
    bo = "<" if data[:2] == b"II" else ">"
    try:
        tags = _first_ifd(data, bo)
        width, height = tags[256][0], tags[257][0]
        spp = tags.get(277, [1])[0]
        bits = tags.get(258, [1] * spp)
        kind = tags.get(339, [1] * spp)[0]  # 1 unsigned, 2 signed, 3 float
        compression = tags.get(259, [1])[0]
        predictor = tags.get(317, [1])[0]
        planar = tags.get(284, [1])[0]
        photometric = tags.get(262, [1])[0]
    except (KeyError, IndexError, struct.error):
        raise TiffError("its header is damaged") from None
    if photometric not in (1, 2) or (kind != 3 and max(bits) <= 8) or spp > 4:
        raise NotDeep("not greyscale or RGB with deep samples")
    if width * height > max_pixels:
        raise TiffError(f"it declares {width}×{height} pixels")
    if 322 in tags:
        raise TiffError("it is a tiled TIFF, which nst reads only through Pillow")
    if len(set(bits)) != 1 or bits[0] not in (16, 32, 64) or kind not in (1, 2, 3):
        raise TiffError(f"its samples ({'/'.join(map(str, bits))}-bit, format {kind}) are not supported")
    if kind == 3 and bits[0] not in (32, 64):
        raise TiffError(f"its {bits[0]}-bit float samples are not supported")
    if compression not in (1, *_DEFLATE):
        raise TiffError(
            f"its compression (TIFF code {compression}) is not supported; save it uncompressed or with Deflate"
        )
    dtype = np.dtype(f"{bo}{'uif'[kind - 1]}{bits[0] // 8}")
    try:
        offsets, counts = tags[273], tags[279]
        rows_per_strip = min(tags.get(278, [height])[0], height)
    except KeyError:
        raise TiffError("its header is damaged") from None
    planes = spp if planar == 2 else 1
    per_plane = -(-height // rows_per_strip)
    if len(offsets) != planes * per_plane or len(counts) != len(offsets):
        raise TiffError("its strips do not match its size")
    row_samples = width * (1 if planar == 2 else spp)
    out = []
    for p in range(planes):
        rows = []
        for s in range(per_plane):
            i = p * per_plane + s
            n_rows = min(rows_per_strip, height - s * rows_per_strip)
            want = n_rows * row_samples * dtype.itemsize
            raw = data[offsets[i] : offsets[i] + counts[i]]
            if compression in _DEFLATE:
                d = zlib.decompressobj()
                try:
                    raw = d.decompress(raw, want)
                except zlib.error:
                    raise TiffError("its compressed data is damaged") from None
            if len(raw) < want:
                raise TiffError("it is truncated")
            strip = _unpredict(raw[:want], n_rows, row_samples, 1 if planar == 2 else spp, dtype, predictor)
            rows.append(strip)
        out.append(np.concatenate(rows).reshape(height, width, -1))
    a = np.concatenate(out, axis=2) if planes > 1 else out[0]
    a = _oriented(a.astype(dtype.newbyteorder("=")), tags.get(274, [1])[0])
    return a[..., 0] if a.shape[2] == 1 else a


def _oriented(a: np.ndarray, orientation: int) -> np.ndarray:
    """``a`` (H, W, bands) turned upright by its TIFF/EXIF orientation, as Pillow's
    ``ImageOps.exif_transpose`` turns the images it reads."""
    turns = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: x[::-1, ::-1].swapaxes(0, 1),
        8: lambda x: np.rot90(x, 1),
    }
    return np.ascontiguousarray(turns[orientation](a)) if orientation in turns else a


def _first_ifd(data: bytes, bo: str) -> dict[int, list[int]]:
    (offset,) = struct.unpack_from(bo + "I", data, 4)
    (n,) = struct.unpack_from(bo + "H", data, offset)
    tags: dict[int, list[int]] = {}
    for k in range(n):
        tag, typ, count, value = struct.unpack_from(bo + "HHI4s", data, offset + 2 + 12 * k)
        code = _TYPES.get(typ)
        if code is None:
            continue  # rationals, strings, ...: nothing the pixels need
        size = struct.calcsize(code) * count
        raw = value[:size] if size <= 4 else data[struct.unpack(bo + "I", value)[0] :][:size]
        tags[tag] = list(struct.unpack(bo + code * count, raw))
    return tags


def _unpredict(raw: bytes, n_rows: int, row_samples: int, spp: int, dtype: np.dtype, predictor: int) -> np.ndarray:
    """A strip's samples, undoing TIFF predictor 2 (integer differences) or 3 (float)."""
    if predictor == 1:
        return np.frombuffer(raw, dtype)
    if predictor == 2 and dtype.kind in "ui":
        a = np.frombuffer(raw, dtype).reshape(n_rows, -1, spp).astype(dtype.newbyteorder("="))
        return np.cumsum(a, axis=1, dtype=a.dtype).reshape(-1)  # wraps around, as the encoder did
    if predictor == 3 and dtype.kind == "f":
        # Each row is stored as byte planes (most significant first), differenced bytewise
        # with a stride of one pixel.
        size = dtype.itemsize
        b: np.ndarray = np.frombuffer(raw, np.uint8).reshape(n_rows, row_samples * size)  # reshaped below
        b = b.reshape(n_rows, -1, spp)
        b = np.cumsum(b, axis=1, dtype=np.uint8).reshape(n_rows, size, row_samples)
        return np.ascontiguousarray(b.transpose(0, 2, 1)).view(">" + dtype.str[1:]).reshape(-1).astype(dtype)
    raise TiffError(f"its predictor (TIFF code {predictor}) is not supported")
