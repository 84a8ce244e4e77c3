"""The measured cost models, kept on disk so that a machine calibrates once, not once per process.

:func:`nst.pipeline.calibrate` times whole steps (a few seconds on a 2-core CPU); a dry run,
the app's first estimate and a run under a time limit need those costs at once. They are
kept in one small JSON file in the user's cache folder: ``$NST_CACHE_DIR``, else
``$XDG_CACHE_HOME/nst``, else ``~/.cache/nst``. Each entry is keyed by what the costs depend
on: the device (and the GPU's or the CPU's model name), the torch version and the precision.
A file that is damaged, of another format or written by another program is ignored (the
caller calibrates) and replaced at the next :func:`store`; entries of other machines (a home
folder shared between hosts) are kept.

The same file keeps the machine's measured choices (:func:`load_choice`, :func:`store_choice`):
whether bf16 pays on this CPU is timed once per machine, so that every process (a dry run
and its run, the app and the CLI) runs in the same precision.

Processes that start at once (an app and a CLI, a Space's restarts, a test suite's
workers) time the machine once: :func:`machine_lock` lets one of them time an entry while
the others wait for it, as long as it is running. A holder that does not run (stopped with
Ctrl-Z or SIGSTOP, paused in a debugger, hung) holds the others up for :data:`LOCK_STALL`
seconds at most: they say so and go on without the cache (they time for themselves, and
write nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .costmodel import CostModel

__all__ = ["cache_path", "machine_key", "load", "store", "load_choice", "store_choice", "machine_lock"]

ENV_DIR = "NST_CACHE_DIR"  # the folder, for tests and for machines without a home
FILE_NAME = "calibration.json"
# Bumped when the file's layout or what a CostModel means changes: older files are ignored.
FORMAT = "nst-calibration-1"
# How long a process waits for another's timing before it times on its own: a calibration
# takes seconds; a process that died holding the lock has released it (flock dies with it).
LOCK_WAIT = 120.0
# How long the holder of the lock may show no progress (no CPU time: stopped, paused in a
# debugger, hung) before the others stop waiting for it: a calibration computes all along,
# and the suite's workers wait for one another's. Also the whole wait where the holder's
# progress cannot be seen (no /proc, another machine sharing the cache folder).
LOCK_STALL = 5.0


def cache_path() -> Path:
    """The cache file: ``$NST_CACHE_DIR``, ``$XDG_CACHE_HOME/nst`` or ``~/.cache/nst``, then ``calibration.json``."""
    folder = os.environ.get(ENV_DIR)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = str(Path(base) / "nst")
    return Path(folder) / FILE_NAME


def _processor(device: torch.device) -> str:
    """The model name of the processor that computes: the GPU's, else the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from .cpu import processor_name

    return f"{processor_name()} ×{os.cpu_count() or 1}"


def machine_key(device: torch.device, what: str) -> str:
    """What an entry is valid for: device type, processor model (and core count), torch, and
    ``what`` (a cost model's precision, or a choice's name)."""
    return f"{device.type} | {_processor(device)} | torch {torch.__version__} | {what}"


def _read_file() -> dict[str, Any]:
    """The file's content, or ``{}`` when it is missing, damaged or not nst's."""
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
        return {}
    return data


def _read() -> dict[str, Any]:
    """The file's cost-model entries, or ``{}`` when it is missing, damaged or not nst's."""
    return _read_file().get("entries", {})


