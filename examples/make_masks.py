"""Draw the example masks for ``chelsea.jpg`` (see README.md beside this file).

    python examples/make_masks.py

Greyscale PNGs in the photo's frame (451×300), white where they act, drawn from fixed shapes
(no data, no randomness), so they are the project's own work:

- ``chelsea_cat.png``: the cat's head (an ellipse with a soft edge); ``chelsea_background.png``
  is its inverse. Together they are a two-region mask, one per style image:
  ``--mask examples/chelsea_cat.png examples/chelsea_background.png``.
- ``chelsea_keep.png``: the cat's eyes and nose, for ``--keep`` (the face detector finds
  people's faces, not a cat's).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
SIZE = (451, 300)  # chelsea.jpg's


def ellipses(boxes: list[tuple[int, int, int, int]], blur: float) -> Image.Image:
    """White ellipses on black, their edges softened by a Gaussian blur of ``blur`` px."""
    mask = Image.new("L", SIZE, 0)
    draw = ImageDraw.Draw(mask)
    for box in boxes:
        draw.ellipse(box, fill=255)
    return mask.filter(ImageFilter.GaussianBlur(blur))


def main() -> None:
    cat = ellipses([(-40, -40, 385, 380)], blur=6)  # the head fills the frame but for the right edge
    keep = ellipses(
        [
            (122, 80, 218, 150),  # left eye
            (280, 100, 356, 170),  # right eye
            (222, 208, 302, 272),
        ],  # nose
        blur=3,
    )
    for name, mask in {
        "chelsea_cat.png": cat,
        "chelsea_background.png": ImageChops.invert(cat),
        "chelsea_keep.png": keep,
    }.items():
        mask.save(HERE / name, optimize=True)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
