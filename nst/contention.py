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
# about the machine. A CPU run alone gets 0.8-1.0 (its Python work is one thread of two);
# with one other busy program on the cores it gets about half.
SHARE_MIN = 0.65


def _usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota
    (cgroup v2's ``cpu.max``, as a Space's container has), which affinity does not show."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, round(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


class CpuShare:
    """The CPU time a process got since this object was made, over what its threads could use.

    Args:
        threads: the compute threads the timed work runs on (torch's intra-op threads by
            default), capped at the cores this process may use.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, min(threads or torch.get_num_threads(), _usable_cores()))
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def share(self) -> float:
        """CPU seconds over wall seconds × threads since the start (1: every thread ran throughout)."""
        wall = time.perf_counter() - self.wall
        return (time.process_time() - self.cpu) / max(wall * self.threads, 1e-9)

    def had_the_cpu(self, device: torch.device | str = "cpu") -> bool:
        """Whether the timing since the start may stand for this machine: on a GPU always (its
        work is not the CPU's), on the CPU when the share is at least :data:`SHARE_MIN`.

        Args:
            device: where the timed work computed.
        """
        kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
        return kind != "cpu" or self.share() >= SHARE_MIN
