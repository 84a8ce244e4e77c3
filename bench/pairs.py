"""Run nst's defaults on many photo × painting pairs: a contact sheet and a table of distances.

    python bench/pairs.py                        # defaults, 512 px, every pair
    python bench/pairs.py --size 256 --set normalization=none style_weight=1e-3 --tag before

Writes ``bench/pairs-TAG.png`` (photo, painting and result of each pair) and
``bench/pairs-TAG.json`` / a Markdown table on stdout. The two distances are measured with
the embedded VGG19 in fp32, on the result's grid, independent of the run's own costs:

- content distance: ‖a(G) − a(C)‖ / ‖a(S) − a(C)‖ at relu4_2, the painting resized onto the
  photo's grid: 0 is the photo, 1 is as far from it as the painting;
- style distance: the mean over relu1_1 … relu5_1 of ‖Ĝ(G) − Ĝ(S)‖ / ‖Ĝ(C) − Ĝ(S)‖, Ĝ the
  Gram matrix over the positions, the painting at the result's pixel count: 0 is the
  painting's statistics, 1 is the photo's.

Pairs whose images are in ``../shared/images`` are skipped when that folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst import images as im  # noqa: E402
from nst.losses import gram_matrix  # noqa: E402

EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared" / "images"
FACE_BOX = (120, 0, 330, 230)  # a close crop of the astronaut's face in examples/astronaut.jpg

# (label, photo, painting): portraits, a dark muted painting, a bright one, flat synthetics.
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
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def photo(source: Path | str) -> Image.Image:
    if source == "astronaut":
        return Image.open(EXAMPLES / "astronaut.jpg").convert("RGB")
    if source == "face":
        return Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").crop(FACE_BOX)
    return Image.open(source).convert("RGB")


class Evaluator:
    """The content and style distances of a result (see the module docstring)."""

    def __init__(self) -> None:
        self.model = nst.load_model("embedded", "max", "cpu").truncated("relu5_1")

    @torch.no_grad()
    def feats(self, img: Image.Image) -> dict[str, torch.Tensor]:
        return self.model(im.to_tensor(img), ["relu4_2", *STYLE_LAYERS])

    @staticmethod
    def gram(a: torch.Tensor) -> torch.Tensor:
        return gram_matrix(a.float()) / (a.shape[-1] * a.shape[-2])

    def distances(self, result: Image.Image, content: Image.Image, style: Image.Image) -> dict[str, float]:
        g = self.feats(result)
        c = self.feats(content.resize(result.size, Image.LANCZOS))
        s_grid = self.feats(style.resize(result.size, Image.LANCZOS))
        s = self.feats(im.resize_to_pixels(style, result.width * result.height))
        content_d = float((g["relu4_2"] - c["relu4_2"]).norm() / (s_grid["relu4_2"] - c["relu4_2"]).norm())
        style_d = [
            float((self.gram(g[l]) - self.gram(s[l])).norm() / (self.gram(c[l]) - self.gram(s[l])).norm())
            for l in STYLE_LAYERS
        ]
        return {"content": content_d, "style": sum(style_d) / len(style_d)}


def sheet(rows: list[tuple[str, Image.Image, Image.Image, Image.Image, dict]], path: Path, cell: int = 256) -> None:
    """One row per pair: photo, painting, result, each fitted into a ``cell``-px square."""
    pad, label_h = 6, 22
    out = Image.new("RGB", (3 * (cell + pad) + pad, len(rows) * (cell + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(out)
    for r, (label, c, s, g, d) in enumerate(rows):
        y = pad + r * (cell + label_h + pad)
        draw.text((pad, y + 4), f"{label}: content {d['content']:.2f}, style {d['style']:.2f}", fill="black")
        for k, img in enumerate((c, s, g)):
            t = img.copy()
            t.thumbnail((cell, cell))
            out.paste(t, (pad + k * (cell + pad) + (cell - t.width) // 2, y + label_h + (cell - t.height) // 2))
    out.save(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--size", type=int, default=nst.DEFAULT.size)
    p.add_argument("--steps", type=int, default=nst.DEFAULT.steps)
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="other settings")
    p.add_argument("--tag", default="after", help="names the output files")
    p.add_argument("--only", nargs="*", help="run only pairs whose label contains one of these")
    args = p.parse_args()
    overrides = dict(kv.split("=", 1) for kv in args.set)
    settings = nst.DEFAULT.replace(size=args.size, steps=args.steps, **overrides)
    evaluator = Evaluator()
    rows, table = [], []
    for label, style_path, content_src in PAIRS:
        if args.only and not any(o.lower() in label.lower() for o in args.only):
            continue
        if any(isinstance(x, Path) and not x.is_file() for x in (style_path, content_src)):
            print(f"skipped {label}: {SHARED} is not here", file=sys.stderr)
            continue
        content, style = photo(content_src), Image.open(style_path).convert("RGB")
        t0 = time.perf_counter()
        result = nst.stylize_image(content, style, settings)
        seconds = time.perf_counter() - t0
        d = evaluator.distances(result, content, style)
        rows.append((label, content, style, result, d))
        table.append({"pair": label, **d, "seconds": round(seconds, 1)})
        print(f"{label}: content {d['content']:.3f} style {d['style']:.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    contents = [r["content"] for r in table]
    summary = {"settings": settings.to_dict(), "pairs": table,
               "content_spread": max(contents) / min(contents) if contents else None}
    (ROOT / "bench" / f"pairs-{args.tag}.json").write_text(json.dumps(summary, indent=1))
    sheet(rows, ROOT / "bench" / f"pairs-{args.tag}.png")
    print("| pair | content distance | style distance | seconds |\n| --- | --- | --- | --- |")
    for r in table:
        print(f"| {r['pair']} | {r['content']:.2f} | {r['style']:.2f} | {r['seconds']:.0f} |")
    print(f"\ncontent distances: {min(contents):.2f}–{max(contents):.2f}, spread ×{summary['content_spread']:.2f}")


if __name__ == "__main__":
    main()
