"""Reliability and security: bad input on every surface, queue, cancellation, memory errors,
and what the server refuses to serve.

This is the fast part (CI); ``bench/load.py`` is the soak (all cases through the three
surfaces with counts, 8 concurrent users, memory over 50 runs, cancel timings).
Runs are tiny (64–96 px, a few steps).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import bad_inputs as bi
from .support.app_server import served
from .support.paths import ROOT, fitted

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from gradio_client.utils import Status  # noqa: E402

CASES = {c.name: c for c in bi.build(Path("/nonexistent"), write=False)}
SUBPROCESS_CASES = ["truncated-jpeg", "steps-text", "weights-pickle-payload"]  # a real `python -m nst`


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-inputs")
    bi.build(folder)
    return folder


@pytest.fixture(scope="module")
def cases(case_dir) -> dict[str, bi.Case]:
    return {c.name: c for c in bi.build(case_dir, write=False)}


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


def test_there_are_at_least_40_kinds():
    assert len(CASES) >= 40
    assert {"file", "path", "type", "parameter", "weights"} <= {c.group for c in CASES.values()}
    assert {c.expect for c in CASES.values()} == {"result", "message"}


# --- Bad input, three surfaces -------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_api(name, cases, content_path, style_path):
    case = cases[name]
    outcome = bi.try_api(case, content_path, style_path)
    assert bi.judge(case, "api", outcome) is None


@pytest.mark.parametrize("name", CASES)
def test_cli(name, cases, content_path, style_path, tmp_path):
    case = cases[name]
    outcome = bi.try_cli(case, content_path, style_path, tmp_path)
    if reason := bi.not_tried(case, "cli", outcome):
        pytest.skip(reason)
    assert bi.judge(case, "cli", outcome) is None


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_cli_subprocess(name, cases, content_path, style_path, tmp_path):
    case = cases[name]
    outcome = bi.try_cli(case, content_path, style_path, tmp_path, subprocess_=True)
    assert bi.judge(case, "cli", outcome) is None


@pytest.mark.parametrize("name", CASES)
def test_app(name, cases, client, content_path, style_path):
    case = cases[name]
    outcome = bi.try_app(case, client, content_path, style_path, timeout=120)
    if reason := bi.not_tried(case, "app", outcome):
        pytest.skip(reason)
    assert bi.judge(case, "app", outcome, _server_paths()) is None


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.twin is not None])
def test_each_odd_file_reads_as_its_twin(name, cases):
    """The odd files that must load, read by nst as the pixels they were made from: the
    results above are compared with the photo's side only, so the style side is checked here."""
    import nst

    case = cases[name]
    odd = case.content if case.content is not bi.GOOD else case.style
    got = nst.load_image(odd)
    twin = case.twin()
    if got.size != twin.size:  # the huge photos' twins are drawn at a tenth of their size
        assert got.width * twin.height == got.height * twin.width
        got = got.resize(twin.size, Image.Resampling.BOX)
    # Lossless files exactly but for rounding; JPEG and WebP within a few levels.
    lossy = str(odd).endswith((".jpg", "jpeg-named.png", ".webp"))
    off = float(np.abs(np.asarray(got, float) - np.asarray(twin.convert("RGB"), float)).mean())
    assert off <= (12 if lossy else 1), off


def test_pickled_code_never_ran(case_dir, cases, content_path, style_path, tmp_path):
    # Hand evil.pth to the API and the command line here, so that the test means the same
    # alone and in the suite (the app takes no weights file)...
    case = cases["weights-pickle-payload"]
    assert bi.try_api(case, content_path, style_path).kind == "message"
    assert bi.try_cli(case, content_path, style_path, tmp_path / "cli").kind == "message"
    # ...and its payload has not run.
    assert not (case_dir / "pickle-ran").exists()
    # ...though it is real: plain unpickling runs it (here, on a copy with its own marker).
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    data = pickle.dumps({"conv1_1.weight": Payload()})
    pickle.loads(data)
    assert marker.exists()


def test_still_serves_after_the_bad_input(client, content_path, style_path):
    *_, status, _, _, png = client.predict(
        content=handle_file(str(content_path)), style=handle_file(str(style_path)), steps=3, size=96,
        api_name="/stylize",
    )
    assert status.startswith("**Done**")
    with Image.open(png) as img:
        assert img.size == fitted(96)


