"""The web app in a real browser: Playwright driving Debian's Chromium.

Chromium comes from the system (``apt-get install -y chromium``; .ci/run installs it);
Playwright's own browser download is not used. Without it these tests skip, saying how to
install it; with ``NST_REQUIRE_BROWSER=1`` (set by .ci/run) they fail instead. Screenshots go to ``$NST_SCREENSHOT_DIR``
when it is set, else to pytest's temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest

from bench.regions import paint_and_run, set_number  # the same browser steps as the bench's
from bench.server import CHROMIUM, CHROMIUM_ARGS

from .support.app_server import served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        why = f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium)"
        if os.environ.get("NST_REQUIRE_BROWSER") == "1":  # .ci/run: never skip there
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("NST_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _start(page, url, content_path, style_path, steps: int, size: int) -> None:
    """Open the app, upload the two images, set steps and size, and press Run."""
    from playwright.sync_api import expect

    page.goto(url)
    page.locator("#nst-content input[type=file]").set_input_files(str(content_path))
    page.locator("#nst-style input[type=file]").set_input_files(str(style_path))
    expect(page.locator("#nst-content img")).to_be_visible(timeout=20_000)
    expect(page.locator("#nst-style img")).to_be_visible(timeout=20_000)
    page.locator("#nst-advanced").get_by_text("Advanced").click()
    set_number(page, "nst-size", size)
    set_number(page, "nst-steps", steps)
    # The estimate follows the two values once the server has them.
    expect(page.locator("#nst-estimate")).to_contain_text(f"{steps} steps at {size} px", timeout=10_000)
    page.locator("#nst-run").click()


@contextlib.contextmanager
def _page(browser, shots, failure_shot: str):
    """A laptop-sized page; on failure, a full-page screenshot named ``failure_shot``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        yield page
    except Exception:
        page.screenshot(path=str(shots / failure_shot), full_page=True)
        raise
    finally:
        page.close()


def test_a_run_in_the_browser(browser, url, content_path, style_path, shots):
    from playwright.sync_api import expect

    with _page(browser, shots, "failed-run.png") as page:
        _start(page, url, content_path, style_path, steps=16, size=128)
        # A preview while the run is under way ("step i/N"), then the result.
        status = page.locator("#nst-status")
        expect(status).to_have_text(re.compile(r"step \d+/16 .*ETA"), timeout=90_000)
        preview = page.locator("#nst-result img")
        page.locator("#nst-result").scroll_into_view_if_needed()  # as a user would: images load lazily
        expect(preview).to_be_visible(timeout=30_000)
        first = preview.get_attribute("src")
        expect(status).to_contain_text("Done", timeout=120_000)
        expect(preview).not_to_have_attribute("src", first, timeout=10_000)  # the result, not a preview
        expect(page.locator("#nst-compare")).to_be_visible(timeout=20_000)
        expect(page.locator("#nst-download")).to_contain_text(".png", timeout=20_000)
        page.wait_for_timeout(500)  # let the last images paint
        page.screenshot(path=str(shots / "finished-1280.png"), full_page=True)
        page.set_viewport_size({"width": 400, "height": 860})
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "finished-400.png"), full_page=True)
        assert (shots / "finished-1280.png").stat().st_size > 10_000


def test_stop_keeps_the_current_image(browser, url, content_path, style_path, shots):
    from playwright.sync_api import expect

    with _page(browser, shots, "failed-stop.png") as page:
        _start(page, url, content_path, style_path, steps=1000, size=128)
        status = page.locator("#nst-status")
        expect(status).to_have_text(re.compile(r"step \d+/1000"), timeout=90_000)
        page.locator("#nst-result").scroll_into_view_if_needed()
        expect(page.locator("#nst-result img")).to_be_visible(timeout=60_000)  # a first preview
        page.locator("#nst-stop").click()
        expect(status).to_contain_text("Stopped at step", timeout=20_000)
        expect(page.locator("#nst-download")).to_contain_text(".png", timeout=20_000)
        expect(page.locator("#nst-compare")).to_be_visible()
        stopped = status.inner_text()
        page.wait_for_timeout(3000)
        assert status.inner_text() == stopped  # nothing more comes: the run is over
        assert "Error" not in stopped


