import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from nst.images import (
    ImageError,
    _to_rgb,
    load_image,
    load_mask,
    resize_to_long_side,
    resize_to_pixels,
    to_pil,
    to_tensor,
)


def _png(tmp_path, img, name="x.png", **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb(mode):
    img = Image.new("RGB", (20, 10), (200, 100, 50)).convert(mode)
    out = load_image(img)
    assert out.mode == "RGB" and out.size == (20, 10)


def test_16_bit_greyscale_keeps_its_tones(tmp_path):
    a = np.full((8, 8), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    path = _png(tmp_path, Image.fromarray(a))
    px = load_image(path).getpixel((0, 0))
    assert 120 <= px[0] <= 135  # not clipped to white as Pillow's plain convert would


def test_transparency_is_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(img).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_honoured(tmp_path):
    img = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert load_image(path).size == (20, 40)


@pytest.mark.parametrize(
    "array, rgb",
    [
        (np.full((6, 5), 200, np.uint8), (200, 200, 200)),
        (np.full((6, 5, 1), 200, np.uint8), (200, 200, 200)),
        (np.dstack([np.full((6, 5), v, np.float32) for v in (0.5, 0.25, 1.0)]), (128, 64, 255)),
        (np.dstack([np.full((6, 5), v, np.uint16) for v in (32768, 256, 65535, 65535)]), (128, 1, 255)),
    ],
)
def test_arrays_are_accepted(array, rgb):
    """Greyscale, one band, RGB and RGBA arrays: their size, and every pixel by the depth rule."""
    out = load_image(array)
    assert out.size == (5, 6) and out.mode == "RGB"
    assert {tuple(p) for p in np.asarray(out).reshape(-1, 3).tolist()} == {rgb}


# The depth rule (README, Python API; nst.images.to_uint8) by value: samples of each kind
# and range, and the 8-bit values they must give.
DEPTH_RULE = [
    ("uint8 as is", np.array([0, 7, 128, 255], np.uint8), [0, 7, 128, 255]),
    ("bool as 0/255", np.array([False, True]), [0, 255]),
    ("uint16 by its high byte", np.array([0, 255, 256, 32768, 65535], np.uint16), [0, 0, 1, 128, 255]),
    ("uint16 small values stay dark", np.array([0, 200], np.uint16), [0, 0]),
    ("integers up to 255: 8-bit", np.array([0, 100, 255], np.int32), [0, 100, 255]),
    ("negative integers are black", np.array([-7, 0, 100], np.int32), [0, 0, 100]),
    ("integers up to 65535: 16-bit", np.array([0, 256, 1000, 65535], np.int32), [0, 1, 3, 255]),
    ("int16 over 255: 16-bit", np.array([-5, 300, 32767], np.int16), [0, 1, 127]),
    ("integers above 65535: 32-bit", np.array([0, 2**24, 2**31 - 1], np.int64), [0, 1, 127]),
    ("65536 is past 16 bits", np.array([0, 65536], np.int32), [0, 0]),
    ("past 32 bits is clipped", np.array([0, 2**40], np.int64), [0, 255]),
    ("uint32 above 65535: 32-bit", np.array([0, 2**24 - 1, 2**32 - 1], np.uint32), [0, 0, 255]),
    ("floats up to 1: 0-1", np.array([0.0, 0.25, 0.5, 1.0], np.float32), [0, 64, 128, 255]),
    ("float64 up to 1: 0-1", np.array([0.0, 0.2, 1.0]), [0, 51, 255]),
    ("negative floats are clipped", np.array([-0.5, 0.5], np.float32), [0, 128]),
    ("floats above 1: 0-255", np.array([0.0, 1.5, 127.0, 255.0], np.float32), [0, 2, 127, 255]),
    ("1.5 is past 0-1", np.array([0.0, 0.5, 1.5], np.float32), [0, 0, 2]),
    ("256.0 is past 0-255", np.array([0.0, 256.0]), [0, 1]),
    ("floats above 255: 0-65535", np.array([0.0, 256.0, 32767.5, 65535.0]), [0, 1, 128, 255]),
    ("floats above 65535 are clipped", np.array([0.0, 32767.5, 70000.0], np.float32), [0, 128, 255]),
]


@pytest.mark.parametrize("what, samples, eight", DEPTH_RULE, ids=[r[0] for r in DEPTH_RULE])
def test_the_depth_rule_by_value(what, samples, eight):
    from nst.images import to_uint8

    out = to_uint8(samples)
    assert out.dtype == np.uint8 and out.tolist() == eight
    # The same through load_image, as a greyscale array (one row): every channel.
    assert np.asarray(load_image(samples[None, :])).tolist() == [[[v, v, v] for v in eight]]


def test_bad_arrays_are_refused():
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((4, 4), np.nan, np.float32))


def test_unreadable_inputs_give_clear_messages(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "none.png", "style image")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageError, match="not an image file"):
        load_image(text)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(buf, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(cut)
    with pytest.raises(ImageError, match="no content image"):
        load_image(None, "content image")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A real PNG header declaring 40000×40000 pixels, with almost no data.
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(ImageError, match="bomb.png"):
        load_image(path)


def test_resize_keeps_aspect_ratio():
    img = Image.new("RGB", (1024, 768))
    assert resize_to_long_side(img, 512).size == (512, 384)
    assert resize_to_long_side(Image.new("RGB", (300, 600)), 128).size == (64, 128)
    out = resize_to_pixels(Image.new("RGB", (1000, 500)), 512 * 384)
    assert abs(out.width * out.height - 512 * 384) < 1000 and abs(out.width - 2 * out.height) <= 1


def test_tensor_round_trip_is_lossless_for_8_bit_images():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (7, 9, 3), dtype=np.uint8))
    t = to_tensor(img)
    assert t.shape == (1, 3, 7, 9) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(np.asarray(to_pil(t)), np.asarray(img))


