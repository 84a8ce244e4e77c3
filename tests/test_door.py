"""The app's one door (nst_web/door.py): every event the page registers is guarded (queued, in
a group, under the visitor's share) or marked cheap; a new one that is neither stops the
page from being built. And who a visitor is (queue.visitor_address)."""

from __future__ import annotations

import io
import os
import time
import uuid
from types import SimpleNamespace

import pytest
from PIL import Image

from .support.app_server import served

httpx = pytest.importorskip("httpx")

# Handlers that decode an image or compute: they must stay behind the door.
HEAVY = {
    "stylize",
    "upscale",
    "load_example_output",
    "painted_masks",
    "painted_keep",
    "faces_found",
    "compare_results",
    "paint_on",
}


def test_every_event_the_page_registers_is_guarded_or_cheap():
    import nst_web
    from nst_web import door

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    dependencies = demo.config["dependencies"]
    assert len(dependencies) == len(demo.fns)
    names = set()
    for dep in dependencies:
        fn = demo.fns[dep["id"]]
        assert door.problem(fn) is None, door.problem(fn)
        name = getattr(fn.fn, "__name__", None)
        names.add(name)
        if name in HEAVY:  # never on the cheap list
            assert fn.queue and fn.concurrency_id in door.GROUPS, name
            assert not getattr(fn.fn, "__nst_cheap__", None), name
    assert HEAVY <= names


def test_a_new_event_that_is_neither_guarded_nor_cheap_stops_the_build():
    import gradio as gr

    from nst_web import door

    def decode(path):  # not marked cheap, outside the queue
        return path

    @door.cheap("returns its input")
    def echo(path):
        return path

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        box.change(echo, box, out, queue=False)
        box.submit(decode, box, out, **door.guarded(group="light"))
    demo.queue()
    door.seal(demo)  # guarded and cheap: built

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        box.change(decode, box, out, queue=False)
        box.submit(decode, box, out, queue=True, concurrency_id="elsewhere")
    demo.queue()
    with pytest.raises(RuntimeError, match="decode runs outside the queue.*decode is queued outside"):
        door.seal(demo)
    with pytest.raises(ValueError, match="no concurrency group"):
        door.guarded(group="elsewhere")


def test_cheap_handlers_decode_no_pixels(monkeypatch, tmp_path):
    """What runs outside the queue reads headers and text chunks only: with Pillow's pixel
    decoding made to fail, each still answers."""
    from PIL import ImageFile

    import nst_web
    import nst
    from nst_web.gallery import Gallery
    from nst.recipe import make_recipe

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    photo = tmp_path / "photo.png"
    Image.new("RGB", (640, 480), (10, 200, 30)).save(photo)
    result = tmp_path / "result.png"
    nst.save_png(Image.new("RGB", (64, 48)), result, make_recipe(nst.DEFAULT.replace(steps=7), styles=1))

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels decoded outside the queue")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert nst_web.hints.estimate_text(str(photo), 10, 256).startswith("Estimated time")
    assert nst_web.settings.load_recipe(str(result))[nst_web.settings.MAIN_SETTINGS.index("steps")] == 7
    items, visit, _, _ = nst_web.visit.add_result(str(result), Gallery())
    assert len(items) == 1
    import gradio as gr

    assert nst_web.visit.pick_result(visit, gr.SelectData(None, {"index": 0, "value": None}))[0] == str(result)


def test_files_written_for_a_request_go_when_its_handler_ends(tmp_path):
    """data: URL files among a handler's arguments (nested in lists and dicts too) are removed
    when it returns, or when its generator ends or is closed; no other file is touched."""
    from nst_web import budgets
    from nst_web import door

    folder = budgets.data_url_folder()
    folder.mkdir(parents=True, exist_ok=True)
    other = tmp_path / "upload.png"
    other.write_bytes(b"x")

    def made(name: str) -> str:
        path = folder / name
        path.write_bytes(b"x")
        return str(path)

    plain = door._removing_request_files(lambda a, b=None: "done")
    first, second = made("a.png"), made("b.png")
    assert plain(first, b={"layers": [second, str(other)]}) == "done"
    assert not any(map(os.path.exists, (first, second))) and other.exists()

    def stream(a):
        yield 1
        yield 2

    generator = door._removing_request_files(stream)
    third = made("c.png")
    it = generator([third])
    assert next(it) == 1 and os.path.exists(third)  # still in use while the run streams
    it.close()  # Stop, or a closed tab
    assert not os.path.exists(third)


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


