"""Upscaling a result (nst.upscale): the finer scales only, from the result, by API and CLI."""

import json

import numpy as np
import pytest
from PIL import Image

import nst
from nst.cli import main
from nst.recipe import RECIPE_KEY

QUICK = dict(steps=8, size=128, style_layers=["relu1_1", "relu3_1"], seed=0)


@pytest.fixture(scope="module")
def small_result(tmp_path_factory, content_path=None, style_path=None):
    from .conftest import CONTENT, STYLE

    path = tmp_path_factory.mktemp("upscale") / "small.png"
    nst.save_png(nst.stylize_image(CONTENT, STYLE, **QUICK), path)
    return path


def test_an_upscale_runs_only_the_scales_finer_than_the_result(small_result, content_path, style_path):
    run = nst.prepare_upscale(small_result, content_path, style_path, 2)
    full = nst.prepare(content_path, style_path, **{**QUICK, "size": 256})
    assert run.output.size == full.output.size and max(run.output.size) == 256
    assert all(max(sc.wh) > 128 for sc in run.plan)
    assert run.plan == [sc for sc in full.plan if max(sc.wh) > 128 * 1.05]  # the full run's steps at those scales
    assert run.total_steps < full.total_steps
    assert run.start is not None and run.start.size == Image.open(small_result).size


def test_the_api_doubles_a_result_starting_from_it(small_result, content_path, style_path):
    big = nst.upscale_image(small_result, content_path, style_path, 2)
    small = Image.open(small_result).convert("RGB")
    assert max(big.size) == 2 * max(small.size)
    recipe = json.loads(big.info[RECIPE_KEY])
    assert recipe["settings"]["size"] == 256 and recipe["upscaled_from"] == list(small.size)
    # It continued the result: closer to the result enlarged than a fresh run to 256 px is.
    fresh = nst.stylize_image(content_path, style_path, **{**QUICK, "size": 256})
    grown = np.asarray(small.resize(big.size, Image.Resampling.BICUBIC), dtype=np.float32)
    d_up = np.abs(np.asarray(big, dtype=np.float32) - grown).mean()
    d_fresh = np.abs(np.asarray(fresh, dtype=np.float32) - grown).mean()
    assert d_up < d_fresh


@pytest.mark.parametrize("factor, message", [(1.0, "between 1.25 and 4"), (5, "between 1.25 and 4"),
                                             ("big", "must be a number")])
def test_bad_factors_are_refused(small_result, content_path, style_path, factor, message):
    with pytest.raises(nst.SettingsError, match=message):
        nst.prepare_upscale(small_result, content_path, style_path, factor)


def test_a_result_of_another_shape_is_refused(tmp_path, content_path, style_path):
    square = tmp_path / "square.png"
    Image.new("RGB", (100, 100)).save(square)
    with pytest.raises(nst.ImageError, match="not the content image's shape"):
        nst.prepare_upscale(square, content_path, style_path, 2)


def test_the_cli_upscales_the_recipes_result(small_result, content_path, style_path, tmp_path, capsys):
    out = tmp_path / "big.png"
    assert main([str(content_path), str(style_path), "--recipe", str(small_result), "--upscale", "2",
                 "-o", str(out)]) == 0
    assert max(Image.open(out).size) == 256
    assert main([str(content_path), str(style_path), "--upscale", "2", "-o", str(out)]) == 2
    assert "--upscale needs --recipe" in capsys.readouterr().err


# --- In the app: ×2 of the result shown, within the app's cap --------------------------


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("gradio_client")
    from gradio_client import Client

    from .app_server import served

    with served() as url:
        c = Client(url, verbose=False)
        yield c
        c.close()


def test_the_app_doubles_the_result_shown(client, content_path, style_path):
    from gradio_client import handle_file

    files = {"content": handle_file(str(content_path)), "style": handle_file(str(style_path))}
    *_, png = client.predict(**files, steps=4, size=64, api_name="/stylize")
    image, status, _, _, big = client.predict(handle_file(png), **files, api_name="/upscale")
    small, size = Image.open(png).size, Image.open(big).size
    assert max(size) == 2 * max(small) and abs(min(size) - 2 * min(small)) <= 1  # the photo's shape at twice the size
    assert status.startswith("Upscaled ×2") and "**Done**" in status
    assert nst.read_recipe(big)["upscaled_from"] == list(small)


def test_the_app_refuses_an_upscale_above_its_cap(client, content_path, style_path, tmp_path):
    import app
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    # A result whose double is above the app's cap (1024 px on a CPU): refused before any work.
    big = tmp_path / "big.png"
    side = app.MAX_SIZE // 2 + 16
    nst.images.resize_to_long_side(nst.load_image(content_path), side).save(big)
    with pytest.raises(AppError, match=f"above this app's limit of {app.MAX_SIZE} px"):
        client.predict(handle_file(str(big)), handle_file(str(content_path)), handle_file(str(style_path)),
                       api_name="/upscale")


def test_the_app_reads_no_result_from_outside_its_uploads(client, content_path, style_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    files = {"content": handle_file(str(content_path)), "style": handle_file(str(style_path))}
    with pytest.raises(AppError):
        client.predict({"path": str(content_path)}, **files, api_name="/upscale")
