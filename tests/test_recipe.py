import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import nst
from nst.cli import main
from nst.recipe import RECIPE_KEY, make_recipe

from .conftest import fitted


def test_recipe_round_trips_every_setting(tmp_path):
    s = nst.DEFAULT.replace(steps=123, size=200, seed=5, style_layers=("relu2_1", "relu3_1"),
                            style_layer_weights=(1, 3), preserve_color="match", style_loss="sliced-wasserstein",
                            style_blend=(2, 1), weights="embedded", tv_weight=3.5, time_limit=60)
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, make_recipe(s, device="cpu"))
    back = nst.read_recipe(path)
    assert nst.DEFAULT.replace(**back["settings"]) == s.replace(preview_every=nst.DEFAULT.preview_every)
    assert back["nst"] == nst.__version__ and back["device"] == "cpu"
    assert Image.open(path).info["Software"] == f"nst {nst.__version__}"


@pytest.mark.parametrize("text, message", [
    (None, "carries no nst recipe"),
    ("{not json", "damaged"),
    (json.dumps({"settings": {"steps": -4}}), "bad setting: steps must be between"),
])
def test_bad_recipes_are_named(tmp_path, text, message):
    path = tmp_path / "r.png"
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_text(RECIPE_KEY, text)
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    with pytest.raises(nst.RecipeError, match=message):
        nst.read_recipe(path)


def test_unknown_settings_from_another_version_are_dropped(tmp_path):
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, {"nst": "9.0", "settings": {"steps": 9, "warp_factor": 3}})
    assert nst.read_recipe(path)["settings"] == {"steps": 9}


def test_a_recipe_from_before_the_pair_normalisation_runs_as_it_was_made(tmp_path):
    """nst 0.1 weighed the costs in Gatys's units: its recipes re-run with normalization none."""
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, {"nst": "0.1.0", "settings": {"steps": 9, "style_weight": 1e-3}})
    settings = nst.DEFAULT.replace(**nst.read_recipe(path)["settings"])
    assert (settings.normalization, settings.style_weight) == ("none", 1e-3)
    nst.save_png(Image.new("RGB", (4, 4)), path, make_recipe(nst.DEFAULT.replace(steps=9), device="cpu"))
    assert nst.read_recipe(path)["settings"]["normalization"] == "pair"


def test_cli_recipe_reproduces_and_options_given_override(tmp_path, content_path, style_path, other_style_path):
    other = other_style_path
    first, again, larger, before = (tmp_path / f"{n}.png" for n in ("first", "again", "larger", "before"))
    assert main([str(content_path), str(style_path), str(other), "--style-blend", "3", "1", "--steps", "5",
                 "--size", "64", "--seed", "4", "--init", "noise", "--preserve-color", "swap", "-o", str(first)]) == 0
    assert main([str(content_path), str(style_path), str(other), "--recipe", str(first), "-o", str(again)]) == 0
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))
    # Options given with --recipe win over it, after it or before it.
    assert main([str(content_path), str(style_path), str(other), "--recipe", str(first), "--size", "80",
                 "-o", str(larger)]) == 0
    assert main([str(content_path), str(style_path), str(other), "--size", "80", "--recipe", str(first),
                 "-o", str(before)]) == 0
    assert Image.open(larger).size == fitted(80) and Image.open(before).size == fitted(80)
    redo = nst.read_recipe(larger)["settings"]
    assert redo["size"] == 80 and redo["style_blend"] == [3, 1] and redo["preserve_color"] == "swap"


def test_cli_recipe_errors_are_one_line(content_path, style_path, capsys, monkeypatch):
    monkeypatch.chdir(content_path.parent)
    with pytest.raises(SystemExit) as exc:
        main([content_path.name, style_path.name, "--recipe", content_path.name])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"nst: error: '{content_path.name}' carries no nst recipe (only PNGs saved by nst do)"


@pytest.mark.parametrize("seed", [2**63 - 1, 2**53 + 1])
def test_recipes_keep_whole_numbers_exact(tmp_path, seed):
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, make_recipe(nst.DEFAULT.replace(seed=seed), device="cpu"))
    assert nst.read_recipe(path)["settings"]["seed"] == seed
    assert nst.DEFAULT.replace(**nst.read_recipe(path)["settings"]).seed == seed


@pytest.mark.parametrize("after_pixels", [False, True])
def test_recipe_is_read_beside_text_over_pillows_limit(tmp_path, after_pixels):
    """Another text chunk that unpacks to megabytes does not hide the recipe."""
    import struct
    import zlib

    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4), "red"), path, make_recipe(nst.DEFAULT.replace(steps=77), device="cpu"))
    png = path.read_bytes()
    body = b"Comment\0\0" + zlib.compress(b"x" * (5 * 2**20))
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    at = png.rindex(b"IEND") - 4 if after_pixels else png.index(b"IDAT") - 4
    path.write_bytes(png[:at] + chunk + png[at:])
    assert nst.read_recipe(path)["settings"]["steps"] == 77
    assert nst.load_image(path).getpixel((0, 0)) == (255, 0, 0)


def test_a_recipe_is_read_without_decoding_the_pixels(tmp_path):
    """A PNG declaring 20000×20000 px (400 Mpx: Pillow would refuse it as a bomb) still
    gives its recipe: only the text chunks are read."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    text = json.dumps(make_recipe(nst.DEFAULT.replace(steps=31), device="cpu")).encode()
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"tEXt", RECIPE_KEY.encode() + b"\0" + text)
                     + chunk(b"IEND", b""))
    assert nst.read_recipe(path)["settings"]["steps"] == 31


def test_recipes_from_before_keep_faces_re_run_without_it(tmp_path):
    """A recipe that does not name keep_faces was made before faces were kept."""
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, {"nst": "0.2.0", "settings": {"steps": 9}})
    assert nst.read_recipe(path)["settings"]["keep_faces"] is False
    nst.save_png(Image.new("RGB", (4, 4)), path, make_recipe(nst.DEFAULT.replace(steps=9), device="cpu"))
    assert nst.read_recipe(path)["settings"]["keep_faces"] is nst.DEFAULT.keep_faces
