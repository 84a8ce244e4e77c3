"""The web app through its API, as gradio_client sees it (app launched in-process).

Runs are tiny (64–128 px, a few steps) so that the file takes well under a minute on a
2-core CPU.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .support.app_server import served
from .support.paths import EXAMPLES, fitted

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with served() as url:
        c = Client(url, verbose=False)
        yield c
        c.close()


def _files(content, style) -> dict:
    return {"content": handle_file(str(content)), "style": handle_file(str(style))}


def _previews(outputs: list) -> list[str]:
    """The distinct preview images among a job's outputs (skipped outputs are dicts)."""
    seen: list[str] = []
    for out in outputs:
        if isinstance(out[0], str) and out[0] not in seen:
            seen.append(out[0])
    return seen


def test_api_names_the_parameters():
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    params = [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]]
    assert params[:2] == ["content", "style"]
    assert {"steps", "style_weight", "style_layers", "content_layer", "size", "init", "optimizer", "seed"} <= set(
        params
    )


def test_launch_settings(monkeypatch, capsys, fixed_cost):
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    kwargs = nst_web.launch_kwargs()
    assert kwargs["share"] is False and kwargs["max_file_size"] == nst_web.uploads.MAX_FILE_SIZE
    assert "server_name" not in kwargs and "server_port" not in kwargs  # GRADIO_SERVER_* decide
    launched = {}
    monkeypatch.setattr(demo, "launch", lambda **kw: launched.update(kw))
    monkeypatch.setattr(demo, "block_thread", lambda: None)
    monkeypatch.setattr(demo, "local_url", "http://127.0.0.1:7860/", raising=False)
    monkeypatch.delenv("NST_SHARE", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    capsys.readouterr()  # what starting the app printed
    nst_web.main([])
    assert launched["share"] is False
    # Gradio's own start-up lines (its `share=True` hint) are off; the app says its own.
    assert launched["quiet"] is True
    # Start-up says what it does and how long it took: the step costs (timed, or this machine's
    # cache), then where it serves.
    costs, serving, hint = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"nst: (calibrating: timing a few steps, once for this machine|step costs from this "
        r"machine's calibration) \(.*calibration\.json\)… \d+\.\d s",
        costs,
    ), costs
    assert re.fullmatch(r"nst is serving on http://127\.0\.0\.1:7860/ \(started in \d+\.\d s\)", serving), serving
    assert hint == "For a public link as well, run: python app.py --share"
    nst_web.main(["--share"])
    assert launched["share"] is True
    assert fixed_cost == [str(nst_web.machine.device())] * 2  # each start calibrates first (here: a fixed model)
    assert "--share" not in capsys.readouterr().out


def test_run_streams_previews_and_ends_with_a_png(client, content_path, style_path):
    import nst_web
    import nst

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    t0 = time.monotonic()
    job = client.submit(**_files(content_path, style_path), steps=40, size=128, api_name="/stylize")
    job.result(timeout=180)
    took = time.monotonic() - t0
    outputs = job.outputs()
    # Previews by time: the first at step 1, then at most one per PREVIEW_SECONDS.
    assert 2 <= len(_previews(outputs[:-1])) <= took / nst_web.gpu.PREVIEW_SECONDS + 2
    assert any(isinstance(o[1], str) and o[1].startswith("step ") and "ETA" in o[1] for o in outputs)
    image, status, curve, pair, png = outputs[-1]
    assert status.startswith("**Done**") and "40 steps" in status
    assert Path(png).suffix == ".png"
    with Image.open(png) as result:
        assert result.format == "PNG" and result.size == fitted(128)
    with Image.open(image) as shown:
        assert shown.size == fitted(128)
        assert (
            shown.format == "PNG" and nst.read_recipe(image)["settings"]["steps"] == 40
        )  # the result is the PNG itself
    # Previews are light JPEGs at display size; only the result is a PNG.
    for preview in _previews(outputs[:-1]):
        with Image.open(preview) as im:
            assert im.format == "JPEG" and max(im.size) <= nst_web.gpu.PREVIEW_SIZE
    assert not list(
        (nst_web.parts.results_dir().parent / "previews").glob("*.jpg")
    )  # the run's own preview file is gone
    # The before/after slider: the photo at the result's size, then the result PNG itself.
    before, after = pair
    with Image.open(before) as b, Image.open(png) as r, Image.open(content_path) as photo:
        assert b.size == r.size == fitted(128)
        expected = photo.convert("RGB").resize(r.size, Image.Resampling.LANCZOS)
        assert b.format == "JPEG"  # written by the app, not encoded by Gradio (as WebP: 30× slower)
        # The photo (a JPEG: a few levels off), not the result.
        to_photo = np.abs(np.asarray(b.convert("RGB"), float) - np.asarray(expected, float)).mean()
        to_result = np.abs(np.asarray(b.convert("RGB"), float) - np.asarray(r.convert("RGB"), float)).mean()
        assert to_photo < 8 and to_result > to_photo + 5, (to_photo, to_result)
    with Image.open(after) as a, Image.open(png) as r:
        assert a.size == r.size
        assert np.abs(np.asarray(a.convert("RGB"), float) - np.asarray(r.convert("RGB"), float)).mean() < 8
    # The loss curve: log₁₀ of each term, up to the last step, from the run's own costs.
    rows = [dict(zip(curve["columns"], row)) for row in curve["data"]]
    assert {r["term"] for r in rows} == {"content", "style", "total"}
    assert max(r["step"] for r in rows) == 40
    last = {r["term"]: r["loss"] for r in rows if r["step"] == 40}
    assert 10 ** last["total"] == pytest.approx(10 ** last["content"] + 10 ** last["style"], rel=1e-3)


