"""What a request may cost the app (nst_web/budgets.py): time per run, pixels read for a
preview or from the brush, files kept, each in one place."""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from .support.app_server import served
from .support.paths import CONTENT, EXAMPLES, STYLE

httpx = pytest.importorskip("httpx")


def _photo(w: int = 640, h: int = 480) -> Image.Image:
    return Image.new("RGB", (w, h), (120, 80, 40))


def test_a_run_over_the_apps_cap_is_planned_to_fit_and_says_so():
    from nst_web import budgets
    import nst

    long_run = nst.prepare(_photo(), _photo(), nst.DEFAULT.replace(steps=5000, size=1024, device="cpu"))
    run, note = budgets.capped(long_run)
    assert run.time_cap == budgets.run_seconds("cpu") == 600
    assert "over this app's cap of 10 min" in note and "For longer runs use the CLI" in note
    short, none = budgets.capped(nst.prepare(_photo(), _photo(), nst.DEFAULT.replace(steps=5, size=64)))
    assert none is None and short.time_cap == 600  # the cap holds for every run


def test_the_app_ends_a_long_run_at_its_cap(monkeypatch):
    """5,000 steps asked for, a 3 s cap: the status names the cap, and the result comes."""
    import nst_web
    from nst_web import budgets

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    monkeypatch.setitem(budgets.RUN_SECONDS, "cpu", 3.0)
    t0 = time.monotonic()
    updates = list(nst_web.run.stylize(str(CONTENT), str(STYLE), steps=5000, size=64))
    assert time.monotonic() - t0 < 60
    statuses = [u[1] for u in updates if isinstance(u[1], str)]
    assert any("over this app's cap of 3 s" in line for line in statuses), statuses[:3]
    assert updates[-1][-1] is not None and Path(updates[-1][-1]).is_file()  # the PNG
    Path(updates[-1][-1]).unlink()


def test_the_faces_line_reads_a_large_jpeg_reduced(monkeypatch, tmp_path):
    import nst_web
    from nst_web import budgets
    import nst

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    big = tmp_path / "big.jpg"
    with Image.open(EXAMPLES / "astronaut.jpg") as img:
        img.resize((4096, 4096)).save(big, quality=90)
    decoded = []
    real = nst.load_image

    def spy(src, what="image"):
        image = real(src, what)
        decoded.append(image.size)
        return image

    monkeypatch.setattr(nst, "load_image", spy)
    image, factor = budgets.preview_image(str(big), "content image")
    assert max(image.size) == budgets.PREVIEW_SIDE and factor == pytest.approx(4)
    assert decoded and max(decoded[0]) <= 2048  # the decoder itself made a smaller image
    # The faces are named in the file's pixels, as a run finds them.
    line = nst_web.hints.faces_found(str(big), True)
    assert line.startswith("Found 1 face (at ")
    x = int(line.split("(at ")[1].split(",")[0])
    assert 400 < x < 2400  # the astronaut's face, in the 4096 px frame


def test_the_brush_keep_strokes_are_read_reduced(monkeypatch):
    import nst_web
    from nst_web import brush

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    layer = Image.new("RGBA", (4000, 3000), (0, 0, 0, 0))
    layer.paste((*brush.KEEP_COLOUR, 255), (0, 0, 2000, 1500))
    seen = []
    real = brush.strokes

    def spy(layers, n, *args, **kwargs):
        seen.extend(x.size for x in layers)
        return real(layers, n, *args, **kwargs)

    monkeypatch.setattr(brush, "strokes", spy)
    path = nst_web.painting.painted_keep({"background": None, "layers": [layer], "composite": None}, None)
    assert seen and all(w * h <= nst_web.painting.BRUSH_PIXELS for w, h in seen)
    with Image.open(path) as keep:
        assert keep.size == (4000, 3000)  # at the canvas's size, as the masks are
        assert keep.getpixel((500, 500)) == 255 and keep.getpixel((3500, 2500)) == 0


def test_old_files_are_swept_and_young_ones_kept(tmp_path):
    from nst_web import budgets

    now = time.time()
    old, young, other = tmp_path / "old.png", tmp_path / "young.png", tmp_path / "old.txt"
    for path, age in (
        (old, budgets.FILE_SECONDS + 1),
        (young, budgets.FILE_SECONDS - 60),
        (other, budgets.FILE_SECONDS + 1),
    ):
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))
    budgets.sweep(tmp_path, ("*.png",))
    assert not old.exists() and young.exists() and other.exists()
    every, age = budgets.delete_cache()
    assert every + age <= budgets.FILE_SECONDS  # Gradio's sweep: nothing stays past the hour


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


def test_a_data_url_file_goes_when_its_request_ends(url):
    """An API caller's data: URL is written to a file for nst to read; the run over, it is gone."""
    import nst_web
    from nst_web import budgets

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 30, 200)).save(buf, "PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    params = [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]]
    data = [None] * len(params)
    data[params.index("content")] = {"url": data_url, "path": None, "meta": {"_type": "gradio.FileData"}}
    data[params.index("style")] = {"url": data_url, "path": None, "meta": {"_type": "gradio.FileData"}}
    data[params.index("steps")], data[params.index("size")] = 2, 64
    fn = next(i for i, f in demo.fns.items() if f.name == "stylize")
    body = {"data": data, "fn_index": fn, "session_hash": "dataurl1234", "trigger_id": None, "event_data": None}
    assert httpx.post(url + "gradio_api/queue/join", json=body, timeout=30).status_code == 200
    events = []
    with httpx.stream("GET", url + "gradio_api/queue/data", params={"session_hash": "dataurl1234"}, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(line)
                if '"process_completed"' in line:
                    break
    assert '"success": true' in events[-1] or '"success":true' in events[-1], events[-1][:300]
    folder = budgets.data_url_folder()
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_the_apps_own_files_are_swept_while_it_serves(monkeypatch, tmp_path):
    """Gradio sweeps only the files it made; the app's lifespan sweeps its own folders."""
    import asyncio

    from nst_web import budgets

    monkeypatch.setattr(budgets, "SWEEP_EVERY", 0.05)
    old = tmp_path / "stylized-old.png"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - budgets.FILE_SECONDS, time.time() - budgets.FILE_SECONDS))
    young = tmp_path / "stylized-young.png"
    young.write_bytes(b"x")

    async def serve_a_while() -> None:
        async with budgets.sweeper(lambda: [tmp_path])(None):
            await asyncio.sleep(0.5)

    asyncio.run(serve_a_while())
    assert not old.exists() and young.exists()
