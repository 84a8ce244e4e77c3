"""Where the app's runs compute: the device nst resolves, its name on the page, the size cap.

Asked when first needed, not at import (on ZeroGPU, ``spaces`` must have patched torch
first: the app starts through :func:`nst_web.start`, which sees to it). nst's public API
only; the device is nst's (a ``torch.device``, read by its ``.type``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import nst

__all__ = ["device", "label", "max_size"]


@cache
def device() -> Any:
    """The device the app runs on: nst's ``auto`` (a CUDA GPU, else Apple's, else the CPU)."""
    return nst.resolve_device("auto")


def label() -> str:
    """The device as the page names it: GPU, Apple GPU or CPU."""
    return {"cuda": "GPU", "mps": "Apple GPU"}.get(device().type, "CPU")


def max_size() -> int:
    """The largest output size (px, long side) the app takes on this device."""
    return nst.max_size(device())