def test_a_recipe_sets_the_controls(browser, url, tmp_path, shots):
    from playwright.sync_api import expect
    from PIL import Image

    import nst
    from nst.recipe import make_recipe

    made = nst.DEFAULT.replace(steps=77, style_weight=0.01, preserve_color="luminance", style_blend=(2, 1), seed=9)
    png = tmp_path / "earlier-result.png"
    nst.save_png(Image.new("RGB", (16, 12), "teal"), png, make_recipe(made, device="cpu"))
    with _page(browser, shots, "failed-recipe.png") as page:
        page.goto(url)
        page.locator("#nst-advanced").get_by_text("Advanced").click()
        page.locator("#nst-recipe input[type=file]").set_input_files(str(png))
        expect(page.locator("#nst-steps input[type=number]")).to_have_value("77", timeout=20_000)
        expect(page.locator("#nst-style-weight input")).to_have_value("0.01")
        expect(page.locator("#nst-seed input")).to_have_value("9")
        expect(page.locator("#nst-preserve-color input")).to_have_value("luminance")
        expect(page.locator("#nst-style-blend textarea")).to_have_value("2 1")
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "recipe-loaded.png"), full_page=True)


def test_messages_show_as_written_and_markup_never_runs(browser, url, tmp_path, shots):
    """The page shows nst's plain-text messages through Gradio's sanitiser: markup in a
    value is not run (it shows as a harmless element), and a file name with & and quotes
    reads as it was written."""
    from playwright.sync_api import expect

    examples = Path(__file__).resolve().parents[1] / "examples"
    data = (examples / "chelsea.jpg").read_bytes()
    cut = tmp_path / 'Tom & Jerry "q".jpg'
    cut.write_bytes(data[: len(data) * 2 // 3])  # a truncated JPEG: shown, but nst refuses it
    dialogs: list[str] = []
    with _page(browser, shots, "failed-messages.png") as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.locator("#nst-advanced").get_by_text("Advanced").click()
        blend = page.locator("#nst-style-blend textarea")
        blend.fill("<img/src/onerror=alert(document.domain)>")  # no spaces: one value, and live markup
        blend.press("Tab")
        page.locator("#nst-run").click()
        toast = page.locator('[data-testid="toast-text"]').last
        expect(toast).to_contain_text("style_blend must be a number, not", timeout=30_000)
        page.wait_for_timeout(1000)  # time for an injected handler to have run
        page.screenshot(path=str(shots / "message-markup.png"), full_page=False)
        assert dialogs == [] and toast.locator("[onerror]").count() == 0
        blend.fill("")
        blend.press("Tab")
        page.locator("#nst-content input[type=file]").set_input_files(str(cut))
        page.locator("#nst-style input[type=file]").set_input_files(str(examples / "waves.jpg"))
        expect(page.locator("#nst-style img")).to_be_visible(timeout=20_000)
        page.locator("#nst-run").click()
        toast = page.locator('[data-testid="toast-text"]', has_text="damaged or truncated")
        expect(toast).to_contain_text("""content image 'Tom & Jerry "q".jpg' is damaged or truncated""", timeout=30_000)
        page.screenshot(path=str(shots / "message-name.png"), full_page=False)
        assert dialogs == []


def test_a_painted_stroke_keeps_the_photo_outside_it(browser, url, shots):
    """Issue 14: paint a stroke on the content image, run, and the result is painted inside the
    stroke and the photo outside it; the run goes into this visit's gallery."""
    import numpy as np
    from playwright.sync_api import expect
    from PIL import Image

    import nst
    from nst.images import resize_to_long_side

    examples = Path(__file__).resolve().parents[1] / "examples"
    content, style = examples / "chelsea.jpg", examples / "starry_night.jpg"  # 451×300: shown at 100%
    with _page(browser, shots, "failed-paint.png") as page:
        result, mask = paint_and_run(page, url, content, style, 96, 10, shots / "regions-app.png")
        expect(page.locator("#nst-gallery")).to_contain_text("10 steps", timeout=20_000)
        expect(page.locator("#nst-gallery")).to_contain_text("painted")

    assert nst.read_recipe(result)["masks"] == ["painted-mask-1.png"]
    assert mask.width / mask.height == pytest.approx(451 / 300, rel=0.01)
    m = np.asarray(mask.resize(result.size, Image.Resampling.BILINEAR), float) / 255
    out = np.asarray(result.convert("RGB"), float)
    photo = np.asarray(resize_to_long_side(nst.load_image(content), 96), float)
    inside, outside = m > 0.95, m == 0
    assert 0.05 < inside.mean() < 0.5 and outside.mean() > 0.4, (inside.mean(), outside.mean())  # a stroke, not all
    assert np.abs(out[inside] - photo[inside]).mean() > 5  # painted inside the stroke
    assert np.abs(out[outside] - photo[outside]).max() <= 1  # the photo outside it


def test_the_gallery_keeps_this_visits_runs_to_pick_and_compare(browser, url, shots):
    from playwright.sync_api import expect

    examples = Path(__file__).resolve().parents[1] / "examples"
    with _page(browser, shots, "failed-gallery.png") as page:
        page.goto(url)
        page.locator("#nst-content input[type=file]").set_input_files(str(examples / "chelsea.jpg"))
        page.locator("#nst-style input[type=file]").set_input_files(str(examples / "starry_night.jpg"))
        expect(page.locator("#nst-style img")).to_be_visible(timeout=20_000)
        page.locator("#nst-advanced").get_by_text("Advanced").click()
        set_number(page, "nst-size", 64)
        for steps in (3, 6):
            set_number(page, "nst-steps", steps)
            page.locator("#nst-run").click()
            expect(page.locator("#nst-status")).to_contain_text(f"Done · {steps} steps", timeout=120_000)
            expect(page.locator("#nst-gallery")).to_contain_text(f"{steps} steps", timeout=20_000)
        thumbs = page.locator("#nst-gallery button").filter(has_text=" steps · ")
        expect(thumbs).to_have_count(2)
        thumbs.filter(has_text="#1 ").first.click()  # the older run: its settings come back
        expect(page.locator("#nst-steps input[type=number]")).to_have_value("3", timeout=20_000)
        expect(page.locator("#nst-status")).to_contain_text("Showing result #1 · 3 steps")
        pair = page.locator("#nst-compare img")
        before = [pair.nth(i).get_attribute("src") for i in range(2)]  # the photo and run #2
        for side, number in (("a", "#1 "), ("b", "#2 ")):
            page.locator(f"#nst-compare-{side} input").click()
            page.get_by_role("option").filter(has_text=number).first.click()
        expect(pair.first).not_to_have_attribute("src", before[0], timeout=20_000)  # run #1 instead of the photo
        expect(pair.nth(1)).to_have_attribute("src", re.compile(r"."))
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "gallery.png"), full_page=True)
        other = page.context.browser.new_page()  # another visitor: an empty gallery
        try:
            other.goto(url)
            expect(other.locator("#nst-gallery")).to_be_visible(timeout=20_000)
            expect(other.locator("#nst-gallery button").filter(has_text=" steps · ")).to_have_count(0)
        finally:
            other.close()


