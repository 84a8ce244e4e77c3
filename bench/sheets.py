"""Contact sheets: images in a labelled row (:func:`row`) or in a grid of rows (:func:`grid`).

Every picture a bench makes for the docs is one of these two.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

Cell = tuple[str, "Image.Image | None"]


def fit(img: Image.Image, cell: int) -> Image.Image:
    """A copy of ``img`` fitted into a ``cell``-px square (never enlarged)."""
    t = img.copy()
    t.thumbnail((cell, cell))
    return t


def _inset(img: Image.Image, text: str) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, 8 + 7 * len(text), 18), fill="black")
    draw.text((4, 3), text, fill="white")
    return out


def row(
    images: Sequence[Image.Image],
    labels: Sequence[str] | None = None,
    *,
    height: int | None = None,
    width: int | None = None,
    gap: int = 8,
    header: int = 28,
    inset: bool = False,
) -> Image.Image:
    """The images side by side, left to right, on white.

    Args:
        height, width: scale each image to this height (or width), keeping its aspect ratio;
            neither: as they are.
        gap: pixels between two images.
        header: pixels above the images for the labels (drawn at the top-left of each);
            with ``inset`` the labels are drawn white on black inside each image instead.
    """
    shown = []
    for im in images:
        if height:
            im = im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS)
        elif width:
            im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        shown.append(im)
    if labels and inset:
        shown, labels, header = [_inset(im, t) for im, t in zip(shown, labels)], None, 0
    top = header if labels else 0
    out = Image.new(
        "RGB", (sum(im.width for im in shown) + gap * (len(shown) - 1), max(im.height for im in shown) + top), "white"
    )
    draw = ImageDraw.Draw(out)
    x = 0
    for i, im in enumerate(shown):
        out.paste(im, (x, top))
        if labels:
            draw.text((x + 6, 8), labels[i], fill="black")
        x += im.width + gap
    return out


def grid(
    rows: Sequence[tuple[str | None, Sequence[Cell | None]]],
    *,
    cell: int | None = None,
    pad: int = 6,
    title: int = 0,
    label: int = 0,
    footer: str | None = None,
) -> Image.Image:
    """Rows of cells on white, each row under its title (``title`` px; none when 0), each
    cell under its own label (``label`` px; none when 0). A cell is ``(label, image)``;
    ``None`` (or a ``None`` image) leaves it empty.

    With ``cell``, each image is fitted into a ``cell``-px square and centred in it, the
    columns aligned; without, images keep their size, left to right.
    """

    def size(c: Cell | None) -> tuple[int, int]:
        if c is None or c[1] is None:
            return (cell or 0, cell or 0)
        return (cell, cell) if cell else c[1].size

    heights = [max((size(c)[1] for c in cells), default=0) for _, cells in rows]
    widths = [sum(size(c)[0] for c in cells) + pad * (len(cells) + 1) for _, cells in rows]
    foot = 18 if footer else 0
    out = Image.new(
        "RGB", (max(widths, default=2 * pad), sum(title + label + h + pad for h in heights) + pad + foot), "white"
    )
    draw = ImageDraw.Draw(out)
    y = pad
    for (text, cells), h in zip(rows, heights):
        if title and text:
            draw.text((pad, y + 3), text, fill="black")
        y += title
        x = pad
        for c in cells:
            w = size(c)[0]
            if c is not None and c[1] is not None:
                if label and c[0]:
                    draw.text((x, y + 2), c[0], fill="black")
                im = fit(c[1], cell) if cell else c[1]
                out.paste(im, (x + (w - im.width) // 2, y + label + (h - im.height) // 2))
            x += w + pad
        y += label + h + pad
    if footer:
        draw.text((pad, y), footer, fill="black")
    return out
