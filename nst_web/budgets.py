"""What one request, and one visit, may cost the server: every budget of the app in one place.

- **Time**: a run is planned to end within what a visitor waits for on this device
  (:data:`RUN_SECONDS`); a longer request is cut to fit, and says so (:func:`capped`).
- **Memory**: uploads are refused from their header above nst's pixel cap; what only
  shows a preview (the faces line) is read reduced (:func:`preview_image`).
- **Disk**: files a request wrote for itself (``data:`` URLs) are removed when it ends
  (:func:`remove_request_files`), and whatever is left in the app's folders within the
  hour (:data:`FILE_SECONDS`, :func:`sweep`).
- **State**: a visit's gallery keeps at most ``gallery.MAX_ENTRIES`` results, each with
  the recipe's bounded settings.

nst's public API, and the upload folder's name from uploads; no Gradio event here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from PIL import Image

import nst
from nst import format_seconds

from . import uploads

# A visitor's wait for one run, by device: a CPU Space's visitor, or one ZeroGPU call (the
# reservation's own ceiling, gpu.MAX_GPU_SECONDS). The queue allows each visitor two
# runs (queue.PER_VISITOR), so another visitor waits at most about twice this.
RUN_SECONDS = {"cpu": 600.0, "cuda": 300.0, "mps": 600.0}
# Files the app wrote (results, painted masks, data: URLs) and Gradio's uploads are gone
# within this long.
FILE_SECONDS = 3600
# Gradio's own cache sweep (launch's delete_cache): every SWEEP_EVERY seconds, files older
# than FILE_SECONDS - SWEEP_EVERY go, so that none stays past FILE_SECONDS.
SWEEP_EVERY = 300
# The faces line reads the photo at most this large (the detector sees 1024 px at most).
PREVIEW_SIDE = 1024


def run_seconds(device: str) -> float:
    """The longest run the app plans on ``device`` (a torch device type: cpu, cuda, mps);
    ``NST_RUN_SECONDS`` sets it for every device (an operator's own machine, a benchmark)."""
    given = os.environ.get("NST_RUN_SECONDS", "")
    try:
        seconds = float(given)
    except ValueError:
        seconds = 0.0
    if math.isfinite(seconds) and seconds > 0:
        return seconds
    return RUN_SECONDS.get(device, RUN_SECONDS["cpu"])


def capped(run: nst.PreparedRun) -> tuple[nst.PreparedRun, str | None]:
    """``run`` with the app's time cap (:func:`run_seconds`), and the line that says what the
    cap changes: None when the run, as estimated, fits within it.

    The cap is nst's ``time_cap``: the plan is fitted to it, as a time limit fits it, and
    the run ends by then in any case; recipes do not record it.
    """
    cap = run_seconds(run.device.type)
    run = dataclasses.replace(run, time_cap=cap if run.time_cap is None else min(run.time_cap, cap))
    seconds = run.estimate(calibrated=False)
    if seconds <= cap:
        return run, None
    return run, (
        f"this run would take about {format_seconds(seconds)}, over this app's cap of "
        f"{format_seconds(cap)} a run on the {run.device.type.upper()}: it is planned to fit in "
        f"{format_seconds(cap)} (fewer steps, or smaller). For longer runs use the CLI"
    )


def preview_image(path: str, what: str, side: int = PREVIEW_SIDE) -> tuple[Image.Image, float]:
    """The image at ``path`` read at most ``side`` px on its long side, and the factor from
    its pixels to the file's. JPEGs are reduced while decoding (a 64 Mpx JPEG is read at
    1/8 of its pixels); other formats are decoded whole, under nst's pixel cap, then reduced.

    Raises:
        nst.ImageError: as :func:`nst.load_image`.
    """
    try:
        with Image.open(path) as img:
            full = img.size
            if img.format == "JPEG":
                img.draft("RGB", (side, side))  # DCT scaling: the decoder makes the smaller image
            image = nst.load_image(img if img.format == "JPEG" else path, what)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        image = nst.load_image(path, what)  # nst's message for what Pillow cannot open
        full = image.size
    # EXIF rotation may swap the sides: compare the long sides.
    scale = min(1.0, side / max(image.size))
    if scale < 1:
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
    return image, max(full) / max(image.size)


def data_url_folder() -> Path:
    """Where ``data:`` URLs sent instead of uploads are written (in the upload folder)."""
    return Path(uploads.folders()[0]) / "data-urls"


def remove_request_files(paths: Iterable[str | None]) -> None:
    """Remove the ``data:`` URL files among ``paths``: they were written for this request alone."""
    folder = data_url_folder()
    for p in paths:
        if isinstance(p, str) and Path(os.path.realpath(p)).parent == folder:
            Path(p).unlink(missing_ok=True)


def sweep(folder: Path, patterns: Iterable[str] = ("*",), seconds: float = FILE_SECONDS) -> None:
    """Remove what in ``folder`` matches ``patterns`` and is older than ``seconds``."""
    import shutil

    now = time.time()
    for pattern in patterns:
        for old in folder.glob(pattern):
            try:
                if now - old.stat().st_mtime > seconds:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            except OSError:
                pass  # gone already, or another request's sweep took it


def sweeper(folders: Callable[[], Iterable[Path]]) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan for the served app (launch's ``app_kwargs["lifespan"]``): while it serves,
    every SWEEP_EVERY seconds, what in ``folders()`` is older than FILE_SECONDS goes. Gradio
    sweeps only the files it made itself; these are the app's own (results, painted masks,
    data: URL files)."""

    async def every_while() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            for folder in folders():
                await asyncio.to_thread(sweep, folder, ("*",), FILE_SECONDS - SWEEP_EVERY)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(every_while())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


def delete_cache() -> tuple[int, int]:
    """launch's ``delete_cache``: (how often, how old) so that uploads go within FILE_SECONDS."""
    return SWEEP_EVERY, FILE_SECONDS - SWEEP_EVERY


def reduced(layers: list[Image.Image], pixels: int) -> list[Image.Image]:
    """Brush layers at most ``pixels`` each (nearest neighbour: a stroke's colour is its style)."""
    if not layers:
        return layers
    w, h = layers[0].size
    scale = math.sqrt(pixels / (w * h))
    if scale >= 1:
        return layers
    small = (max(1, int(w * scale)), max(1, int(h * scale)))  # down: within the pixels
    return [layer.resize(small, Image.Resampling.NEAREST) for layer in layers]