# --- Queue and cancellation ----------------------------------------------------------------


def _submit(url: str, content_path, style_path, **kw):
    c = Client(url, verbose=False)
    job = c.submit(content=handle_file(str(content_path)), style=handle_file(str(style_path)),
                   api_name="/stylize", **kw)
    return c, job


def _wait(predicate, timeout: float, what: str, poll: float = 0.01) -> float:
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, f"{what} within {timeout} s"
        time.sleep(poll)
    return time.monotonic()


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
    _wait(lambda: running.status().code in (Status.PROCESSING, Status.ITERATING), 60, "the first run starts")
    c2, waiting = _submit(url, content_path, style_path, steps=1, size=64)
    _wait(lambda: waiting.status().code == Status.IN_QUEUE, 10, "the second run queues")
    c3, refused = _submit(url, content_path, style_path, steps=1, size=64)
    with pytest.raises(QueueError, match="Queue is full"):
        refused.result(timeout=30)
    running.cancel()
    assert waiting.result(timeout=60)[1].startswith("**Done**")
    for c in (c1, c2, c3):
        c.close()


def test_cancel_frees_the_worker_within_a_second(url, content_path, style_path):
    c1, running = _submit(url, content_path, style_path, steps=2000, size=64)
    _wait(lambda: any(isinstance(o[1], str) and o[1].startswith("step ") for o in running.outputs()), 90,
          "the long run reports a step")
    c2, waiting = _submit(url, content_path, style_path, steps=2, size=64)
    _wait(lambda: waiting.status().code == Status.IN_QUEUE, 10, "the second run queues")
    t0 = time.monotonic()
    running.cancel()
    started = _wait(lambda: waiting.status().code in (Status.PROCESSING, Status.ITERATING, Status.FINISHED), 30,
                    "the next run starts")
    assert started - t0 < 1.0, f"the worker was freed {started - t0:.2f} s after cancel"
    assert waiting.result(timeout=60)[1].startswith("**Done**")
    # The cancelled run's computation has ended too, not only its place in the queue.
    _wait(lambda: not any(t.name == "nst-run" for t in threading.enumerate()), 2, "no run thread left")
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
    joined = httpx.post(base + "/queue/join", json={"data": data, "fn_index": fn["id"], "session_hash": session,
                                                    "trigger_id": None, "event_data": None})
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", base + f"/queue/data?session_hash={session}", timeout=60) as stream:
        for line in stream.iter_lines():
            if '"process_generating"' in line and "step " in line:
                break  # running: now close the "tab"
    c2, waiting = _submit(url, content_path, style_path, steps=2, size=64)
    t0 = time.monotonic()
    started = _wait(lambda: waiting.status().code in (Status.PROCESSING, Status.ITERATING, Status.FINISHED), 30,
                    "the next run starts after the page went away")
    assert started - t0 < 1.0, f"the worker was freed {started - t0:.2f} s after the page closed"
    assert waiting.result(timeout=60)[1].startswith("**Done**")
    _wait(lambda: not any(t.name == "nst-run" for t in threading.enumerate()), 2, "no run thread left")
    c2.close()


# --- Out of memory and the unexpected --------------------------------------------------------


def _failing_objective(monkeypatch, fail: BaseException, below: int | None = None) -> None:
    """Make nst's objective raise ``fail`` inside every step, unless the image's long side is
    below ``below``: the failure then comes from where a real one would, mid-run."""
    from nst.objective import Objective

    real = Objective.__call__

    def call(self, image):
        if below is None or max(image.shape[-2:]) >= below:
            raise fail
        return real(self, image)

    monkeypatch.setattr(Objective, "__call__", call)


CPU_OOM = "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate 4 GB"


