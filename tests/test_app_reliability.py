"""The app under bad input, load and failure, through /stylize as clients send it: the
bad-input catalogue (bench/bad_inputs.py; its API and CLI side: tests/test_bad_inputs.py),
the queue and cancellation, out of memory and the unexpected, every parameter sent with the
wrong shape, and messages as plain text. What the server refuses to serve, and how it ends:
tests/test_server.py.

This is the fast part (CI); ``bench/load.py`` is the soak (all cases through the three
surfaces with counts, 8 concurrent users, memory over 50 runs, cancel timings).
Runs are tiny (64–96 px, a few steps).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
import torch
from PIL import Image

from bench import bad_inputs as bi

from .support.app_server import served, wait_for
from .support.failures import CPU_OOM, failing_objective
from .support.paths import EXAMPLES, ROOT, fitted

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from gradio_client.utils import Status  # noqa: E402

CASES = {c.name: c for c in bi.build(Path("/nonexistent"), write=False)}  # for parametrize: names, no files


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


@pytest.fixture(scope="module")
def client(url):
    c = Client(url, verbose=False)
    yield c
    c.close()


def _server_paths() -> list[str]:
    """Text that no message from the server may show: its own folders."""
    return [str(ROOT), os.environ["GRADIO_TEMP_DIR"], "nst-app-", str(Path.home()) + "/"]


# --- Bad input through /stylize -------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_app(name, bad_cases, client, content_path, style_path):
    case = bad_cases[name]
    outcome = bi.try_app(case, client, content_path, style_path, timeout=120)
    if reason := bi.not_tried(case, "app", outcome):
        pytest.skip(reason)
    assert bi.judge(case, "app", outcome, _server_paths()) is None


def test_still_serves_after_the_bad_input(client, content_path, style_path):
    *_, status, _, _, png = client.predict(
        content=handle_file(str(content_path)),
        style=handle_file(str(style_path)),
        steps=3,
        size=96,
        api_name="/stylize",
    )
    assert status.startswith("**Done**")
    with Image.open(png) as img:
        assert img.size == fitted(96)


# --- Queue and cancellation -----------------------------------------------------------------------


def _submit(url: str, content_path, style_path, **kw):
    c = Client(url, verbose=False)
    job = c.submit(
        content=handle_file(str(content_path)), style=handle_file(str(style_path)), api_name="/stylize", **kw
    )
    return c, job


def test_waiting_users_see_their_position(url, content_path, style_path):
    jobs = [_submit(url, content_path, style_path, steps=6, size=64) for _ in range(3)]
    seen: set[tuple[int, int]] = set()
    deadline = time.monotonic() + 120
    while not all(job.done() for _, job in jobs):
        assert time.monotonic() < deadline
        for _, job in jobs:
            st = job.status()
            if st.code == Status.IN_QUEUE and st.rank is not None:
                seen.add((st.rank, st.queue_size))
        time.sleep(0.02)
    # One runs at a time: someone waited behind someone else and was told where.
    assert any(rank >= 1 for rank, _ in seen), seen
    for c, job in jobs:
        assert job.outputs()[-1][1].startswith("**Done**")
        c.close()


def test_a_full_queue_says_so(url, content_path, style_path, monkeypatch):
    import nst_web
    from gradio_client.utils import QueueError

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    monkeypatch.setattr(demo._queue, "max_size", 1)  # QUEUE_SIZE, made small
    c1, running = _submit(url, content_path, style_path, steps=2000, size=64)
    wait_for(lambda: running.status().code in (Status.PROCESSING, Status.ITERATING), 60, "the first run starts")
    c2, waiting = _submit(url, content_path, style_path, steps=1, size=64)
    wait_for(lambda: waiting.status().code == Status.IN_QUEUE, 10, "the second run queues")
    c3, refused = _submit(url, content_path, style_path, steps=1, size=64)
    with pytest.raises(QueueError, match="Queue is full"):
        refused.result(timeout=30)
    running.cancel()
    assert waiting.result(timeout=60)[1].startswith("**Done**")
    for c in (c1, c2, c3):
        c.close()


def test_cancel_frees_the_worker_within_a_second(url, content_path, style_path):
    c1, running = _submit(url, content_path, style_path, steps=2000, size=64)
    wait_for(
        lambda: any(isinstance(o[1], str) and o[1].startswith("step ") for o in running.outputs()),
        90,
        "the long run reports a step",
    )
    c2, waiting = _submit(url, content_path, style_path, steps=2, size=64)
    wait_for(lambda: waiting.status().code == Status.IN_QUEUE, 10, "the second run queues")
    t0 = time.monotonic()
    running.cancel()
    started = wait_for(
        lambda: waiting.status().code in (Status.PROCESSING, Status.ITERATING, Status.FINISHED),
        30,
        "the next run starts",
    )
    assert started - t0 < 1.0, f"the worker was freed {started - t0:.2f} s after cancel"
    assert waiting.result(timeout=60)[1].startswith("**Done**")
    # The cancelled run's computation has ended too, not only its place in the queue.
    wait_for(lambda: not any(t.name == "nst-run" for t in threading.enumerate()), 2, "no run thread left")
    c1.close()
    c2.close()


def test_closed_connection_frees_the_worker(url, content_path, style_path):
    """A closed tab: the page's event stream goes away in the middle of a run."""
    import httpx

    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    base = url + "gradio_api"
    fn = next(d for d in httpx.get(url + "config").json()["dependencies"] if d.get("api_name") == "stylize")
    params = [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]]
    with open(content_path, "rb") as c, open(style_path, "rb") as st:
        uploaded = httpx.post(base + "/upload", files=[("files", c), ("files", st)]).json()
    data = [{"path": p, "meta": {"_type": "gradio.FileData"}} for p in uploaded] + [None] * (len(params) - 2)
    data[params.index("steps")], data[params.index("size")] = 2000, 64
    session = uuid.uuid4().hex[:11]
    joined = httpx.post(
        base + "/queue/join",
        json={"data": data, "fn_index": fn["id"], "session_hash": session, "trigger_id": None, "event_data": None},
    )
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", base + f"/queue/data?session_hash={session}", timeout=60) as stream:
        for line in stream.iter_lines():
            if '"process_generating"' in line and "step " in line:
                break  # running: now close the "tab"
    c2, waiting = _submit(url, content_path, style_path, steps=2, size=64)
    t0 = time.monotonic()
    started = wait_for(
        lambda: waiting.status().code in (Status.PROCESSING, Status.ITERATING, Status.FINISHED),
        30,
        "the next run starts after the page went away",
    )
    assert started - t0 < 1.0, f"the worker was freed {started - t0:.2f} s after the page closed"
    assert waiting.result(timeout=60)[1].startswith("**Done**")
    wait_for(lambda: not any(t.name == "nst-run" for t in threading.enumerate()), 2, "no run thread left")
    c2.close()


