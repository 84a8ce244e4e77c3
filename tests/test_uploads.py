"""The app reads files only from uploads: every file parameter of every endpoint, over raw
HTTP as an attacker would send it (with and without Gradio's ``meta``), and one size limit
for uploads, ``data:`` URLs and request bodies (nst_web/uploads.py, nst_web/queue.py).
"""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .support.app_server import served

httpx = pytest.importorskip("httpx")

REFUSAL = "must be a file uploaded to this app"


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


@pytest.fixture(scope="module")
def fns(url) -> dict[str, dict[str, Any]]:
    """The app's events by function name (the private ones too: a browser can call them)."""
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    config = httpx.get(url + "config").json()
    by_id = {d["id"]: d for d in config["dependencies"]}
    return {fn.name: {**by_id[i], "queue": fn.queue} for i, fn in demo.fns.items() if fn.name}


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A real image on the server, outside the upload folder (what an attacker would read)."""
    path = tmp_path_factory.mktemp("server-files") / "secret.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
    return path


@pytest.fixture(scope="module")
def upload_folder() -> Path:
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def call(url: str, fn: dict[str, Any], data: list[Any], session: str | None = None) -> tuple[bool, str]:
    """(succeeded, the error or output text) of one event, sent as the page sends it."""
    base = url + "gradio_api"
    session = session or uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn["id"], "session_hash": session, "trigger_id": None, "event_data": None}
    if not fn["queue"]:
        r = httpx.post(base + "/run/predict", json=body, timeout=120)
        if not r.headers.get("content-type", "").startswith("application/json"):
            return False, r.text
        out = r.json()
        return r.status_code == 200, str(out.get("error") or out.get("data"))
    r = httpx.post(base + "/queue/join", json=body, timeout=30)
    if r.status_code != 200:
        return False, r.text
    with httpx.stream("GET", base + f"/queue/data?session_hash={session}", timeout=120) as stream:
        for line in stream.iter_lines():
            if '"process_completed"' in line:
                done = json.loads(line[5:])
                return done["success"], str(done["output"].get("error") or done["output"].get("data"))
    raise AssertionError("no answer")


def _inputs(fns, name: str) -> list[Any]:
    return [None] * len(fns[name]["inputs"])


def _file(path: str, meta: bool) -> dict[str, Any]:
    f: dict[str, Any] = {"path": path, "orig_name": Path(path).name}
    if meta:
        f["meta"] = {"_type": "gradio.FileData"}
    return f


def _requests(fns, value: dict[str, Any], good: dict[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """Every (endpoint, file parameter) with ``value`` there and good files elsewhere."""
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    params = [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]]

    def stylize(param: str, v: Any) -> list[Any]:
        data = _inputs(fns, "stylize")
        data[params.index("content")], data[params.index("style")] = good, good
        data[params.index("steps")], data[params.index("size")] = 1, 64
        data[params.index(param)] = [v] if param in ("more_styles", "masks") else v
        return data

    def single(name: str, index: int = 0, v: Any = value) -> list[Any]:
        data = _inputs(fns, name)
        data[index] = v
        return data

    painted = {"background": None, "layers": [value], "composite": None}
    return {
        "stylize content": ("stylize", stylize("content", value)),
        "stylize style": ("stylize", stylize("style", value)),
        "stylize more_styles": ("stylize", stylize("more_styles", value)),
        "stylize masks": ("stylize", stylize("masks", value)),
        "stylize keep": ("stylize", stylize("keep", value)),
        "estimate content": ("estimate_text", [value, 10, 64]),
        "canvas content": ("paint_on", single("paint_on")),
        "brush layers": ("painted_masks", single("painted_masks", 0, painted)),
        "brush keep layers": ("painted_keep", single("painted_keep", 0, painted)),
        "recipe": ("load_recipe", single("load_recipe")),
        "download": ("add_result", single("add_result")),
    }


@pytest.fixture(scope="module")
def good(url) -> dict[str, Any]:
    """A real upload (a small photo), as the page sends it."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 30, 200)).save(buf, "PNG")
    path = httpx.post(url + "gradio_api/upload", files=[("files", ("photo.png", buf.getvalue()))]).json()[0]
    return _file(path, meta=True)


def _ways(outside: Path, upload_folder: Path) -> dict[str, tuple[str, str]]:
    """(path that exists, the same kind of path that does not) for each way of naming a
    server file outside the upload folder."""
    link = upload_folder / f"link-{uuid.uuid4().hex[:6]}.png"
    link.symlink_to(outside)
    missing_link = upload_folder / f"link-{uuid.uuid4().hex[:6]}.png"
    missing_link.symlink_to(outside.with_name("nothing.png"))
    rel = os.path.relpath(outside, os.getcwd())
    return {
        "absolute": (str(outside), str(outside.with_name("nothing.png"))),
        "relative": (rel, rel.replace("secret", "nothing")),
        # starts in the upload folder and climbs out of it
        "dot-dot": (
            f"{upload_folder}/{os.path.relpath(outside, upload_folder)}",
            f"{upload_folder}/{os.path.relpath(outside.with_name('nothing.png'), upload_folder)}",
        ),
        "symlink": (str(link), str(missing_link)),
        "file-url": (f"file://{outside}", f"file://{outside.with_name('nothing.png')}"),
    }


