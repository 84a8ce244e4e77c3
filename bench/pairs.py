"""Run nst's defaults on many photo × painting pairs: a contact sheet and a table of distances.

    python -m bench.pairs                        # defaults, 512 px, every pair
    python -m bench.pairs --size 256 --set normalization=none style_weight=1e-3 --tag before

Writes ``docs/images/pairs-TAG.png`` (photo, painting and result of each pair) and
``bench/records/pairs-TAG.json`` / a Markdown table on stdout. The two distances are the
pairs distances of bench/quality.py (``pair_distances``), with the embedded VGG19 in fp32,
on the result's grid, independent of the run's own costs:

- content distance: ‖a(G) − a(C)‖ / ‖a(S) − a(C)‖ at relu4_2, the painting resized onto the
  photo's grid: 0 is the photo, 1 is as far from it as the painting;
- style distance: the mean over relu1_1 … relu5_1 of ‖Ĝ(G) − Ĝ(S)‖ / ‖Ĝ(C) − Ĝ(S)‖, Ĝ the
  Gram matrix over the positions, the painting at the result's pixel count: 0 is the
  painting's statistics, 1 is the photo's.

Pairs whose images are in the shared images (bench/images.py) are skipped when they are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from PIL import Image

import nst

from . import sheets
from .images import EXAMPLES, SHARED, in_folder, missing, open_image, output_options
from .machine import describe
from .quality import pair_distances

# (label, painting, photo): portraits, a dark muted painting, a bright one, flat synthetics.
PAIRS = [
    ("portrait × Picasso", SHARED / "picasso_selfport1907.jpg", "astronaut"),
    ("face × Starry Night", EXAMPLES / "starry_night.jpg", "face"),
    ("face × Picasso", SHARED / "picasso_selfport1907.jpg", "face"),
    ("Tübingen × Starry Night", EXAMPLES / "starry_night.jpg", SHARED / "tubingen.jpg"),
    ("Tübingen × Picasso", SHARED / "picasso_selfport1907.jpg", SHARED / "tubingen.jpg"),
    ("Hoover Tower × Shipwreck", EXAMPLES / "shipwreck.jpg", SHARED / "hoovertowernight.jpg"),
    ("cat × mosaic (synthetic)", EXAMPLES / "mosaic.jpg", EXAMPLES / "chelsea.jpg"),
    ("coffee × waves (synthetic)", EXAMPLES / "waves.jpg", EXAMPLES / "coffee.jpg"),
    ("cat × Shipwreck", EXAMPLES / "shipwreck.jpg", EXAMPLES / "chelsea.jpg"),
    ("portrait × Starry Night", EXAMPLES / "starry_night.jpg", "astronaut"),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--size", type=int, default=nst.DEFAULT.size)
    p.add_argument("--steps", type=int, default=nst.DEFAULT.steps)
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="other settings")
    p.add_argument("--tag", default="after", help="names the output files")
    p.add_argument("--only", nargs="*", help="run only pairs whose label contains one of these")
    output_options(p)
    args = p.parse_args()
    overrides = dict(kv.split("=", 1) for kv in args.set)
    settings = nst.DEFAULT.replace(size=args.size, steps=args.steps, **overrides)
    rows, table = [], []
    for label, style_path, content_src in PAIRS:
        if args.only and not any(o.lower() in label.lower() for o in args.only):
            continue
        if missing(style_path, content_src):
            print(f"skipped {label}: {', '.join(map(str, missing(style_path, content_src)))} not here", file=sys.stderr)
            continue
        content, style = open_image(content_src), Image.open(style_path).convert("RGB")
        t0 = time.perf_counter()
        result = nst.stylize_image(content, style, settings)
        seconds = time.perf_counter() - t0
        d = pair_distances(result, content, style)
        rows.append(
            (f"{label}: content {d['content']:.2f}, style {d['style']:.2f}", [("", content), ("", style), ("", result)])
        )
        table.append({"pair": label, **d, "seconds": round(seconds, 1)})
        print(
            f"{label}: content {d['content']:.3f} style {d['style']:.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True
        )
    contents = [r["content"] for r in table]
    summary = {
        "machine": describe(),
        "settings": settings.to_dict(),
        "pairs": table,
        "content_spread": max(contents) / min(contents) if contents else None,
    }
    in_folder(args.records, f"pairs-{args.tag}.json").write_text(json.dumps(summary, indent=1))
    # One row per pair: photo, painting, result, each fitted into a 256 px square.
    sheets.grid(rows, cell=256, title=22).save(in_folder(args.pictures, f"pairs-{args.tag}.png"))
    print("| pair | content distance | style distance | seconds |\n| --- | --- | --- | --- |")
    for r in table:
        print(f"| {r['pair']} | {r['content']:.2f} | {r['style']:.2f} | {r['seconds']:.0f} |")
    print(f"\ncontent distances: {min(contents):.2f}–{max(contents):.2f}, spread ×{summary['content_spread']:.2f}")


if __name__ == "__main__":
    main()
