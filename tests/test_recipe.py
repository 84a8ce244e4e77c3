import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import nst
from nst.cli import main
from nst.recipe import RECIPE_KEY, make_recipe

from .support.paths import fitted


def test_recipe_round_trips_every_setting(tmp_path):
    s = nst.DEFAULT.replace(
        steps=123,
        size=200,
        seed=5,
        style_layers=("relu2_1", "relu3_1"),
        style_layer_weights=(1, 3),
        preserve_color="match",
        style_loss="sliced-wasserstein",
        style_blend=(2, 1),
        weights="embedded",
        tv_weight=3.5,
        time_limit=60,
    )
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, make_recipe(s, device="cpu"))
    back = nst.read_recipe(path)
    assert nst.DEFAULT.replace(**back["settings"]) == s.replace(preview_every=nst.DEFAULT.preview_every)
    assert back["nst"] == nst.__version__ and back["device"] == "cpu"
    assert Image.open(path).info["Software"] == f"nst {nst.__version__}"


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "carries no nst recipe"),
        ("{not json", "damaged"),
        (json.dumps({"settings": {"steps": -4}}), "bad setting: steps must be between"),
    ],
)
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
    assert (
        main(
            [
                str(content_path),
                str(style_path),
                str(other),
                "--style-blend",
                "3",
                "1",
                "--steps",
                "5",
                "--size",
                "64",
                "--seed",
                "4",
                "--init",
                "noise",
                "--preserve-color",
                "swap",
                "-o",
                str(first),
            ]
        )
        == 0
    )
    assert main([str(content_path), str(style_path), str(other), "--recipe", str(first), "-o", str(again)]) == 0
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))
    # Options given with --recipe win over it, after it or before it.
    assert (
        main(
            [str(content_path), str(style_path), str(other), "--recipe", str(first), "--size", "80", "-o", str(larger)]
        )
        == 0
    )
    assert (
        main(
            [str(content_path), str(style_path), str(other), "--size", "80", "--recipe", str(first), "-o", str(before)]
        )
        == 0
    )
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
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"tEXt", RECIPE_KEY.encode() + b"\0" + text)
        + chunk(b"IEND", b"")
    )
    assert nst.read_recipe(path)["settings"]["steps"] == 31


def test_recipes_from_before_keep_faces_re_run_without_it(tmp_path):
    """A recipe that does not name keep_faces was made before faces were kept."""
    path = tmp_path / "r.png"
    nst.save_png(Image.new("RGB", (4, 4)), path, {"nst": "0.2.0", "settings": {"steps": 9}})
    assert nst.read_recipe(path)["settings"]["keep_faces"] is False
    nst.save_png(Image.new("RGB", (4, 4)), path, make_recipe(nst.DEFAULT.replace(steps=9), device="cpu"))
    assert nst.read_recipe(path)["settings"]["keep_faces"] is nst.DEFAULT.keep_faces


# --- A recipe is data from anywhere: bounded, never choosing what the machine opens ---------