def _join(url: str, name: str, data: list, session: str) -> httpx.Response:
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    fn = next(i for i, f in demo.fns.items() if f.name == name)
    body = {"data": data, "fn_index": fn, "session_hash": session, "trigger_id": None, "event_data": None}
    return httpx.post(url + "gradio_api/queue/join", json=body, timeout=30)


def test_light_and_brush_events_count_toward_the_visitors_share(url, monkeypatch):
    """One visitor cannot fill the queue with the faces line or the brush: a third event of a
    group while two wait or run is refused, and another visitor still gets in."""
    import threading

    import nst_web
    from nst_web import queue

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    started, release = threading.Event(), threading.Event()
    real = nst_web.hints.faces_found

    def slow(content, keep_faces):
        started.set()
        release.wait(30)
        return real(content, keep_faces)

    fn = next(f for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "faces_found")
    monkeypatch.setattr(fn, "fn", slow)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buf, "PNG")
    path = httpx.post(url + "gradio_api/upload", files=[("files", ("p.png", buf.getvalue()))]).json()[0]
    photo = {"path": path, "meta": {"_type": "gradio.FileData"}}
    me, other = uuid.uuid4().hex[:11], uuid.uuid4().hex[:11]
    try:
        answers = [_join(url, "faces_found", [photo, True], me) for _ in range(3)]
        later = _join(url, "faces_found", [photo, True], other)
    finally:
        release.set()
    assert [a.status_code for a in answers[:2]] == [200, 200], [a.text for a in answers]
    assert answers[2].status_code == 503 and queue.full_message(2, "light") in answers[2].text
    assert later.status_code == 200
    deadline = time.monotonic() + 30
    while demo._queue.event_queue_per_concurrency_id["light"].queue and time.monotonic() < deadline:
        time.sleep(0.05)


# --- Who a visitor is ------------------------------------------------------------------


def _request(peer: str, forwarded: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        client=SimpleNamespace(host=peer), headers={"x-forwarded-for": forwarded} if forwarded is not None else {}
    )


def test_a_visitor_is_their_own_address_and_a_header_they_write_is_ignored(monkeypatch):
    from nst_web.queue import visitor_address

    monkeypatch.delenv("SPACE_ID", raising=False)
    # A public peer is the visitor: what it writes into X-Forwarded-For is its own invention.
    assert visitor_address(_request("93.184.216.34", "151.101.1.70")) == "93.184.216.34"
    # So is a peer on the local network, off Spaces (the app served on 0.0.0.0).
    assert visitor_address(_request("192.168.1.20", "151.101.1.70")) == "192.168.1.20"
    # Behind a proxy on this machine (the share tunnel): the entry the proxy appended, the
    # rightmost; spoofed entries to its left change nothing.
    assert visitor_address(_request("127.0.0.1", "1.2.3.4, 93.184.216.34")) == "93.184.216.34"
    assert visitor_address(_request("127.0.0.1", "5.6.7.8, 93.184.216.34")) == "93.184.216.34"
    assert visitor_address(_request("127.0.0.1")) is None  # a local visit: per session


def test_on_spaces_the_client_is_the_rightmost_public_entry(monkeypatch):
    from nst_web.queue import visitor_address

    monkeypatch.setenv("SPACE_ID", "someone/nst")
    # The Space's proxy is a private peer; internal hops after the client are skipped.
    assert visitor_address(_request("10.16.3.80", "93.184.216.34")) == "93.184.216.34"
    assert visitor_address(_request("10.16.3.80", "151.101.1.70, 93.184.216.34, 10.0.0.5")) == "93.184.216.34"
    assert visitor_address(_request("10.16.3.80", "not-an-address, 93.184.216.34")) == "93.184.216.34"
