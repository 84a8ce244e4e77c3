"""Regions side by side: a contact sheet of masked runs (a mask per style, guided Gram matrices);
with ``--app``, the brush in the app.

    python -m bench.regions                   # 384 px, 150 steps; about 20 minutes on 2 busy CPU cores
    python -m bench.regions --size 512 --steps 200
    python -m bench.regions --app             # the brush: 256 px, 120 steps; about a minute on 2 CPU cores
    python -m bench.regions --app --size 384 --steps 200

Writes docs/images/regions-contact-sheet.png, one row per case (photo, mask, result):

1. half and half, one style: Starry Night on the left half of examples/chelsea.jpg, the
   photo kept on the right;
2. two styles on two regions: Starry Night on the sky of Tübingen, Turner's Shipwreck on
   the rest (the sky mask is made here from the photo's blue, with a soft edge);
3. a soft mask: a left-to-right ramp, waves on examples/coffee.jpg, from the photo to the style.

The Tübingen row needs the shared images (bench/images.py); without them, examples/coffee.jpg
is split at the top third instead.

``--app`` serves the app as deployed (``python app.py``), drives Debian's Chromium with
Playwright as a person would (upload examples/chelsea.jpg and starry_night.jpg, paint red
over the left third of the photo, run), and writes docs/images/regions-app.png: the painted
mask in the editor beside the result. It prints how far the result is from the photo
inside the strokes and outside them (mean absolute difference, 0–255).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

import nst

from . import sheets
from .images import EXAMPLES, PICTURES, in_folder, resize_to_long_side, shared

# Region colours on the mask column: style 1 blue, style 2 orange.
TINTS = ((70, 130, 255), (255, 150, 40))


def half_mask(photo: Image.Image) -> np.ndarray:
    m = np.zeros((photo.height, photo.width), np.float32)
    m[:, : photo.width // 2] = 1
    return m


def ramp_mask(photo: Image.Image) -> np.ndarray:
    return np.linspace(0, 1, photo.width, dtype=np.float32)[None].repeat(photo.height, 0)


def sky_mask(photo: Image.Image) -> np.ndarray:
    """The blue sky, grown down each column from the top; softened by a 1.5 px blur."""
    small = photo.resize((512, round(512 * photo.height / photo.width)))
    a = np.asarray(small, np.float32)
    sky = (a[..., 2] > 120) & (a[..., 2] - a[..., 0] > 50)
    m = np.zeros(sky.shape, np.uint8)
    for x in range(sky.shape[1]):
        for r in range(sky.shape[0]):
            if sky[r, x]:
                m[r, x] = 255
            elif r > 3:
                break
    img = Image.fromarray(m).filter(ImageFilter.MedianFilter(5)).filter(ImageFilter.GaussianBlur(1.5))
    return np.asarray(img.resize(photo.size, Image.Resampling.BILINEAR), np.float32) / 255


def cases() -> list[dict]:
    chelsea, coffee = EXAMPLES / "chelsea.jpg", EXAMPLES / "coffee.jpg"
    starry, shipwreck, waves = EXAMPLES / "starry_night.jpg", EXAMPLES / "shipwreck.jpg", EXAMPLES / "waves.jpg"
    two = shared("tubingen")
    if two.is_file():
        sky = sky_mask(nst.load_image(two))
        label = "two styles: Starry Night on the sky, Shipwreck on the rest"
    else:
        two = coffee
        img = nst.load_image(two)
        sky = np.zeros((img.height, img.width), np.float32)
        sky[: img.height // 3] = 1
        label = "two styles: Starry Night on the top third, Shipwreck on the rest"
    return [
        dict(
            label="half and half: Starry Night on the left, the photo kept on the right",
            content=chelsea,
            styles=[starry],
            masks=[half_mask(nst.load_image(chelsea))],
        ),
        dict(label=label, content=two, styles=[starry, shipwreck], masks=[sky, 1 - sky]),
        dict(
            label="soft mask: a left-to-right ramp from the photo to waves",
            content=coffee,
            styles=[waves],
            masks=[ramp_mask(nst.load_image(coffee))],
        ),
    ]


def mask_picture(masks: list[np.ndarray], size: tuple[int, int]) -> Image.Image:
    """The masks as one picture: each style's region in its tint, black where the photo is kept."""
    out = np.zeros((size[1], size[0], 3), np.float32)
    for m, tint in zip(masks, TINTS):
        m = (
            np.asarray(Image.fromarray((m * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR), np.float32)
            / 255
        )
        out += m[..., None] * np.array(tint, np.float32)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def sheet(size: int, steps: int, out: Path) -> None:
    rows = []
    for case in cases():
        t = time.perf_counter()
        result = nst.stylize_image(case["content"], case["styles"], masks=case["masks"], size=size, steps=steps)
        took = time.perf_counter() - t
        photo = resize_to_long_side(nst.load_image(case["content"]), size)
        print(f"{case['label']}: {took:.0f} s", flush=True)
        rows.append(
            (
                f"{case['label']} ({took:.0f} s)",
                [("", photo), ("", mask_picture(case["masks"], photo.size)), ("", result)],
            )
        )
    footer = f"{size} px, {steps} steps, defaults otherwise; masks: blue style 1, orange style 2, black photo kept"
    sheets.grid(rows, title=18, footer=footer).save(out)
    print(f"wrote {out}")


# --- The brush in the app -------------------------------------------------------------------


def set_number(page, elem_id: str, value: int) -> None:
    from playwright.sync_api import expect

    box = page.locator(f"#{elem_id} input[type=number]")
    expect(box).to_be_editable()
    # On a loaded machine the page may still be rendering the control and reset it: retry.
    for _ in range(4):
        box.fill(str(value))
        box.press("Enter")
        page.wait_for_timeout(300)
        if box.input_value() == str(value):
            break
    expect(box).to_have_value(str(value))


def fetch_image(page, link) -> Image.Image:
    """The image behind a file component's download link, fetched as the browser would."""
    import io

    return Image.open(io.BytesIO(page.request.get(link.get_attribute("href")).body()))


def paint_and_run(page, url: str, content: Path, style: Path, size: int, steps: int, shot: Path | None = None):
    """Upload the images, paint over the left third of the photo in the editor, run at
    ``size`` px for ``steps`` steps; the result and the painted mask (PIL). With ``shot``: a
    screenshot of the painted mask beside the result. (tests/test_browser.py checks the
    same stroke with it.)"""
    from playwright.sync_api import expect

    page.goto(url)
    page.locator("#nst-content input[type=file]").set_input_files(str(content))
    page.locator("#nst-style input[type=file]").set_input_files(str(style))
    expect(page.locator("#nst-style img")).to_be_visible(timeout=20_000)
    page.locator("#nst-paint").get_by_text("Paint where").click()
    editor = page.locator("#nst-painter")
    expect(editor.locator("canvas").first).to_be_visible(timeout=20_000)
    page.wait_for_timeout(1500)  # the photo onto the canvas
    editor.get_by_role("button", name="Brush").first.click()
    # Centred on the canvas, which shows a photo of up to 576×360 px at 100%: strokes up and
    # down over the left third of the photo. Each pointer event redraws Gradio's canvas
    # (0.1–0.3 s on a 2-core CPU): 5 moves of 50 px per stroke, which the brush joins with
    # straight segments.
    box = editor.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for x in range(-200, -79, 40):
        page.mouse.move(cx + x, cy - 125)
        page.mouse.down()
        for i in range(1, 6):
            page.mouse.move(cx + x + (i % 2), cy - 125 + 50 * i)
        page.mouse.up()
    page.wait_for_timeout(500)
    page.locator("#nst-advanced").get_by_text("Advanced").click()
    set_number(page, "nst-size", size)
    set_number(page, "nst-steps", steps)
    page.locator("#nst-multiscale input").uncheck()
    page.locator("#nst-run").click()
    expect(page.locator("#nst-status")).to_contain_text("Done", timeout=600_000)
    expect(page.locator("#nst-download a").first).to_be_visible(timeout=20_000)
    expect(page.locator("#nst-masks")).to_contain_text("painted-mask-1", timeout=20_000)
    result = fetch_image(page, page.locator("#nst-download a").first)
    mask = fetch_image(page, page.locator("#nst-masks a").first).convert("L")
    if shot is not None:
        page.locator("#nst-result").scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        top = page.locator("#nst-content").bounding_box()["y"]
        bottom = editor.bounding_box()["y"] + editor.bounding_box()["height"]
        page.screenshot(
            path=str(shot),
            full_page=True,
            clip={"x": 0, "y": max(0, top - 10), "width": 1280, "height": bottom - top + 20},
        )
    return result, mask


def brush(size: int, steps: int, out: Path) -> None:
    """The brush in a real browser, on the app served as deployed."""
    from playwright.sync_api import sync_playwright

    from .server import CHROMIUM, CHROMIUM_ARGS, serve

    content, style = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"
    t0 = time.perf_counter()
    with serve(Path(tempfile.mkdtemp(prefix="nst-regions-app-"))) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        result, mask = paint_and_run(page, url, content, style, size, steps, out)
        browser.close()
    m = np.asarray(mask.resize(result.size, Image.Resampling.BILINEAR), float) / 255
    diff = np.abs(
        np.asarray(result.convert("RGB"), float) - np.asarray(resize_to_long_side(nst.load_image(content), size), float)
    ).mean(axis=2)
    print(
        f"{size} px, {steps} steps in {time.perf_counter() - t0:.0f} s (page and all); "
        f"stroke {100 * (m > 0.95).mean():.0f}% of the image; |result - photo| inside {diff[m > 0.95].mean():.1f}, "
        f"outside {diff[m == 0].mean():.2f} (max {diff[m == 0].max():.0f}); wrote {out}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", action="store_true", help="the brush in the app, in a real browser, instead")
    parser.add_argument("--size", type=int, default=None, help="default: 384; --app: 256")
    parser.add_argument("--steps", type=int, default=None, help="default: 150; --app: 120")
    parser.add_argument(
        "--pictures", type=Path, default=PICTURES, metavar="DIR", help="where the picture goes (default: docs/images)"
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="the picture (default: DIR/regions-contact-sheet.png; --app: DIR/regions-app.png)",
    )
    args = parser.parse_args()
    if args.app:
        brush(args.size or 256, args.steps or 120, args.out or in_folder(args.pictures, "regions-app.png"))
    else:
        sheet(args.size or 384, args.steps or 150, args.out or in_folder(args.pictures, "regions-contact-sheet.png"))


if __name__ == "__main__":
    main()
