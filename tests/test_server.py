"""The server (nst_web/server.py) as the public meets it: what it refuses to serve (files
outside its outputs, uploads over the cap or not uploaded, sharing), the limits it sets (Pillow's
pixels, the queue), and `python app.py` ending cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

import pytest
import torch
from PIL import Image

from .support.app_server import served, wait_for
from .support.paths import EXAMPLES, ROOT

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402


@pytest.fixture(scope="module")
def url():
    with served() as u:
        yield u


# --- Security -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "{root}/app.py",
        "{root}/nst/weights.py",
        "{root}/README.md",
        "../../../../etc/passwd",
        "{root}/.git/config",
        "{tmp}/../../etc/hostname",
    ],
)
def test_server_serves_no_file_outside_its_outputs(url, path):
    import httpx

    target = path.format(root=ROOT, tmp=os.environ["GRADIO_TEMP_DIR"])
    for prefix in ("gradio_api/file=", "file="):
        r = httpx.get(url + prefix + target)
        assert r.status_code in (403, 404), (prefix + target, r.status_code, r.text[:200])
        assert "root:" not in r.text and "import" not in r.text


def test_server_refuses_uploads_over_the_cap(url):
    import httpx

    r = httpx.post(url + "gradio_api/upload", files=[("files", ("big.png", b"\0" * (21 * 2**20)))])
    assert r.status_code == 413 and "maximum allowed size" in r.text


def test_server_uses_only_uploaded_files(url):
    """A request naming a server path directly (not an upload) is refused, with a reason."""
    import httpx

    base = url + "gradio_api"
    cfg = httpx.get(url + "config").json()
    fn = next(d for d in cfg["dependencies"] if d.get("api_name") == "stylize")
    for target in ("/etc/passwd", str(ROOT / "examples" / "chelsea.jpg")):
        file = {"path": target, "meta": {"_type": "gradio.FileData"}}
        session = uuid.uuid4().hex[:11]
        data = [file, file] + [None] * (len(fn["inputs"]) - 2)
        httpx.post(
            base + "/queue/join",
            json={"data": data, "fn_index": fn["id"], "session_hash": session, "trigger_id": None, "event_data": None},
        ).raise_for_status()
        with httpx.stream("GET", base + f"/queue/data?session_hash={session}", timeout=60) as stream:
            done = next(json.loads(line[5:]) for line in stream.iter_lines() if '"process_completed"' in line)
        assert done["success"] is False, done
        assert "must be a file uploaded to this app" in done["output"]["error"]


def test_sharing_is_off_and_uploads_are_capped(monkeypatch):
    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    monkeypatch.setenv("GRADIO_SHARE", "True")  # an environment cannot turn it on behind our back
    kwargs = nst_web.launch_kwargs()
    assert kwargs["share"] is False
    assert kwargs["max_file_size"] == nst_web.uploads.MAX_FILE_SIZE == "20mb"
    assert kwargs["show_error"] is True  # Gradio's own refusals say why (see the cases)


def test_pillow_pixel_limit_is_lowered():
    import nst_web
    import nst.images

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    assert Image.MAX_IMAGE_PIXELS == nst.MAX_INPUT_PIXELS == nst.images.MAX_INPUT_PIXELS < 89_478_485  # Pillow's


def test_queue_is_bounded_with_one_run_per_device():
    import nst_web
    from nst_web import door

    demo = nst_web.start()  # this process's app (its folder, the weights, the page; once)

    assert demo._queue.max_size == nst_web.page.QUEUE_SIZE
    fn = next(f for f in demo.fns.values() if f.api_name == "stylize")
    assert fn.concurrency_limit == door.GROUPS["gpu"] == 1 and fn.concurrency_id == "gpu"


# --- Ctrl-C and SIGTERM end `python app.py` cleanly -----------------------------------------------


def test_stop_all_ends_every_run_on_its_thread():
    """What runs at exit (nst_web.background registers it with atexit): each run still on its
    thread is told to stop and joined, so that none is inside torch when the interpreter
    finalizes."""
    from nst_web.background import in_thread, stop_all

    def endless(stop):
        while not stop.is_set():
            torch.ones(64, 64) @ torch.ones(64, 64)
            yield "step"
        yield "stopped"

    runs = [in_thread(endless, beat=0.01, name="nst-test-run") for _ in range(2)]
    for run in runs:
        next(run)  # its thread starts at the first next()
    assert sum(t.name == "nst-test-run" for t in threading.enumerate()) == 2
    assert stop_all(timeout=10)
    assert not any(t.name == "nst-test-run" for t in threading.enumerate())
    assert stop_all(timeout=0)  # none left: nothing to wait for
    for run in runs:
        run.close()


def _app_process(tmp_path: Path, port: int):
    """`python app.py` as a user starts it, on ``port``, its temporary folder in ``tmp_path``."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("GRADIO_TEMP_DIR", "GRADIO_SERVER_NAME")}
    env.update(GRADIO_SERVER_PORT=str(port), TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, lines, reader


@pytest.mark.slow
@pytest.mark.parametrize("when", ["after a run", "during a run"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_the_server_ends_cleanly_on_a_signal(tmp_path, sig, when):
    """Ctrl-C (SIGINT) or SIGTERM ends `python app.py` with status 0 and no abort, after a run
    and while one computes (a run's thread inside torch at interpreter exit used to abort the
    process: "terminate called without an active exception", status 134); its temporary
    folder goes too."""
    import signal
    import subprocess

    from .support.app_server import free_port

    port = free_port()
    proc, lines, reader = _app_process(tmp_path, port)
    c = None
    try:
        wait_for(
            lambda: any("serving on" in line for line in lines) or proc.poll() is not None,
            120,
            "the server to start",
            poll=0.1,
        )
        assert proc.poll() is None, "".join(lines)
        assert list(tmp_path.glob("nst-app-*")), "the app's temporary folder"
        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        *_, status, _, _, _ = c.predict(
            content=handle_file(str(EXAMPLES / "chelsea.jpg")),
            style=handle_file(str(EXAMPLES / "waves.jpg")),
            steps=2,
            size=64,
            api_name="/stylize",
        )
        assert status.startswith("**Done**"), status
        if when == "during a run":
            job = c.submit(
                content=handle_file(str(EXAMPLES / "chelsea.jpg")),
                style=handle_file(str(EXAMPLES / "waves.jpg")),
                steps=500,
                size=128,
                api_name="/stylize",
            )
            wait_for(
                lambda: any(o and isinstance(o[1], str) and "step" in o[1] for o in job.outputs()),
                60,
                "the run to be under way",
                poll=0.1,
            )
        proc.send_signal(getattr(signal, sig))
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after {sig}:\n{''.join(lines)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if c is not None:
            c.close()
    reader.join(5)
    out = "".join(lines)
    assert code == 0, f"exit status {code} after {sig} {when}:\n{out}"
    for bad in ("terminate called", "Traceback", "Fatal Python error", "Aborted"):
        assert bad not in out, out
    assert not list(tmp_path.glob("nst-app-*")), f"the app's temporary folder is left:\n{out}"