# --- Deep images: a file and an array with the same samples give the same image ----------

from bench.bad_inputs import write_tiff  # noqa: E402


def _samples(dtype, shape, top: float | None = None, seed: int = 0) -> np.ndarray:
    """Random samples of ``dtype`` over its whole range, or over [0, top]."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        return (rng.random(shape) * (top or 1.0)).astype(dtype)
    hi = top if top is not None else np.iinfo(dtype).max
    return rng.integers(0, int(hi) + 1, shape, dtype=np.int64).astype(dtype)


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(load_image(a)), np.asarray(load_image(b)))


# (dtype, top): floats on each of their scales, and integers in each range Pillow's mode I
# holds (8-bit, 16-bit and 32-bit files all open as I).
DEEP = [
    (np.float32, 1.0),
    (np.float32, 255.0),
    (np.float32, 60000.0),
    (np.float64, 1.0),
    (np.uint16, None),
    (np.int16, None),
    (np.int32, 255),
    (np.int32, 65535),
    (np.int32, None),
    (np.uint32, None),
]


@pytest.mark.parametrize("dtype, top", DEEP, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize(
    "bands, layout",
    [
        (1, "plain"),
        (2, "plain"),
        (3, "plain"),
        (4, "plain"),
        (3, "big-endian"),
        (3, "deflate+predictor"),
        (3, "planar"),
    ],
)
def test_deep_tiffs_load_as_their_array_twins(tmp_path, dtype, top, bands, layout):
    """The file gives the image its array does (the rule itself is pinned by value above;
    tests/test_tiff.py reads every layout sample for sample, so three bands show the rest)."""
    a = _samples(dtype, (9, 7) if bands == 1 else (9, 7, bands), top)
    predictor = (3 if np.issubdtype(dtype, np.floating) else 2) if "predictor" in layout else 1
    path = write_tiff(
        tmp_path / "deep.tif",
        a,
        big_endian=layout == "big-endian",
        deflate="deflate" in layout,
        predictor=predictor,
        planar=layout == "planar",
        rows_per_strip=4,
    )
    assert _same(path, a)


@pytest.mark.parametrize(
    "mode, dtype, top",
    [
        ("F", np.float32, 1.0),
        ("F", np.float32, 255.0),
        ("F", np.float32, 60000.0),
        ("I", np.int32, 255),
        ("I", np.int32, 65535),
        ("I", np.int32, 2**31 - 1),
        ("I;16", np.uint16, None),
        ("I;16B", np.uint16, None),
        ("I;16L", np.uint16, None),
        ("I;16N", np.uint16, None),
    ],
)
def test_pillow_deep_modes_load_as_their_array_twins(tmp_path, mode, dtype, top):
    """Pillow's own deep modes: as PIL images, and as the files Pillow writes (TIFF, with
    and without compression, and 16-bit PNG)."""
    a = _samples(dtype, (9, 7), top)
    raw = a.astype(">u2" if mode == "I;16B" else a.dtype.newbyteorder("<")).tobytes()
    img = Image.frombytes(mode, (7, 9), raw)
    assert img.mode == mode and _same(img, a)
    from PIL import TiffImagePlugin

    for name, kw in (
        ("p.tif", {}),
        ("lzw.tif", {"compression": "tiff_lzw"}),
        ("d.tif", {"compression": "tiff_adobe_deflate"}),
    ):
        if mode not in TiffImagePlugin.SAVE_INFO or (mode == "I;16B" and kw):
            continue  # modes Pillow does not write (so)
        img.save(tmp_path / name, **kw)
        assert _same(tmp_path / name, a), name
    if mode == "I;16":
        img.save(tmp_path / "g16.png")
        with Image.open(tmp_path / "g16.png") as back:
            assert back.mode == "I;16"
        assert _same(tmp_path / "g16.png", a)


def test_float_file_on_a_0_1_scale_is_not_black(tmp_path):
    """The probe's case: a float greyscale TIFF with values in 0–1 came out near black."""
    a = np.full((8, 8), 0.5, np.float32)
    Image.fromarray(a).save(tmp_path / "half.tif")
    assert load_image(tmp_path / "half.tif").getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_deep_tiffs_are_turned_upright_as_pillow_turns_images(tmp_path, orientation):
    a = _samples(np.float32, (6, 4))
    Image.fromarray(a).save(tmp_path / "o.tif", tiffinfo={274: orientation})
    with Image.open(tmp_path / "o.tif") as img:
        upright = np.asarray(ImageOps.exif_transpose(img))  # Pillow's own reading, turned
    assert _same(tmp_path / "o.tif", upright)