# --- Out of memory and the unexpected -------------------------------------------------------------


@pytest.mark.parametrize("fail", [torch.OutOfMemoryError("CUDA out of memory"), RuntimeError(CPU_OOM)])
def test_out_of_memory_retries_at_a_smaller_size(client, content_path, style_path, monkeypatch, fail):
    failing_objective(monkeypatch, fail, below=96)
    job = client.submit(
        content=handle_file(str(content_path)),
        style=handle_file(str(style_path)),
        steps=2,
        size=128,
        api_name="/stylize",
    )
    *_, status, _, _, png = job.result(timeout=120)
    notices = [o[1] for o in job.outputs() if isinstance(o[1], str) and "retrying" in o[1]]
    assert notices and "Out of memory at 128 px: retrying at 80 px" in notices[0]
    assert status.startswith("Out of memory at 128 px: made at 80 px instead") and "**Done**" in status
    with Image.open(png) as img:
        assert img.size == fitted(80)


def test_out_of_memory_at_every_size_gives_a_message(client, content_path, style_path, monkeypatch):
    failing_objective(monkeypatch, torch.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(AppError, match=r"out of memory at \d+ px .*: lower size"):
        client.predict(
            content=handle_file(str(content_path)),
            style=handle_file(str(style_path)),
            steps=2,
            size=256,
            api_name="/stylize",
        )  # 256 → 181 → 128: each still fits the layers


def test_an_unexpected_error_gets_a_message_without_details(client, content_path, style_path, monkeypatch):
    secret = RuntimeError(f"cuDNN error in {ROOT}/nst/losses.py")
    failing_objective(monkeypatch, secret)
    with pytest.raises(AppError) as info:
        client.predict(
            content=handle_file(str(content_path)),
            style=handle_file(str(style_path)),
            steps=2,
            size=64,
            api_name="/stylize",
        )
    text = str(info.value)
    assert "unexpected error (RuntimeError)" in text and "Try again" in text
    assert str(ROOT) not in text and "Traceback" not in text


# --- Every /stylize parameter, sent with the wrong shape ------------------------------------------


# Values no parameter of /stylize accepts: each must get nst's kind of message, naming the
# parameter, whatever Gradio would make of it.
WRONG_SHAPES = {"an object": {"not": "this"}, "a nested list": [[1, 2]], "text": "photo.jpg"}
NOT_SHAPE_ERRORS = {
    ("text", "content_layer"),
    ("text", "init"),
    ("text", "optimizer"),
    ("text", "style_loss"),
    ("text", "preserve_color"),
    ("text", "style_layers"),
    ("text", "normalization"),
}  # text they take, a wrong value


def _stylize_params() -> list[str]:
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    return [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]]


