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
the others wait for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .schedule import CostModel

__all__ = ["cache_path", "machine_key", "load", "store", "load_choice", "store_choice", "machine_lock"]

ENV_DIR = "NST_CACHE_DIR"  # the folder, for tests and for machines without a home
FILE_NAME = "calibration.json"
# Bumped when the file's layout or what a CostModel means changes: older files are ignored.
FORMAT = "nst-calibration-1"
# How long a process waits for another's timing before it times on its own: a calibration
# takes seconds; a process that died holding the lock has released it (flock dies with it).
LOCK_WAIT = 120.0


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
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(found, dict) else {}


def _model(entry: Any) -> CostModel | None:
    """The :class:`CostModel` in an entry, or None if the entry is not a valid one."""
    try:
        pair = lambda v: (float(v[0]), float(v[1]))  # noqa: E731
        model = CostModel(step=pair(entry["step"]), scale=pair(entry["scale"]), finish=pair(entry["finish"]),
                          setup=float(entry["setup"]), measured=True)
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
    sees half of it; a folder that cannot be written leaves the costs to this process.
    """
    entries = {k: v for k, v in _read().items() if _model(v) is not None}
    entry = asdict(model)
    del entry["measured"]
    entries[machine_key(device, precision)] = {**entry, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    return _write(entries, _choices())


def load_choice(device: torch.device, name: str) -> str | None:
    """A choice measured on this machine for ``device`` (e.g. ``"precision"``), if kept."""
    return _choices().get(machine_key(device, name))


def store_choice(device: torch.device, name: str, value: str) -> bool:
    """Keep a choice measured on this machine; returns whether the file was written."""
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


@contextlib.contextmanager
def machine_lock(what: str, wait: float = LOCK_WAIT) -> Iterator[bool]:
    """Hold the lock on timing ``what``, across processes, while timing and storing it.

    One thread of one process at a time: another process's :func:`nst.calibrate` of the
    same entry waits here, then finds the costs this one stored instead of timing the
    machine again (and both timing at once would slow each other's steps). Other entries
    (another device or precision) are timed meanwhile by other processes. Reentrant in the
    holding thread. Where no lock can be taken (a folder that cannot be written, no
    ``fcntl``, ``wait`` seconds passed) the caller goes on without it: a second timing
    costs seconds, a hang costs the run.

    Args:
        what: the entry: a device type and a precision (``"cpu fp32"``) or a choice's name.
        wait: the most seconds to wait for another process.

    Yields:
        Whether the file lock is held.
    """
    with _in_process:
        if what in _held:
            _held[what] += 1
            try:
                yield True
            finally:
                _held[what] -= 1
            return
        name = "".join(c if c.isalnum() else "-" for c in what)
        handle = _take(cache_path().parent / f"calibration-{name}.lock", wait)
        _held[what] = 1
        try:
            yield handle is not None
        finally:
            del _held[what]
            if handle is not None:
                handle.close()  # closing the file releases its flock


def _take(path: Path, wait: float) -> Any | None:
    """``path`` opened and exclusively flocked within ``wait`` seconds, or None."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")
    except OSError:
        return None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        except OSError:  # a file system without locks
            break
    handle.close()
    return None