def test_the_estimate_is_an_api_endpoint_too(client, content_path):
    text = client.predict(content=handle_file(str(content_path)), steps=30, size=128, api_name="/estimate")
    assert text.startswith("Estimated time: about ") and text.endswith("(30 steps at 128 px on the CPU).")
    assert "⚠️" in client.predict(content=handle_file(str(content_path)), steps=0, size=128, api_name="/estimate")


def test_cancel_stops_the_run_and_the_next_run_works(client, content_path, style_path):
    job = client.submit(**_files(content_path, style_path), steps=400, size=128, api_name="/stylize")
    deadline = time.monotonic() + 90
    while not _previews(job.outputs()):
        assert time.monotonic() < deadline, "no preview within 90 s"
        assert not job.done(), f"the run ended early: {job.status()}"
        time.sleep(0.2)
    t0 = time.monotonic()
    job.cancel()
    while not job.done():
        assert time.monotonic() - t0 < 15, "cancel did not end the job"
        time.sleep(0.1)
    # concurrency_limit=1: this run can only start once the cancelled one has stopped.
    t0 = time.monotonic()
    _, status, *_, png = client.predict(**_files(content_path, style_path), steps=2, size=64, api_name="/stylize")
    assert status.startswith("**Done**") and Path(png).is_file()
    assert time.monotonic() - t0 < 60
    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    assert not list((nst_web.parts.results_dir().parent / "previews").iterdir())  # the cancelled run's preview too


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.txt"
    text.write_text("not an image\n")
    fake = folder / "photo.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # a PNG signature, then garbage
    bomb = folder / "huge.png"
    Image.new("1", (12_000, 9_000)).save(bomb)  # 108 Mpx that compress to a few KB
    assert bomb.stat().st_size < 100_000
    return {"text": text, "fake": fake, "bomb": bomb}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"style": None}, "Upload a style image"),
        ({"content": None}, "Upload a content image"),
        ({"style_layers": []}, "style_layers is empty"),
        ({"style_layers": ["relu9_9"]}, "unknown VGG19 layer 'relu9_9'"),
        ({"content_layer": "fc7"}, "unknown VGG19 layer 'fc7'"),
        ({"steps": 0}, "steps must be between 1 and"),
        ({"steps": 10**7}, "steps must be between 1 and"),
        ({"steps": 2.5}, "steps must be a whole number"),
        # JSON has no NaN, so an API caller's NaN arrives as text (see also the test below).
        ({"style_weight": "nan"}, "style_weight must be a finite number"),
        ({"style_weight": "inf"}, "style_weight must be a finite number"),
        ({"style_weight": -1}, "style_weight must be between 0"),
        ({"size": 100_000}, "size must be"),
        ({"init": "banana"}, "init must be one of"),
        ({"time_limit": 0}, "time_limit must be between"),
        ({"style": "text"}, "is not an image file nst can read"),
        ({"content": "fake"}, "content image"),
        ({"style": "bomb"}, "style image"),
    ],
)
def test_bad_input_gets_its_message(client, content_path, style_path, bad_files, change, message):
    args = {**_files(content_path, style_path), "steps": 2, "size": 64}
    for key, value in change.items():
        if isinstance(value, str) and value in bad_files:
            value = handle_file(str(bad_files[value]))
        args[key] = value
    with pytest.raises(AppError) as info:
        client.predict(**args, api_name="/stylize")
    text = str(info.value)
    assert message in text
    assert "Traceback" not in text and "/tmp/" not in text and str(Path.home()) not in text


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_ratio_is_refused_before_any_work(content_path, style_path, value):
    import gradio as gr

    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    with pytest.raises(gr.Error, match="style_weight must be a finite number"):
        next(nst_web.run.stylize(str(content_path), str(style_path), style_weight=value))