def _chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with(path, *chunks: bytes, tail: bytes | None = None) -> str:
    """A 4×4 PNG with ``chunks`` before its pixels (each with a correct CRC unless built
    otherwise), or, with ``tail``, ending in those bytes instead of its pixels."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    png = buf.getvalue()
    at = png.index(b"IDAT") - 4
    path.write_bytes(png[:at] + b"".join(chunks) + (png[at:] if tail is None else tail))
    return str(path)


def _hostile_recipe_files() -> dict[str, tuple[list[bytes], bytes | None, str]]:
    import zlib

    key = RECIPE_KEY.encode() + b"\0"
    text = lambda s: [_chunk(b"tEXt", key + s.encode("latin-1"))]  # noqa: E731
    bad_crc = bytearray(_chunk(b"tEXt", key + b'{"settings": {}}'))
    bad_crc[-1] ^= 1
    big = json.dumps({"nst": "0.2.0", "settings": {}, "note": "x" * 70_000})
    return {
        # name: (chunks, tail, the message's end)
        "only the key, tEXt": (text(""), None, "is empty"),
        "only the key, zTXt": ([_chunk(b"zTXt", key)], None, "is damaged (an unknown compression)"),
        "only the key, iTXt": ([_chunk(b"iTXt", key)], None, "is damaged (an incomplete text chunk)"),
        "iTXt without its language": ([_chunk(b"iTXt", key + b"\1\0")], None, "is damaged (an incomplete text chunk)"),
        "iTXt not UTF-8": ([_chunk(b"iTXt", key + b"\0\0\0\0\xff\xfe")], None, "is damaged (its text is not UTF-8)"),
        "zTXt of another method": (
            [_chunk(b"zTXt", key + b"\1" + zlib.compress(b"{}"))],
            None,
            "is damaged (an unknown compression)",
        ),
        "zTXt not zlib": ([_chunk(b"zTXt", key + b"\0garbage")], None, "is damaged (its compressed text is broken)"),
        "zTXt cut short": (
            [_chunk(b"zTXt", key + b"\0" + zlib.compress(b'{"settings": {}}' * 50)[:-8])],
            None,
            "is damaged (its compressed text ends early)",
        ),
        "iTXt unpacking to 10 MB": (
            [_chunk(b"iTXt", key + b"\1\0\0\0" + zlib.compress(b" " * 10 * 2**20))],
            None,
            "is over 64 KiB (nst's recipes hold a few KiB)",
        ),
        "tEXt over 64 KiB": (text(big), None, "is over 64 KiB (nst's recipes hold a few KiB)"),
        "a wrong checksum": ([bytes(bad_crc)], None, "is damaged (its checksum does not match)"),
        "a file ending inside it": (
            [],
            _chunk(b"tEXt", key + b'{"settings": {}}' * 100)[:200],
            "is damaged (the file ends inside it)",
        ),
        "a length of 4 GB": (
            [],
            b"\xff\xff\xff\xfftEXt" + key + b"{}",
            "is over 64 KiB (nst's recipes hold a few KiB)",
        ),
        "not JSON": (text("{not json"), None, "is damaged (not JSON)"),
        "NaN": (text('{"settings": {"style_weight": NaN}}'), None, "is damaged (not JSON)"),
        "a 5000-digit number": (text('{"settings": {"seed": ' + "9" * 5000 + "}}"), None, "is damaged (not JSON)"),
        "a 400-digit float": (
            text('{"settings": {"style_weight": 1' + "0" * 400 + ".0}}"),
            None,
            "has a bad setting: style_weight must be a finite number, not inf",
        ),
        "nested 20000 deep": (text("[" * 20_000 + "]" * 20_000), None, "is damaged (not JSON)"),
        "a list": (text("[]"), None, "is damaged (it has no settings)"),
        "settings a list": (text('{"settings": [1, 2]}'), None, "is damaged (it has no settings)"),
        "a setting of another type": (
            text('{"settings": {"steps": {"a": 1}}}'),
            None,
            "has a bad setting: steps must be a number, not {'a': 1}",
        ),
        "200 style_blend weights": (
            text(json.dumps({"settings": {"style_blend": [1] * 200}})),
            None,
            "has a bad setting: style_blend has 200 weights, more than 64",
        ),
    }


@pytest.mark.parametrize("case", list(_hostile_recipe_files()))
def test_a_damaged_recipe_is_one_line_in_the_api_and_the_cli(
    tmp_path, content_path, style_path, capsys, case, monkeypatch
):
    chunks, tail, message = _hostile_recipe_files()[case]
    monkeypatch.chdir(tmp_path)
    _png_with(tmp_path / "bad.png", *chunks, tail=tail)
    with pytest.raises(nst.RecipeError) as exc:
        nst.read_recipe("bad.png")
    assert str(exc.value) == f"the recipe in 'bad.png' {message}"
    with pytest.raises(SystemExit) as exit_:
        main([str(content_path), str(style_path), "--recipe", "bad.png", "-o", "o.png", "--dry-run"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"nst: error: the recipe in 'bad.png' {message}\n"


def test_a_recipe_chunk_of_its_key_alone_is_one_line_from_a_real_process(tmp_path, content_path, style_path):
    import subprocess
    import sys

    from .support.paths import ROOT

    _png_with(tmp_path / "bad.png", _chunk(b"iTXt", RECIPE_KEY.encode() + b"\0"))
    proc = subprocess.run(
        [sys.executable, "-m", "nst", str(content_path), str(style_path), "--recipe", "bad.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == "nst: error: the recipe in 'bad.png' is damaged (an incomplete text chunk)\n"


HOSTILE = {"weights": "/etc/passwd", "device": "cuda:7", "max_memory": 38}


@pytest.mark.parametrize("weights", ["/etc/passwd", "hf:a/b/c"])
def test_a_recipe_never_sets_the_weights_device_or_memory(tmp_path, weights):
    """They are named apart, as one-line text, for a front end to mention; never settings."""
    path = tmp_path / "r.png"
    nst.save_png(
        Image.new("RGB", (4, 4)),
        path,
        {"nst": nst.__version__, "settings": {"steps": 7, **HOSTILE, "weights": weights}},
    )
    recipe = nst.read_recipe(path)
    assert recipe["settings"] == {"steps": 7, "keep_faces": False}
    assert recipe["not_applied"] == {"weights": weights, "device": "cuda:7", "max_memory": "38"}
    image = nst.load_image(path)
    image.info[RECIPE_KEY] = Image.open(path).info[RECIPE_KEY]  # the same, from a PIL image
    assert nst.read_recipe(image)["settings"] == {"steps": 7, "keep_faces": False}


def test_a_recipe_gives_back_only_known_keys_with_small_values(tmp_path):
    """What a gallery keeps of each result is bounded, whatever the file held."""
    path = tmp_path / "r.png"
    long = "x" * 5000 + "\n\x1b[2J"
    nst.save_png(
        Image.new("RGB", (4, 4)),
        path,
        {
            "nst": "0.2.0\nforged",
            "settings": {"steps": "12", "style_layers": "relu1_1,relu3_1", "weights": long},
            "masks": [long, *["m.png"] * 999],
            "keep": long,
            "styles": "many",
            "upscaled_from": [1, 2, 3],
            "steps_done": 3,
            "device": "cpu",
            "extra": ["x"] * 1000,
        },
    )
    recipe = nst.read_recipe(path)
    assert set(recipe) == {"nst", "settings", "not_applied", "masks", "keep", "steps_done", "device"}
    # An odd version counts as the oldest (normalization none): values as validated, "12" as 12.
    assert recipe["settings"] == {
        "steps": 12,
        "style_layers": ["relu1_1", "relu3_1"],
        "normalization": "none",
        "keep_faces": False,
    }
    assert recipe["nst"] == "0.2.0?forged"
    assert len(recipe["masks"]) == 64 and recipe["masks"][1:] == ["m.png"] * 63
    for text in [recipe["masks"][0], recipe["keep"], recipe["not_applied"]["weights"]]:
        assert len(text) == 255 and text.isprintable()
    assert len(json.dumps(recipe)) < 20_000


def test_a_real_recipe_is_far_below_the_bound(tmp_path, content_path, style_path):
    from nst.recipe import MAX_RECIPE_BYTES

    path = tmp_path / "r.png"
    nst.save_png(nst.stylize_image(content_path, style_path, steps=1, size=64), path)
    assert len(Image.open(path).info[RECIPE_KEY]) < MAX_RECIPE_BYTES / 16
