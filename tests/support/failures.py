"""Failures made to happen mid-run, where a real one would: out of memory, the unexpected.

Shared by the app's (tests/test_app_reliability.py) and the command line's
(tests/test_cli_reliability.py) tests of what a failing run tells the person.
"""

from __future__ import annotations

# What PyTorch's CPU allocator raises (a RuntimeError) when the computer's memory runs out.
CPU_OOM = "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate 4 GB"


def failing_objective(monkeypatch, fail: BaseException, below: int | None = None) -> None:
    """Make nst's objective raise ``fail`` inside every step, unless the image's long side is
    below ``below``: the failure then comes from where a real one would, mid-run."""
    from nst.objective import Objective

    real = Objective.__call__

    def call(self, image):
        if below is None or max(image.shape[-2:]) >= below:
            raise fail
        return real(self, image)

    monkeypatch.setattr(Objective, "__call__", call)