def test_oversized_images_are_refused_for_their_pixels(client, content_path, bad_files):
    with pytest.raises(AppError, match="style image 'huge.png'.*(too large|Mpx)"):
        client.predict(**_files(content_path, bad_files["bomb"]), steps=2, size=64, api_name="/stylize")


def test_uploads_over_the_size_limit_are_refused(client, content_path, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (21 * 1024 * 1024))
    with pytest.raises(ValueError, match="maximum file size"):
        client.predict(**_files(content_path, big), steps=2, size=64, api_name="/stylize")


def test_still_serves_after_refusals(client, content_path, style_path):
    *_, png = client.predict(**_files(content_path, style_path), steps=2, size=64, api_name="/stylize")
    with Image.open(png) as result:
        assert result.size == fitted(64)


def test_more_styles_colour_mode_and_recipe_through_the_api(client, content_path, style_path, other_style_path):
    import nst

    other = other_style_path
    _, status, _, _, png = client.predict(
        **_files(content_path, style_path),
        more_styles=[handle_file(str(other))],
        style_blend="3 1",
        preserve_color="luminance",
        style_loss="sliced-wasserstein",
        steps=3,
        size=64,
        seed=2,
        api_name="/stylize",
    )
    assert status.startswith("**Done**")
    recipe = nst.read_recipe(png)
    assert recipe["styles"] == 2
    assert {k: recipe["settings"][k] for k in ("style_blend", "preserve_color", "style_loss", "steps", "seed")} == {
        "style_blend": [3, 1],
        "preserve_color": "luminance",
        "style_loss": "sliced-wasserstein",
        "steps": 3,
        "seed": 2,
    }


def test_blend_weights_must_match_the_styles(client, content_path, style_path):
    with pytest.raises(AppError, match="style_blend has 3 weights for 1 style image"):
        client.predict(**_files(content_path, style_path), style_blend="1 2 3", steps=1, size=64, api_name="/stylize")


def test_load_recipe_fills_the_controls(tmp_path):
    import nst_web
    import nst
    from nst.recipe import make_recipe

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    made = nst.DEFAULT.replace(
        steps=42,
        style_layers=("relu1_1", "relu2_1"),
        style_blend=(1, 2),
        time_limit=30,
        preserve_color="match",
        style_weight=0.05,
    )
    png = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), png, make_recipe(made))
    values = dict(
        zip(
            [*nst_web.settings.MAIN_SETTINGS, *nst_web.settings.ADVANCED_SETTINGS, "log_weight"],
            nst_web.settings.load_recipe(str(png)),
        )
    )
    assert values["steps"] == 42 and values["style_layers"] == ["relu1_1", "relu2_1"]
    assert values["style_blend"] == "1 2" and values["time_limit"] == 30 and values["preserve_color"] == "match"
    assert values["log_weight"] == round(math.log10(0.05), 1)
    # The values are what the controls send back: the run takes them as they are.
    sent = {k: v for k, v in values.items() if k != "log_weight"}
    assert nst_web.settings.checked(sent).replace(preview_every=nst.DEFAULT.preview_every) == made


# --- Masks through /stylize, the brush and the gallery (issue 14) ------------------------


