"""The brush in the app, for the README: a stroke painted in a real browser, then the run.

    python bench/regions_app.py                  # 256 px, 120 steps; about a minute on 2 CPU cores
    python bench/regions_app.py --size 384 --steps 200

Serves app.py in-process, drives Debian's Chromium with Playwright through the same steps as
tests/test_browser.py (upload examples/chelsea.jpg and starry_night.jpg, paint red over the
left third of the photo, run), and writes bench/regions-app.png: the painted
mask in the editor beside the result. Prints how far the result is from the photo inside the
strokes and outside them (mean absolute difference, 0–255).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.app_server import served  # noqa: E402  (before app: Gradio's folders)
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, paint_and_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("-o", "--output", default=str(HERE / "regions-app.png"))
    args = parser.parse_args()

    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    import nst
    from nst.images import resize_to_long_side

    examples = HERE.parent / "examples"
    content, style = examples / "chelsea.jpg", examples / "starry_night.jpg"
    t0 = time.perf_counter()
    with served() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        result, mask = paint_and_run(page, url, content, style, args.size, args.steps, Path(args.output))
        browser.close()
    m = np.asarray(mask.resize(result.size, Image.Resampling.BILINEAR), float) / 255
    diff = np.abs(np.asarray(result.convert("RGB"), float)
                  - np.asarray(resize_to_long_side(nst.load_image(content), args.size), float)).mean(axis=2)
    print(f"{args.size} px, {args.steps} steps in {time.perf_counter() - t0:.0f} s (page and all); "
          f"stroke {100 * (m > 0.95).mean():.0f}% of the image; |result - photo| inside {diff[m > 0.95].mean():.1f}, "
          f"outside {diff[m == 0].mean():.2f} (max {diff[m == 0].max():.0f}); wrote {args.output}")


if __name__ == "__main__":
    main()
