"""The machine a record was measured on, in one form for every bench.

Before this module the benches named the machine four ways (the CPU model with the cores,
the system and torch; the CPU model and the cores; the CPU model alone; ``platform.processor()``,
which is only "x86_64" on Linux): records made before it carry those forms.
"""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU's model name, as nst's calibration cache names the machine."""
    from nst.cpu import processor_name

    return processor_name()


def describe() -> str:
    """``"<CPU model>, <N> cores, <system>, torch <version>"``, and the GPU's name where torch sees one."""
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}, torch {torch.__version__}{gpu}"


def tag() -> str:
    """A short name for a record's file (the host name): rename the file to say what the machine was."""
    return platform.node() or "machine"
