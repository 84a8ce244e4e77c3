"""Make the example images of the app (see README.md beside this file).

    python examples/make_examples.py                       # the procedural style images
    python examples/make_examples.py --skimage-data DIR    # also the photos, from DIR

The style images ``swirls.jpg``, ``mosaic.jpg`` and ``waves.jpg`` are drawn here from a fixed seed, so
they are the project's own work. The photos are re-encoded from the public-domain / CC0
images in the ``skimage/data`` folder of a scikit-image wheel, e.g.::

    pip download --no-deps scikit-image -d /tmp/ski && cd /tmp/ski && unzip -q *.whl 'skimage/data/*'
    python examples/make_examples.py --skimage-data /tmp/ski/skimage/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
SIZE = 512  # long side of every example image
QUALITY = 88  # JPEG quality; keeps each file well under 200 KB

# scikit-image data file -> example name; licences are recorded in README.md.
PHOTOS = {
    "chelsea.png": "chelsea.jpg",
    "coffee.png": "coffee.jpg",
    "astronaut.png": "astronaut.jpg",
}


def swirls(size: int = SIZE, seed: int = 1) -> Image.Image:
    """Short curved brush strokes following a field of vortices, in night blues and yellows."""
    rng = np.random.default_rng(seed)
    h = w = size
    centres = rng.uniform(0, size, (7, 2))
    spins = rng.choice([-1.0, 1.0], 7) * rng.uniform(0.6, 1.4, 7)

    def direction(x: float, y: float) -> tuple[float, float]:
        vx = vy = 0.0
        for (cx, cy), k in zip(centres, spins):
            dx, dy = x - cx, y - cy
            r2 = dx * dx + dy * dy + 400.0
            vx += -k * dy / r2 * 60
            vy += k * dx / r2 * 60
        vx += 0.25  # a gentle drift, like wind
        n = (vx * vx + vy * vy) ** 0.5 + 1e-9
        return vx / n, vy / n

    img = Image.new("RGB", (w, h), (18, 32, 78))
    draw = ImageDraw.Draw(img)
    palette = np.array(
        [
            (22, 44, 110),
            (35, 70, 150),
            (60, 105, 185),
            (95, 140, 200),
            (140, 175, 210),
            (230, 205, 90),
            (245, 225, 130),
            (200, 160, 60),
            (15, 25, 60),
        ]
    )
    weights = np.array([14, 14, 12, 9, 6, 4, 3, 2, 6], dtype=float)
    for _ in range(5200):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        colour = palette[rng.choice(len(palette), p=weights / weights.sum())]
        colour = tuple(int(c) for c in np.clip(colour + rng.normal(0, 10, 3), 0, 255))
        points = [(x, y)]
        for _ in range(rng.integers(4, 10)):
            dx, dy = direction(x, y)
            x, y = x + 4 * dx, y + 4 * dy
            points.append((x, y))
        draw.line(points, fill=colour, width=int(rng.integers(2, 5)), joint="curve")
    # A few glowing "stars" with rings of strokes.
    for cx, cy in rng.uniform(40, size - 40, (5, 2)):
        for r in range(26, 4, -3):
            tone = (250, 230, 140) if r < 14 else (210, 200, 120)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=tone, width=2)
    return img.filter(ImageFilter.SMOOTH)


def mosaic(size: int = SIZE, seed: int = 2, cells: int = 170) -> Image.Image:
    """Stained glass: Voronoi cells in saturated colours with dark leading between them."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (cells, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    best = np.full((size, size), np.inf, np.float32)
    second = np.full((size, size), np.inf, np.float32)
    label = np.zeros((size, size), np.int32)
    for i, (px, py) in enumerate(pts):
        d = np.hypot(xx - px, yy - py)
        closer = d < best
        second = np.where(closer, best, np.minimum(second, d))
        label = np.where(closer, i, label)
        best = np.where(closer, d, best)
    hues = np.array(
        [
            (178, 34, 52),
            (232, 128, 28),
            (246, 196, 48),
            (40, 120, 70),
            (30, 90, 160),
            (90, 50, 140),
            (20, 150, 160),
            (200, 70, 120),
            (240, 230, 200),
        ],
        np.float32,
    )
    colours = hues[rng.integers(0, len(hues), cells)] * rng.uniform(0.75, 1.1, (cells, 1))
    rgb = colours[label]
    # Glass texture: darker towards the leading, and a little grain.
    edge = np.clip((second - best) / 6.0, 0, 1)[..., None]
    rgb = rgb * (0.55 + 0.45 * edge) + rng.normal(0, 6, rgb.shape)
    rgb = np.where(edge < 0.25, 25.0, rgb)  # the leading
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)


def waves(size: int = SIZE, seed: int = 3) -> Image.Image:
    """Bands of warm colour bent into waves, with the grain of a dry brush along them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bend = 18 * np.sin(xx / 37.0 + yy / 90.0) + 9 * np.sin(xx / 13.0 - yy / 41.0 + 1.3) + 26 * np.sin(yy / 70.0 + 0.7)
    band = np.floor((yy + bend) / 22.0).astype(np.int64)
    palette = np.array(
        [
            (38, 28, 66),
            (122, 36, 60),
            (214, 84, 48),
            (242, 160, 60),
            (250, 214, 120),
            (96, 140, 150),
            (28, 74, 96),
            (236, 226, 200),
        ],
        np.float32,
    )
    order = rng.integers(0, len(palette), band.max() - band.min() + 1)
    rgb = palette[order[band - band.min()]]
    # Dry-brush grain: noise smeared along x, darker near each band's edges.
    grain = rng.normal(0, 1, (size, size)).astype(np.float32)
    grain = np.cumsum(grain, axis=1)
    grain = (grain - np.roll(grain, 24, axis=1)) / 24**0.5
    frac = ((yy + bend) / 22.0) % 1.0
    shade = 0.8 + 0.2 * np.sin(np.pi * frac)
    rgb = rgb * shade[..., None] + 14 * grain[..., None]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)


def photo(src: Path) -> Image.Image:
    img = Image.open(src).convert("RGB")
    img.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
    return img


def save(img: Image.Image, name: str) -> None:
    path = HERE / name
    img.save(path, "JPEG", quality=QUALITY, optimize=True)
    print(f"{path.name}: {img.width}×{img.height}, {path.stat().st_size // 1024} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skimage-data", type=Path, help="the skimage/data folder of a scikit-image wheel")
    args = parser.parse_args()
    save(swirls(), "swirls.jpg")
    save(mosaic(), "mosaic.jpg")
    save(waves(), "waves.jpg")
    if args.skimage_data:
        for src, name in PHOTOS.items():
            save(photo(args.skimage_data / src), name)


if __name__ == "__main__":
    main()
