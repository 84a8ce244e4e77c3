"""Upscaling a result (nst.upscale): the finer scales only, from the result, by API and CLI."""

import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import nst
from nst.cli import main
from nst.recipe import RECIPE_KEY

QUICK = dict(steps=8, size=128, style_layers=["relu1_1", "relu3_1"], seed=0)


@pytest.fixture(scope="module")
def small_result(tmp_path_factory, content_path=None, style_path=None):
    from .support.paths import CONTENT, STYLE

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


def test_an_upscale_under_a_time_limit_takes_its_own_steps_not_the_whole_runs(small_result, content_path, style_path):
    """Its plan is the finer scales' steps, fewer than the settings' ``steps``: a far deadline
    gives its last scale none of the others (those are no steps a limit cut)."""
    run = nst.prepare_upscale(small_result, content_path, style_path, 2, time_limit=600)
    assert run.total_steps < run.settings.steps
    *_, last = run.events()
    assert last.done and last.step == run.total_steps and last.note is None


@pytest.mark.parametrize(
    "factor, message", [(1.0, "between 1.25 and 4"), (5, "between 1.25 and 4"), ("big", "must be a number")]
)
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
    assert (
        main([str(content_path), str(style_path), "--recipe", str(small_result), "--upscale", "2", "-o", str(out)]) == 0
    )
    assert max(Image.open(out).size) == 256
    assert main([str(content_path), str(style_path), "--upscale", "2", "-o", str(out)]) == 2
    assert "--upscale needs --recipe" in capsys.readouterr().err


# --- In the app: ×2 of the result shown, within the app's cap --------------------------


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("gradio_client")
    from gradio_client import Client

    from .support.app_server import served

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
    import nst_web
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    # A result whose double is above the app's cap (1024 px on a CPU): refused before any work.
    big = tmp_path / "big.png"
    side = nst_web.machine.max_size() // 2 + 16
    nst.images.resize_to_long_side(nst.load_image(content_path), side).save(big)
    with pytest.raises(AppError, match=f"above this app's limit of {nst_web.machine.max_size()} px"):
        client.predict(
            handle_file(str(big)), handle_file(str(content_path)), handle_file(str(style_path)), api_name="/upscale"
        )


def test_the_app_reads_no_result_from_outside_its_uploads(client, content_path, style_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    files = {"content": handle_file(str(content_path)), "style": handle_file(str(style_path))}
    with pytest.raises(AppError):
        client.predict({"path": str(content_path)}, **files, api_name="/upscale")


# --- The result's recipe gives the look, never the weights, the device or the memory ----------

HOSTILE = {"weights": "/etc/passwd", "device": "cuda:7", "max_memory": 38}


def _hostile_result(path, content_path, weights: str = "/etc/passwd"):
    """A result of the content's shape whose recipe names a server file (or a download), a
    GPU the machine lacks and a memory budget it lacks."""
    info = PngImagePlugin.PngInfo()
    info.add_text(
        RECIPE_KEY,
        json.dumps(
            {
                "nst": nst.__version__,
                "settings": {
                    "steps": 2,
                    "size": 48,
                    "style_layers": ["relu1_1", "relu3_1"],
                    "seed": 3,
                    **HOSTILE,
                    "weights": weights,
                },
            }
        ),
    )
    nst.images.resize_to_long_side(nst.load_image(content_path), 48).save(path, pnginfo=info)
    return path


@pytest.fixture
def no_network(monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("a network request")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("weights", ["/etc/passwd", "hf:a/b/c"])
def test_an_upscale_takes_no_weights_device_or_memory_from_the_recipe(
    tmp_path, content_path, style_path, no_network, weights
):
    result = _hostile_result(tmp_path / "r.png", content_path, weights)
    with Image.open(result) as image:
        image.load()
        for source in (result, image):  # a path, and a PIL image with the recipe in its info
            run = nst.prepare_upscale(source, content_path, style_path, 2)
            s = run.settings
            assert (s.weights, s.device, s.max_memory) == (nst.DEFAULT.weights, nst.DEFAULT.device, None)
            assert (s.steps, s.seed, s.style_layers, s.size) == (2, 3, ("relu1_1", "relu3_1"), 96)  # the look: its own


def test_the_cli_upscale_takes_no_weights_device_or_memory_from_the_recipe(
    tmp_path, content_path, style_path, no_network, fixed_cost, capsys
):
    result = _hostile_result(tmp_path / "r.png", content_path)
    base = [str(content_path), str(style_path), "--recipe", str(result), "--upscale", "2"]
    assert main([*base, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("plan: 2 steps to 96×") and " on cpu" in out.splitlines()[0]
    assert "(max_memory from free memory)" in out
    assert [line for line in err.splitlines() if line.startswith("nst: note:")] == [
        "nst: note: the recipe ran on weights /etc/passwd; using the embedded weights; pass --weights /etc/passwd "
        "to use them",
        "nst: note: the recipe ran on device cuda:7; using auto; pass --device cuda:7 to use it",
        "nst: note: the recipe ran with max_memory 38 GB; using a budget from this machine's free memory; "
        "pass --max-memory 38 to use it",
    ]
    big = tmp_path / "big.png"
    assert main([*base, "-o", str(big)]) == 0  # the embedded weights load: /etc/passwd is not opened
    assert nst.read_recipe(big)["not_applied"] == {"weights": nst.DEFAULT.weights, "device": nst.DEFAULT.device}