def _raw_stylize(url: str, changes: dict) -> dict:
    """/stylize through Gradio's HTTP queue, as any client may send it: the final message."""
    import httpx

    base = url + "gradio_api"
    fn = next(d for d in httpx.get(url + "config").json()["dependencies"] if d.get("api_name") == "stylize")
    params = _stylize_params()
    with open(EXAMPLES / "chelsea.jpg", "rb") as c, open(EXAMPLES / "waves.jpg", "rb") as s:
        uploaded = httpx.post(base + "/upload", files=[("files", c), ("files", s)]).json()
    values = {
        "content": {"path": uploaded[0], "meta": {"_type": "gradio.FileData"}},
        "style": {"path": uploaded[1], "meta": {"_type": "gradio.FileData"}},
        "steps": 1,
        "size": 64,
        **changes,
    }
    data = [values.get(p) for p in params]
    session = uuid.uuid4().hex[:11]
    joined = httpx.post(
        base + "/queue/join",
        json={"data": data, "fn_index": fn["id"], "session_hash": session, "trigger_id": None, "event_data": None},
    )
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", base + f"/queue/data?session_hash={session}", timeout=120) as stream:
        return next(json.loads(line[5:]) for line in stream.iter_lines() if '"process_completed"' in line)


def test_every_stylize_parameter_has_a_shape_case():
    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    params = _stylize_params()
    assert set(params) == {
        *nst_web.settings.MAIN_SETTINGS,
        *nst_web.settings.ADVANCED_SETTINGS,
        "content",
        "style",
        "more_styles",
        "masks",
        "keep",
    }


@pytest.mark.parametrize(
    "param",
    [
        "content",
        "style",
        "steps",
        "style_weight",
        "content_layer",
        "style_layers",
        "size",
        "preserve_color",
        "style_loss",
        "style_scale",
        "tv_weight",
        "style_blend",
        "init",
        "optimizer",
        "seed",
        "multiscale",
        "time_limit",
        "normalization",
        "more_styles",
        "masks",
    ],
)
def test_a_wrong_shape_for_any_parameter_is_named(url, param):
    for shape, value in WRONG_SHAPES.items():
        if (shape, param) in NOT_SHAPE_ERRORS:
            continue
        done = _raw_stylize(url, {param: value})
        assert done["success"] is False, (param, shape, done)
        message = done["output"]["error"]
        assert param in message or param.replace("_", " ") in message, (param, shape, message)
        for leak in ("validation error", "pydantic", "Traceback", "ImageData", "ListFiles", "FileData"):
            assert leak not in message, (param, shape, message)


# --- Messages are plain text for API clients ------------------------------------------------------


def test_api_messages_are_plain_text(client, tmp_path):
    """A name with & and quotes comes back as it was written: not &amp; nor %22."""
    bad = tmp_path / 'Tom & Jerry "at the beach".heic'
    bad.write_text("not an image")
    with pytest.raises(AppError) as info:
        client.predict(
            content=handle_file(str(bad)),
            style=handle_file(str(EXAMPLES / "waves.jpg")),
            steps=1,
            size=64,
            api_name="/stylize",
        )
    text = str(info.value)
    assert "content image 'Tom & Jerry \"at the beach\".heic' is not an image file" in text, text
    assert "&amp;" not in text and "%22" not in text
    with pytest.raises(AppError) as info:
        client.predict(
            content=handle_file(str(EXAMPLES / "chelsea.jpg")),
            style=handle_file(str(EXAMPLES / "waves.jpg")),
            steps=1,
            size=64,
            style_blend="<b>&",
            api_name="/stylize",
        )
    assert "style_blend must be a number, not '<b>&'" in str(info.value)