def test_an_example_pair_runs_once_then_comes_from_the_cache(browser, url, shots, monkeypatch):
    """Issue 12: the examples are photo × painting pairs, cached lazily: the first pick runs
    it (EXAMPLE_RUN), a second pick shows the cached result at once."""
    import time

    from playwright.sync_api import expect

    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    assert [s for _, s in nst_web.page.EXAMPLE_PAIRS][:2] == [
        "starry_night.jpg",
        "shipwreck.jpg",
    ]  # real paintings first
    # The pick asks for EXAMPLE_RUN's steps and size; the run itself is made small (3 steps
    # at 64 px instead of 100 at 256: most of this test's time), as caching does not depend on it.
    asked: list[tuple[int, int]] = []
    stylize = nst_web.run.stylize

    def small(content, style, steps, size, **kw):
        asked.append((int(steps), int(size)))
        return stylize(content, style, steps=3, size=64, **kw)

    monkeypatch.setattr(nst_web.run, "stylize", small)
    with _page(browser, shots, "failed-example.png") as page:
        page.goto(url)
        label = page.get_by_text("astronaut × starry_night").first
        expect(label).to_be_visible(timeout=30_000)
        t0 = time.perf_counter()
        label.click()
        expect(page.locator("#nst-result img")).to_be_visible(timeout=600_000)  # computed, then cached
        first = time.perf_counter() - t0
        page.screenshot(path=str(shots / "example.png"), full_page=False)
        cache = Path(os.environ["GRADIO_EXAMPLES_CACHE"])
        assert any(f.is_file() for f in cache.rglob("*")), "nothing was cached"
        page.reload()
        label = page.get_by_text("astronaut × starry_night").first
        expect(label).to_be_visible(timeout=30_000)
        t0 = time.perf_counter()
        label.click()
        expect(page.locator("#nst-result img")).to_be_visible(timeout=60_000)
        assert time.perf_counter() - t0 < max(3.0, first / 2), first  # from the cache: no second run
    assert asked == [(nst_web.page.EXAMPLE_RUN["steps"], nst_web.page.EXAMPLE_RUN["size"])]  # one run, of EXAMPLE_RUN
