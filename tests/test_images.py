import io

import numpy as np
import pytest
import torch
from PIL import Image

from nst.images import ImageError, load_image, load_mask, resize_to_long_side, resize_to_pixels, to_pil, to_tensor


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
    "array",
    [
        np.zeros((6, 5), np.uint8),
        np.zeros((6, 5, 1), np.uint8),
        np.zeros((6, 5, 3), np.float32),
        np.zeros((6, 5, 4), np.uint16),
    ],
)
def test_arrays_are_accepted(array):
    assert load_image(array).size == (5, 6)


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
    [np.ones((6, 5), bool), np.full((6, 5), 255, np.uint8), np.ones((6, 5, 1), np.float32),
     np.full((6, 5, 3), 65535, np.uint16), torch.ones(1, 1, 6, 5), torch.ones(6, 5)],
)
def test_mask_arrays_and_tensors(array):
    out = load_mask(array)
    assert out.size == (5, 6) and out.getextrema() == (255, 255)


def test_soft_masks_keep_their_grey_levels(tmp_path):
    ramp = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(3, 0)
    assert list(np.asarray(load_mask(ramp))[0]) == [round(v * 255) for v in ramp[0]]
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