@pytest.mark.parametrize("fail", [torch.OutOfMemoryError("CUDA out of memory"), RuntimeError(CPU_OOM)])
def test_out_of_memory_retries_at_a_smaller_size(client, content_path, style_path, monkeypatch, fail):
    _failing_objective(monkeypatch, fail, below=96)
    job = client.submit(content=handle_file(str(content_path)), style=handle_file(str(style_path)),
                        steps=2, size=128, api_name="/stylize")
    *_, status, _, _, png = job.result(timeout=120)
    notices = [o[1] for o in job.outputs() if isinstance(o[1], str) and "retrying" in o[1]]
    assert notices and "Out of memory at 128 px: retrying at 80 px" in notices[0]
    assert status.startswith("Out of memory at 128 px: made at 80 px instead") and "**Done**" in status
    with Image.open(png) as img:
        assert img.size == fitted(80)


def test_out_of_memory_at_every_size_gives_a_message(client, content_path, style_path, monkeypatch):
    _failing_objective(monkeypatch, torch.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(AppError, match=r"out of memory at \d+ px .*: lower size"):
        client.predict(content=handle_file(str(content_path)), style=handle_file(str(style_path)),
                       steps=2, size=256, api_name="/stylize")  # 256 → 181 → 128: each still fits the layers


def test_an_unexpected_error_gets_a_message_without_details(client, content_path, style_path, monkeypatch):
    secret = RuntimeError(f"cuDNN error in {ROOT}/nst/losses.py")
    _failing_objective(monkeypatch, secret)
    with pytest.raises(AppError) as info:
        client.predict(content=handle_file(str(content_path)), style=handle_file(str(style_path)),
                       steps=2, size=64, api_name="/stylize")
    text = str(info.value)
    assert "unexpected error (RuntimeError)" in text and "Try again" in text
    assert str(ROOT) not in text and "Traceback" not in text


def test_cli_out_of_memory_is_a_message(content_path, style_path, tmp_path, monkeypatch, capsys):
    import nst.run
    from nst.cli import main

    def boom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")
        yield  # a generator, like the run's phases

    monkeypatch.setattr(nst.run.Run, "events", boom)
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), "--size", "96"]) == 2
    assert "out of memory at 96 px" in capsys.readouterr().err


def test_cli_cpu_out_of_memory_mid_run_is_one_line(content_path, style_path, tmp_path, monkeypatch, capsys):
    """A CPU allocator's RuntimeError inside a step: nst names it, the CLI prints one line."""
    from nst.cli import main

    _failing_objective(monkeypatch, RuntimeError(CPU_OOM))
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), "--size", "96",
                 "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nst: error: out of memory at 96 px in the computer's memory: lower size")
    assert "Traceback" not in "\n".join(err) and not (tmp_path / "o.png").exists()


# --- Security ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "{root}/app.py", "{root}/nst/weights.py", "{root}/README.md", "../../../../etc/passwd",
     "{root}/.git/config", "{tmp}/../../etc/hostname"],
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
        httpx.post(base + "/queue/join", json={"data": data, "fn_index": fn["id"], "session_hash": session,
                                               "trigger_id": None, "event_data": None}).raise_for_status()
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


def test_weights_are_never_unpickled():
    """Every torch.load in the code asks for weights_only=True; nothing calls pickle."""
    for path in [ROOT / "app.py", *sorted((ROOT / "nst").glob("*.py"))]:
        text = path.read_text()
        for call in re.finditer(r"torch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in call.group(1), f"{path.name}: {call.group(0)}"
        assert not re.search(r"\bpickle\.loads?\(|\bdill\b|\bjoblib\.load", text), path.name


def _just_below(floor: str) -> str:
    major, minor = map(int, floor.split("."))
    return f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99.99"


def test_dependency_floors_have_no_known_advisories():
    from importlib.metadata import version

    from packaging.requirements import Requirement
    from packaging.version import Version

    floors = {"gradio": "6.25", "pillow": "12.2"}  # earlier releases have published advisories
    specs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)  # a line may carry an environment marker (torch's, per Python)
            specs[req.name.lower()] = req.specifier
    for name, floor in floors.items():
        assert name in specs, f"requirements.txt does not name {name}"
        assert not specs[name].contains(_just_below(floor)), f"requirements.txt allows {name} below {floor}"
        assert Version(version(name)) >= Version(floor), f"installed {name} {version(name)} is below {floor}"
    sdk = re.search(r"^sdk_version:\s*(\S+)", (ROOT / "README.md").read_text(), re.M).group(1)
    assert Version(sdk) >= Version(floors["gradio"]), f"the Space's sdk_version {sdk} is below the floor"


