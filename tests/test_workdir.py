"""nst_web.workdir: a folder per server process, gone when the process goes.

The unit tests use their own temporary folder as the parent; the last tests start real
processes (a small script, then ``python app.py``) and stop them with SIGTERM and SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nst_web import workdir

from .support.paths import ROOT

PREFIX = "nst-test-wd-"


def _folders(parent: Path, prefix: str = PREFIX) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name.startswith(prefix))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # ended (and reaped): no process has it, for now


def _fake(parent: Path, owner: str | None, suffix: str = "abcdefgh", age_s: float = 0) -> Path:
    folder = parent / f"{PREFIX}{suffix}"
    (folder / "results").mkdir(parents=True)
    (folder / "results" / "a.png").write_bytes(b"x")
    if owner is not None:
        (folder / workdir.OWNER).write_text(owner)
    if age_s:
        then = time.time() - age_s
        for p in [*folder.rglob("*"), folder]:
            os.utime(p, (then, then))
    return folder


def test_is_alive():
    assert workdir.is_alive(os.getpid())
    assert workdir.is_alive(os.getpid(), workdir._start_time(os.getpid()))
    assert not workdir.is_alive(os.getpid(), "1")  # the same pid, started at another time: reused
    assert not workdir.is_alive(_dead_pid())
    assert not workdir.is_alive(0) and not workdir.is_alive(-1)


def test_sweep_removes_only_folders_of_ended_processes(tmp_path):
    me = f"{os.getpid()} {workdir._start_time(os.getpid())}"
    live = _fake(tmp_path, me, "live0000")
    dead = _fake(tmp_path, f"{_dead_pid()} 123", "dead0000")
    reused = _fake(tmp_path, f"{os.getpid()} 1", "reused00")  # our pid, but not our start
    damaged = _fake(tmp_path, "not a pid", "damaged0")
    new_unowned = _fake(tmp_path, None, "new00000")  # being made right now, or by an old version
    old_unowned = _fake(tmp_path, None, "old00000", age_s=3 * 3600)
    other = tmp_path / "nst-test-wd-notours-long-name"  # not a name claim() makes
    other.mkdir()
    removed = workdir.sweep(PREFIX, tmp_path)
    assert sorted(removed) == sorted([dead, reused, damaged, old_unowned])
    assert _folders(tmp_path) == sorted([live, new_unowned, other])


def test_claim_sweeps_then_makes_an_owned_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NST_TEST_UPLOADS", raising=False)
    dead = _fake(tmp_path, f"{_dead_pid()} 1")
    folder = workdir.claim(PREFIX, tmp_path, uploads_env="NST_TEST_UPLOADS", signals=())
    try:
        assert not dead.exists() and folder.parent == tmp_path and folder.name.startswith(PREFIX)
        assert (folder / workdir.OWNER).read_text().split()[0] == str(os.getpid())
        assert os.environ["NST_TEST_UPLOADS"] == str(folder / "uploads")
        assert workdir.sweep(PREFIX, tmp_path) == []  # ours: alive
    finally:
        workdir.release(folder)
    assert not folder.exists()


def test_an_uploads_variable_set_already_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_TEST_UPLOADS", "/somewhere/else")
    folder = workdir.claim(PREFIX, tmp_path, uploads_env="NST_TEST_UPLOADS", signals=())
    workdir.release(folder)
    assert os.environ["NST_TEST_UPLOADS"] == "/somewhere/else"


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from nst_web import workdir
    folder = workdir.claim({prefix!r}, {parent!r})
    (folder / "results").mkdir()
    (folder / "results" / "x.png").write_bytes(b"x" * 1000)
    print(folder, flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)
    time.sleep(60)
""")