def _choices() -> dict[str, str]:
    """The file's measured choices (string to string), or ``{}``."""
    found = _read_file().get("choices")
    return (
        {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(found, dict) else {}
    )


def _model(entry: Any) -> CostModel | None:
    """The :class:`CostModel` in an entry, or None if the entry is not a valid one."""
    try:
        pair = lambda v: (float(v[0]), float(v[1]))  # noqa: E731
        model = CostModel(
            step=pair(entry["step"]),
            scale=pair(entry["scale"]),
            finish=pair(entry["finish"]),
            setup=float(entry["setup"]),
            measured=True,
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    numbers = [*model.step, *model.scale, *model.finish, model.setup]
    if not all(0 <= x < 1e4 for x in numbers) or model.step_seconds(1.0) <= 0:
        return None  # NaN, negative or absurd: not something calibrate wrote
    return model


def load(device: torch.device, precision: str) -> CostModel | None:
    """The cached cost model of this machine for ``device`` in ``precision`` (``"bf16"``/``"fp32"``), if any."""
    return _model(_read().get(machine_key(device, precision)))


def store(device: torch.device, precision: str, model: CostModel) -> bool:
    """Keep ``model`` for this machine; returns whether the file was written.

    The file is replaced atomically (a temporary file renamed over it), so a reader never
    sees half of it; a folder that cannot be written leaves the costs to this process, and
    so does another process holding the entry's lock (see :func:`machine_lock`).
    """
    if f"{device.type} {precision}" in _passed_over:
        return False
    entries = {k: v for k, v in _read().items() if _model(v) is not None}
    entry = asdict(model)
    del entry["measured"]
    entries[machine_key(device, precision)] = {**entry, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    return _write(entries, _choices())


def load_choice(device: torch.device, name: str) -> str | None:
    """A choice measured on this machine for ``device`` (e.g. ``"precision"``), if kept."""
    return _choices().get(machine_key(device, name))


def store_choice(device: torch.device, name: str, value: str) -> bool:
    """Keep a choice measured on this machine; returns whether the file was written
    (not while another process holds the choice's lock: see :func:`machine_lock`)."""
    if f"{device.type} {name}" in _passed_over:
        return False
    entries = {k: v for k, v in _read().items() if _model(v) is not None}
    return _write(entries, {**_choices(), machine_key(device, name): value})


def _write(entries: dict[str, Any], choices: dict[str, str]) -> bool:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calibration-", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"format": FORMAT, "entries": entries, "choices": choices}, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    return True


_in_process = threading.RLock()
_held: dict[str, int] = {}  # the entries this process holds, and how deep (the holder may take one again)
# The entries whose lock another process holds while this one goes on without it: their
# timing here may run beside the holder's, so it is not kept in the file (store skips it).
_passed_over: set[str] = set()


@contextlib.contextmanager
def machine_lock(what: str, wait: float = LOCK_WAIT) -> Iterator[bool]:
    """Hold the lock on timing ``what``, across processes, while timing and storing it.

    One thread of one process at a time: another process's :func:`nst.calibrate` of the
    same entry waits here, then finds the costs this one stored instead of timing the
    machine again (and both timing at once would slow each other's steps). Other entries
    (another device or precision) are timed meanwhile by other processes. Reentrant in the
    holding thread. Where no lock can be taken (a folder that cannot be written, no
    ``fcntl``) the caller goes on without it: a second timing costs seconds, a hang costs
    the run. Where another process holds it and ``wait`` seconds pass, or it makes no
    progress for :data:`LOCK_STALL` seconds (a stopped process), a warning says so and the
    caller goes on without the cache: :func:`store` and :func:`store_choice` do not write
    ``what`` until the block ends.

    Args:
        what: the entry: a device type and a precision (``"cpu fp32"``) or a choice's name.
        wait: the most seconds to wait for another process that is running.

    Yields:
        Whether the file lock is held.
    """
    with _in_process:
        if what in _held:
            _held[what] += 1
            try:
                yield what not in _passed_over  # as the outer block: held, or gone on without it
            finally:
                _held[what] -= 1
            return
        name = "".join(c if c.isalnum() else "-" for c in what)
        handle, holder = _take(cache_path().parent / f"calibration-{name}.lock", wait)
        if holder is not None:
            warnings.warn(f"{holder}; going on without the calibration cache for {what}", RuntimeWarning, stacklevel=3)
            _passed_over.add(what)
        _held[what] = 1
        try:
            yield handle is not None
        finally:
            del _held[what]
            _passed_over.discard(what)
            if handle is not None:
                handle.close()  # closing the file releases its flock


def _take(path: Path, wait: float) -> tuple[Any | None, str | None]:
    """``path`` opened and exclusively flocked, with this process's id written in it.

    Waits while another process holds it and runs, up to ``wait`` seconds, or
    :data:`LOCK_STALL` seconds without progress from it.

    Returns:
        The open file (None where it is not held), and where another process held it
        until this one gave up, what that process is doing, in words (else None).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None, None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError:
        return None, None
    start = time.monotonic()
    moved = start  # when the holder was last seen to make progress
    last: tuple[int | None, int | None] = (None, None)  # the holder's pid and CPU time at the last look
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            now = time.monotonic()
            pid, state, ticks = _holder(path)
            if ticks is not None and (pid, ticks) != last:
                moved = now  # CPU time spent since the last look (or a new holder): it runs
            last = (pid, ticks)
            who = f"another process (pid {pid})" if pid else "another process"
            if now - start >= wait:
                holder = f"{who} has been timing this machine for {wait:g} s"
                break
            if now - moved >= LOCK_STALL:
                doing = (
                    "is stopped" if state in ("T", "t") else "cannot be seen to run" if ticks is None else "has not run"
                )
                holder = f"{who} holds the lock on timing this machine but {doing} ({LOCK_STALL:g} s without progress)"
                break
            time.sleep(0.05)
            continue
        except OSError:  # a file system without locks
            handle.close()
            return None, None
        with contextlib.suppress(OSError):  # who holds it, for the others' messages
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {socket.gethostname()}\n")
            handle.flush()
        return handle, None
    handle.close()
    return None, holder


def _holder(path: Path) -> tuple[int | None, str, int | None]:
    """The process that wrote its id in the lock file ``path``: its pid, its state
    (``/proc``'s letter: ``R`` running, ``S`` sleeping, ``T`` stopped...) and the CPU time
    it has used, in clock ticks; None and ``""`` for what cannot be seen (no ``/proc``, a
    process on another machine sharing the folder, or a file not written yet)."""
    try:
        pid_text, host = path.read_text().split()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return None, "", None
    if host != socket.gethostname():
        return pid, "", None  # its pid means another process here
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after the name, which may hold spaces
        return pid, fields[0], int(fields[11]) + int(fields[12])  # state, utime + stime
    except (OSError, ValueError, IndexError):
        return pid, "", None
