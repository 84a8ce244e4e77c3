"""Whether a timing was taken with the CPU to itself: the share of its threads' time it got.

A cost model measured while other programs held the cores (a test suite, a second run) is
several times too slow. Kept in the machine's cache it would shrink every later time
limit's plan and every estimate long after the machine is idle again, and a precision
probe at such a moment can pick the slower precision for good. So what nst keeps for a
machine is taken only from timings whose process got its cores: :class:`CpuShare` measures
the process's CPU seconds against the wall seconds its compute threads could have used.
A run still adapts to a busy machine as it goes (its pace, :mod:`nst.eta`); only the
cache, which outlives the moment, is guarded.
"""

from __future__ import annotations

import os
import time

import torch

__all__ = ["SHARE_MIN", "CpuShare"]

# Below this share of its threads' time a timing says more about the other programs than
# about the machine: alone, a run's threads wait for a core a few percent of the time; beside
# one other busy program, about half.
SHARE_MIN = 0.8

# torch's own thread count when nst was imported: a process that runs on fewer (a benchmark
# splitting the cores between processes, ``torch.set_num_threads(1)``) times a slower machine
# than the one the cache speaks for, however much of its one core it got.
_DEFAULT_THREADS = torch.get_num_threads()


def _usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota
    (cgroup v2's ``cpu.max``, as a Space's container has), which affinity does not show."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, round(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def _run_delay() -> int | None:
    """Nanoseconds this process's threads have waited, runnable, for a core (Linux's
    schedstat, summed over the live threads), or None where the kernel does not say."""
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    return total


class CpuShare:
    """How much of the time its threads wanted a core this process got, since it was made.

    Where Linux says how long each thread waited, runnable, for a core (schedstat), the
    share is 1 less that wait over wall seconds × threads: other programs' demand, measured
    directly (a process that sleeps got all it asked for). Elsewhere it is the process's CPU
    seconds over wall seconds × threads. Spinning OpenMP workers make CPU time a poor
    witness on a busy machine (they burn CPU while they wait for a sibling that is not
    running), which the wait does not suffer from.

    Args:
        threads: the compute threads the timed work runs on (torch's intra-op threads by
            default), capped at the cores this process may use.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, min(threads or torch.get_num_threads(), _usable_cores()))
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.delay = _run_delay()

    def share(self) -> float:
        """The share of its threads' time the process got since the start (1: all it wanted)."""
        wall = max((time.perf_counter() - self.wall) * self.threads, 1e-9)
        now = _run_delay() if self.delay is not None else None
        if self.delay is not None and now is not None:
            return max(0.0, 1.0 - max(0, now - self.delay) / 1e9 / wall)
        return (time.process_time() - self.cpu) / wall

    def had_the_cpu(self, device: torch.device | str = "cpu") -> bool:
        """Whether the timing since the start may stand for this machine: on a GPU always (its
        work is not the CPU's), on the CPU when the share is at least :data:`SHARE_MIN` and
        torch ran on its usual number of threads.

        Args:
            device: where the timed work computed.
        """
        kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
        return kind != "cpu" or (self.share() >= SHARE_MIN and torch.get_num_threads() >= _DEFAULT_THREADS)