def test_deep_files_with_nan_are_refused_by_name(tmp_path):
    a = _samples(np.float32, (6, 5, 3))
    a[2, 2, 1] = np.nan
    with pytest.raises(ImageError, match=r"'nan.tif' contains NaN"):
        load_image(write_tiff(tmp_path / "nan.tif", a), "style image")
    Image.fromarray(a[..., 1]).save(tmp_path / "nan1.tif")
    with pytest.raises(ImageError, match=r"style image contains NaN|'nan1.tif' contains NaN"):
        load_image(tmp_path / "nan1.tif", "style image")


def test_a_deep_tiff_nst_cannot_read_says_why(tmp_path):
    path = write_tiff(tmp_path / "rgbf.tif", _samples(np.float32, (6, 5, 3)))
    data = bytearray(path.read_bytes())
    # Mark it LZW-compressed (TIFF code 5): neither nst.tiff nor Pillow reads 3-band floats so.
    i = data.index(bytes([0x03, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00]))
    data[i + 8] = 5
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"'rgbf.tif' is a TIFF nst cannot read: its compression \(TIFF code 5\)"):
        load_image(path, "content image")


def test_integer_arrays_of_every_width_are_accepted():
    for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64, bool):
        assert load_image(np.ones((3, 4), dtype)).size == (4, 3)
    assert load_image(np.full((2, 2), -7, np.int32)).getpixel((0, 0)) == (0, 0, 0)  # negative: black


# --- PNG metadata over Pillow's limits ------------------------------------------------------


def _with_chunk(png: bytes, kind: bytes, body: bytes, after_pixels: bool) -> bytes:
    import struct
    import zlib

    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    at = png.rindex(b"IEND") - 4 if after_pixels else png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


@pytest.mark.parametrize("kind", ["zTXt", "iTXt", "iCCP", "many tEXt"])
@pytest.mark.parametrize("after_pixels", [False, True])
def test_png_metadata_over_pillows_limit_still_loads(tmp_path, kind, after_pixels):
    """A valid PNG whose text (or colour profile) unpacks to megabytes: the pixels load."""
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buf, "PNG")
    png = buf.getvalue()
    big = zlib.compress(b"lorem ipsum " * 400_000)  # 4.8 MB unpacked, a few kB packed
    if kind == "zTXt":
        png = _with_chunk(png, b"zTXt", b"Comment\0\0" + big, after_pixels)
    elif kind == "iTXt":
        png = _with_chunk(png, b"iTXt", b"Comment\0\1\0\0\0" + big, after_pixels)
    elif kind == "iCCP":
        png = _with_chunk(png, b"iCCP", b"huge profile\0\0" + big, False)
    else:  # 70 chunks of 1 MB each: over MAX_TEXT_MEMORY in all
        for i in range(70):
            png = _with_chunk(png, b"zTXt", f"c{i}".encode() + b"\0\0" + zlib.compress(b"x" * 2**20), after_pixels)
    path = tmp_path / "notes.png"
    path.write_bytes(png)
    with pytest.raises(ValueError, match="MAX_TEXT"):  # what Pillow says alone
        with Image.open(path) as img:
            img.load()
    assert load_image(path).getpixel((0, 0)) == (10, 200, 30)