@pytest.mark.parametrize("meta", [False, True], ids=["no-meta", "meta"])
def test_every_file_parameter_refuses_server_paths_alike(url, fns, good, outside, upload_folder, meta):
    """Each file parameter of each endpoint refuses each way of naming a server file, with
    the same message whether or not the file exists (no oracle), and never runs."""
    ways = _ways(outside, upload_folder)
    assert os.path.realpath(ways["dot-dot"][0]) == str(outside.resolve())
    sent = {
        (way, label, where): (name, data)
        for way, (exists, missing) in ways.items()
        for label, path in (("exists", exists), ("missing", missing))
        for where, (name, data) in _requests(fns, _file(path, meta), good).items()
    }
    # Eight clients at a time, each its own session, as visitors would send them.
    with ThreadPoolExecutor(8) as pool:
        answers = dict(zip(sent, pool.map(lambda req: call(url, fns[req[0]], req[1]), sent.values())))
    failures = [
        f"{way} {label} {where}: {ok} {text[:200]}"
        for (way, label, where), (ok, text) in answers.items()
        if ok or REFUSAL not in text
    ]
    for way in ways:
        for where in _requests(fns, {}, good):
            a, b = answers[(way, "exists", where)][1], answers[(way, "missing", where)][1]
            if a != b:
                failures.append(f"{way} {where}: {a!r} != {b!r}")
    assert not failures, "\n".join(failures)


def test_uploaded_files_are_read(url, fns, good):
    """The control: the same requests with an upload succeed (the refusals above are not
    a refusal of everything)."""
    ok, text = call(url, fns["estimate_text"], [good, 10, 64])
    assert ok and "Estimated time" in text, text
    # Without meta, a path in the upload folder is an upload too.
    ok, text = call(url, fns["estimate_text"], [{"path": good["path"]}, 10, 64])
    assert ok and "Estimated time" in text, text


def _data_url(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def test_data_urls_are_read_within_the_upload_limit(url, fns):
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 200, 10)).save(buf, "PNG")
    ok, text = call(url, fns["estimate_text"], [{"url": _data_url(buf.getvalue()), "path": None}, 10, 64])
    assert ok and "Estimated time" in text, text
    # Just over 20 MB decoded: over the limit, refused before it is decoded.
    big = {"url": _data_url(buf.getvalue() + b"\0" * (20 * 2**20)), "path": None, "meta": {"_type": "gradio.FileData"}}
    ok, text = call(url, fns["estimate_text"], [big, 10, 64])
    assert not ok and "over the 20mb upload limit" in text, text[:300]


def test_request_bodies_are_capped(url, fns):
    """A body over the limit (base64 of a file over 20 MB, with room to spare) gets 413
    before it is read, on every route (here the queue's and the direct one)."""
    junk = "A" * (30 * 2**20)
    for route in ("/gradio_api/queue/join", "/gradio_api/run/predict"):
        r = httpx.post(
            url + route.lstrip("/"),
            json={
                "data": [{"url": "data:image/png;base64," + junk}],
                "fn_index": fns["estimate_text"]["id"],
                "session_hash": "x",
            },
        )
        assert r.status_code == 413, (route, r.status_code, r.text[:200])


def test_queued_events_cannot_skip_the_queue(url, fns, good):
    """/run/ would run a queued event directly, beside the queue's runs: it is closed."""
    data = _requests(fns, good, good)["stylize content"][1]
    r = httpx.post(
        url + "gradio_api/run/predict", json={"data": data, "fn_index": fns["stylize"]["id"], "session_hash": "s"}
    )
    assert r.status_code == 404, r.text[:200]


def test_the_editors_blobs_are_bounded(url, fns):
    """A layer slot far out (Gradio would grow a list to it) is refused; the canvases held
    in memory stay at most MAX_CANVASES however many ids are sent."""
    import nst_web
    from nst_web import uploads

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    buf = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(buf, "PNG")
    painter = fns["painted_masks"]["inputs"][0]

    def send(index: str, blob_id: str) -> httpx.Response:
        return httpx.post(
            url + "gradio_api/component_server",
            data={
                "type": "layer",
                "index": index,
                "id": blob_id,
                "component_id": str(painter),
                "session_hash": uuid.uuid4().hex[:11],
                "fn_name": "accept_blobs",
            },
            files=[("blob", ("b.png", buf.getvalue()))],
            timeout=60,
        )

    far = uuid.uuid4().hex
    r = send("1000000000", far)
    editor = demo.blocks[painter]
    assert r.status_code >= 400 and far not in editor.blob_storage, r.text[:300]
    for _ in range(uploads.MAX_CANVASES + 5):
        assert send("0", uuid.uuid4().hex).status_code == 200
    assert len(editor.blob_storage) == uploads.MAX_CANVASES
