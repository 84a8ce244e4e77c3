"""Regions side by side: a contact sheet of masked runs (a mask per style, guided Gram matrices).

    python bench/regions.py                   # 384 px, 150 steps; about 20 minutes on 2 busy CPU cores
    python bench/regions.py --size 512 --steps 200

Writes bench/regions-contact-sheet.png, one row per case (photo, mask, result):

1. half and half, one style: Starry Night on the left half of examples/chelsea.jpg, the
   photo kept on the right;
2. two styles on two regions: Starry Night on the sky of Tübingen, Turner's Shipwreck on
   the rest (the sky mask is made here from the photo's blue, with a soft edge);
3. a soft mask: a left-to-right ramp, waves on examples/coffee.jpg, from the photo to the style.

The Tübingen row needs ../shared/images (or NST_TEST_IMAGES); without it, examples/coffee.jpg is split at the
top third instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst.images import resize_to_long_side  # noqa: E402

EXAMPLES = ROOT / "examples"
SHARED = Path(os.environ.get("NST_TEST_IMAGES", ROOT.parent / "shared" / "images"))
# Region colours on the mask column: style 1 blue, style 2 orange.
TINTS = ((70, 130, 255), (255, 150, 40))


def half_mask(photo: Image.Image) -> np.ndarray:
    m = np.zeros((photo.height, photo.width), np.float32)
    m[:, : photo.width // 2] = 1
    return m


def ramp_mask(photo: Image.Image) -> np.ndarray:
    return np.linspace(0, 1, photo.width, dtype=np.float32)[None].repeat(photo.height, 0)


def sky_mask(photo: Image.Image) -> np.ndarray:
    """The blue sky, grown down each column from the top; softened by a 1.5 px blur."""
    small = photo.resize((512, round(512 * photo.height / photo.width)))
    a = np.asarray(small, np.float32)
    sky = (a[..., 2] > 120) & (a[..., 2] - a[..., 0] > 50)
    m = np.zeros(sky.shape, np.uint8)
    for x in range(sky.shape[1]):
        for r in range(sky.shape[0]):
            if sky[r, x]:
                m[r, x] = 255
            elif r > 3:
                break
    img = Image.fromarray(m).filter(ImageFilter.MedianFilter(5)).filter(ImageFilter.GaussianBlur(1.5))
    return np.asarray(img.resize(photo.size, Image.Resampling.BILINEAR), np.float32) / 255


def cases() -> list[dict]:
    chelsea, coffee = EXAMPLES / "chelsea.jpg", EXAMPLES / "coffee.jpg"
    starry, shipwreck, waves = EXAMPLES / "starry_night.jpg", EXAMPLES / "shipwreck.jpg", EXAMPLES / "waves.jpg"
    two = SHARED / "tubingen.jpg"
    if two.is_file():
        sky = sky_mask(nst.load_image(two))
        label = "two styles: Starry Night on the sky, Shipwreck on the rest"
    else:
        two = coffee
        img = nst.load_image(two)
        sky = np.zeros((img.height, img.width), np.float32)
        sky[: img.height // 3] = 1
        label = "two styles: Starry Night on the top third, Shipwreck on the rest"
    return [
        dict(label="half and half: Starry Night on the left, the photo kept on the right",
             content=chelsea, styles=[starry], masks=[half_mask(nst.load_image(chelsea))]),
        dict(label=label, content=two, styles=[starry, shipwreck], masks=[sky, 1 - sky]),
        dict(label="soft mask: a left-to-right ramp from the photo to waves",
             content=coffee, styles=[waves], masks=[ramp_mask(nst.load_image(coffee))]),
    ]


def mask_picture(masks: list[np.ndarray], size: tuple[int, int]) -> Image.Image:
    """The masks as one picture: each style's region in its tint, black where the photo is kept."""
    out = np.zeros((size[1], size[0], 3), np.float32)
    for m, tint in zip(masks, TINTS):
        m = np.asarray(Image.fromarray((m * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR), np.float32) / 255
        out += m[..., None] * np.array(tint, np.float32)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", type=Path, default=HERE / "regions-contact-sheet.png")
    args = parser.parse_args()

    rows = []
    for case in cases():
        t = time.perf_counter()
        result = nst.stylize_image(case["content"], case["styles"], masks=case["masks"],
                                   size=args.size, steps=args.steps)
        took = time.perf_counter() - t
        photo = resize_to_long_side(nst.load_image(case["content"]), args.size)
        print(f"{case['label']}: {took:.0f} s", flush=True)
        rows.append((f"{case['label']} ({took:.0f} s)", [photo, mask_picture(case["masks"], photo.size), result]))

    pad, title = 6, 18
    width = max(sum(im.width for im in row) + pad * (len(row) + 1) for _, row in rows)
    height = sum(title + max(im.height for im in row) + pad for _, row in rows) + pad
    sheet = Image.new("RGB", (width, height + title), "white")  # and a footer line
    draw = ImageDraw.Draw(sheet)
    y = pad
    for label, row in rows:
        draw.text((pad, y + 2), label, fill="black")
        x, y = pad, y + title
        for im in row:
            sheet.paste(im, (x, y))
            x += im.width + pad
        y += max(im.height for im in row) + pad
    footer = f"{args.size} px, {args.steps} steps, defaults otherwise; masks: blue style 1, orange style 2, black photo kept"
    draw.text((pad, height), footer, fill="black")
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