def _half_mask(path: Path, content: Path, size: tuple[int, int] | None = None) -> Path:
    """White on the left half of ``content``'s frame (or of ``size``)."""
    w, h = size or Image.open(content).size
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (0, 0, w // 2, h))
    mask.save(path)
    return path


def test_a_mask_file_keeps_the_photo_outside_it(client, tmp_path):
    import numpy as np

    import nst
    from nst.images import resize_to_long_side

    content, style = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"
    mask = _half_mask(tmp_path / "left.png", content)
    *_, png = client.predict(
        **_files(content, style),
        masks=[handle_file(str(mask))],
        steps=8,
        size=96,
        multiscale=False,
        api_name="/stylize",
    )
    result = np.asarray(Image.open(png).convert("RGB"), float)
    photo = np.asarray(resize_to_long_side(nst.load_image(content), 96), float)
    assert np.array_equal(result[:, 52:], photo[:, 52:])  # black: the photo, to the pixel
    assert np.abs(result[:, :44] - photo[:, :44]).mean() > 5  # white: painted
    assert nst.read_recipe(png)["masks"] == ["left.png"]  # by reference


@pytest.mark.parametrize(
    "masks, message",
    [
        (
            lambda t, c: [_half_mask(t / "square.png", c, (100, 100))],
            "the mask is 100×100 px, not the shape of the content",
        ),
        (lambda t, c: [EXAMPLES / "mosaic.jpg"], "is a colour image; a mask is greyscale"),
        (lambda t, c: [_half_mask(t / "a.png", c), _half_mask(t / "b.png", c)], "2 masks for 1 style image"),
    ],
)
def test_bad_masks_get_nst_messages(client, tmp_path, masks, message):
    content, style = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"
    files = [handle_file(str(p)) for p in masks(tmp_path, content)]
    with pytest.raises(AppError) as info:
        client.predict(**_files(content, style), masks=files, steps=1, size=64, api_name="/stylize")
    assert message in str(info.value) and "/tmp/" not in str(info.value)


@pytest.mark.parametrize(
    "value, shown", [("some/dir/m.png", "text ('m.png')"), (5, "a number (5)"), ([5], "a list holding a number")]
)
def test_masks_of_the_wrong_shape_are_named(client, value, shown):
    content, style = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"
    with pytest.raises(AppError) as info:
        client.predict(**_files(content, style), masks=value, steps=1, size=64, api_name="/stylize")
    assert f"masks must be a list of image files (in gradio_client: [handle_file(path), ...]), not {shown}" in str(
        info.value
    )


def test_painted_strokes_become_mask_files_and_clear_again(tmp_path):
    import numpy as np

    import nst_web
    from nst_web.brush import PALETTE

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    layer = Image.new("RGBA", (90, 60), (0, 0, 0, 0))
    layer.paste((*PALETTE[1], 255), (45, 0, 90, 60))  # style 2's colour on the right half
    paths = nst_web.painting.painted_masks(
        {"background": None, "layers": [layer], "composite": None}, None, ["other.jpg"]
    )
    assert [Path(p).name for p in paths] == ["painted-mask-1.png", "painted-mask-2.png"]
    first, second = (np.asarray(Image.open(p), float) for p in paths)
    assert first.max() == 0 and second[:, 50:].min() == 255
    # No strokes: painted masks go, uploaded ones stay.
    assert nst_web.painting.painted_masks({"layers": []}, paths, None) is None
    assert nst_web.painting.painted_masks(None, [str(tmp_path / "mine.png")], None) is not None  # a skip: kept
    photo = str(EXAMPLES / "chelsea.jpg")
    assert nst_web.painting.paint_on(photo) == {"background": photo, "layers": [], "composite": photo}
    (tmp_path / "cut.jpg").write_bytes((EXAMPLES / "chelsea.jpg").read_bytes()[:5000])
    assert (
        nst_web.painting.paint_on(str(tmp_path / "cut.jpg")) is None
    )  # nst refuses it: no canvas; Run names the damage


def test_gallery_results_are_picked_and_compared(tmp_path):
    import gradio as gr

    import nst_web
    import nst
    from nst_web.gallery import Gallery
    from nst.recipe import make_recipe

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    visit = Gallery()
    for i, steps in enumerate((11, 22)):
        png = tmp_path / f"{i}.png"
        nst.save_png(
            Image.new("RGB", (8, 6), ("red", "blue")[i]), png, make_recipe(nst.DEFAULT.replace(steps=steps), styles=1)
        )
        items, visit, menu_a, _ = nst_web.visit.add_result(str(png), visit)
    assert [c.split(" · ")[:2] for _, c in items] == [["#2", "22 steps"], ["#1", "11 steps"]]
    assert [n for _, n in menu_a.choices] == [2, 1]
    picked = nst_web.visit.pick_result(visit, gr.SelectData(None, {"index": 1, "value": None}))
    assert picked[0] == picked[1] == str(tmp_path / "0.png") and picked[2].startswith("Showing result #1 · 11 steps")
    assert picked[3 + nst_web.settings.MAIN_SETTINGS.index("steps")] == 11  # its settings, into the controls
    a, b = nst_web.visit.compare_results(1, 2, visit)
    assert a.getpixel((0, 0)) == (255, 0, 0) and b.getpixel((0, 0)) == (0, 0, 255)


def test_the_status_starts_with_what_the_time_limit_cut():
    import nst_web
    import nst

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    ev = nst.Progress(
        step=3, total=61, losses={}, elapsed=1.0, size=(64, 48), note="time limit 6 s: kept 61 of the plan's 200 steps"
    )
    assert nst_web.run._limited(ev) == "Time limit 6 s: kept 61 of the plan's 200 steps · "
    assert nst_web.run._limited(nst.Progress(step=3, total=61, losses={}, elapsed=1.0, size=(64, 48))) == ""


def test_results_are_kept_for_an_hour(monkeypatch):
    """README: result files are kept on the server for an hour (then removed at the next
    save; Gradio's cache of uploads is swept hourly)."""
    import os

    import nst_web
    from nst_web import parts

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    folder = parts.results_dir()
    now = time.time()
    old, young = folder / "stylized-old.png", folder / "stylized-young.png"
    for path, age in ((old, 3601), (young, 3500)):
        Image.new("RGB", (4, 4)).save(path)
        os.utime(path, (now - age, now - age))
    old_photo = folder / "before-old.jpg"
    Image.new("RGB", (4, 4)).save(old_photo)
    os.utime(old_photo, (now - 3601, now - 3601))
    kept = parts.save_result(Image.new("RGB", (8, 6), (1, 2, 3)))
    assert not old.exists() and not old_photo.exists() and young.exists() and Path(kept).is_file()
    photo = parts.save_photo(Image.new("RGB", (8, 6), (1, 2, 3)))
    assert Path(photo).parent == folder and Path(photo).name.startswith("before-")
    young.unlink()
    Path(kept).unlink()
    Path(photo).unlink()
    # Gradio's own cache (uploads): swept every 5 min, so that no file stays past the hour.
    assert demo.delete_cache == (300, 3300)


def test_faces_are_listed_beside_the_checkbox_and_kept_with_a_keep_mask(client, tmp_path):
    import nst

    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    astronaut = EXAMPLES / "astronaut.jpg"
    assert nst_web.hints.faces_found(str(astronaut), True).startswith("Found 1 face (at ")
    assert nst_web.hints.faces_found(str(astronaut), False).endswith("not kept (off).")
    assert nst_web.hints.faces_found(str(EXAMPLES / "chelsea.jpg"), True).startswith("No face found")
    keep = Image.new("L", (64, 64), 0)
    keep.paste(255, (0, 0, 20, 20))
    keep.save(tmp_path / "logo.png")
    job = client.submit(
        **_files(astronaut, EXAMPLES / "starry_night.jpg"),
        keep=handle_file(str(tmp_path / "logo.png")),
        steps=2,
        size=64,
        api_name="/stylize",
    )
    outputs = job.outputs() if job.result() else []
    statuses = [out[1] for out in outputs if isinstance(out[1], str)]
    assert any("keeping 1 face (at " in s and "keeping the keep mask's white" in s for s in statuses), statuses
    assert nst.read_recipe(outputs[-1][-1])["keep"] == "logo.png"
    with pytest.raises(AppError, match="the keep mask is all black"):
        Image.new("L", (64, 64), 0).save(tmp_path / "black.png")
        client.predict(
            **_files(astronaut, EXAMPLES / "starry_night.jpg"),
            keep=handle_file(str(tmp_path / "black.png")),
            steps=1,
            size=64,
            api_name="/stylize",
        )


def test_painted_white_strokes_become_the_keep_file_and_clear_again(tmp_path):
    import numpy as np

    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    layer = Image.new("RGBA", (90, 60), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (0, 0, 30, 60))  # white on the left third
    painted = {"background": None, "layers": [layer], "composite": None}
    assert nst_web.painting.painted_masks(painted, None, None) is not None and not isinstance(
        nst_web.painting.painted_masks(painted, None, None), list
    )
    path = nst_web.painting.painted_keep(painted, None)
    assert Path(path).name == "painted-keep.png"
    keep = np.asarray(Image.open(path), float)
    assert keep[:, :20].min() == 255 and keep[:, 45:].max() == 0
    assert nst_web.painting.painted_keep({"layers": []}, path) is None  # no white strokes: the painted keep mask goes
    assert nst_web.painting.painted_keep(None, str(tmp_path / "mine.png")) is not None  # an uploaded one stays (a skip)