# --- Masks ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "I", "F", "P", "RGB"])
def test_grey_masks_of_every_mode_become_l(mode):
    img = Image.new("L", (20, 10), 0)
    img.paste(255, (0, 0, 10, 10))
    if mode == "I;16":  # a real 16-bit mask spans 0…65535
        img = Image.fromarray(np.asarray(img).astype(np.uint16) * 257)
    out = load_mask(img if mode == "I;16" else img.convert(mode))
    assert out.mode == "L" and out.size == (20, 10)
    assert out.getpixel((2, 2)) == 255 and out.getpixel((15, 5)) == 0


def test_mask_transparency_is_unpainted():
    # White strokes on a transparent layer: the strokes are the mask.
    layer = Image.new("RGBA", (8, 8), (255, 255, 255, 0))
    layer.paste((255, 255, 255, 255), (0, 0, 4, 8))
    out = load_mask(layer)
    assert out.getpixel((1, 1)) == 255 and out.getpixel((6, 1)) == 0


@pytest.mark.parametrize(
    "array",
    [
        np.ones((6, 5), bool),
        np.full((6, 5), 255, np.uint8),
        np.ones((6, 5, 1), np.float32),
        np.full((6, 5, 3), 65535, np.uint16),
        torch.ones(1, 1, 6, 5),
        torch.ones(6, 5),
    ],
)
def test_mask_arrays_and_tensors(array):
    out = load_mask(array)
    assert out.size == (5, 6) and out.getextrema() == (255, 255)


def test_soft_masks_keep_their_grey_levels(tmp_path):
    ramp = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(3, 0)
    assert np.abs(np.asarray(load_mask(ramp), float)[0] - ramp[0].astype(float) * 255).max() <= 0.5 + 1e-3  # rounded
    path = _png(tmp_path, Image.fromarray((ramp * 255).round().astype(np.uint8)))
    assert np.array_equal(np.asarray(load_mask(path)), (ramp * 255).round().astype(np.uint8))


def test_bad_masks_are_refused_with_a_message(tmp_path):
    with pytest.raises(ImageError, match="mask 2 is a colour image"):
        load_mask(Image.new("RGB", (8, 8), (255, 0, 0)), "mask 2")
    with pytest.raises(ImageError, match="values from 0 to 255"):
        load_mask(np.array([[0.0, 255.0]], np.float32))
    with pytest.raises(ImageError, match="shape"):
        load_mask(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        load_mask(np.full((4, 4), np.nan, np.float32))
    with pytest.raises(ImageError, match="mask 'none.png' does not exist"):
        load_mask(tmp_path / "none.png")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageError, match="not an image file"):
        load_mask(text)
    with pytest.raises(ImageError, match="no mask"):
        load_mask(None)
    with pytest.raises(ImageError, match="must be a file path"):
        load_mask(3.5)


def test_a_one_row_mask_tensor_keeps_its_row():
    """Only leading axes of length 1 go: a (1, W) mask is one row of W pixels, and an
    (H, W, 1) one keeps its H rows."""
    row = torch.tensor([[0.0, 1.0, 0.0, 1.0, 1.0]])
    out = load_mask(row)
    assert out.size == (5, 1) and np.asarray(out).tolist() == [[0, 255, 0, 255, 255]]
    column = torch.zeros(3, 2, 1)
    column[1] = 1
    assert np.asarray(load_mask(column)).tolist() == [[0, 0], [255, 255], [0, 0]]


def test_to_pil_clamps_values_outside_0_1():
    """Values past either end are clamped to black and white, not wrapped around a byte."""
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5, 3.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    out = to_pil(x)
    assert out.mode == "RGB" and out.size == (6, 1)
    assert np.asarray(out)[0, :, 0].tolist() == [0, 0, 128, 255, 255, 255]
    assert np.asarray(to_pil(x[0])).tolist() == np.asarray(out).tolist()  # (3, H, W) alike


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_to_pil_converts_in_bands_of_rows_as_the_whole_image_would(monkeypatch, dtype):
    """A print-size result is converted a band of rows at a time; every band, the last
    (shorter) one included, ends as the whole image's conversion would make it."""
    import nst.images

    x = torch.rand(1, 3, 7, 5, generator=torch.Generator().manual_seed(0)).mul(1.4).sub(0.2).to(dtype)
    whole = x[0].float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    monkeypatch.setattr(nst.images, "PIL_BAND_PIXELS", 10)  # bands of 2 rows, the last of 1
    assert np.array_equal(np.asarray(to_pil(x)), whole)
    monkeypatch.setattr(nst.images, "PIL_BAND_PIXELS", 1)  # narrower than a row: one row a band
    assert np.array_equal(np.asarray(to_pil(x[0])), whole)


