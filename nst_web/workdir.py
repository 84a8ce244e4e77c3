"""A temporary folder per server process, that goes when the process goes.

:func:`claim` makes ``<tmp>/<prefix>XXXXXXXX`` with an ``owner`` file (the process id and
its start time), removes it at a clean exit (atexit) and on SIGTERM or SIGHUP, and first
removes the folders of earlier processes that are no longer alive: after a SIGKILL, an
out-of-memory kill or a power cut, the next start cleans up. ``app.py`` keeps its results
and (through ``GRADIO_TEMP_DIR``) Gradio's uploads there, so a server that restarts does
not slowly fill the disk.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

__all__ = ["OWNER", "claim", "release", "sweep", "is_alive"]

OWNER = "owner"  # the file in each folder naming the process that made it
# A folder without an owner file (being made right now, or made before there were owner
# files) is removed only once nothing in it has changed for this long.
UNOWNED_GRACE_S = 2 * 3600
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_lock = threading.Lock()
_claimed: list[Path] = []


def _start_time(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc), or "" where
    unknown: with the pid, it tells a live owner from a new process that reuses its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def is_alive(pid: int, started: str = "") -> bool:
    """Whether process ``pid`` is running and, where ``started`` is known, is the one that
    started then."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    except OSError:
        return False
    return not started or _start_time(pid) in ("", started)


def _owner_alive(folder: Path, grace_s: float) -> bool:
    try:
        text = (folder / OWNER).read_text().split()
    except FileNotFoundError:
        newest = max((p.stat().st_mtime for p in [folder, *folder.rglob("*")]), default=0.0)
        return time.time() - newest < grace_s
    try:
        pid, started = int(text[0]), text[1] if len(text) > 1 else ""
    except (ValueError, IndexError):
        return False  # a damaged owner file: no live process wrote it so
    return is_alive(pid, started)


def sweep(prefix: str, parent: str | Path | None = None, grace_s: float = UNOWNED_GRACE_S) -> list[Path]:
    """Remove the ``prefix`` folders in ``parent`` (the temporary folder) whose process has
    ended; the folders removed.

    Only folders named as :func:`claim` names them (``prefix`` and 8 characters of
    ``tempfile.mkdtemp``), and owned by this user, are considered.
    """
    parent = Path(parent or tempfile.gettempdir())
    name = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}")
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for folder in entries:
        try:
            if not name.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
                continue
            if hasattr(os, "getuid") and folder.stat().st_uid != os.getuid():
                continue
            if _owner_alive(folder, grace_s):
                continue
        except OSError:
            continue  # went away meanwhile, or unreadable
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def claim(
    prefix: str, parent: str | Path | None = None, uploads_env: str | None = None, signals: Iterable[int] = _SIGNALS
) -> Path:
    """A new folder for this process, removed when it exits; earlier ones of ended
    processes are removed first.

    Args:
        prefix: the start of the folder's name, e.g. ``"nst-app-"``.
        parent: where to make it (default: the system's temporary folder).
        uploads_env: an environment variable to point at ``<folder>/uploads`` unless it is
            set already (e.g. ``GRADIO_TEMP_DIR``, which Gradio reads when imported).
        signals: signals after which the folder is removed before the process ends as the
            signal's default (or earlier handler) says. Installed from the main thread only.
    """
    sweep(prefix, parent)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    (folder / OWNER).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    with _lock:
        _claimed.append(folder)
    atexit.register(release, folder)
    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            _remove_on(sig)
    if uploads_env and not os.environ.get(uploads_env):
        os.environ[uploads_env] = str(folder / "uploads")
    return folder


def release(folder: Path) -> None:
    """Remove ``folder`` (and everything in it); a folder another thread is still writing
    into is tried again a few times."""
    for _ in range(5):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            break
        time.sleep(0.05)
    with _lock:
        if folder in _claimed:
            _claimed.remove(folder)


def _remove_on(sig: int) -> None:
    previous = signal.getsignal(sig)
    if previous is signal.SIG_IGN or getattr(previous, "_nst_workdir", False):
        return  # ignored on purpose (e.g. nohup), or handled already

    def handler(signum: int, frame: FrameType | None) -> None:
        with _lock:
            folders = list(_claimed)
        for folder in folders:
            release(folder)
        if callable(previous):
            previous(signum, frame)
        else:  # the default: end as the signal says (exit status and all)
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    handler._nst_workdir = True  # type: ignore[attr-defined]
    signal.signal(sig, handler)
