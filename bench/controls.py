"""The controls side by side: a contact sheet of the colour modes and the style losses, and
a comparison of the Gram and sliced-Wasserstein losses on the shared image pairs.

    python -m bench.controls                  # 256 px, 200 steps; a few minutes on 2 CPU cores
    python -m bench.controls --size 384 --steps 300

Writes bench/records/controls-<date>.json, the contact sheet of the colour modes
docs/images/controls-contact-sheet.png and one sheet per pair of the two losses
(docs/images/losses-<pair>.png); each run's image goes to bench/scratch/controls/. Quality
is measured two ways (bench/quality.py), since each loss is best at its own metric:

- ``gram``: the reference quality (``Judge``: content distance + Gram style distance);
- ``sw``: the sliced-Wasserstein distance of the output's features to the style's, summed
  over relu1_1…relu5_1 with fixed random directions, divided by the same for the content
  image (0: the style's feature distributions, 1: no closer than the content).
"""

from __future__ import annotations

import argparse
import json
import time

import nst

from . import sheets
from .images import SCRATCH, in_folder, output_options, shared
from .machine import describe
from .quality import Judge, SlicedWasserstein

PAIRS = (("tubingen", "starry_night"), ("hoovertowernight", "picasso_selfport1907"), ("shipwreck", "starry_night"))
MODES = ("none", "swap", "luminance", "match")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--no-sheet", action="store_true", help="skip the colour-mode contact sheet")
    parser.add_argument(
        "--pairs",
        nargs="*",
        default=[f"{c}:{s}" for c, s in PAIRS],
        metavar="CONTENT:STYLE",
        help="the pairs of the Gram against sliced-Wasserstein comparison (shared images' stems)",
    )
    output_options(parser)
    args = parser.parse_args()
    out_dir = SCRATCH / "controls"
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": describe(), "size": args.size, "steps": args.steps, "modes": {}, "losses": []}

    # 1. The contact sheet: content, style, each colour mode, and sliced Wasserstein.
    content, style = shared("tubingen"), shared("starry_night")
    tiles = [("content", nst.load_image(content)), ("style", nst.load_image(style))]
    for mode in () if args.no_sheet else MODES:
        t = time.perf_counter()
        img = nst.stylize_image(content, style, steps=args.steps, size=args.size, preserve_color=mode)
        report["modes"][mode] = {"seconds": round(time.perf_counter() - t, 1)}
        nst.save_png(img, out_dir / f"mode-{mode}.png")
        tiles.append((f"preserve_color={mode}", img))
        print(f"preserve_color={mode}: {report['modes'][mode]['seconds']} s", flush=True)
    if not args.no_sheet:
        sheet = in_folder(args.pictures, "controls-contact-sheet.png")
        sheets.row([im for _, im in tiles], [t for t, _ in tiles], height=args.size, gap=4, inset=True).save(sheet)

    # 2. Gram against sliced Wasserstein, same steps, on every pair.
    for c_name, s_name in (pair.split(":") for pair in args.pairs):
        c, s = shared(c_name), shared(s_name)
        judge, sliced = Judge(c, s, args.size), SlicedWasserstein(c, s, args.size)
        row: dict = {"pair": f"{c_name} × {s_name}"}
        pair_tiles = [("style", nst.load_image(s))]
        for loss in ("gram", "sliced-wasserstein"):
            t = time.perf_counter()
            img = nst.stylize_image(c, s, steps=args.steps, size=args.size, style_loss=loss)
            seconds = time.perf_counter() - t
            path = out_dir / f"loss-{c_name}-{s_name}-{loss}.png"
            nst.save_png(img, path)
            q = judge(path)
            row[loss] = {
                "seconds": round(seconds, 1),
                "content_distance": round(q["content_distance"], 3),
                "gram_style_distance": round(q["style_distance"], 3),
                "sw_style_distance": round(sliced(path), 3),
            }
            pair_tiles.append((loss, img))
            print(f"{row['pair']} {loss}: {row[loss]}", flush=True)
        sheets.row([im for _, im in pair_tiles], [t for t, _ in pair_tiles], height=args.size, gap=4, inset=True).save(
            in_folder(args.pictures, f"losses-{c_name}-{s_name}.png")
        )
        report["losses"].append(row)

    path = in_folder(args.records, f"controls-{time.strftime('%Y-%m-%d')}.json")
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"wrote {path} and the sheets in {args.pictures}")


if __name__ == "__main__":
    main()
