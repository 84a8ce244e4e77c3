"""nst's errors: one family, so that a front end catches :class:`Error` once.

Every message is meant for the person who ran nst: it names what is wrong and, where it
can, what to change. The input errors are also ``ValueError``s (as they were before the
family existed), so older ``except ValueError`` code keeps working.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "Error",
    "short",
    "ImageError",
    "SettingsError",
    "WeightsError",
    "RecipeError",
    "DivergedError",
    "OutOfMemoryError",
    "is_out_of_memory",
]


# A message echoes what was given (a path, a value): each run of text without spaces is cut
# to about this many characters, and the whole message to MAX_MESSAGE, so that a megabyte
# of input gives a line, not a megabyte of error.
MAX_ECHO = 80
MAX_MESSAGE = 400


def short(text: str) -> str:
    """``text`` with every word over MAX_ECHO characters cut (with ``…``), then the whole
    over MAX_MESSAGE cut too."""
    text = re.sub(rf"\S{{{MAX_ECHO + 1},}}", lambda m: m[0][: MAX_ECHO - 1] + "…", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class Error(Exception):
    """Base of every error nst raises on purpose; its message is kept short (see `short`)."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (short(args[0]), *args[1:])
        super().__init__(*args)


class ImageError(Error, ValueError):
    """An image that cannot be used, with a message meant for the person who gave it."""


class SettingsError(Error, ValueError):
    """A setting with a value that cannot be used; the message names it."""


class WeightsError(Error, ValueError):
    """A weights source that cannot be found, read or understood."""


class RecipeError(Error, ValueError):
    """A file that has no nst recipe, or one that cannot be used."""


class DivergedError(Error, FloatingPointError):
    """The optimisation diverged: the cost became NaN or infinite.

    Also a ``FloatingPointError``, which nst raised before this class existed.
    """


class OutOfMemoryError(Error, MemoryError):
    """The device (or the host) ran out of memory during a run.

    Attributes:
        size: the output size (long side, px) that did not fit.
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        smaller: the size at half the pixels, to retry at, or None below the minimum.
    """

    def __init__(self, size: int, device: str, min_size: int = 32) -> None:
        self.size, self.device, self._min_size = size, device, min_size
        smaller = int(size / math.sqrt(2)) // 16 * 16
        self.smaller = smaller if smaller >= min_size else None
        where = {"cuda": "on the GPU", "mps": "on the Apple GPU"}.get(device, "in the computer's memory")
        hint = f" (try {self.smaller} px)" if self.smaller else ""
        super().__init__(
            f"out of memory at {size} px {where}: lower size{hint}, or use fewer style layers; "
            "a smaller style_scale also helps"
        )

    def __reduce__(self) -> tuple:
        # Pickled by its fields, not its message: a ZeroGPU worker sends it to the app.
        return type(self), (self.size, self.device, self._min_size)


# Messages of the allocators that raise plain RuntimeErrors: PyTorch's CPU allocator
# ("DefaultCPUAllocator: can't allocate memory: you tried to allocate ..."), MPS ("MPS
# backend out of memory"), oneDNN and other back ends ("not enough memory", "failed to
# allocate"). CUDA raises torch.OutOfMemoryError ("CUDA out of memory").
_OOM_TEXT = ("out of memory", "can't allocate memory", "not enough memory", "failed to allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device or the host running out of memory, on any back end."""
    if isinstance(exc, OutOfMemoryError):
        return True
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OOM_TEXT)