@pytest.mark.parametrize("values", [[-0.5, 1.0], [0.0, 1.5]])
def test_a_float_mask_outside_0_1_is_refused_with_its_range(values):
    lo, hi = values
    message = (
        f"the mask 2 array has values from {lo:g} to {hi:g}; "
        "a float mask goes from 0 (black: photo kept) to 1 (white: style here)"
    )
    with pytest.raises(ImageError) as err:
        load_mask(np.array([values], np.float32), "mask 2")
    assert str(err.value) == message


def test_mask_errors_name_the_mask():
    with pytest.raises(ImageError, match=r"^the mask 2 array has shape \(2, 2, 2, 2\)"):
        load_mask(np.zeros((2, 2, 2, 2)), "mask 2")
    with pytest.raises(ImageError, match="^the mask 2 contains NaN"):
        load_mask(np.full((4, 4), np.nan, np.float32), "mask 2")
    with pytest.raises(ImageError, match="^the mask 2 contains NaN"):  # a float image: Pillow's mode F
        load_mask(Image.fromarray(np.full((4, 4), np.nan, np.float32)), "mask 2")
    with pytest.raises(ImageError) as err:
        load_mask(Image.new("RGB", (8, 8), (255, 0, 0)), "mask 2")
    assert str(err.value) == (
        "the mask 2 is a colour image; a mask is greyscale: white where the style goes, black where the photo is kept"
    )


def test_a_mask_over_64_mpx_is_refused_and_64_mpx_is_not():
    with pytest.raises(ImageError) as err:
        load_mask(Image.new("1", (8001, 8000)), "mask 2")
    assert str(err.value) == "the mask 2 is 8001×8000 pixels, more than the 64 Mpx nst accepts; downscale it first"
    out = load_mask(Image.new("1", (8000, 8000)))  # 64,000,000 pixels exactly
    assert out.size == (8000, 8000) and out.mode == "L"


def _mid_grey_mask(mode: str) -> Image.Image:
    """Half black, half mid-grey, in a deep mode: mid-grey is 128 by the depth rule."""
    if mode == "F":
        a = np.array([[0.0, 0.5]], np.float32)
    elif mode == "I":
        a = np.array([[0, 32768]], np.int32)
    else:
        a = np.array([[0, 32768]], np.uint16)
    if mode in ("I;16", "F", "I"):
        return Image.fromarray(a)
    return Image.frombytes(mode, (2, 1), a.astype(">u2" if mode == "I;16B" else "<u2").tobytes())


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I", "F"])
def test_deep_masks_are_scaled_by_the_depth_rule_not_clipped(mode):
    img = _mid_grey_mask(mode)
    assert img.mode == mode
    assert np.asarray(load_mask(img)).tolist() == [[0, 128]]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGBa", "La"])
def test_mask_alpha_scales_its_grey(mode):
    """Transparent is unpainted: the grey level times the opacity, in every mode with alpha."""
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 255, 255, 0), (255, 255, 255, 128), (100, 100, 100, 255)])
    if mode == "PA":
        img = Image.new("PA", (3, 1))
        img.putpalette([255, 255, 255, 100, 100, 100])
        img.putdata([(0, 0), (0, 128), (1, 255)])
    else:  # (Pillow's RGBA to La drops the alpha: through LA)
        img = rgba.convert("LA").convert("La") if mode == "La" else rgba.convert(mode)
    assert img.mode == mode
    assert np.asarray(load_mask(img)).tolist() == [[0, 128, 100]]


def test_a_palette_mask_with_a_transparent_colour():
    img = Image.new("P", (2, 1))
    img.putpalette([255, 255, 255, 255, 255, 255])
    img.putdata([0, 1])
    img.info["transparency"] = 0  # the first white is transparent
    assert np.asarray(load_mask(img)).tolist() == [[0, 255]]


def test_a_colour_spread_of_8_levels_is_grey_and_more_is_colour():
    """JPEG noise leaves a grey mask a little coloured: up to 8 levels between the largest
    and smallest channel (on average) it is grey; past that, a colour image."""
    eight = Image.new("RGB", (2, 1))
    eight.putdata([(100, 108, 100), (100, 108, 100)])
    assert load_mask(eight).size == (2, 1)
    past = Image.new("RGB", (2, 1))
    past.putdata([(100, 108, 100), (100, 109, 100)])  # 8.5 on average
    with pytest.raises(ImageError, match="colour image"):
        load_mask(past)