@pytest.mark.parametrize("how", ["exit", "SIGTERM", "SIGHUP"])
def test_the_folder_goes_with_the_process(tmp_path, how):
    script = SCRIPT.format(root=str(ROOT), prefix=PREFIX, parent=str(tmp_path))
    # The signal at its default in the child even under nohup (which nst_web.workdir respects).
    reset = (lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL)) if how == "SIGHUP" else None
    proc = subprocess.Popen([sys.executable, "-c", script, how], stdout=subprocess.PIPE, text=True, preexec_fn=reset)
    folder = Path(proc.stdout.readline().strip())
    assert folder.name.startswith(PREFIX)
    if how != "exit":  # (an exiting child may have removed its folder already)
        assert folder.is_dir()
        proc.send_signal(getattr(signal, how))
    code = proc.wait(30)
    assert code == (0 if how == "exit" else -getattr(signal, how))  # ends as the signal says
    assert not folder.exists() and _folders(tmp_path) == []


def test_after_sigkill_the_next_start_removes_the_folder(tmp_path):
    script = SCRIPT.format(root=str(ROOT), prefix=PREFIX, parent=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script, "wait"], stdout=subprocess.PIPE, text=True)
    killed = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait(30)
    assert killed.is_dir()  # nothing can clean up at SIGKILL...
    nxt = subprocess.Popen([sys.executable, "-c", script, "exit"], stdout=subprocess.PIPE, text=True)
    assert Path(nxt.stdout.readline().strip()) != killed
    assert nxt.wait(30) == 0
    assert not killed.exists() and _folders(tmp_path) == []  # ...the next start does


# --- The app itself ---------------------------------------------------------------------------


def _start_app(tmp: Path) -> tuple[subprocess.Popen, int]:
    """``python app.py`` with its own TMPDIR, started (not yet serving): the process and its port."""
    from .support.app_server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
    env.update(
        TMPDIR=str(tmp),
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        GRADIO_EXAMPLES_CACHE=str(tmp / "examples-cache"),
    )
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return proc, port


def _its_folder(tmp: Path, proc: subprocess.Popen, other_than: Path | None = None) -> Path:
    """The folder a starting app claims (its first act, before Gradio is imported)."""
    deadline = time.monotonic() + 120
    while True:
        folders = [f for f in _folders(tmp, "nst-app-") if f != other_than and (f / workdir.OWNER).is_file()]
        if folders:
            (folder,) = folders
            return folder
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the app made no folder: " + (tmp / "server.log").read_text()[-2000:])
        time.sleep(0.05)


def _serve_app(tmp: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    proc, port = _start_app(tmp)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while True:
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the app did not start: " + (tmp / "server.log").read_text()[-2000:])
        time.sleep(0.5)


def test_app_stopped_with_sigterm_leaves_no_folder(tmp_path):
    """``python app.py`` with its own TMPDIR: a run's upload and result lie in the app's
    folder, and SIGTERM leaves nothing behind; a SIGKILLed one is removed by the next start."""
    from gradio_client import Client, handle_file

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, url = _serve_app(tmp)
    try:
        (folder,) = _folders(tmp, "nst-app-")
        client = Client(url, verbose=False)
        *_, status, _, _, png = client.predict(
            content=handle_file(str(ROOT / "examples" / "chelsea.jpg")),
            style=handle_file(str(ROOT / "examples" / "waves.jpg")),
            steps=1,
            size=64,
            api_name="/stylize",
        )
        client.close()
        assert status.startswith("**Done**")
        assert list((folder / "results").glob("*.png")) and list((folder / "uploads").rglob("chelsea.jpg"))
        assert not (tmp / "gradio").exists()  # Gradio's default cache, outside the folder
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0  # the app stops its runs and its server, then exits
        assert not folder.exists()
        assert _folders(tmp, "nst-app-") == [] and not (tmp / "gradio").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # SIGKILL: the folder stays until the next start, which removes it as it begins (the
    # folder is claimed first thing, so neither start needs to load, calibrate and serve).
    proc, _ = _start_app(tmp)
    killed = _its_folder(tmp, proc)
    proc.kill()
    proc.wait()
    assert killed.exists()
    proc, _ = _start_app(tmp)
    try:
        _its_folder(tmp, proc, other_than=killed)
        assert not killed.exists() and len(_folders(tmp, "nst-app-")) == 1
    finally:
        proc.send_signal(signal.SIGTERM)  # while it starts: its folder goes all the same
        assert proc.wait(60) == -signal.SIGTERM
    assert _folders(tmp, "nst-app-") == []
