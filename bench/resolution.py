"""Resolution independence: the same settings at 256 px and at 1024 px, side by side.

    python -m bench.resolution                          # Tübingen × Starry Night, defaults
    python -m bench.resolution --sizes 256 512 1024 --steps 300

nst's costs are normalised by the layer sizes (a mean for the content, Gram matrices over
nH·nW), and each style image is resized to the output's pixel count, so one
``style_weight`` should give the same balance of content and style at any size. Each
result is measured with the reference quality (bench/quality.py's ``Judge``) at its own
size; similar content and style distances across sizes mean a similar balance. Writes
bench/records/resolution-<machine>.json and docs/images/resolution-<pair>.png (each
result shown at the same display width); the results to bench/scratch/resolution/.
"""

from __future__ import annotations

import argparse
import json
import time

import nst

from . import sheets
from .images import SCRATCH, in_folder, output_options, shared
from .machine import describe, tag
from .quality import Judge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pair", default="tubingen:starry_night")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=nst.DEFAULT.steps)
    parser.add_argument("--style-weight", type=float, default=nst.DEFAULT.style_weight)
    parser.add_argument("--display-width", type=int, default=512)
    output_options(parser)
    args = parser.parse_args()

    content_name, style_name = args.pair.split(":")
    content, style = shared(content_name), shared(style_name)
    out_dir = SCRATCH / "resolution"
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
    sheets.row(images, labels, width=args.display_width).save(
        in_folder(args.pictures, f"resolution-{content_name}-{style_name}.png")
    )
    res = {
        "machine": describe(),
        "pair": args.pair,
        "steps": args.steps,
        "style_weight": args.style_weight,
        "rows": rows,
    }
    in_folder(args.records, f"resolution-{tag()}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
