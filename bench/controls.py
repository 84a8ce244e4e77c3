"""The controls side by side: a contact sheet of the colour modes and the style losses, and
a comparison of the Gram and sliced-Wasserstein losses on the shared image pairs.

    python bench/controls.py                  # 256 px, 200 steps; a few minutes on 2 CPU cores
    python bench/controls.py --size 384 --steps 300

Writes bench/results/controls-<date>.json and bench/results/contact-sheet.png. Quality is
measured two ways, since each loss is best at its own metric:

- ``gram``: bench.py's reference quality (content distance + Gram style distance);
- ``sw``: the sliced-Wasserstein distance of the output's features to the style's, summed
  over relu1_1…relu5_1 with fixed random directions, divided by the same for the content
  image (0: the style's feature distributions, 1: no closer than the content).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import nst  # noqa: E402
from bench import IMAGES, STYLE_LAYERS, Judge, machine  # noqa: E402
from nst.images import resize_to_long_side, resize_to_pixels, to_tensor  # noqa: E402
from nst.losses import SlicedWassersteinStyleLoss  # noqa: E402

PAIRS = (("tubingen", "starry_night"), ("hoovertowernight", "picasso_selfport1907"), ("shipwreck", "starry_night"))
MODES = ("none", "swap", "luminance", "match")


class SlicedJudge:
    """Sliced-Wasserstein distance of an image's features to the style's, relative to the content's."""

    def __init__(self, content: Path, style: Path, size: int) -> None:
        self.model = nst.load_model("embedded", "max", "cpu").truncated("relu5_1")
        self.size = resize_to_long_side(nst.load_image(content), size).size
        style_img = resize_to_pixels(nst.load_image(style), self.size[0] * self.size[1])
        s = self._features(style_img)
        gen = torch.Generator().manual_seed(1234)
        n = {l: f.shape[-1] * f.shape[-2] for l, f in self._features(nst.load_image(content).resize(self.size)).items()}
        self.losses = {l: SlicedWassersteinStyleLoss([s[l]], [1.0], n[l], gen) for l in STYLE_LAYERS}
        self.baseline = self._distance(nst.load_image(content).resize(self.size))

    @torch.no_grad()
    def _features(self, img: Image.Image) -> dict[str, torch.Tensor]:
        return self.model(to_tensor(img), list(STYLE_LAYERS))

    def _distance(self, img: Image.Image) -> float:
        f = self._features(img)
        return sum(float(self.losses[l](f[l])) for l in STYLE_LAYERS)

    def __call__(self, path: Path) -> float:
        img = Image.open(path).convert("RGB").resize(self.size, Image.Resampling.LANCZOS)
        return self._distance(img) / self.baseline


def _label(img: Image.Image, text: str) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, 8 + 7 * len(text), 18), fill="black")
    draw.text((4, 3), text, fill="white")
    return out


def sheet(tiles: list[tuple[str, Image.Image]], height: int, out: Path) -> None:
    """One row of labelled tiles, each scaled to ``height`` px high."""
    scaled = [(t, im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS))
              for t, im in tiles]
    canvas = Image.new("RGB", (sum(im.width for _, im in scaled) + 4 * (len(scaled) - 1), height), "white")
    x = 0
    for text, im in scaled:
        canvas.paste(_label(im, text), (x, 0))
        x += im.width + 4
    canvas.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--no-sheet", action="store_true", help="skip the colour-mode contact sheet")
    args = parser.parse_args()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    report: dict = {"machine": machine(), "size": args.size, "steps": args.steps, "modes": {}, "losses": []}

    # 1. The contact sheet: content, style, each colour mode, and sliced Wasserstein.
    content, style = IMAGES / "tubingen.jpg", IMAGES / "starry_night.jpg"
    tiles = [("content", nst.load_image(content)), ("style", nst.load_image(style))]
    for mode in () if args.no_sheet else MODES:
        t = time.perf_counter()
        img = nst.stylize_image(content, style, steps=args.steps, size=args.size, preserve_color=mode)
        report["modes"][mode] = {"seconds": round(time.perf_counter() - t, 1)}
        nst.save_png(img, out_dir / f"mode-{mode}.png")
        tiles.append((f"preserve_color={mode}", img))
        print(f"preserve_color={mode}: {report['modes'][mode]['seconds']} s", flush=True)
    if not args.no_sheet:
        sheet(tiles, args.size, out_dir / "contact-sheet.png")

    # 2. Gram against sliced Wasserstein, same steps, on every pair.
    for c_name, s_name in PAIRS:
        c, s = IMAGES / f"{c_name}.jpg", IMAGES / f"{s_name}.jpg"
        judge, sliced = Judge(c, s, args.size), SlicedJudge(c, s, args.size)
        row: dict = {"pair": f"{c_name} × {s_name}"}
        pair_tiles = [("style", nst.load_image(s))]
        for loss in ("gram", "sliced-wasserstein"):
            t = time.perf_counter()
            img = nst.stylize_image(c, s, steps=args.steps, size=args.size, style_loss=loss)
            seconds = time.perf_counter() - t
            path = out_dir / f"loss-{c_name}-{s_name}-{loss}.png"
            nst.save_png(img, path)
            q = judge(path)
            row[loss] = {"seconds": round(seconds, 1), "content_distance": round(q["content_distance"], 3),
                         "gram_style_distance": round(q["style_distance"], 3), "sw_style_distance": round(sliced(path), 3)}
            pair_tiles.append((loss, img))
            print(f"{row['pair']} {loss}: {row[loss]}", flush=True)
        sheet(pair_tiles, args.size, out_dir / f"losses-{c_name}-{s_name}.png")
        report["losses"].append(row)

    path = out_dir / f"controls-{time.strftime('%Y-%m-%d')}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"wrote {path} and {out_dir / 'contact-sheet.png'}")


if __name__ == "__main__":
    main()