def test_short_reasons_are_the_first_line_of_the_error():
    from nst.images import _short

    assert _short(OSError("broken data\nmore detail")) == "broken data"
    assert _short(ValueError("x" * 200)) == "x" * 120
    assert _short(OSError()) == "OSError"  # no text: the kind of error


def _png_header(w: int, h: int) -> bytes:
    """A PNG that declares w×h RGB pixels and holds none."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _message(src, what="image") -> str:
    with pytest.raises(ImageError) as err:
        load_image(src, what)
    return str(err.value)


def test_oversized_files_are_refused_with_the_size_they_declare(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Pillow's own limit (app.py lowers it to nst's for the whole process, which would send
    # the first case through Pillow's refusal when the app was imported first).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1024 * 1024 * 1024 // 4 // 3)
    (tmp_path / "sub").mkdir()
    # Over 64 Mpx but under Pillow's own limit: nst's check, with the declared size.
    Path("sub/big.png").write_bytes(_png_header(9000, 8000))
    assert _message("sub/big.png", "style image") == (
        "the style image 'sub/big.png' declares 9000×8000 pixels, more than the 64 Mpx nst accepts"
    )
    # Over Pillow's limit (a warning past 89 Mpx, an error past twice that): the pixel count
    # Pillow read from the header, in Mpx.
    Path("sub/warned.png").write_bytes(_png_header(10000, 10000))
    assert _message("sub/warned.png") == "the image 'sub/warned.png' declares 100 Mpx, more than the 64 Mpx nst accepts"
    Path("sub/bomb.png").write_bytes(_png_header(40000, 40000))
    assert _message("sub/bomb.png") == "the image 'sub/bomb.png' declares 1,600 Mpx, more than the 64 Mpx nst accepts"
    # Metadata over Pillow's limit is dropped first; the size is then checked as before.
    import zlib

    header = _png_header(9000, 8000)
    text = _with_chunk(header, b"zTXt", b"Comment\0\0" + zlib.compress(b"lorem ipsum " * 400_000), False)
    Path("sub/notes.png").write_bytes(text)
    assert _message("sub/notes.png", "style image") == (
        "the style image 'sub/notes.png' declares 9000×8000 pixels, more than the 64 Mpx nst accepts"
    )
    # 64 Mpx exactly is not over the limit: it is read (and this one holds no pixels).
    Path("sub/edge.png").write_bytes(_png_header(8000, 8000))
    assert "damaged or truncated" in _message("sub/edge.png")


def _temporary_folder(monkeypatch, folder: Path) -> None:
    """``folder`` as the temporary folder, so that this checkout (wherever it is cloned, /tmp
    too) lies outside it."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)


def test_each_unreadable_path_gets_its_own_message(tmp_path, monkeypatch):
    _temporary_folder(monkeypatch, tmp_path)
    here = Path(__file__).resolve().parent  # absolute, outside the temporary folder: shown whole
    assert _message(here, "content image") == f"the content image {str(here) + '/'!r} is a folder, not an image file"
    (tmp_path / "scans ").mkdir()  # a name that ends in a space keeps it
    assert _message(tmp_path / "scans ") == "the image 'scans /' is a folder, not an image file"
    assert _message(Path("/dev/null")) == "the image '/dev/null' is not a file"
    (tmp_path / "empty.png").write_bytes(b"")
    assert _message(tmp_path / "empty.png") == "the image 'empty.png' is empty (0 bytes)"
    (tmp_path / "notes.png").write_text("hello")
    assert _message(tmp_path / "notes.png") == "the image 'notes.png' is not an image file nst can read"
    for name, kind in [("logo.svg", "SVG"), ("LOGO.PDF", "PDF"), ("art.ai", "Illustrator")]:
        (tmp_path / name).write_text("<svg/>")
        assert _message(tmp_path / name) == (
            f"the image {name!r} is not an image file nst can read: {kind} is a vector format, "
            "so export it as PNG or JPEG first"
        )
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert _message(tmp_path / "cut.jpg") == "the image 'cut.jpg' is damaged or truncated (Truncated File Read)"


