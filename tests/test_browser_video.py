"""Video in a real browser (Playwright driving Debian's Chromium, as tests/test_browser.py):
the app's clip section (upload, finished frames as previews, a playable result, Stop leaving
a shorter clip), and the CLI's MP4 playing in a ``<video>`` element."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import clips
from bench.regions import set_number

from .test_browser import _page, browser, shots, url  # noqa: F401  (the same fixtures)

pytestmark = pytest.mark.browser

DURATION = "(el) => new Promise((ok) => el.readyState >= 1 ? ok(el.duration) : el.addEventListener('loadedmetadata', () => ok(el.duration)))"


def _run_clip(page, address: str, clip: Path, style_path: Path, steps: int) -> None:
    from playwright.sync_api import expect

    page.goto(address)
    page.locator("#nst-style input[type=file]").set_input_files(str(style_path))
    expect(page.locator("#nst-style img")).to_be_visible(timeout=20_000)
    page.locator("#nst-advanced").get_by_text("Advanced").click()
    set_number(page, "nst-size", 64)
    set_number(page, "nst-steps", steps)
    page.locator("#nst-video").get_by_text("Video: style a short clip").click()
    page.locator("#nst-clip input[type=file]").set_input_files(str(clip))
    expect(page.locator("#nst-clip video")).to_be_visible(timeout=20_000)
    page.locator("#nst-run-clip").click()


def test_a_clip_in_the_browser(browser, url, style_path, shots, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    clip = clips.write_clip(tmp_path / "clip.mp4", 6, fps=10, audio=True)
    with _page(browser, shots, "failed-clip.png") as page:
        _run_clip(page, url, clip, style_path, steps=3)
        status = page.locator("#nst-clip-status")
        expect(status).to_have_text(re.compile(r"frame [1-5] of 6"), timeout=120_000)
        expect(page.locator("#nst-frame img")).to_be_visible(timeout=60_000)  # a finished frame
        expect(status).to_contain_text("Done · 6 frames at 10 fps", timeout=180_000)
        video = page.locator("#nst-clip-result video")
        expect(video).to_be_visible(timeout=20_000)
        assert video.evaluate(DURATION) == pytest.approx(0.6, abs=0.1)
        page.screenshot(path=str(shots / "clip-done.png"), full_page=True)


def test_stop_leaves_a_shorter_clip(browser, url, style_path, shots, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    clip = clips.write_clip(tmp_path / "long.mp4", 30, fps=10)
    with _page(browser, shots, "failed-clip-stop.png") as page:
        _run_clip(page, url, clip, style_path, steps=3)
        status = page.locator("#nst-clip-status")
        expect(status).to_have_text(re.compile(r"frame [2-9] of 30"), timeout=180_000)
        page.locator("#nst-stop").click()
        expect(status).to_contain_text("kept the", timeout=60_000)
        video = page.locator("#nst-clip-result video")
        expect(video).to_be_visible(timeout=20_000)
        assert 0.1 < video.evaluate(DURATION) < 2.0  # of the clip's 3 s, the frames done


def test_the_cli_mp4_plays_in_chromium(browser, tmp_path, style_path):  # noqa: F811
    from nst.cli import main

    out = tmp_path / "out.mp4"
    shared = Path(__file__).resolve().parents[2] / "shared" / "videos" / "big_buck_bunny.mp4"
    source = shared if shared.is_file() else clips.write_clip(tmp_path / "in.mp4", 6, fps=10, audio=True)
    argv = [str(source), str(style_path), "-o", str(out), "--size", "64", "--steps", "2", "--frame-steps", "1"]
    assert main([*argv, "--duration", "0.5", "--fps", "8", "--no-keep-faces"]) == 0
    (tmp_path / "page.html").write_text('<video id="v" src="out.mp4" preload="auto" muted></video>')
    page = browser.new_page()
    try:
        page.goto((tmp_path / "page.html").as_uri())
        video = page.locator("#v")
        assert video.evaluate(DURATION) == pytest.approx(0.5, abs=0.1)
        assert video.evaluate("(el) => el.error") is None and video.evaluate("(el) => el.videoWidth") == 64
    finally:
        page.close()
