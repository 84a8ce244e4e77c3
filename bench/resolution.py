"""Resolution independence: the same settings at 256 px and at 1024 px, side by side.

    python bench/resolution.py                          # Tübingen × Starry Night, defaults
    python bench/resolution.py --sizes 256 512 1024 --steps 300

nst's costs are normalised by the layer sizes (a mean for the content, Gram matrices over
nH·nW), and each style image is resized to the output's pixel count, so one
``style_weight`` should give the same balance of content and style at any size. Each
result is measured with bench.py's reference quality at its own size; similar content
and style distances across sizes mean a similar balance. Writes
bench/results/resolution.json and bench/resolution-<pair>.png (each result shown at
the same display width).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import nst  # noqa: E402
from bench import IMAGES, Judge, machine  # noqa: E402


def sheet(images: list[Image.Image], labels: list[str], width: int) -> Image.Image:
    """The images side by side at one display width each, labelled above."""
    shown = [im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS) for im in images]
    h = max(im.height for im in shown)
    out = Image.new("RGB", (len(shown) * (width + 8) - 8, h + 28), "white")
    draw = ImageDraw.Draw(out)
    for i, (im, label) in enumerate(zip(shown, labels)):
        out.paste(im, (i * (width + 8), 28))
        draw.text((i * (width + 8) + 6, 8), label, fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pair", default="tubingen:starry_night")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=nst.DEFAULT.steps)
    parser.add_argument("--style-weight", type=float, default=nst.DEFAULT.style_weight)
    parser.add_argument("--display-width", type=int, default=512)
    args = parser.parse_args()

    content_name, style_name = args.pair.split(":")
    content, style = IMAGES / f"{content_name}.jpg", IMAGES / f"{style_name}.jpg"
    out_dir = HERE / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, images = [], []
    for size in args.sizes:
        t0 = time.perf_counter()
        result = nst.stylize_image(content, style, size=size, steps=args.steps, style_weight=args.style_weight)
        wall = time.perf_counter() - t0
        path = out_dir / f"resolution-{content_name}-{style_name}-{size}.png"
        result.save(path)
        row = {"size": size, "pixels": list(result.size), "wall_s": wall, **Judge(content, style, size)(path)}
        print(json.dumps(row), flush=True)
        rows.append(row)
        images.append(result)
    labels = [f"{r['size']} px: content {r['content_distance']:.3f}, style {r['style_distance']:.3f}" for r in rows]
    sheet(images, labels, args.display_width).save(HERE / f"resolution-{content_name}-{style_name}.png")
    res = {"machine": machine(), "pair": args.pair, "steps": args.steps, "style_weight": args.style_weight,
           "rows": rows}
    (out_dir / "resolution.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