def test_shown_path_hides_only_the_temporary_folder(tmp_path, monkeypatch):
    from nst.images import shown_path

    _temporary_folder(monkeypatch, tmp_path)
    assert shown_path(Path("sub/x.jpg")) == "sub/x.jpg"
    outside = Path(__file__).resolve()
    assert shown_path(outside) == str(outside)
    assert shown_path(tmp_path / "up" / "x.jpg") == "x.jpg"
    uploads = Path(__file__).resolve().parent / "uploads"
    assert shown_path(uploads / "y.jpg") == str(uploads / "y.jpg")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))  # the app's upload folder
    assert shown_path(uploads / "y.jpg") == "y.jpg"


def test_arrays_of_another_shape_size_or_kind_are_refused_by_name():
    assert _message(np.zeros((4, 4, 5)), "style image") == (
        "the style image array has shape (4, 4, 5); expected (H, W), (H, W, 2), (H, W, 3) or (H, W, 4)"
    )
    assert _message(np.zeros((0, 5))) == "the image array is empty"
    assert _message(np.zeros((2, 2), complex)) == (
        "the image array has dtype complex128; use unsigned or signed integers, or floats"
    )
    assert (
        _message(np.array([["a", "b"]])) == "the image array has dtype <U1; use unsigned or signed integers, or floats"
    )
    one = load_image(np.full((1, 1), 0.5))  # one pixel is not empty
    assert one.size == (1, 1) and one.getpixel((0, 0)) == (128, 128, 128)


def test_load_image_messages_name_the_image():
    with pytest.raises(ImageError, match="^no image was given$"):  # the default name
        load_image("")
    assert _message("  ", "style image") == "no style image was given"
    assert _message("https://example.com/a.jpg", "style image") == (
        "the style image 'https://example.com/a.jpg' is a web address; nst reads local files only, so download it first"
    )
    assert _message(3.5, "content image") == "the content image must be a file path, a PIL image or an array, not float"
    assert _message(np.full((2, 2), np.nan), "content image") == "the content image contains NaN or infinite values"
    nan_f = Image.fromarray(np.full((2, 2), np.nan, np.float32))  # Pillow's mode F
    assert _message(nan_f, "content image") == "the content image contains NaN or infinite values"
    # A PIL image of no pixels (Image.new makes them), and one of a mode nst does not know
    # (every mode of this Pillow loads: see test_every_mode_pillow_holds_loads_as_what_it_shows).
    assert _message(Image.new("RGB", (0, 3)), "style image") == "the style image is empty (0×3 pixels)"
    assert _message(Image.new("La", (0, 0))) == "the image is empty (0×0 pixels)"

    class Future:  # a mode from a Pillow newer than nst
        mode, info = "XYZ;9", {}

    with pytest.raises(ImageError) as err:
        _to_rgb(Future(), "style image")
    assert str(err.value) == (
        "the style image is a PIL image in mode 'XYZ;9', which nst cannot convert to RGB; "
        "convert it to RGB or RGBA first"
    )


def test_a_pil_image_over_64_mpx_is_refused_and_64_mpx_is_not():
    assert _message(Image.new("1", (16001, 4000)), "style image") == (
        "the style image is 16001×4000 pixels, more than the 64 Mpx nst accepts; downscale it first"
    )
    assert load_image(Image.new("1", (16000, 4000))).size == (16000, 4000)  # 64,000,000 pixels exactly


def test_big_endian_16_bit_images_follow_the_uint16_rule():
    """I;16B samples are uint16 too: their high byte, so values up to 255 stay black."""
    img = Image.frombytes("I;16B", (3, 1), np.array([[200, 256, 40000]], ">u2").tobytes())
    assert np.asarray(load_image(img))[0, :, 0].tolist() == [0, 1, 156]


@pytest.mark.parametrize("mode", ["P", "LA", "PA", "RGBa"])
def test_transparent_pixels_of_every_alpha_mode_are_white(mode):
    if mode in ("P", "PA"):
        img = Image.new(mode, (2, 1))
        img.putpalette([0, 0, 0, 255, 0, 0])
        if mode == "P":
            img.putdata([0, 1])
            img.info["transparency"] = 0  # the black entry is transparent
        else:
            img.putdata([(0, 0), (1, 255)])
        want = [[255, 255, 255], [255, 0, 0]]
    else:
        rgba = Image.new("RGBA", (2, 1))
        rgba.putdata([(0, 0, 0, 0), (0, 0, 0, 255)])
        img = rgba.convert(mode)
        want = [[255, 255, 255], [0, 0, 0]]
    assert img.mode == mode
    assert np.asarray(load_image(img))[0].tolist() == want


