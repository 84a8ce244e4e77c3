"""nst_web.gallery: a visit's results, their captions and recipes."""

from __future__ import annotations

from PIL import Image

import nst
from nst_web import gallery
from nst_web.gallery import Gallery, caption
from nst.recipe import make_recipe, save_png


def _png(path, **settings) -> str:
    recipe = make_recipe(nst.DEFAULT.replace(**settings), device="cpu", styles=1)
    save_png(Image.new("RGB", (8, 6), "white"), path, recipe)
    return str(path)


def test_caption_names_the_main_settings():
    recipe = make_recipe(
        nst.DEFAULT.replace(steps=40, size=128, style_weight=3e4),
        styles=2,
        masks=["painted-mask-1.png", "painted-mask-2.png"],
    )
    text = caption(recipe, 3)
    assert text.startswith("#3 · 40 steps · β/α 30000 · 128 px · relu4_2 · 2 styles")
    assert text.endswith("painted")
    assert "(stopped)" in caption({**recipe, "steps_done": 7}) and "7 steps" in caption({**recipe, "steps_done": 7})


def test_results_are_added_newest_first_with_their_recipes(tmp_path):
    g = Gallery()
    a = g.add(_png(tmp_path / "a.png", steps=10))
    b = g.add(_png(tmp_path / "b.png", steps=20))
    assert (a.number, b.number) == (1, 2)
    assert [c for _, c in g.items()] == [b.caption, a.caption]
    assert g.at(0) is b and g.at(1) is a
    assert g.numbered(1).recipe["settings"]["steps"] == 10
    assert g.choices() == [(b.caption, 2), (a.caption, 1)]
    assert g.add(tmp_path / "a.png") is None and len(g.entries) == 2  # the same file once


def test_a_file_without_a_recipe_is_not_added(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    g = Gallery()
    assert g.add(tmp_path / "plain.png") is None and g.add(tmp_path / "missing.png") is None
    assert g.items() == []


def test_the_oldest_go_first_and_numbers_stay_unique(tmp_path, monkeypatch):
    monkeypatch.setattr(gallery, "MAX_ENTRIES", 3)
    g = Gallery()
    for i in range(5):
        g.add(_png(tmp_path / f"{i}.png", steps=i + 1))
    assert [e.number for e in g.entries] == [3, 4, 5]
    assert g.numbered(1) is None


def test_each_visit_has_its_own_gallery(tmp_path):
    import copy

    first = Gallery()
    second = copy.deepcopy(first)  # what gr.State does for each new tab
    first.add(_png(tmp_path / "a.png"))
    assert second.items() == []


def test_an_entry_keeps_only_the_recipes_safe_bounded_data(tmp_path):
    """A visitor's PNG may say anything: the entry holds the reader's data, not the file's."""
    import json

    from PIL import PngImagePlugin

    from nst.recipe import RECIPE_KEY

    info = PngImagePlugin.PngInfo()
    info.add_text(
        RECIPE_KEY,
        json.dumps(
            {
                "nst": nst.__version__,
                "settings": {"steps": 5, "weights": "/etc/passwd", "device": "cuda:7", "max_memory": 38},
                "masks": ["x" * 4000, *["m.png"] * 500],
                "styles": "many",
                "note": "y" * 20_000,
            }
        ),
    )
    Image.new("RGB", (8, 6)).save(tmp_path / "r.png", pnginfo=info)
    entry = Gallery().add(tmp_path / "r.png")
    assert set(entry.recipe) == {"nst", "settings", "not_applied", "masks"}
    assert not {"weights", "device", "max_memory"} & set(entry.recipe["settings"])
    assert len(entry.recipe["masks"]) == 64 and len(entry.recipe["masks"][0]) == 255
    assert len(json.dumps(entry.recipe)) < 2000
    assert entry.caption == "#1 · 5 steps · masks"
