"""The fair queue (nst_web/queue.py): one visitor holds at most PER_VISITOR runs, waiting or
running; others still get in. Raw HTTP, as a client that never reads its results would send."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from PIL import Image

from .support.app_server import served

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


@pytest.fixture(scope="module")
def job(url):
    """A /stylize request body maker: a few seconds of work on an uploaded photo."""
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 30, 200)).save(buf, "PNG")
    path = httpx.post(url + "gradio_api/upload", files=[("files", ("p.png", buf.getvalue()))]).json()[0]
    file = {"path": path, "meta": {"_type": "gradio.FileData"}}
    params = [p["parameter_name"] for p in demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]]
    fn = next(i for i, f in demo.fns.items() if f.name == "stylize")

    def body(session: str) -> dict:
        data = [None] * len(params)
        data[params.index("content")] = data[params.index("style")] = file
        data[params.index("steps")], data[params.index("size")] = 200, 64
        return {"data": data, "fn_index": fn, "session_hash": session, "trigger_id": None, "event_data": None}

    return body


def _join(url: str, body: dict, address: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": address} if address else {}
    return httpx.post(url + "gradio_api/queue/join", json=body, headers=headers, timeout=30)


def _drain(url: str, sessions: list[str]) -> None:
    """Stop these sessions' runs (the page's Stop) and wait until the queue is empty."""
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    nst_web.run._stopping.update(sessions)
    deadline = time.monotonic() + 180
    while (
        demo._queue.event_queue_per_concurrency_id.get("gpu")
        and (demo._queue.event_queue_per_concurrency_id["gpu"].queue or any(j for j in demo._queue.active_jobs))
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)


def test_one_visitor_holds_at_most_two_runs(url, job):
    from nst_web import queue

    session, other = uuid.uuid4().hex[:11], uuid.uuid4().hex[:11]
    answers = [_join(url, job(session)) for _ in range(3)]
    # Another visitor still gets in.
    later = _join(url, job(other))
    _drain(url, [session, other])
    assert [a.status_code for a in answers[:2]] == [200, 200], [a.text for a in answers]
    assert answers[2].status_code == 503 and queue.full_message(2) in answers[2].text
    assert later.status_code == 200


def test_one_address_is_one_visitor_behind_a_proxy(url, job):
    """New sessions from one address (as a script without sessions sends) count together;
    the address is the proxy's last X-Forwarded-For entry, not one the client wrote first."""
    sessions = [uuid.uuid4().hex[:11] for _ in range(4)]
    answers = [_join(url, job(s), "151.101.1.69, 93.184.216.34") for s in sessions[:3]]
    someone_else = _join(url, job(sessions[3]), "151.101.1.69, 93.184.216.35")
    _drain(url, sessions)
    assert [a.status_code for a in answers] == [200, 200, 503], [a.text for a in answers]
    assert someone_else.status_code == 200


def test_visitors_take_turns(url, job):
    """A newcomer's first run waits behind the run in progress, not behind another visitor's
    second run."""
    import nst_web

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    a, b = uuid.uuid4().hex[:11], uuid.uuid4().hex[:11]
    codes = [_join(url, job(a)).status_code, _join(url, job(a)).status_code]
    # a's first run has started; its second waits.
    deadline = time.monotonic() + 60
    while not (
        any(j for j in demo._queue.active_jobs)
        and [e.session_hash for e in demo._queue.event_queue_per_concurrency_id["gpu"].queue] == [a]
    ):
        assert time.monotonic() < deadline, "a's first run did not start"
        time.sleep(0.02)
    codes.append(_join(url, job(b)).status_code)
    waiting = [e.session_hash for e in demo._queue.event_queue_per_concurrency_id["gpu"].queue]
    _drain(url, [a, b])
    assert codes == [200, 200, 200]
    assert waiting == [b, a], waiting


def test_the_queue_polls_every_50_ms_not_every_1_ms(url):
    # Gradio polls every 1 ms (events) and 10 ms (progress) on Linux; on two cores each
    # wake-up preempted one of a running run's threads (the app was ~15% slower than the CLI).
    import nst_web
    from nst_web import queue as fair_queue

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    queue = demo._queue
    assert queue.sleep_when_free == queue.progress_update_sleep_when_free == fair_queue.POLL_SECONDS == 0.05
