"""How a run shares the process's CPU resources: OpenMP worker pools and the C heap.

Two defaults of the C libraries under PyTorch cost a CPU run time, and nst sets them for
its process (Linux with GNU libc and GNU OpenMP, as PyTorch's wheels ship; elsewhere these
are no-ops):

- Every thread that runs a parallel op keeps its own pool of cores−1 OpenMP workers until it
  exits. Once a process holds more such workers than it has cores, GNU OpenMP cuts every
  pool's spin-wait to ~100 iterations, so each barrier of a run (several per layer) sleeps
  and wakes through the kernel. An app whose main thread loaded the weights and whose run
  thread computes is that case: on 2 cores its steps took 1.4× as long. :func:`release_threads`
  lets a thread's pool go when it leaves the CPU (nst calls it after loading and calibrating).
- glibc gives each block over 32 MB its own ``mmap`` and returns it on ``free``. A step at
  1024 px allocates ~10 GB of such activations, so every step faults its memory in again:
  2.3 million page faults and 3.5 s of kernel time in a 10.5 s run. :func:`keep_memory` makes
  the heap serve them and keep what is freed while a run lasts (that run: 8.4 s, 0.4 million
  faults, peak memory 17% higher; 256 px unchanged); :func:`return_memory` hands the free
  part back when the run ends. Measured with bench/cpu.py on a 2-core Intel Xeon.
  A tiled scale (nst.tiles) is the other way round: it exists to bound memory, and tiles of
  changing shapes leave holes in a kept heap that the next tile's blocks do not fit, so its
  forward sweep grew by each tile (a 2172 px scale peaked at 3.2 GB against 2.0 planned).
  :func:`lean_memory` maps large blocks again while a tiled scale runs: a 1536 px tiled
  step took +0.52 GB above its base instead of +1.07 GB, and 1.2× as long.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["release_threads", "keep_memory", "return_memory", "lean_memory"]

# mallopt(3) parameters (malloc.h), and glibc's default for M_MMAP_MAX.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -3, -4, -8
_MMAP_MAX_DEFAULT = 65536
# Blocks from this size up get their own mapping under lean_memory: a tile's activations
# and image-sized buffers (MBs to hundreds of MBs); small blocks stay on the heap.
LEAN_MMAP_THRESHOLD = 1 << 20


@functools.cache
def _libc() -> Any | None:
    """glibc, where this process runs on it (mallopt and malloc_trim are glibc's)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018  (musl has neither)
        return libc
    except (OSError, AttributeError):
        return None


@functools.cache
def _omp_pause() -> Any | None:
    """``omp_pause_resource_all`` of the OpenMP runtime PyTorch loaded (GNU libgomp), if any."""
    try:
        with open("/proc/self/maps") as f:  # the copy torch loaded, not another on the path
            path = next((line.split()[-1] for line in f if "/libgomp" in line), None)
        return ctypes.CDLL(path).omp_pause_resource_all if path else None
    except (OSError, AttributeError):  # not Linux, or an OpenMP without pause (OpenMP < 5.0)
        return None


def release_threads() -> None:
    """Let go of this thread's pool of OpenMP workers (see the module docstring).

    The next parallel op on this thread makes a new pool (about a millisecond); a run's own
    thread lets go of its pool when it ends.
    """
    pause = _omp_pause()
    if pause is not None:
        pause(1)  # omp_pause_soft: the workers end, the runtime stays usable


@functools.cache
def keep_memory() -> bool:
    """Serve large blocks from the heap and keep freed memory there (once per process).

    Also puts every thread on one heap (an arena), so that a run on a thread of its own is
    served the same way: threads that already have an arena keep it. ``NST_KEEP_MEMORY=0``
    in the environment leaves glibc's defaults. Returns whether the settings were taken.
    """
    libc = _libc()
    if libc is None or os.environ.get("NST_KEEP_MEMORY") == "0":
        return False
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1  # large blocks from the heap, reused after free
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1  # no trimming on free: return_memory does
    ok &= libc.mallopt(_M_ARENA_MAX, 1) == 1  # threads that come share the main heap
    return ok


class _Lean:
    """How many lean_memory() blocks are open, across threads."""

    depth = 0
    lock = threading.Lock()


@contextlib.contextmanager
def lean_memory() -> Iterator[None]:
    """While it lasts, blocks of :data:`LEAN_MMAP_THRESHOLD` and more are mapped on their
    own and returned on free, as glibc does by default (see the module docstring); the heap
    keeps its settings for small blocks. Nests, and overlaps across threads: the heap is
    kept again when the last one ends. A no-op where :func:`keep_memory` is not in effect."""
    libc = _libc()
    # Not yet called means not in effect: asking keep_memory() here would turn it on.
    if libc is None or keep_memory.cache_info().currsize == 0 or not keep_memory():
        yield
        return
    with _Lean.lock:
        if _Lean.depth == 0:
            return_memory()  # what the heap kept so far: the mappings start from a lean heap
            libc.mallopt(_M_MMAP_THRESHOLD, LEAN_MMAP_THRESHOLD)
            libc.mallopt(_M_MMAP_MAX, _MMAP_MAX_DEFAULT)
        _Lean.depth += 1
    try:
        yield
    finally:
        with _Lean.lock:
            _Lean.depth -= 1
            if _Lean.depth == 0:
                libc.mallopt(_M_MMAP_MAX, 0)


def return_memory() -> None:
    """Give the heap's free memory back to the system (at the end of a run)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def processor_name() -> str:
    """This machine's CPU model name (Linux's /proc/cpuinfo), else what platform knows."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    return name or platform.processor() or platform.machine() or "unknown"