# --- Every mode Pillow holds, given as a PIL image (found by an outside probe: La was "could
# not be decoded") ------------------------------------------------------------------------


def _gradient(bands: int, w: int = 24, h: int = 16) -> np.ndarray:
    """Smooth 8-bit samples, each band running another way, as ``(h, w, bands)``."""
    x, y = np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h))
    ways = [x, y, (x + y) / 2, 255 - x]
    return np.stack(ways[:bands], axis=-1).round().astype(np.uint8)


def _in_mode(mode: str) -> tuple[Image.Image, np.ndarray, float]:
    """A PIL image in ``mode``, the RGB it stands for (straight alpha composited on white, in
    floats: nothing of nst's), and the mean difference allowed (the mode's own rounding)."""
    rgb = Image.fromarray(_gradient(3))
    grey = rgb.convert("L")
    if mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        colour = grey.convert("RGB") if mode in ("LA", "La") else rgb
        rgba = colour.convert("RGBA")
        rgba.putalpha(Image.fromarray(_gradient(4)[..., 3]))  # opaque at the left, transparent at the right
        img = rgba.convert(mode) if mode != "La" else rgba.convert("LA").convert("La")  # (RGBA to La drops alpha)
        if mode == "PA":  # the palette's colours, not the photo's
            rgba = img.convert("RGBA")
        a = np.asarray(rgba, np.float64)
        alpha = a[..., 3:] / 255
        want = a[..., :3] * alpha + 255 * (1 - alpha)
        return img, want, 1.0 if mode in ("RGBa", "La") else 0.5  # premultiplying rounds dark, thin colours
    if mode.startswith("I;16"):  # 16-bit samples: the 8-bit ones, scaled to fill them
        order = ">u2" if mode == "I;16B" else "=u2" if mode == "I;16N" else "<u2"
        img = Image.frombytes(mode, rgb.size, (np.asarray(grey, np.uint16) * 257).astype(order).tobytes())
    elif mode in ("1", "P"):
        img = rgb.convert(mode)
        return img, np.asarray(img.convert("RGB"), np.float64), 0.5  # dithered or a palette's: as Pillow shows it
    else:
        img = (grey if mode in ("L", "I", "F") else rgb).convert(mode)
    want = np.asarray((grey if mode in ("L", "I", "F") or mode.startswith("I;16") else rgb).convert("RGB"), np.float64)
    return img, want, 2.0 if mode in ("YCbCr", "LAB", "HSV") else 0.5  # colour spaces round a little


@pytest.mark.parametrize("mode", Image.MODES)
def test_every_mode_pillow_holds_loads_as_what_it_shows(mode):
    """Every mode of this Pillow (premultiplied La and RGBa, PA, CMYK, YCbCr, LAB, HSV, the
    16-bit ones...) given as a PIL image: RGB, alpha composited on white as files are."""
    img, want, tolerance = _in_mode(mode)
    assert img.mode == mode
    out = load_image(img)
    assert out.mode == "RGB" and out.size == img.size
    off = np.abs(np.asarray(out, np.float64) - want)
    assert off.mean() <= tolerance and off.max() <= 32, (off.mean(), off.max())  # LAB: Pillow's round trip, 28


@pytest.mark.parametrize(
    "mode, key, as_file",
    [
        *[
            (mode, key, as_file)
            for mode, key in [("1", 0), ("L", 0), ("RGB", (0, 0, 0)), ("I;16", 0)]
            for as_file in (False, True)
        ],
        ("I", 0, False),  # (PNG has no 32-bit greyscale)
    ],
)
def test_a_transparent_colour_is_composited_on_white(tmp_path, mode, key, as_file):
    """One colour marked transparent (a PNG's tRNS chunk, ``info["transparency"]`` in Pillow)
    is composited on white like an alpha band: it used to show as its colour (black)."""
    a = np.full((4, 6), 200, np.uint8)
    a[:2, :3] = 0  # the transparent quarter
    img = Image.fromarray(a).convert(mode)
    if mode == "I;16":
        img = Image.frombytes("I;16", (6, 4), (a.astype("<u2") * 257).tobytes())
    img.info["transparency"] = key
    if as_file:
        img = Image.open(_png(tmp_path, img, transparency=key))
        assert img.mode == mode and img.info["transparency"] == key
    out = np.asarray(load_image(img))
    assert (out[:2, :3] == 255).all()  # transparent: white
    assert (out[2:] == (255 if mode == "1" else 200)).all()  # opaque: as it was ("1" has no grey: white)