# --- Every /stylize parameter, sent with the wrong shape -------------------------------------

EXAMPLES = ROOT / "examples"
# Values no parameter of /stylize accepts: each must get nst's kind of message, naming the
# parameter, whatever Gradio would make of it.
WRONG_SHAPES = {"an object": {"not": "this"}, "a nested list": [[1, 2]], "text": "photo.jpg"}
NOT_SHAPE_ERRORS = {("text", "content_layer"), ("text", "init"), ("text", "optimizer"), ("text", "style_loss"),
                    ("text", "preserve_color"), ("text", "style_layers"), ("text", "normalization")}  # text they take, a wrong value


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
    values = {"content": {"path": uploaded[0], "meta": {"_type": "gradio.FileData"}},
              "style": {"path": uploaded[1], "meta": {"_type": "gradio.FileData"}}, "steps": 1, "size": 64, **changes}
    data = [values.get(p) for p in params]
    session = uuid.uuid4().hex[:11]
    joined = httpx.post(base + "/queue/join", json={"data": data, "fn_index": fn["id"], "session_hash": session,
                                                    "trigger_id": None, "event_data": None})
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", base + f"/queue/data?session_hash={session}", timeout=120) as stream:
        return next(json.loads(line[5:]) for line in stream.iter_lines() if '"process_completed"' in line)


def test_every_stylize_parameter_has_a_shape_case():
    import nst_web

    nst_web.start()  # this process's app (its folder, the weights, the page; once)

    params = _stylize_params()
    assert set(params) == {*nst_web.settings.MAIN_SETTINGS, *nst_web.settings.ADVANCED_SETTINGS, "content", "style", "more_styles", "masks", "keep"}


@pytest.mark.parametrize("param", ["content", "style", "steps", "style_weight", "content_layer", "style_layers",
                                   "size", "preserve_color", "style_loss", "style_scale", "tv_weight", "style_blend",
                                   "init", "optimizer", "seed", "multiscale", "time_limit", "normalization",
                                   "more_styles", "masks"])
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


# --- Messages are plain text for API clients ----------------------------------------------------


def test_api_messages_are_plain_text(client, tmp_path):
    """A name with & and quotes comes back as it was written: not &amp; nor %22."""
    bad = tmp_path / 'Tom & Jerry "at the beach".heic'
    bad.write_text("not an image")
    with pytest.raises(AppError) as info:
        client.predict(content=handle_file(str(bad)), style=handle_file(str(EXAMPLES / "waves.jpg")),
                       steps=1, size=64, api_name="/stylize")
    text = str(info.value)
    assert "content image 'Tom & Jerry \"at the beach\".heic' is not an image file" in text, text
    assert "&amp;" not in text and "%22" not in text
    with pytest.raises(AppError) as info:
        client.predict(content=handle_file(str(EXAMPLES / "chelsea.jpg")), style=handle_file(str(EXAMPLES / "waves.jpg")),
                       steps=1, size=64, style_blend="<b>&", api_name="/stylize")
    assert "style_blend must be a number, not '<b>&'" in str(info.value)


# --- Ctrl-C and SIGTERM end `python app.py` cleanly ------------------------------------------------


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
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        _wait(lambda: any("serving on" in line for line in lines) or proc.poll() is not None, 120, "the server to start",
              poll=0.1)
        assert proc.poll() is None, "".join(lines)
        assert list(tmp_path.glob("nst-app-*")), "the app's temporary folder"
        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        *_, status, _, _, _ = c.predict(content=handle_file(str(EXAMPLES / "chelsea.jpg")),
                                        style=handle_file(str(EXAMPLES / "waves.jpg")), steps=2, size=64,
                                        api_name="/stylize")
        assert status.startswith("**Done**"), status
        if when == "during a run":
            job = c.submit(content=handle_file(str(EXAMPLES / "chelsea.jpg")),
                           style=handle_file(str(EXAMPLES / "waves.jpg")), steps=500, size=128, api_name="/stylize")
            _wait(lambda: any(o and isinstance(o[1], str) and "step" in o[1] for o in job.outputs()), 60,
                  "the run to be under way", poll=0.1)
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
