"""This process's own temporary folder: results, previews, painted masks, and (through
``GRADIO_TEMP_DIR``, unless it names another) Gradio's uploads.

Claimed by :func:`nst_web.start` before Gradio is imported (Gradio reads
``GRADIO_TEMP_DIR`` then, for some of its folders); removed when the process stops, and by
the next start after a kill (:mod:`.workdir`). No Gradio here.
"""

from __future__ import annotations

from pathlib import Path

from . import workdir

PREFIX = "nst-app-"  # <tmp>/nst-app-XXXXXXXX

_claimed: list[Path] = []


def claim() -> Path:
    """This process's folder, claimed at the first call (later calls return it)."""
    if not _claimed:
        _claimed.append(workdir.claim(PREFIX, uploads_env="GRADIO_TEMP_DIR"))
    return _claimed[0]


def claimed() -> Path | None:
    """The folder, if claimed."""
    return _claimed[0] if _claimed else None


def release() -> None:
    """Remove the folder now (what atexit would do), e.g. before ``os._exit``."""
    if _claimed:
        workdir.release(_claimed[0])
